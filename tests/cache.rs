//! The stage cache: only work whose inputs changed runs, bad entries are rebuilt, never used.
mod common;

use cargo_wasmship::manifest::Manifest;
use cargo_wasmship::stages::{Stage, StageReport, StageStatus};

use std::path::{Path, PathBuf};

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

/// One build: the manifest it left, and its run report's stages (cache status, timings).
struct Run {
    manifest: Manifest,
    stages: Vec<StageReport>,
    /// The output already held this build; nothing was written.
    fresh: bool,
}

impl std::ops::Deref for Run {
    type Target = Manifest;
    fn deref(&self) -> &Manifest {
        &self.manifest
    }
}

/// Runs a build; returns what it left and its stderr.
fn build(ws: &Workspace, extra: &[&str]) -> (Run, String) {
    build_with_env(ws, extra, &[])
}

fn build_with_env(ws: &Workspace, extra: &[&str], env: &[(&str, &str)]) -> (Run, String) {
    let output = common::wasmship()
        .envs(env.iter().copied())
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
    let manifest = Manifest::read(&ws.out.join("manifest.json")).unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.out.with_file_name("out.run.json")).unwrap()).unwrap();
    let stages = serde_json::from_value(report["stages"].clone()).unwrap();
    (Run { manifest, stages, fresh: report["fresh"] == true }, stderr)
}

/// (stage, status) after cargo's build stage, package excluded (it always runs: it only names).
fn statuses(run: &Run) -> Vec<(Stage, StageStatus)> {
    run.stages[1..run.stages.len() - 1].iter().map(|s| (s.stage, s.status)).collect()
}

fn all(run: &Run, status: StageStatus) -> bool {
    statuses(run).iter().all(|(_, s)| *s == status)
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

    let (second, _) = build(&ws, &[]);
    // Nothing was written, so the manifest on disk is the first build's; the run report says
    // what this run did.
    assert!(all(&second, StageStatus::Cached), "{:?}", statuses(&second));
    assert!(second.fresh, "the run report says nothing was written");
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
    let dir = ws.cache.join(format!("v{}", cargo_wasmship::cache::FORMAT)).join(kind);
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect()
}

/// Flips a byte in every blob: same size, so only the digest can tell.
fn corrupt_every_blob(ws: &Workspace) {
    for blob in cache_files(ws, "blobs") {
        let mut bytes = std::fs::read(&blob).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&blob, bytes).unwrap();
    }
}

