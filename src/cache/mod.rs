//! The stage cache: a stage's output, keyed by sha256 of (its input's digest, its full
//! settings, the versions of the tools it uses). Unchanged inputs skip the stage.
//!
//! Layout under the cache directory:
//! - `v2/entries/<key>`: an HMAC-SHA256 tag, a newline, then the stage report and the digests
//!   of its output as JSON (small);
//! - `v2/blobs/<sha256>`: output bytes, content-addressed.
//!
//! The cache directory is input written by someone else until checked (a restored CI cache, a
//! volume shared between machines), and its outputs become shipped native code. So:
//! - an entry counts only when its tag, keyed by a secret kept outside the directory
//!   ([`secret`]), matches its bytes and its key: entries written without that secret are
//!   misses, with one warning;
//! - every value in an entry is checked before use (digests are 64 hex digits; the stage, the
//!   input and the output agree with what the build asked for), and a blob must hash to its
//!   authenticated digest;
//! - files are reached only through handles of the cache directory, without following links,
//!   and read no further than their authenticated size ([`store`]); nothing outside the
//!   directory is opened, touched or deleted.
//!
//! Size is bounded with least-recently-used eviction (a hit refreshes the file times).
pub mod secret;
pub mod store;

use crate::digest::{sha256_hex, sri_sha384};
use crate::stages::{Stage, StageReport};
use anyhow::{Context, Result};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use store::Store;

/// The layout of the cache directory. Changes in what a stage outputs need no bump: keys
/// include the build identity (`build_identity::ID`).
pub const FORMAT: u32 = 2;

/// Entries are small: a report, a few digests, and for the bindgen stage the JS glue (which
/// for a guest importing much of web-sys runs to a few MiB).
const MAX_ENTRY_BYTES: u64 = 16 << 20;

type Hmac = hmac::Hmac<sha2::Sha256>;

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

impl Entry {
    /// Whether this (authenticated) entry is an answer to what the build asked: the stage and
    /// input it was keyed by, and an output whose digests are well formed and agree.
    fn answers(&self, stage: Stage, input_sha256: &str) -> bool {
        let output = &self.output;
        is_sha256(&output.sha256)
            && output.integrity.starts_with("sha384-")
            && self.report.stage == stage
            && (self.report.sha256_in.is_empty() || self.report.sha256_in == input_sha256)
            && self.report.sha256_out == output.sha256
            && self.report.bytes_out == output.bytes
    }
}

/// 64 lowercase hex digits: the only blob names there are.
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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
    entries: Store,
    blobs: Store,
    key: Vec<u8>,
    max_bytes: u64,
    /// False with `--no-cache`: nothing is read, results are still stored.
    read: bool,
    /// An entry failed its tag since the last [`Cache::take_warning`].
    unauthentic: AtomicBool,
    /// The warning was given: once per build, not once per entry.
    warned: AtomicBool,
}

impl Cache {
    /// Opens the cache under `dir` with `key` (see [`secret::load`]).
    pub fn open(dir: &Path, key: Vec<u8>, max_bytes: u64, read: bool) -> Result<Cache> {
        let version = format!("v{FORMAT}");
        let open = |sub: &str| {
            Store::open(dir, &[&version, sub]).with_context(|| format!("opening the stage cache at {}", dir.display()))
        };
        Ok(Cache {
            root: dir.join(&version),
            entries: open("entries")?,
            blobs: open("blobs")?,
            key,
            max_bytes,
            read,
            unauthentic: AtomicBool::new(false),
            warned: AtomicBool::new(false),
        })
    }

    /// The key for `material`: everything that determines a stage's output.
    pub fn key(material: &Value) -> String {
        sha256_hex(material.to_string().as_bytes())
    }

    fn tag(&self, key: &str, json: &[u8]) -> Hmac {
        let mut mac = <Hmac as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(b"cargo-wasmship stage cache entry v2\0");
        mac.update(key.as_bytes());
        mac.update(b"\0");
        mac.update(json);
        mac
    }

    /// The entry for `key` when it is authentic, answers (`stage`, `input_sha256`), and its
    /// blob exists with the recorded size. Anything else is a miss.
    pub fn get(&self, key: &str, stage: Stage, input_sha256: &str) -> Option<Entry> {
        if !self.read || !is_sha256(key) {
            return None;
        }
        let file = self.entries.read(key, MAX_ENTRY_BYTES, None).ok()?;
        let newline = file.iter().position(|b| *b == b'\n')?;
        let (tag, json) = (&file[..newline], &file[newline + 1..]);
        let tag = std::str::from_utf8(tag).ok().and_then(unhex);
        if tag.is_none_or(|tag| self.tag(key, json).verify_slice(&tag).is_err()) {
            self.unauthentic.store(true, Ordering::SeqCst);
            return None;
        }
        let entry: Entry = serde_json::from_slice(json).ok()?;
        if !entry.answers(stage, input_sha256) {
            return None;
        }
        // Present at the recorded size (and its use time refreshed): loading checks the digest.
        (self.blobs.touch(&entry.output.sha256).ok()? == entry.output.bytes).then_some(entry)
    }

