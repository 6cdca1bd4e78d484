//! Replacing an output directory's contents file by file, for the two directories a swap of
//! the whole directory cannot serve: one holding files this tool did not write (they stay),
//! and a mount point (it cannot be renamed). Every new file is first written under a
//! temporary name beside its final one, then all are renamed into place, `manifest.json`
//! last; only then do the previous build's files that the new one lacks go, and only those
//! still holding the bytes that build recorded. Each file changes atomically; a build killed
//! during the renames leaves some files new and the previous manifest, which `verify` reports
//! and the next build repairs.
use super::listing;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::Path;

/// What the replacement did besides writing the new files.
#[derive(Debug, Default)]
pub struct Kept {
    /// The previous build's files left in place because they no longer hold its bytes.
    pub changed: Vec<String>,
}

/// Puts every file under `staging` at the same path under `out_dir`, then removes what the
/// previous manifest (`previous`: file, sha256) lists and the new build does not.
pub fn replace(staging: &Path, out_dir: &Path, previous: &[(String, String)]) -> Result<Kept> {
    let new_files = files_under(staging)?;
    let previous_names: BTreeSet<&str> = previous.iter().map(|(f, _)| f.as_str()).collect();
    // Everything that could go wrong is checked before the first byte is written.
    for file in &new_files {
        check_parents(out_dir, file)?;
        let target = out_dir.join(file);
        let Ok(meta) = std::fs::symlink_metadata(&target) else { continue };
        let ours = previous_names.contains(file.as_str()) || listing::OWN_FILES.contains(&file.as_str());
        if !ours && !(meta.is_file() && same_bytes(&target, &staging.join(file))) {
            bail!(
                "the new build has a file {}, and {} holds a file of that name that cargo-wasmship did not write; \
                 refusing to replace it\n  help: move it out of the output directory, or pick another --out-dir",
                file,
                out_dir.display()
            );
        }
        if !meta.is_file() {
            bail!("{} is not a regular file; refusing to replace it", target.display());
        }
    }
    // Stage beside each final name (same directory, same filesystem), manifest last.
    let mut order: Vec<&String> = new_files.iter().filter(|f| *f != crate::manifest::FILE_NAME).collect();
    order.extend(new_files.iter().filter(|f| *f == crate::manifest::FILE_NAME));
    let mut placed = Vec::new();
    let cleanup = |placed: &[(std::path::PathBuf, std::path::PathBuf)]| {
        for (tmp, _) in placed {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for file in &order {
        let target = out_dir.join(file);
        let parent = target.parent().expect("a file under the output directory");
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        let tmp = parent.join(format!("{}{}", super::TMP_PREFIX, crate::cache::store::random_hex(8)));
        if let Err(error) = copy_synced(&staging.join(file), &tmp) {
            cleanup(&placed);
            let _ = std::fs::remove_file(&tmp);
            return Err(error).with_context(|| format!("writing {}", tmp.display()));
        }
        placed.push((tmp, target));
    }
    for (tmp, target) in &placed {
        std::fs::rename(tmp, target).with_context(|| format!("moving {} to {}", tmp.display(), target.display()))?;
    }
    // The previous build's leftovers: only files still holding the bytes it recorded.
    let mut kept = Kept::default();
    let new_names: BTreeSet<&str> = new_files.iter().map(String::as_str).collect();
    for (file, sha256) in previous {
        if new_names.contains(file.as_str()) {
            continue;
        }
        let path = out_dir.join(file);
        match holds(&path, sha256) {
            Some(true) => std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?,
            Some(false) => kept.changed.push(file.clone()),
            None => {}
        }
    }
    for report in &listing::OWN_FILES[1..] {
        if !new_names.contains(report) {
            let path = out_dir.join(report);
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            }
        }
    }
    Ok(kept)
}

/// Each directory on the way to `file` must be a real directory (or not exist yet): a link
/// there would send the write elsewhere.
fn check_parents(out_dir: &Path, file: &str) -> Result<()> {
    let mut path = out_dir.to_path_buf();
    let parts: Vec<&str> = file.split('/').collect();
    for part in &parts[..parts.len() - 1] {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => bail!("{} is not a directory (a link or a file); refusing to write through it", path.display()),
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// `Some(true)` when `path` is a regular file with this sha256, `Some(false)` when it is
/// something else, `None` when it is gone.
fn holds(path: &Path, sha256: &str) -> Option<bool> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return Some(false);
    }
    Some(crate::digest::sha256_file(path).is_ok_and(|digest| digest == sha256))
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    matches!((crate::digest::sha256_file(a), crate::digest::sha256_file(b)), (Ok(x), Ok(y)) if x == y)
}

fn copy_synced(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut source = std::fs::File::open(from)?;
    let mut target = std::fs::OpenOptions::new().write(true).create_new(true).open(to)?;
    std::io::copy(&mut source, &mut target)?;
    target.sync_all()
}

/// Every file under `dir`, relative and `/`-separated (staging holds only files and dirs).
fn files_under(dir: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(prefix) = pending.pop() {
        let here = dir.join(&prefix);
        for entry in std::fs::read_dir(&here).with_context(|| format!("listing {}", here.display()))? {
            let entry = entry?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type()?.is_dir() {
                pending.push(format!("{name}/"));
            } else {
                files.push(name);
            }
        }
    }
    files.sort();
    Ok(files)
}
