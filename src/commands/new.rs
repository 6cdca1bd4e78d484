//! `cargo wasmship new NAME`: a guest crate from `templates/new/` that `cargo wasmship build`
//! ships unchanged: a cdylib whose init export builds real state, an export that uses it, and
//! a commented profile.
use anyhow::{bail, Context, Result};
use std::path::Path;

const CARGO_TOML: &str = include_str!("../../templates/new/Cargo.toml");
const LIB_RS: &str = include_str!("../../templates/new/src/lib.rs");

/// Creates `path` (its last component is the package name) and returns the files written.
pub fn run(path: &Path) -> Result<Vec<String>> {
    let name = path.file_name().and_then(|n| n.to_str()).context("the path names no directory")?;
    if !valid_package_name(name) {
        bail!(
            "`{name}` is not a valid package name: use letters, digits, `-` and `_`, starting with a letter\n  \
             help: e.g. `cargo wasmship new bot-check`"
        );
    }
    if path.exists() {
        bail!("{} already exists; `cargo wasmship new` makes a new directory\n  help: in an existing crate, run `cargo wasmship init`", path.display());
    }
    let files = [("Cargo.toml", CARGO_TOML), ("src/lib.rs", LIB_RS), (".gitignore", "/target\n")];
    for (file, template) in files {
        let target = path.join(file);
        std::fs::create_dir_all(target.parent().expect("a parent"))
            .with_context(|| format!("creating {}", path.display()))?;
        let text = crate::stages::package::bindings::render(template, &[("name", name.to_string())]);
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(files.iter().map(|(file, _)| file.to_string()).collect())
}

fn valid_package_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