    /// The warning to give, once per build, when entries this key did not write were found.
    pub fn take_warning(&self) -> Option<String> {
        if !self.unauthentic.load(Ordering::SeqCst) || self.warned.swap(true, Ordering::SeqCst) {
            return None;
        }
        Some(format!(
            "the stage cache at {} holds entries that this machine's cache key did not write; they were ignored \
             (to share a cache between machines, give each the same secret in {})",
            self.root.display(),
            secret::ENV
        ))
    }

    /// The entry file `put` writes for `json` under `key`: the tag, a newline, the JSON.
    /// Public so the tests can play a writer who has the key.
    pub fn seal(&self, key: &str, json: &[u8]) -> Vec<u8> {
        let mut file = crate::digest::hex(&self.tag(key, json).finalize().into_bytes()).into_bytes();
        file.push(b'\n');
        file.extend_from_slice(json);
        file
    }

    /// Reads a blob, checking its digest; a bad blob is deleted. A blob gone since `get` (another
    /// build's eviction) counts as corrupt too: the build redoes the work either way.
    pub fn load(&self, blob: &BlobRef) -> Result<Vec<u8>> {
        let corrupt = || Corrupt { blob: self.root.join("blobs").join(&blob.sha256).display().to_string() };
        if !is_sha256(&blob.sha256) {
            return Err(corrupt().into());
        }
        let bytes = self.blobs.read(&blob.sha256, blob.bytes, Some(blob.bytes)).map_err(|_| corrupt())?;
        if sha256_hex(&bytes) != blob.sha256 {
            let _ = self.blobs.remove(&blob.sha256);
            return Err(corrupt().into());
        }
        Ok(bytes)
    }

    /// Stores a stage's result. Failing to cache never fails the build: it returns the
    /// reason for a warning.
    pub fn put(&self, key: &str, entry: &Entry, bytes: &[u8]) -> Result<()> {
        anyhow::ensure!(is_sha256(key) && is_sha256(&entry.output.sha256), "malformed cache key or digest");
        // Always rewritten: an existing blob of the right size may be a corrupt one, and this
        // is how the cache heals after a rebuild.
        self.blobs.write(&entry.output.sha256, bytes).context("writing a cache blob")?;
        let json = serde_json::to_vec(entry)?;
        let sealed = self.seal(key, &json);
        // What `get` would refuse to read is not written.
        anyhow::ensure!(
            sealed.len() as u64 <= MAX_ENTRY_BYTES,
            "the entry is over the cache's {MAX_ENTRY_BYTES}-byte bound"
        );
        self.entries.write(key, &sealed).context("writing a cache entry")
    }

