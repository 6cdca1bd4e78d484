//! A `wasm-opt` of the user's, for a binaryen newer than the one compiled in (which cannot read
//! standardized exception handling, wide arithmetic, custom page sizes...): the profile's
//! `wasm-opt-path`, else `CARGO_WASMSHIP_WASM_OPT`. It takes the same pass list, in its own
//! syntax (that is wasm-opt's), and is told every feature the module uses that it knows.
//! Its `--version` keys the stage cache and goes into the manifest. Nothing is downloaded.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const ENV: &str = "CARGO_WASMSHIP_WASM_OPT";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExternalWasmOpt {
    pub path: PathBuf,
    /// What `wasm-opt --version` printed, e.g. `wasm-opt version 132 (version_132)`.
    pub version: String,
    /// The features its `--help` offers `--enable-*` for, e.g. `wide-arithmetic`.
    pub features: Vec<String>,
}

impl ExternalWasmOpt {
    /// Asks the program at `path` what it is. Fails with what it printed when it is not a
    /// wasm-opt that answers `--version`.
    pub fn probe(path: &Path) -> Result<ExternalWasmOpt> {
        let run = |arg: &str| {
            Command::new(path)
                .arg(arg)
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("running `{} {arg}`", path.display()))
        };
        let version = run("--version")?;
        let text = String::from_utf8_lossy(&version.stdout).trim().to_string();
        if !version.status.success() || !text.starts_with("wasm-opt version") {
            bail!(
                "{} is not a wasm-opt: `--version` printed {text:?}{}",
                path.display(),
                String::from_utf8_lossy(&version.stderr).lines().next().map(|l| format!(" ({l})")).unwrap_or_default()
            );
        }
        let help = run("--help")?;
        let features = String::from_utf8_lossy(&help.stdout)
            .split_whitespace()
            .filter_map(|word| word.strip_prefix("--enable-"))
            .map(str::to_string)
            .collect();
        Ok(ExternalWasmOpt { path: path.to_path_buf(), version: text, features })
    }

    /// Runs the pass list on `input` (features as `--enable-*` flags, names kept for the
    /// debug module) into `output`.
    pub fn run(&self, args: &[String], features: &[&str], input: &Path, output: &Path) -> Result<()> {
        let mut command = Command::new(&self.path);
        command.arg(input).arg("-o").arg(output).arg("--debuginfo");
        command.args(args.iter().flat_map(|a| a.split_whitespace()));
        for feature in features.iter().filter(|f| self.features.iter().any(|known| known == *f)) {
            command.arg(format!("--enable-{feature}"));
        }
        let result = command
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {} (optimize stage)", self.path.display()))?;
        if !result.status.success() {
            bail!(
                "{} ({}) failed with {} (optimize stage)\n  it said:\n{}\n  help: check the pass list in `wasm-opt`, or \
                 set `wasm-opt = false`",
                self.path.display(),
                self.version,
                result.status,
                super::binaryen_said(&String::from_utf8_lossy(&result.stderr))
            );
        }
        Ok(())
    }
}

/// The external wasm-opt a profile asks for: `wasm-opt-path`, else the environment's.
pub fn configured(profile_path: Option<&Path>) -> Result<Option<ExternalWasmOpt>> {
    let from_env = std::env::var_os(ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    let Some(path) = profile_path.map(Path::to_path_buf).or(from_env) else {
        return Ok(None);
    };
    ExternalWasmOpt::probe(&path).map(Some)
}

/// Arguments the tool gives itself: the input, `-o` and the text format are not the user's.
pub fn check_args(args: &[String]) -> Result<()> {
    for token in args.iter().flat_map(|a| a.split_whitespace()) {
        if !token.starts_with('-') {
            bail!("`{token}` is not a wasm-opt argument (arguments start with `-` or `--`)");
        }
        if matches!(token, "-o" | "--output" | "-S" | "--emit-text") || token.starts_with("--output=") {
            bail!("`{token}`: the tool names wasm-opt's input and output itself, as binary");
        }
    }
    Ok(())
}
