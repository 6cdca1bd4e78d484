//! The identity of this build of the tool: sha256 over its own sources, templates and
//! `Cargo.lock`, computed by `build.rs` (which includes this file) and compiled in. The stage
//! cache keys on it, so a changed stage, a git install of the same version or a dependency
//! update never reuses entries another build wrote.
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What decides the tool's behaviour, relative to the package root. Missing entries (a
/// crates.io package has no `crates/`) are skipped.
pub const INPUTS: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "build.rs",
    "src",
    "templates",
    "crates/wasmship-manifest/src",
    "crates/wasmship-host/src",
];

/// The id compiled into this binary (`build.rs` sets it; it includes this file too).
pub const ID: &str = match option_env!("WASMSHIP_BUILD_ID") {
    Some(id) => id,
    None => "unknown",
};

/// sha256 (hex) over every input file under `root`, in path order: each file's relative
/// path, a NUL, its length and its bytes.
pub fn compute(root: &Path) -> std::io::Result<String> {
    let mut files = Vec::new();
    for input in INPUTS {
        collect(&root.join(input), &mut files)?;
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        let relative = file.strip_prefix(root).unwrap_or(file);
        let bytes = std::fs::read(file)?;
        hasher.update(relative.to_string_lossy().replace('\\', "/").as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Every file the identity covers (for `cargo:rerun-if-changed`, too).
pub fn collect(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    if meta.is_file() {
        files.push(path.to_path_buf());
    } else if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            collect(&entry?.path(), files)?;
        }
    }
    Ok(())
}