#[test]
fn corrupt_blobs_are_detected_and_rebuilt() {
    let ws = workspace();
    let (first, _) = build(&ws, &[]);
    corrupt_every_blob(&ws);
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
    corrupt_every_blob(&ws);
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
fn no_cache_runs_everything_and_leaves_the_cache_alone() {
    let ws = workspace();
    let (first, _) = build(&ws, &["--no-cache"]);
    assert!(all(&first, StageStatus::Ran), "{:?}", statuses(&first));
    assert!(!ws.cache.exists(), "--no-cache wrote the cache");
    build(&ws, &[]);
    let before = cache_files(&ws, "entries").len();
    let (second, _) = build(&ws, &["--no-cache"]);
    assert!(all(&second, StageStatus::Ran), "a full cache is not read: {:?}", statuses(&second));
    assert_eq!(cache_files(&ws, "entries").len(), before);
}

#[test]
fn the_manifest_is_byte_identical_whatever_the_cache_held() {
    // Cold cache, warm cache, no cache: the same inputs must give the same manifest.json.
    let ws = workspace();
    let manifest_text = |ws: &Workspace| std::fs::read(ws.out.join("manifest.json")).unwrap();
    build(&ws, &[]);
    let cold = manifest_text(&ws);
    std::fs::remove_dir_all(&ws.out).unwrap();
    let (warm, _) = build(&ws, &[]);
    assert!(all(&warm, StageStatus::Cached), "{:?}", statuses(&warm));
    assert!(manifest_text(&ws) == cold, "a warm cache changed manifest.json");
    std::fs::remove_dir_all(&ws.out).unwrap();
    build(&ws, &["--no-cache"]);
    assert!(manifest_text(&ws) == cold, "--no-cache changed manifest.json");
}

#[test]
fn cache_keys_carry_the_identity_of_the_tool_build() {
    // The identity is a digest of the sources and Cargo.lock this binary was built from, so a
    // changed stage or dependency never reuses another build's entries.
    let expected = cargo_wasmship::build_identity::compute(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert_eq!(cargo_wasmship::build_identity::ID, expected);
    assert_eq!(cargo_wasmship::pipeline::versions()["build"], expected.as_str());
    let version = common::wasmship().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains(&expected), "the binary reports its identity");
    // Any change to an input changes it.
    let copy = tempfile::tempdir().unwrap();
    for input in cargo_wasmship::build_identity::INPUTS {
        let mut files = Vec::new();
        cargo_wasmship::build_identity::collect(&Path::new(env!("CARGO_MANIFEST_DIR")).join(input), &mut files)
            .unwrap();
        for file in files {
            let relative = file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
            std::fs::create_dir_all(copy.path().join(relative).parent().unwrap()).unwrap();
            std::fs::copy(&file, copy.path().join(relative)).unwrap();
        }
    }
    assert_eq!(
        cargo_wasmship::build_identity::compute(copy.path()).unwrap(),
        expected,
        "a checkout elsewhere is the same build"
    );
    let stage = copy.path().join("src/stages/strip.rs");
    std::fs::write(&stage, std::fs::read_to_string(&stage).unwrap() + "\n// a fix\n").unwrap();
    assert_ne!(cargo_wasmship::build_identity::compute(copy.path()).unwrap(), expected);
}

#[test]
fn concurrent_builds_share_one_cache() {
    // Separate cargo target dirs: cargo's own lock would otherwise run the two builds one
    // after the other, and the cache would never see two writers at once.
    let ws = workspace();
    let other = workspace();
    let shared = ws.cache.clone();
    let run = |out: PathBuf, target: &str| {
        let shared = shared.clone();
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache-tests-concurrent").join(target);
        std::thread::spawn(move || {
            common::wasmship()
                .args(["build", "-q", "--manifest-path"])
                .arg(guest())
                .arg("--target-dir")
                .arg(target)
                .arg("--out-dir")
                .arg(out)
                .arg("--cache-dir")
                .arg(shared)
                .args(["--precompile", "host,aarch64-unknown-linux-gnu,x86_64-pc-windows-msvc"])
                .output()
                .unwrap()
        })
    };
    let a = run(ws.out.clone(), "a");
    let b = run(other.out.clone(), "b");
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
    // Every entry reads, every blob is whole: no torn write from the two writers.
    for entry in cache_files(&ws, "entries") {
        // An entry is its tag, a newline, then its JSON.
        let file = std::fs::read(&entry).unwrap();
        let json = &file[file.iter().position(|b| *b == b'\n').unwrap() + 1..];
        let parsed: serde_json::Value = serde_json::from_slice(json).unwrap();
        assert!(parsed["output"]["sha256"].is_string(), "{}", entry.display());
    }
    for blob in cache_files(&ws, "blobs") {
        let bytes = std::fs::read(&blob).unwrap();
        assert_eq!(cargo_wasmship::digest::sha256_hex(&bytes), blob.file_name().unwrap().to_string_lossy());
    }
}

#[test]
fn the_cache_stays_within_its_size_bound() {
    let sizes = |ws: &Workspace| -> Vec<u64> {
        ["entries", "blobs"]
            .iter()
            .flat_map(|k| cache_files(ws, k))
            .map(|p| std::fs::metadata(p).unwrap().len())
            .collect()
    };
    // What an unbounded cache holds for this build, then a bound that fits about half of it.
    let unbounded = workspace();
    build(&unbounded, &[]);
    let full = sizes(&unbounded);
    let bound = (full.iter().sum::<u64>() / 2).max(*full.iter().max().unwrap());
    let ws = workspace();
    build(&ws, &["--cache-max-size", &bound.to_string()]);
    let total: u64 = sizes(&ws).iter().sum();
    assert!(total <= bound, "cache holds {total} bytes, bound {bound}");
    assert!(total > 0, "it still caches what fits");
    assert!(sizes(&ws).len() < full.len(), "something was evicted");
}

fn status_of(run: &Run, stage: Stage) -> StageStatus {
    run.stages.iter().find(|s| s.stage == stage).unwrap().status
}

#[test]
fn the_init_clock_is_part_of_the_key() {
    let ws = workspace();
    build(&ws, &[]);
    let (second, _) = build_with_env(&ws, &[], &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_eq!(status_of(&second, Stage::Preinit), StageStatus::Ran, "a new fixed clock reruns init");
    // A fresh output directory, so the manifest records what the next build did.
    std::fs::remove_dir_all(&ws.out).unwrap();
    let (third, _) = build_with_env(&ws, &[], &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_eq!(status_of(&third, Stage::Preinit), StageStatus::Cached);
}

#[test]
fn non_deterministic_init_is_never_reused() {
    let ws = workspace();
    let (first, _) = build(&ws, &["--set", "deterministic-init=false"]);
    std::fs::remove_dir_all(&ws.out).unwrap();
    let (second, _) = build(&ws, &["--set", "deterministic-init=false"]);
    assert_eq!(status_of(&first, Stage::Preinit), StageStatus::Ran);
    assert_eq!(status_of(&second, Stage::Preinit), StageStatus::Ran, "fresh randomness on every build, as asked");
}

#[test]
fn blobs_gone_since_lookup_are_rebuilt() {
    // What another build's eviction does: entries stay, blobs vanish.
    let ws = workspace();
    build(&ws, &[]);
    for blob in cache_files(&ws, "blobs") {
        std::fs::remove_file(blob).unwrap();
    }
    let (_, stderr) = build(&ws, &["--wasm-opt", "-O1"]);
    assert!(!stderr.contains("error"), "{stderr}");
    verified(&ws);
}

#[test]
fn files_the_pass_list_reads_are_part_of_the_key() {
    let ws = workspace();
    let list = ws.cache.with_extension("imports.txt");
    std::fs::write(&list, "env.sleep\n").unwrap();
    let passes = format!("-O1 --asyncify --pass-arg=asyncify-imports@@{}", list.display());
    build(&ws, &["--wasm-opt", &passes]);
    std::fs::remove_dir_all(&ws.out).unwrap();
    let (cached, _) = build(&ws, &["--wasm-opt", &passes]);
    assert_eq!(status_of(&cached, Stage::Optimize), StageStatus::Cached);
    std::fs::write(&list, "env.sleep\nenv.yield\n").unwrap();
    let (edited, _) = build(&ws, &["--wasm-opt", &passes]);
    assert_eq!(status_of(&edited, Stage::Optimize), StageStatus::Ran, "editing the file reruns optimize");
}

#[test]
fn a_workspace_created_above_a_cached_guest_is_noticed() {
    let root = tempfile::tempdir().unwrap();
    let guest = root.path().join("ws/crates/guest");
    std::fs::create_dir_all(guest.join("src")).unwrap();
    std::fs::write(guest.join("src/lib.rs"), "#[no_mangle] pub extern \"C\" fn answer() -> i32 { 42 }\n").unwrap();
    std::fs::write(
        guest.join("Cargo.toml"),
        "[package]\nname = \"guest\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n",
    )
    .unwrap();
    let build_here = || {
        let output = common::wasmship()
            .args(["build", "-q", "--no-precompile", "--manifest-path"])
            .arg(guest.join("Cargo.toml"))
            .arg("--out-dir")
            .arg(root.path().join("out"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        Manifest::read(&root.path().join("out/manifest.json")).unwrap()
    };
    assert_eq!(build_here().profile.settings["gzip-level"], 9);
    std::fs::write(
        root.path().join("ws/Cargo.toml"),
        "[workspace]\nmembers = [\"crates/guest\"]\nresolver = \"2\"\n\n[workspace.metadata.wasmship]\ngzip-level = 6\n",
    )
    .unwrap();
    assert_eq!(build_here().profile.settings["gzip-level"], 6, "the new workspace's defaults apply");
}
