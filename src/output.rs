//! Writing the output directory so that it is always either the last good build or the new
//! one, never a mix: artifacts go to a staging directory beside it, and only after every
//! stage succeeded does the staging directory replace it (an atomic exchange on Linux). A
//! lock file serializes concurrent builds of the same output directory.
use anyhow::{bail, Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
                    bail!(
                        "another cargo-wasmship build held {} for {:?}; giving up\n  \
                         help: wait for it to finish, or raise --lock-timeout",
                        path.display(),
                        timeout
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
}

/// A staging directory that becomes `out_dir` on [`Staging::commit`] and is removed if
/// dropped before that.
pub struct Staging {
    dir: PathBuf,
    out_dir: PathBuf,
    committed: bool,
}

impl Staging {
    /// Creates a fresh staging directory. Call with the lock held: any staging directory left
    /// from a killed build of this output is stale and is removed here.
    pub fn begin(out_dir: &Path) -> Result<Staging> {
        refuse_foreign_dir(out_dir)?;
        remove_stale(out_dir)?;
        let dir = sibling(out_dir, &format!("staging-{}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("creating staging directory {}", dir.display()))?;
        Ok(Staging { dir, out_dir: out_dir.to_path_buf(), committed: false })
    }

    /// Writes one file into the staging directory and flushes it to disk.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(name);
        let mut file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        file.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
        file.sync_all().with_context(|| format!("flushing {}", path.display()))?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Puts the staged files in place of `out_dir`, atomically where the OS allows.
    pub fn commit(mut self) -> Result<()> {
        sync_dir(&self.dir);
        if !self.out_dir.exists() {
            fs::rename(&self.dir, &self.out_dir)
                .with_context(|| format!("moving {} to {}", self.dir.display(), self.out_dir.display()))?;
        } else if exchange(&self.dir, &self.out_dir).is_ok() {
            // The old output now sits at the staging path.
            fs::remove_dir_all(&self.dir).with_context(|| format!("removing old output at {}", self.dir.display()))?;
        } else {
            let old = sibling(&self.out_dir, &format!("old-{}", std::process::id()));
            fs::rename(&self.out_dir, &old).with_context(|| format!("moving old output to {}", old.display()))?;
            fs::rename(&self.dir, &self.out_dir)
                .with_context(|| format!("moving {} to {}", self.dir.display(), self.out_dir.display()))?;
            fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
        }
        if let Some(parent) = self.out_dir.parent() {
            sync_dir(parent);
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `<parent>/.<dir name>.wasmship-<what>`: beside the output, on the same filesystem.
fn sibling(out_dir: &Path, what: &str) -> PathBuf {
    let name = out_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    out_dir.with_file_name(format!(".{name}.wasmship-{what}"))
}

fn remove_stale(out_dir: &Path) -> Result<()> {
    let Some(parent) = out_dir.parent() else { return Ok(()) };
    let Ok(entries) = fs::read_dir(parent) else { return Ok(()) };
    let name = out_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefixes = [format!(".{name}.wasmship-staging-"), format!(".{name}.wasmship-old-")];
    for entry in entries.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| entry_name.starts_with(p)) {
            fs::remove_dir_all(entry.path()).with_context(|| format!("removing stale {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Replacing a directory we did not write would delete someone's files.
fn refuse_foreign_dir(out_dir: &Path) -> Result<()> {
    let Ok(mut entries) = fs::read_dir(out_dir) else { return Ok(()) };
    let empty = entries.next().is_none();
    if empty || out_dir.join(crate::manifest::FILE_NAME).is_file() {
        return Ok(());
    }
    bail!(
        "the output directory {} exists, is not empty and has no manifest.json, so it was not written \
         by cargo-wasmship; refusing to replace it\n  help: pick a new or empty directory with --out-dir or `out-dir`",
        out_dir.display()
    )
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; renameat2 reads them only.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_and_drop_discards() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let first = Staging::begin(&out).unwrap();
        first.write("manifest.json", b"1").unwrap();
        first.commit().unwrap();
        assert_eq!(fs::read(out.join("manifest.json")).unwrap(), b"1");

        let failed = Staging::begin(&out).unwrap();
        failed.write("manifest.json", b"2").unwrap();
        drop(failed);
        assert_eq!(fs::read(out.join("manifest.json")).unwrap(), b"1");

        let second = Staging::begin(&out).unwrap();
        second.write("manifest.json", b"3").unwrap();
        second.commit().unwrap();
        assert_eq!(fs::read(out.join("manifest.json")).unwrap(), b"3");
        let leftovers: Vec<_> = fs::read_dir(root.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("out")]);
    }

    #[test]
    fn refuses_foreign_directory() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("notes.txt"), "mine").unwrap();
        let err = Staging::begin(root.path()).err().unwrap().to_string();
        assert!(err.contains("refusing to replace it"), "{err}");
    }
}
