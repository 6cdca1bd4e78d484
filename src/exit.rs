//! Exit codes by kind of failure, so CI scripts can tell "fix the config" from "the build
//! broke" from "do not deploy this" (documented in the README).
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The build ran and failed: the guest, a stage or the environment (exit 1).
    Build = 1,
    /// Bad invocation or configuration, found before any stage ran (exit 2, as clap's
    /// usage errors).
    Config = 2,
    /// `verify` read the output directory and found problems (exit 3).
    Verify = 3,
    /// Another build held the output directory's lock past `--lock-timeout` (exit 4).
    Locked = 4,
}

/// An error and the kind of failure it is.
pub struct Failure {
    pub kind: Kind,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn config(error: anyhow::Error) -> Failure {
        Failure { kind: Kind::Config, error }
    }

    /// A failure while building: a lock timeout is its own kind.
    pub fn build(error: anyhow::Error) -> Failure {
        let kind = if error.is::<crate::output::LockTimeout>() { Kind::Locked } else { Kind::Build };
        Failure { kind, error }
    }

    /// A failure of `verify`: problems in the directory, or input it could not read.
    pub fn verify(error: anyhow::Error) -> Failure {
        let found = error.chain().any(|cause| cause.is::<ProblemsFound>());
        Failure { kind: if found { Kind::Verify } else { Kind::Config }, error }
    }

    pub fn code(&self) -> u8 {
        self.kind as u8
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:?}", self.kind, self.error)
    }
}

/// What was checked was read and is wrong: `verify`'s problems, `ci --check`'s stale
/// workflow (its own exit code, apart from unreadable input).
#[derive(Debug)]
pub struct ProblemsFound(pub String);

impl std::fmt::Display for ProblemsFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProblemsFound {}
