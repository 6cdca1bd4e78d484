//! A staging directory beside the output that becomes the output on [`Staging::commit`]: in one
//! atomic exchange when the output holds only this tool's files, else file by file
//! ([`super::in_place`]) so the user's files stay and a mount point keeps its mount.
use super::{in_place, listing, remove_stale, sibling, sync_dir};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A staging directory that becomes `out_dir` on [`Staging::commit`] and is removed if
/// dropped before that.
pub struct Staging {
    dir: PathBuf,
    out_dir: PathBuf,
    committed: bool,
}

/// How the commit went, for the build to say.
#[derive(Debug, Default)]
pub struct Committed {
    /// Files and directories in the output that this tool did not write; they were kept.
    pub kept_foreign: Vec<String>,
    /// The previous build's files kept because their bytes changed since it wrote them.
    pub kept_changed: Vec<String>,
    /// The output was replaced file by file (a mount point, or the user's files in it).
    pub in_place: bool,
}

impl Staging {
    /// Creates a fresh staging directory. Call with the lock held: any staging directory left
    /// from a killed build of this output is stale and is removed here.
    pub fn begin(out_dir: &Path) -> Result<Staging> {
        super::refuse_foreign_dir(out_dir)?;
        remove_stale(out_dir)?;
        let dir = sibling(out_dir, &format!("staging-{}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("creating staging directory {}", dir.display()))?;
        Ok(Staging { dir, out_dir: out_dir.to_path_buf(), committed: false })
    }

    /// Writes one file into the staging directory and flushes it to disk.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent().filter(|p| *p != self.dir) {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        file.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
        file.sync_all().with_context(|| format!("flushing {}", path.display()))?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Puts the staged files in place of `out_dir`'s: atomically where the OS allows and the
    /// directory holds only this tool's files; file by file otherwise.
    pub fn commit(mut self) -> Result<Committed> {
        sync_dir(&self.dir);
        let out_dir = self.out_dir.clone();
        let mut committed = Committed::default();
        if !out_dir.exists() {
            fs::rename(&self.dir, &out_dir)
                .with_context(|| format!("moving {} to {}", self.dir.display(), out_dir.display()))?;
        } else {
            let previous = listing::listed(&out_dir);
            let ours: BTreeSet<String> = previous.iter().map(|(file, _)| file.clone()).collect();
            committed.kept_foreign =
                listing::foreign(&out_dir, &ours).with_context(|| format!("listing {}", out_dir.display()))?;
            let swapped = committed.kept_foreign.is_empty() && self.swap(&out_dir)?;
            if !swapped {
                let kept = in_place::replace(&self.dir, &out_dir, &previous)?;
                committed.kept_changed = kept.changed;
                committed.in_place = true;
                fs::remove_dir_all(&self.dir).with_context(|| format!("removing {}", self.dir.display()))?;
            }
        }
        if let Some(parent) = out_dir.parent() {
            sync_dir(parent);
        }
        self.committed = true;
        Ok(committed)
    }

    /// Swaps the staging directory with `out_dir` and removes the old output, keeping its
    /// owner and mode. `Ok(false)` when the directory cannot be swapped here (a mount point,
    /// another filesystem): the caller replaces it file by file instead.
    fn swap(&self, out_dir: &Path) -> Result<bool> {
        keep_owner_and_mode(out_dir, &self.dir);
        match exchange(&self.dir, out_dir) {
            Ok(()) => {
                // The old output now sits at the staging path. A file someone added between
                // the listing and the swap goes back, not away.
                let ours: BTreeSet<String> = listing::listed(&self.dir).into_iter().map(|(f, _)| f).collect();
                for late in listing::foreign(&self.dir, &ours).unwrap_or_default() {
                    let _ = fs::rename(self.dir.join(&late), out_dir.join(&late));
                }
                fs::remove_dir_all(&self.dir)
                    .with_context(|| format!("removing old output at {}", self.dir.display()))?;
                Ok(true)
            }
            Err(e) if cannot_swap(&e) => Ok(false),
            Err(_) => {
                // No atomic exchange on this OS: two renames; between them the old output
                // waits at `old`, and the next build puts it back if this one dies there.
                let old = sibling(out_dir, &format!("old-{}", std::process::id()));
                fs::rename(out_dir, &old).with_context(|| format!("moving old output to {}", old.display()))?;
                if let Err(error) = fs::rename(&self.dir, out_dir) {
                    let _ = fs::rename(&old, out_dir);
                    return Err(error)
                        .with_context(|| format!("moving {} to {}", self.dir.display(), out_dir.display()));
                }
                fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
                Ok(true)
            }
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A directory that cannot be renamed in place: a mount point (EBUSY), or across
/// filesystems (EXDEV).
fn cannot_swap(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(error.raw_os_error(), Some(code) if code == rustix::io::Errno::BUSY.raw_os_error() || code == rustix::io::Errno::XDEV.raw_os_error())
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        false
    }
}

/// The new directory takes the old one's mode, and its owner where this process may set it.
fn keep_owner_and_mode(from: &Path, to: &Path) {
    let Ok(meta) = fs::metadata(from) else { return };
    let _ = fs::set_permissions(to, meta.permissions());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()));
    }
}

/// Swaps two directories in one step (`renameat2(RENAME_EXCHANGE)` on Linux,
/// `renameatx_np(RENAME_SWAP)` on macOS).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "ios"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

/// No atomic exchange here: the commit falls back to two renames (see `Staging::swap`).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "ios")))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}
