//! The stage cache: only work whose inputs changed runs, bad entries are rebuilt, never used.
use cargo_wasmship::manifest::Manifest;
use cargo_wasmship::stages::{Stage, StageStatus};

use std::path::{Path, PathBuf};
use std::process::Command;

fn guest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wasi-guest/Cargo.toml")
}

struct Workspace {
    _dir: tempfile::TempDir,
    out: PathBuf,
    cache: PathBuf,
}

fn workspace() -> Workspace {
    let dir = tempfile::tempdir().unwrap();
    Workspace { out: dir.path().join("out"), cache: dir.path().join("cache"), _dir: dir }
}

/// Runs a build; returns the manifest and stderr.
fn build(ws: &Workspace, extra: &[&str]) -> (Manifest, String) {
    let output = Command::new(snapbox::cmd::cargo_bin!("cargo-wasmship"))
        .args(["build", "-q", "--manifest-path"])
        .arg(guest())
        .arg("--target-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache-tests"))
        .arg("--out-dir")
        .arg(&ws.out)
        .arg("--cache-dir")
        .arg(&ws.cache)
        .args(["--precompile", "host,aarch64-unknown-linux-gnu"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (Manifest::read(&ws.out.join("manifest.json")).unwrap(), stderr)
}

/// (stage, status) after cargo's build stage, package excluded (it always runs: it only names).
fn statuses(manifest: &Manifest) -> Vec<(Stage, StageStatus)> {
    manifest.stages[1..manifest.stages.len() - 1].iter().map(|s| (s.stage, s.status)).collect()
}

fn all(manifest: &Manifest, status: StageStatus) -> bool {
    statuses(manifest).iter().all(|(_, s)| *s == status)
}

fn verified(ws: &Workspace) {
    let (_, problems) = cargo_wasmship::commands::verify::check(&ws.out.join("manifest.json")).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn unchanged_guest_skips_every_stage_and_writes_nothing() {
    let ws = workspace();
    let (first, _) = build(&ws, &[]);
    assert!(all(&first, StageStatus::Ran), "{:?}", statuses(&first));
    let manifest_time = std::fs::metadata(ws.out.join("manifest.json")).unwrap().modified().unwrap();

    let (second, stderr) = build(&ws, &[]);
    // Nothing was written, so the manifest on disk is the first build's; the table shows
    // what this run did.
    for stage in ["preinit", "optimize", "strip", "precompile", "compress"] {
        let rows: Vec<&str> = stderr.lines().filter(|l| l.trim_start().starts_with(&format!("{stage} "))).collect();
        assert!(!rows.is_empty() && rows.iter().all(|r| r.contains("cached")), "{stage} not cached:\n{stderr}");
    }
    assert!(stderr.contains("Fresh"), "{stderr}");
    assert_eq!(
        std::fs::metadata(ws.out.join("manifest.json")).unwrap().modified().unwrap(),
        manifest_time,
        "output untouched"
    );
    assert_eq!(first.artifacts, second.artifacts);
    verified(&ws);
}

#[test]
fn changing_compression_reruns_only_compression() {
    let ws = workspace();
    let (first, _) = build(&ws, &[]);
    let (second, _) = build(&ws, &["--set", "brotli-quality=5", "--set", "gzip-level=6"]);
    for (stage, status) in statuses(&second) {
        let expected = if stage == Stage::Compress { StageStatus::Ran } else { StageStatus::Cached };
        assert_eq!(status, expected, "{stage:?}");
    }
    let br = |m: &Manifest| m.artifact("wasi_guest.wasm.br").unwrap().sha256.clone();
    assert_ne!(br(&first), br(&second), "a new brotli quality gives new bytes");
    assert_eq!(first.artifact("wasi_guest.wasm").unwrap(), second.artifact("wasi_guest.wasm").unwrap());
    verified(&ws);
}

#[test]
fn changing_precompile_targets_reruns_only_the_new_target() {
    let ws = workspace();
    build(&ws, &[]);
    let (second, _) = build(&ws, &["--precompile", "host,aarch64-unknown-linux-gnu,x86_64-pc-windows-msvc"]);
    let ran: Vec<String> = second
        .stages
        .iter()
        .filter(|s| s.status == StageStatus::Ran && !matches!(s.stage, Stage::Build | Stage::Package))
        .map(|s| format!("{} {}", s.stage.name(), s.settings["target"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(ran, ["precompile x86_64-pc-windows-msvc"]);
    verified(&ws);
}

/// Every cache file of one kind (`entries` or `blobs`).
fn cache_files(ws: &Workspace, kind: &str) -> Vec<PathBuf> {
    let dir = ws.cache.join("v1").join(kind);
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect()
}

#[test]
fn corrupt_blobs_are_detected_and_rebuilt() {
    let ws = workspace();
    let (first, _) = build(&ws, &[]);
    // Flip a byte in every blob (same size, so only the digest can tell) and force a rewrite.
    for blob in cache_files(&ws, "blobs") {
        let mut bytes = std::fs::read(&blob).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&blob, bytes).unwrap();
    }
    std::fs::remove_dir_all(&ws.out).unwrap();
    let (second, stderr) = build(&ws, &[]);
    assert!(stderr.contains("failed its digest check; rebuilding without reading the cache"), "{stderr}");
    assert_eq!(first.artifacts, second.artifacts, "the rebuild made the same artifacts from scratch");
    verified(&ws);

    // The rebuild rewrote every blob: the cache is whole again.
    for blob in cache_files(&ws, "blobs") {
        let bytes = std::fs::read(&blob).unwrap();
        assert_eq!(cargo_wasmship::digest::sha256_hex(&bytes), blob.file_name().unwrap().to_string_lossy());
    }
    std::fs::remove_dir_all(&ws.out).unwrap();
    let (_, stderr) = build(&ws, &[]);
    assert!(!stderr.contains("digest check"), "no second rebuild:\n{stderr}");
}

#[test]
fn a_corrupt_input_to_a_stage_that_must_run_is_rebuilt() {
    let ws = workspace();
    let (first, _) = build(&ws, &[]);
    for blob in cache_files(&ws, "blobs") {
        let mut bytes = std::fs::read(&blob).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&blob, bytes).unwrap();
    }
    // Preinit's entry still hits, but optimize now has new settings and must read its
    // (corrupt) input.
    let (second, stderr) = build(&ws, &["--wasm-opt", "-O1"]);
    assert!(stderr.contains("failed its digest check; rebuilding without reading the cache"), "{stderr}");
    let preinit = |m: &Manifest| m.stages[1].sha256_out.clone();
    assert_eq!(preinit(&first), preinit(&second), "preinit was redone from scratch, same bytes");
    verified(&ws);
}

#[test]
fn truncated_entries_are_misses() {
    let ws = workspace();
    build(&ws, &[]);
    for entry in cache_files(&ws, "entries") {
        let text = std::fs::read(&entry).unwrap();
        std::fs::write(&entry, &text[..text.len() / 2]).unwrap();
    }
    let (second, _) = build(&ws, &[]);
    assert!(all(&second, StageStatus::Ran), "{:?}", statuses(&second));
    verified(&ws);
}

#[test]
fn no_cache_runs_everything() {
    let ws = workspace();
    build(&ws, &[]);
    let (second, _) = build(&ws, &["--no-cache"]);
    assert!(all(&second, StageStatus::Ran), "{:?}", statuses(&second));
}

#[test]
fn concurrent_builds_share_one_cache() {
    let ws = workspace();
    let other = workspace();
    let shared = ws.cache.clone();
    let run = |out: PathBuf| {
        let shared = shared.clone();
        std::thread::spawn(move || {
            Command::new(snapbox::cmd::cargo_bin!("cargo-wasmship"))
                .args(["build", "-q", "--manifest-path"])
                .arg(guest())
                .arg("--target-dir")
                .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache-tests"))
                .arg("--out-dir")
                .arg(out)
                .arg("--cache-dir")
                .arg(shared)
                .output()
                .unwrap()
        })
    };
    let a = run(ws.out.clone());
    let b = run(other.out.clone());
    for output in [a.join().unwrap(), b.join().unwrap()] {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    verified(&ws);
    verified(&other);
    let temporary: Vec<_> = ["entries", "blobs"]
        .iter()
        .flat_map(|k| cache_files(&ws, k))
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(temporary.is_empty(), "no half-written cache files: {temporary:?}");
}

#[test]
fn the_cache_stays_within_its_size_bound() {
    let ws = workspace();
    let bound: u64 = 300 * 1024;
    build(&ws, &["--cache-max-size", &bound.to_string()]);
    let total: u64 = ["entries", "blobs"]
        .iter()
        .flat_map(|k| cache_files(&ws, k))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(total <= bound, "cache holds {total} bytes, bound {bound}");
    assert!(total > 0, "it still caches what fits");
}