    /// Deletes least-recently-used files until the cache fits in its size bound. Only the
    /// cache's own names are considered: entries and blobs, and temporary files left by
    /// killed writers an hour or more ago.
    pub fn evict(&self) -> Result<u64> {
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let ours = |name: &str| is_sha256(name);
        let stale_tmp = |name: &str| name.starts_with(store::TMP_PREFIX);
        let mut files = Vec::new();
        let mut freed = 0;
        for store in [&self.entries, &self.blobs] {
            for (name, size, used) in store.list(stale_tmp)? {
                if used < an_hour_ago && store.remove(&name).is_ok() {
                    freed += size;
                }
            }
            files.extend(store.list(ours)?.into_iter().map(|(name, size, used)| (used, size, name, store)));
        }
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        if total <= self.max_bytes {
            return Ok(freed);
        }
        files.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.2.cmp(&b.2)));
        for (_, size, name, store) in files {
            if total <= self.max_bytes {
                break;
            }
            if store.remove(&name).is_ok() {
                total -= size;
                freed += size;
            }
        }
        Ok(freed)
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::Instant;

    const KEY: &[u8] = b"unit test key, 32 bytes or more..";

    fn entry(input: &[u8], bytes: &[u8]) -> Entry {
        Entry {
            report: StageReport::new(Stage::Strip, input, bytes, Instant::now(), Value::Null),
            output: BlobRef::of(bytes),
            extra: Value::Null,
        }
    }

    fn key(n: u8) -> String {
        Cache::key(&serde_json::json!({ "n": n }))
    }

    fn open(dir: &Path, max: u64) -> Cache {
        Cache::open(dir, KEY.to_vec(), max, true).unwrap()
    }

    #[test]
    fn stores_finds_and_rejects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 1 << 20);
        let input = sha256_hex(b"in");
        assert!(cache.get(&key(1), Stage::Strip, &input).is_none());
        cache.put(&key(1), &entry(b"in", b"output bytes"), b"output bytes").unwrap();
        let found = cache.get(&key(1), Stage::Strip, &input).expect("hit");
        assert_eq!(cache.load(&found.output).unwrap(), b"output bytes");
        assert!(cache.get(&key(1), Stage::Optimize, &input).is_none(), "an entry answers its own stage only");
        assert!(cache.get(&key(1), Stage::Strip, &sha256_hex(b"other")).is_none(), "and its own input");

        // Same size, different bytes: found by get, refused by load, then gone.
        let blob = dir.path().join("v2/blobs").join(&found.output.sha256);
        fs::write(&blob, b"OUTPUT BYTES").unwrap();
        let found = cache.get(&key(1), Stage::Strip, &input).expect("size still matches");
        assert!(cache.load(&found.output).unwrap_err().downcast_ref::<Corrupt>().is_some());
        assert!(cache.get(&key(1), Stage::Strip, &input).is_none(), "a corrupt blob is deleted");

        // A truncated entry file is a miss, not an error.
        cache.put(&key(1), &entry(b"in", b"output bytes"), b"output bytes").unwrap();
        fs::write(dir.path().join("v2/entries").join(key(1)), b"{\"report\":").unwrap();
        assert!(cache.get(&key(1), Stage::Strip, &input).is_none());
    }

    #[test]
    fn entries_written_with_another_key_are_misses_with_one_warning() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = Cache::open(dir.path(), b"someone else's key, long enough".to_vec(), 1 << 20, true).unwrap();
        theirs.put(&key(1), &entry(b"in", b"forged"), b"forged").unwrap();
        theirs.put(&key(2), &entry(b"in", b"forged"), b"forged").unwrap();
        let ours = open(dir.path(), 1 << 20);
        let input = sha256_hex(b"in");
        assert!(ours.get(&key(1), Stage::Strip, &input).is_none());
        assert!(ours.get(&key(2), Stage::Strip, &input).is_none());
        assert!(ours.take_warning().is_some_and(|w| w.contains(secret::ENV)));
        assert!(ours.take_warning().is_none(), "one warning per build");
    }

    #[test]
    fn authentic_entries_with_malformed_values_are_refused_and_nothing_outside_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let cache = open(dir.path(), 1 << 20);
        let input = sha256_hex(b"in");
        for sha256 in [victim.display().to_string(), "../../victim".into(), "abc".into(), "A".repeat(64)] {
            let mut forged = entry(b"in", b"x");
            forged.output.sha256 = sha256.clone();
            forged.report.sha256_out = sha256.clone();
            let json = serde_json::to_vec(&forged).unwrap();
            fs::write(dir.path().join("v2/entries").join(key(3)), cache.seal(&key(3), &json)).unwrap();
            assert!(cache.get(&key(3), Stage::Strip, &input).is_none(), "{sha256}");
            assert!(cache.load(&forged.output).is_err(), "{sha256}");
        }
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        let before = fs::metadata(&victim).unwrap().modified().unwrap();
        // A blob that is a link to a file outside is never followed, read or touched.
        let good = entry(b"in", b"precious");
        cache.put(&key(4), &good, b"precious").unwrap();
        let blob = dir.path().join("v2/blobs").join(&good.output.sha256);
        fs::remove_file(&blob).unwrap();
        std::os::unix::fs::symlink(&victim, &blob).unwrap();
        assert!(cache.get(&key(4), Stage::Strip, &input).is_none());
        assert!(cache.load(&good.output).is_err());
        assert_eq!(fs::metadata(&victim).unwrap().modified().unwrap(), before, "the link's target was not touched");
        cache.evict().unwrap();
        assert!(victim.exists());
    }

    #[test]
    fn a_fifo_in_place_of_a_blob_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 1 << 20);
        let good = entry(b"in", b"bytes");
        cache.put(&key(5), &good, b"bytes").unwrap();
        let blob = dir.path().join("v2/blobs").join(&good.output.sha256);
        fs::remove_file(&blob).unwrap();
        rustix::fs::mknodat(rustix::fs::CWD, &blob, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
        assert!(cache.get(&key(5), Stage::Strip, &sha256_hex(b"in")).is_none());
        assert!(cache.load(&good.output).is_err());
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 2500);
        let old = vec![1u8; 1000];
        let new = vec![2u8; 1000];
        let input = sha256_hex(b"in");
        cache.put(&key(1), &entry(b"in", &old), &old).unwrap();
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for path in [dir.path().join("v2/entries").join(key(1)), dir.path().join("v2/blobs").join(sha256_hex(&old))] {
            fs::File::options().append(true).open(path).unwrap().set_modified(past).unwrap();
        }
        cache.put(&key(2), &entry(b"in", &new), &new).unwrap();
        assert!(cache.evict().unwrap() > 0);
        assert!(cache.get(&key(1), Stage::Strip, &input).is_none(), "the older entry went first");
        assert!(cache.get(&key(2), Stage::Strip, &input).is_some(), "the newer entry stayed");
    }

    #[test]
    fn no_cache_mode_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        open(dir.path(), 1 << 20).put(&key(1), &entry(b"in", b"x"), b"x").unwrap();
        let cache = Cache::open(dir.path(), KEY.to_vec(), 1 << 20, false).unwrap();
        assert!(cache.get(&key(1), Stage::Strip, &sha256_hex(b"in")).is_none());
    }

    #[test]
    fn writers_use_unique_temporary_names() {
        let names: std::collections::BTreeSet<String> = (0..1000).map(|_| store::random_hex(16)).collect();
        assert_eq!(names.len(), 1000);
    }
}
