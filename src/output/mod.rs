//! Writing the output directory so that it is always either the last good build or the new
//! one: artifacts go to a staging directory beside it, and only after every stage succeeded
//! does the staging directory replace it ([`staging`]). A lock file serializes concurrent
//! builds of the same output directory. The directory is shared with its user: only files the
//! previous manifest lists are ever removed ([`listing`]).
pub mod in_place;
pub mod listing;
pub mod staging;

pub use staging::{Committed, Staging};

use anyhow::{bail, Context, Result};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Temporary files the in-place replacement writes inside the output directory.
pub const TMP_PREFIX: &str = ".wasmship-tmp-";

/// The directory the output really is: a symlinked `dist -> /srv/app` resolves to
/// `/srv/app` (so the link survives every build), and `a/./b/../out` to `a/out` (so two
/// spellings take one lock). A directory that does not exist yet resolves through its parent,
/// which is created.
pub fn real_path(out_dir: &Path) -> Result<PathBuf> {
    if let Ok(real) = fs::canonicalize(out_dir) {
        return Ok(real);
    }
    let name = out_dir.file_name().with_context(|| format!("{} names no directory", out_dir.display()))?;
    let parent = match out_dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let parent = fs::canonicalize(parent).with_context(|| format!("resolving {}", parent.display()))?;
    Ok(parent.join(name))
}

/// Run with the lock held, before any stage: refuses a directory this tool did not write
/// (so no work is wasted on a build that cannot be written) and removes what killed builds
/// left beside it.
pub fn prepare(real_out_dir: &Path) -> Result<()> {
    refuse_foreign_dir(real_out_dir)?;
    remove_stale(real_out_dir)
}

/// Another build held the output's lock for longer than `--lock-timeout` (its own exit code).
#[derive(Debug)]
pub struct LockTimeout {
    pub path: PathBuf,
    pub waited: Duration,
}

impl std::fmt::Display for LockTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "another cargo-wasmship build held {} for {:?}; giving up\n  help: wait for it to finish, or raise --lock-timeout",
            self.path.display(),
            self.waited
        )
    }
}

impl std::error::Error for LockTimeout {}

/// Held for the whole build; released (the file stays) on drop.
pub struct OutputLock {
    _file: File,
}

/// Takes `<parent>/.<dir>.wasmship.lock`, waiting up to `timeout` for another build to finish
/// and saying so through `on_wait` once.
pub fn lock(out_dir: &Path, timeout: Duration, on_wait: impl FnOnce(&Path)) -> Result<OutputLock> {
    let path = sibling(out_dir, "lock");
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    let started = Instant::now();
    let mut on_wait = Some(on_wait);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(OutputLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => {
                if let Some(say) = on_wait.take() {
                    say(&path);
                }
                if started.elapsed() >= timeout {
                    return Err(LockTimeout { path, waited: timeout }.into());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
}

/// Writes the last run's report to `<parent>/<dir name>.run.json`, beside the output
/// directory rather than in it: its timings differ every run, and the directory must not.
pub fn write_run_report(out_dir: &Path, report: &serde_json::Value) -> Result<PathBuf> {
    let name = out_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let path = out_dir.with_file_name(format!("{name}.run.json"));
    let tmp = sibling(out_dir, &format!("run-{}", std::process::id()));
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("moving {} to {}", tmp.display(), path.display()))?;
    Ok(path)
}

/// Writes `path` whole or not at all: a new file with a random name beside it (so writers
/// never meet, even on a volume shared between hosts), then a rename over it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().expect("a file path has a parent");
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `<parent>/.<dir name>.wasmship-<what>`: beside the output, on the same filesystem.
pub(crate) fn sibling(out_dir: &Path, what: &str) -> PathBuf {
    let name = out_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    out_dir.with_file_name(format!(".{name}.wasmship-{what}"))
}

/// Removes what killed builds of `out_dir` left beside it. A build killed between the two
/// renames of a non-atomic commit left no `out_dir` but the last good output at `old-*`:
/// that one is put back, not deleted.
pub(crate) fn remove_stale(out_dir: &Path) -> Result<()> {
    let Some(parent) = out_dir.parent() else { return Ok(()) };
    let Ok(entries) = fs::read_dir(parent) else { return Ok(()) };
    let name = out_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (staging, old) = (format!(".{name}.wasmship-staging-"), format!(".{name}.wasmship-old-"));
    let mut leftovers: Vec<(bool, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let entry_name = entry.file_name().to_string_lossy().into_owned();
            let is_old = entry_name.starts_with(&old);
            (is_old || entry_name.starts_with(&staging)).then(|| (is_old, entry.path()))
        })
        .collect();
    if !out_dir.exists() {
        if let Some(index) = leftovers.iter().position(|(is_old, _)| *is_old) {
            let (_, previous) = leftovers.remove(index);
            fs::rename(&previous, out_dir)
                .with_context(|| format!("restoring the last good output from {}", previous.display()))?;
        }
    }
    for (_, path) in leftovers {
        fs::remove_dir_all(&path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    remove_stale_temporaries(out_dir)
}

/// Temporary files a killed in-place replacement left in the output directory: regular files
/// with this tool's temporary prefix, in the directories artifacts go to (links are not
/// followed, and the user's own directories are not walked).
fn remove_stale_temporaries(out_dir: &Path) -> Result<()> {
    for dir in
        [out_dir.to_path_buf(), out_dir.join(crate::manifest::WEB_DIR), out_dir.join(crate::manifest::DEPLOY_DIR)]
    {
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
            if is_file && entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                fs::remove_file(entry.path()).with_context(|| format!("removing stale {}", entry.path().display()))?;
            }
        }
    }
    Ok(())
}

/// Replacing a directory we did not write would delete someone's files: only an empty one,
/// or one whose manifest.json cargo-wasmship wrote, is replaced.
pub(crate) fn refuse_foreign_dir(out_dir: &Path) -> Result<()> {
    let help = "help: pick a new or empty directory with --out-dir or `out-dir`";
    if out_dir.exists() && !out_dir.is_dir() {
        bail!("the output path {} exists and is not a directory; refusing to replace it\n  {help}", out_dir.display());
    }
    let Ok(mut entries) = fs::read_dir(out_dir) else { return Ok(()) };
    if entries.next().is_none() || written_by_us(&out_dir.join(crate::manifest::FILE_NAME)) {
        return Ok(());
    }
    bail!(
        "the output directory {} is not empty and was not written by cargo-wasmship (no manifest.json of \
         ours in it); refusing to replace it\n  {help}",
        out_dir.display()
    )
}

/// True when `manifest` is a manifest.json this tool wrote (any schema version).
fn written_by_us(manifest: &Path) -> bool {
    listing::read_small(manifest)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|json| json["tool"]["name"] == env!("CARGO_PKG_NAME") && json["schema_version"].is_u64())
}

pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(n: u32) -> String {
        format!(r#"{{"schema_version": 1, "tool": {{"name": "cargo-wasmship"}}, "n": {n}}}"#)
    }

    #[test]
    fn commit_replaces_and_drop_discards() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let first = Staging::begin(&out).unwrap();
        first.write("manifest.json", ours(1).as_bytes()).unwrap();
        first.commit().unwrap();
        assert_eq!(fs::read_to_string(out.join("manifest.json")).unwrap(), ours(1));

        let failed = Staging::begin(&out).unwrap();
        failed.write("manifest.json", ours(2).as_bytes()).unwrap();
        drop(failed);
        assert_eq!(fs::read_to_string(out.join("manifest.json")).unwrap(), ours(1));

        let second = Staging::begin(&out).unwrap();
        second.write("manifest.json", ours(3).as_bytes()).unwrap();
        second.commit().unwrap();
        assert_eq!(fs::read_to_string(out.join("manifest.json")).unwrap(), ours(3));
        let leftovers: Vec<_> = fs::read_dir(root.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("out")]);
    }

    #[test]
    fn refuses_foreign_directory() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("notes.txt"), "mine").unwrap();
        let err = Staging::begin(root.path()).err().unwrap().to_string();
        assert!(err.contains("refusing to replace it"), "{err}");
        // A web app's own manifest.json is not ours.
        fs::write(root.path().join("manifest.json"), r#"{"name": "My PWA", "start_url": "/"}"#).unwrap();
        let err = Staging::begin(root.path()).err().unwrap().to_string();
        assert!(err.contains("was not written by cargo-wasmship"), "{err}");
        let file = root.path().join("a-file");
        fs::write(&file, "x").unwrap();
        let err = Staging::begin(&file).err().unwrap().to_string();
        assert!(err.contains("is not a directory"), "{err}");
    }

    #[test]
    fn a_build_killed_between_renames_gets_its_output_back() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        // What a kill between the two renames of the non-atomic commit leaves behind.
        let old = root.path().join(".out.wasmship-old-4242");
        fs::create_dir(&old).unwrap();
        fs::write(old.join("manifest.json"), "last good").unwrap();
        fs::create_dir(root.path().join(".out.wasmship-staging-4242")).unwrap();
        let staging = Staging::begin(&out).unwrap();
        assert_eq!(fs::read(out.join("manifest.json")).unwrap(), b"last good");
        drop(staging);
        let left: Vec<_> = fs::read_dir(root.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("out")]);
    }
}
