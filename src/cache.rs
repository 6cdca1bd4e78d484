//! The stage cache: a stage's output, keyed by sha256 of (its input's digest, its full
//! settings, the versions of the tools it uses). Unchanged inputs skip the stage.
//!
//! Layout under the cache directory:
//! - `v1/entries/<key>.json`: the stage report and digests of its outputs (small);
//! - `v1/blobs/<sha256>`: output bytes, content-addressed.
//!
//! Files are written to a temporary name and renamed, so concurrent builds never see half an
//! entry. Blobs are checked against their digest on every read; a bad one is deleted and the
//! build reruns without the cache ([`Corrupt`]). Size is bounded with least-recently-used
//! eviction (a hit refreshes the file times).
use crate::digest::{sha256_hex, sri_sha384};
use crate::stages::StageReport;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The layout of the cache directory. Changes in what a stage outputs need no bump: keys
/// include the build identity (`build_identity::ID`).
pub const FORMAT: u32 = 1;

/// A cached output: enough to name, hash and check it without reading it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlobRef {
    pub sha256: String,
    pub integrity: String,
    pub bytes: u64,
}

impl BlobRef {
    pub fn of(bytes: &[u8]) -> BlobRef {
        BlobRef { sha256: sha256_hex(bytes), integrity: sri_sha384(bytes), bytes: bytes.len() as u64 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub report: StageReport,
    pub output: BlobRef,
    /// Stage-specific facts about the output (the precompile info of a .cwasm).
    #[serde(default)]
    pub extra: Value,
}

/// A cache blob failed its digest check: the build must redo the work.
#[derive(Debug)]
pub struct Corrupt {
    pub blob: String,
}

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cache blob {} is missing or failed its digest check", self.blob)
    }
}

impl std::error::Error for Corrupt {}

pub struct Cache {
    root: PathBuf,
    max_bytes: u64,
    /// False with `--no-cache`: nothing is read, results are still stored.
    read: bool,
}

impl Cache {
    pub fn new(dir: &Path, max_bytes: u64, read: bool) -> Cache {
        Cache { root: dir.join(format!("v{FORMAT}")), max_bytes, read }
    }

    /// The key for `material`: everything that determines a stage's output.
    pub fn key(material: &Value) -> String {
        sha256_hex(material.to_string().as_bytes())
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.root.join("entries").join(format!("{key}.json"))
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.root.join("blobs").join(sha256)
    }

    /// The entry for `key`, if present, readable, and its blob exists with the right size.
    pub fn get(&self, key: &str) -> Option<Entry> {
        if !self.read {
            return None;
        }
        let path = self.entry_path(key);
        let entry: Entry = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
        let blob = self.blob_path(&entry.output.sha256);
        if fs::metadata(&blob).ok()?.len() != entry.output.bytes {
            return None;
        }
        touch(&path);
        touch(&blob);
        Some(entry)
    }

    /// Reads a blob, checking its digest; a bad blob is deleted. A blob gone since `get` (another
    /// build's eviction) counts as corrupt too: the build redoes the work either way.
    pub fn load(&self, blob: &BlobRef) -> Result<Vec<u8>> {
        let path = self.blob_path(&blob.sha256);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Corrupt { blob: path.display().to_string() }.into());
            }
            Err(e) => return Err(e).with_context(|| format!("reading cache blob {}", path.display())),
        };
        if sha256_hex(&bytes) != blob.sha256 {
            let _ = fs::remove_file(&path);
            return Err(Corrupt { blob: path.display().to_string() }.into());
        }
        Ok(bytes)
    }

    /// Stores a stage's result. Failing to cache never fails the build: it returns the
    /// reason for a warning.
    pub fn put(&self, key: &str, entry: &Entry, bytes: &[u8]) -> Result<()> {
        // Always rewritten: an existing blob of the right size may be a corrupt one, and this
        // is how the cache heals after a rebuild.
        crate::output::write_atomically(&self.blob_path(&entry.output.sha256), bytes)?;
        crate::output::write_atomically(&self.entry_path(key), &serde_json::to_vec(entry)?)
    }

    /// Deletes least-recently-used files until the cache fits in its size bound.
    pub fn evict(&self) -> Result<u64> {
        let mut files = Vec::new();
        for dir in ["entries", "blobs"] {
            let Ok(read) = fs::read_dir(self.root.join(dir)) else { continue };
            for entry in read.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                files.push((used, meta.len(), entry.path()));
            }
        }
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        if total <= self.max_bytes {
            return Ok(0);
        }
        files.sort();
        let mut freed = 0;
        for (_, size, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= size;
                freed += size;
            }
        }
        Ok(freed)
    }
}

fn touch(path: &Path) {
    if let Ok(file) = fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::{Stage, StageReport};
    use std::time::Instant;

    fn entry(bytes: &[u8]) -> Entry {
        Entry {
            report: StageReport::new(Stage::Strip, b"in", bytes, Instant::now(), Value::Null),
            output: BlobRef::of(bytes),
            extra: Value::Null,
        }
    }

    #[test]
    fn stores_finds_and_rejects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), 1 << 20, true);
        let key = Cache::key(&serde_json::json!({"stage": "strip", "input": "x"}));
        assert!(cache.get(&key).is_none());
        cache.put(&key, &entry(b"output bytes"), b"output bytes").unwrap();
        let found = cache.get(&key).expect("hit");
        assert_eq!(cache.load(&found.output).unwrap(), b"output bytes");

        // Same size, different bytes: found by get, refused by load, then gone.
        let blob = cache.blob_path(&found.output.sha256);
        fs::write(&blob, b"OUTPUT BYTES").unwrap();
        let found = cache.get(&key).expect("size still matches");
        assert!(cache.load(&found.output).unwrap_err().downcast_ref::<Corrupt>().is_some());
        assert!(cache.get(&key).is_none(), "a corrupt blob is deleted");

        // A truncated entry file is a miss, not an error.
        cache.put(&key, &entry(b"output bytes"), b"output bytes").unwrap();
        fs::write(cache.entry_path(&key), b"{\"report\":").unwrap();
        assert!(cache.get(&key).is_none());
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), 2500, true);
        let old = vec![1u8; 1000];
        let new = vec![2u8; 1000];
        cache.put("old", &entry(&old), &old).unwrap();
        let past = SystemTime::now() - std::time::Duration::from_secs(3600);
        for path in [cache.entry_path("old"), cache.blob_path(&BlobRef::of(&old).sha256)] {
            fs::File::options().append(true).open(path).unwrap().set_modified(past).unwrap();
        }
        cache.put("new", &entry(&new), &new).unwrap();
        assert!(cache.evict().unwrap() > 0);
        assert!(cache.get("old").is_none(), "the older entry went first");
        assert!(cache.get("new").is_some(), "the newer entry stayed");
    }

    #[test]
    fn no_cache_mode_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        Cache::new(dir.path(), 1 << 20, true).put("k", &entry(b"x"), b"x").unwrap();
        assert!(Cache::new(dir.path(), 1 << 20, false).get("k").is_none());
    }
}
