//! `cargo metadata --no-deps`, remembered between runs. A no-op rebuild should cost little more
//! than cargo's own no-op build, and `cargo metadata` alone costs about as much again. Its
//! output depends only on files we can name: the workspace's manifests, the cargo config files
//! cargo reads from the current directory up and from CARGO_HOME, and a few env vars. A cached
//! result is used only while every one of those files has the size and mtime it had; any doubt
//! runs cargo metadata again. (A file edited while cargo metadata itself runs can slip
//! through: its new state is recorded with the old answer.)
use crate::guest::CargoArgs;
use anyhow::Result;
use cargo_metadata::Metadata;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Env vars that change what `cargo metadata` reports.
const ENV: &[&str] =
    &["CARGO", "CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "CARGO_BUILD_BUILD_DIR", "RUSTUP_TOOLCHAIN"];

#[derive(Serialize, Deserialize)]
struct Cached {
    /// Each watched path with (size, mtime in ns), or `None` when it did not exist.
    watched: Vec<(PathBuf, Option<(u64, u128)>)>,
    metadata: Metadata,
}

/// Where cached metadata lives: `metadata/` in the tool's home.
fn cache_dir() -> Option<PathBuf> {
    Some(crate::home::dir()?.join("metadata"))
}

fn key(args: &CargoArgs, cwd: &Path) -> String {
    let env: Vec<(&str, Option<String>)> = ENV.iter().map(|k| (*k, std::env::var(k).ok())).collect();
    let material = serde_json::json!({
        "tool": env!("CARGO_PKG_VERSION"),
        "cwd": cwd,
        "manifest-path": args.manifest_path.as_ref().map(|p| cwd.join(p)),
        "lock-flags": args.lock_flags(),
        "env": env,
    });
    crate::digest::sha256_hex(material.to_string().as_bytes())
}

fn state(path: &Path) -> Option<(u64, u128)> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    Some((meta.len(), mtime))
}

/// Everything `metadata` was read from: manifests, the directories new members could appear
/// in (glob members), and every cargo config file cargo would read.
fn watched_paths(metadata: &Metadata, cwd: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = vec![metadata.workspace_root.join("Cargo.toml").into()];
    for package in metadata.workspace_packages() {
        let manifest: PathBuf = package.manifest_path.clone().into();
        if let Some(parent) = manifest.parent().and_then(Path::parent) {
            paths.push(parent.to_path_buf());
        }
        // Cargo finds a workspace by walking up from each package: a Cargo.toml created in
        // any ancestor can make a new workspace root.
        for ancestor in manifest.parent().into_iter().flat_map(Path::ancestors).skip(1) {
            paths.push(ancestor.join("Cargo.toml"));
        }
        paths.push(manifest);
    }
    paths.extend(crate::config::cargo_config::config_paths(cwd));
    paths.sort();
    paths.dedup();
    paths
}

/// The cached metadata for these arguments, if every watched file is unchanged.
pub fn load(args: &CargoArgs) -> Option<Metadata> {
    let cwd = std::env::current_dir().ok()?;
    let path = cache_dir()?.join(format!("{}.json", key(args, &cwd)));
    let cached: Cached = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    cached.watched.iter().all(|(path, was)| state(path) == *was).then_some(cached.metadata)
}

/// Remembers `metadata` for these arguments. Best effort: a failure only costs speed later.
pub fn store(args: &CargoArgs, metadata: &Metadata) -> Result<()> {
    let cwd = std::env::current_dir()?;
    let Some(dir) = cache_dir() else { return Ok(()) };
    std::fs::create_dir_all(&dir)?;
    let watched = watched_paths(metadata, &cwd).into_iter().map(|p| {
        let now = state(&p);
        (p, now)
    });
    let cached = Cached { watched: watched.collect(), metadata: metadata.clone() };
    let path = dir.join(format!("{}.json", key(args, &cwd)));
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(&cached)?)?;
    std::fs::rename(tmp, path)?;
    Ok(())
}
