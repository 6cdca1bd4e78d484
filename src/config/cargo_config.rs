//! The wasm target cargo itself would build for: `CARGO_BUILD_TARGET`, else `build.target` in
//! the `.cargo/config.toml` files cargo reads (the current directory and its parents, then
//! `$CARGO_HOME`). A guest whose repository pins `wasm32-wasip1` there gets it without a
//! wasmship profile saying so again.
use super::GuestTarget;
use std::path::{Path, PathBuf};

/// What cargo's config says about the target.
#[derive(Debug, PartialEq)]
pub enum CargoTarget {
    /// A guest target this tool builds, and where it was set.
    Guest(GuestTarget, String),
    /// Another wasm target (`wasm64-unknown-unknown`...): the message for the warning that it is not used.
    OtherWasm(String),
}

/// The target cargo's config sets, when it is a wasm target; host targets are not ours.
pub fn build_target(cwd: &Path) -> Option<CargoTarget> {
    if let Ok(value) = std::env::var("CARGO_BUILD_TARGET") {
        return classify(&value, "CARGO_BUILD_TARGET".into());
    }
    // cargo merges every file; the nearest one that sets build.target wins.
    for file in config_paths(cwd).into_iter().filter(|file| file.is_file()) {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let Ok(config) = text.parse::<toml::Table>() else { continue };
        let Some(value) = config.get("build").and_then(|build| build.get("target")) else { continue };
        let single = match value {
            toml::Value::String(target) => Some(target.as_str()),
            toml::Value::Array(targets) if targets.len() == 1 => targets[0].as_str(),
            _ => None,
        };
        return single.and_then(|triple| classify(triple, format!("build.target in {}", file.display())));
    }
    None
}

fn classify(triple: &str, origin: String) -> Option<CargoTarget> {
    match triple {
        "wasm32-unknown-unknown" => Some(CargoTarget::Guest(GuestTarget::Unknown, origin)),
        "wasm32-wasip1" => Some(CargoTarget::Guest(GuestTarget::Wasip1, origin)),
        "wasm32-wasip2" => Some(CargoTarget::Guest(GuestTarget::Wasip2, origin)),
        other if other.starts_with("wasm") => Some(CargoTarget::OtherWasm(format!(
            "{origin} is `{other}`, which cargo-wasmship does not build; building wasm32-unknown-unknown \
             (set `target = \"wasm32-wasip1\"` in the wasmship profile for WASI)"
        ))),
        _ => None,
    }
}

/// Every path cargo reads config from, nearest first, whether it exists or not: each
/// directory's `.cargo/config.toml` and legacy `.cargo/config` from `cwd` up, then
/// `$CARGO_HOME` (default `~/.cargo`).
pub fn config_paths(cwd: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = cwd.ancestors().map(|dir| dir.join(".cargo")).collect();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    if let Some(home) = cargo_home.filter(|home| !dirs.contains(home)) {
        dirs.push(home);
    }
    dirs.into_iter().flat_map(|dir| [dir.join("config.toml"), dir.join("config")]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_config_that_sets_a_guest_target_wins() {
        let root = tempfile::tempdir().unwrap();
        let inner = root.path().join("repo/guest");
        std::fs::create_dir_all(inner.join(".cargo")).unwrap();
        std::fs::create_dir_all(root.path().join("repo/.cargo")).unwrap();
        std::fs::write(root.path().join("repo/.cargo/config.toml"), "[build]\ntarget = \"wasm32-wasip1\"\n").unwrap();
        std::fs::write(inner.join(".cargo/config.toml"), "[alias]\nb = \"build\"\n").unwrap();
        let Some(CargoTarget::Guest(target, origin)) = build_target(&inner) else { panic!("a guest target") };
        assert_eq!(target, GuestTarget::Wasip1);
        assert!(origin.ends_with("repo/.cargo/config.toml"), "{origin}");

        std::fs::write(inner.join(".cargo/config.toml"), "[build]\ntarget = [\"wasm32-unknown-unknown\"]\n").unwrap();
        assert!(matches!(build_target(&inner), Some(CargoTarget::Guest(GuestTarget::Unknown, _))));
        // A wasm target this tool does not build is named, to be warned about.
        std::fs::write(inner.join(".cargo/config.toml"), "[build]\ntarget = \"wasm64-unknown-unknown\"\n").unwrap();
        let Some(CargoTarget::OtherWasm(message)) = build_target(&inner) else { panic!("another wasm target") };
        assert!(message.contains("`wasm64-unknown-unknown`, which cargo-wasmship does not build"), "{message}");
        // A host target is not a guest target: the default stays.
        std::fs::write(inner.join(".cargo/config.toml"), "[build]\ntarget = \"x86_64-unknown-linux-gnu\"\n").unwrap();
        assert_eq!(build_target(&inner), None);
    }
}
