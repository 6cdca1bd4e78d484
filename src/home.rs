//! The tool's own directory outside any project: cached `cargo metadata` and the stage cache's
//! key. `$CARGO_WASMSHIP_HOME`, else `$XDG_CACHE_HOME/cargo-wasmship`, else
//! `~/.cache/cargo-wasmship`. It belongs to the user running the tool, as `~/.cargo` does;
//! the stage cache itself may live anywhere (a target dir, a restored CI cache).
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Set by an embedding process (the test suite) before any other call, instead of the env.
static OVERRIDE: OnceLock<PathBuf> = OnceLock::new();

/// Makes this process use `dir` as its home; ignored once a home was set.
pub fn set_for_process(dir: PathBuf) {
    let _ = OVERRIDE.set(dir);
}

/// The home directory, if one can be named (no HOME and no override: none).
pub fn dir() -> Option<PathBuf> {
    if let Some(dir) = OVERRIDE.get() {
        return Some(dir.clone());
    }
    let nonempty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = nonempty("CARGO_WASMSHIP_HOME") {
        return Some(dir);
    }
    let base = nonempty("XDG_CACHE_HOME").or_else(|| nonempty("HOME").map(|home| Path::new(&home).join(".cache")))?;
    Some(base.join("cargo-wasmship"))
}
