//! The tool plays against someone who can write what it reads: the stage cache, the output
//! directory, a manifest. Each test is one attack from issue 16 and fails on the code before it.
mod common;

use cargo_wasmship::cache::Cache;
use cargo_wasmship::manifest::Manifest;
use common::{Fixture, TEST_CACHE_KEY};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A build of the small `bad-init` guest (its good init) into `out` with the stage cache `cache`.
fn build(out: &Path, cache: &Path, extra: &[&str]) -> Output {
    common::wasmship()
        .args(["build", "--manifest-path"])
        .arg(fixture("bad-init/Cargo.toml"))
        .arg("--target-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("trust-target"))
        .arg("--out-dir")
        .arg(out)
        .arg("--cache-dir")
        .arg(cache)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

fn verify(dir: &Path, extra: &[&str]) -> Output {
    common::wasmship().arg("verify").args(extra).arg(dir).output().unwrap()
}

/// Every entry file of a cache, with its key (the file name).
fn entries(cache: &Path) -> Vec<(String, PathBuf)> {
    let dir = cache.join("v2/entries");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect()
}

/// Rewrites each entry's JSON with `forge`, tagged with `key` (the tool's own key plays a
/// writer who has it; any other plays one who does not).
fn forge_entries(cache: &Path, key: &[u8], forge: impl Fn(&mut serde_json::Value)) {
    let sealer = Cache::open(cache, key.to_vec(), u64::MAX, true).unwrap();
    for (name, path) in entries(cache) {
        let file = std::fs::read(&path).unwrap();
        let json = &file[file.iter().position(|b| *b == b'\n').unwrap() + 1..];
        let mut entry: serde_json::Value = serde_json::from_slice(json).unwrap();
        forge(&mut entry);
        std::fs::write(&path, sealer.seal(&name, &serde_json::to_vec(&entry).unwrap())).unwrap();
    }
}

#[test]
fn a_forged_entry_never_touches_reads_or_deletes_a_file_outside_the_cache() {
    let scratch = tempfile::tempdir().unwrap();
    let (out, cache) = (scratch.path().join("out"), scratch.path().join("cache"));
    ok(build(&out, &cache, &[]));
    let first = common::dir_contents(&out);
    let victim = scratch.path().join("victim.txt");
    std::fs::write(&victim, "the user's file").unwrap();
    let past = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    std::fs::File::options().append(true).open(&victim).unwrap().set_modified(past).unwrap();
    let aim = |entry: &mut serde_json::Value| {
        entry["output"]["sha256"] = victim.display().to_string().into();
        entry["output"]["bytes"] = 0.into();
        entry["report"]["sha256_out"] = victim.display().to_string().into();
        entry["report"]["bytes_out"] = 0.into();
    };
    // Once by someone without the key, once as if the key had leaked: the tag stops the
    // first, checking every value stops the second.
    for key in [&b"an attacker's key, not the build's"[..], TEST_CACHE_KEY.as_bytes()] {
        forge_entries(&cache, key, aim);
        let stderr = ok(build(&out, &cache, &["--no-hash-names"]));
        ok(build(&out, &cache, &[]));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "the user's file");
        assert_eq!(std::fs::metadata(&victim).unwrap().modified().unwrap(), past, "not even touched");
        assert_eq!(common::dir_contents(&out), first, "the rebuilt output is the genuine one");
        if key != TEST_CACHE_KEY.as_bytes() {
            assert_eq!(stderr.matches("did not write").count(), 1, "one warning:\n{stderr}");
        }
    }
}

#[test]
fn a_forged_blob_with_a_matching_entry_is_not_shipped() {
    let scratch = tempfile::tempdir().unwrap();
    let (out, cache) = (scratch.path().join("out"), scratch.path().join("cache"));
    ok(build(&out, &cache, &[]));
    let manifest = Manifest::read(&out.join("manifest.json")).unwrap();
    let (cwasm, _) = manifest.cwasms().next().unwrap();
    let genuine = std::fs::read(out.join(&cwasm.file)).unwrap();
    // The attacker's .cwasm: other code, put in the blob store under its own digest, and every
    // entry that produced the genuine one pointed at it.
    let mut evil = genuine.clone();
    let middle = evil.len() / 2;
    evil[middle..middle + 16].fill(0xcc); // int3
    let evil_ref = cargo_wasmship::cache::BlobRef::of(&evil);
    std::fs::write(cache.join("v2/blobs").join(&evil_ref.sha256), &evil).unwrap();
    forge_entries(&cache, b"an attacker's key, not the build's", |entry| {
        if entry["output"]["sha256"] == cwasm.sha256.as_str() {
            entry["output"] = serde_json::to_value(&evil_ref).unwrap();
            entry["report"]["sha256_out"] = evil_ref.sha256.clone().into();
        }
    });
    std::fs::remove_dir_all(&out).unwrap();
    let stderr = ok(build(&out, &cache, &[]));
    assert!(stderr.contains("did not write"), "{stderr}");
    let rebuilt = Manifest::read(&out.join("manifest.json")).unwrap();
    let (cwasm, _) = rebuilt.cwasms().next().unwrap();
    assert_eq!(std::fs::read(out.join(&cwasm.file)).unwrap(), genuine, "the genuine .cwasm shipped");
    assert!(verify(&out, &[]).status.success());
}

#[test]
fn cached_triples_levels_and_digests_never_become_file_names() {
    let scratch = tempfile::tempdir().unwrap();
    let (out, cache) = (scratch.path().join("out"), scratch.path().join("cache"));
    ok(build(&out, &cache, &[]));
    let first = common::dir_contents(&out);
    // Written with the key: only the checks of each value stand in the way.
    forge_entries(&cache, TEST_CACHE_KEY.as_bytes(), |entry| {
        if entry["extra"].is_object() {
            entry["extra"]["triple"] = "../../escaped".into();
            entry["extra"]["cpu_level"] = "../../../x".into();
        } else {
            entry["output"]["sha256"] = "abc".into(); // would have panicked on [..16]
            entry["report"]["sha256_out"] = "abc".into();
        }
    });
    std::fs::remove_dir_all(&out).unwrap();
    let output = build(&out, &cache, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(common::dir_contents(&out), first);
    let strays: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(strays.iter().all(|n| !n.to_string_lossy().contains("escaped")), "{strays:?}");
}

#[test]
fn files_the_user_adds_to_the_output_directory_stay() {
    let scratch = tempfile::tempdir().unwrap();
    let (out, cache) = (scratch.path().join("out"), scratch.path().join("cache"));
    ok(build(&out, &cache, &[]));
    let old = Manifest::read(&out.join("manifest.json")).unwrap();
    let mine = [("web/index.html", "<h1>mine</h1>"), ("CNAME", "example.com"), (".git/HEAD", "ref: main")];
    for (file, text) in mine {
        std::fs::create_dir_all(out.join(file).parent().unwrap()).unwrap();
        std::fs::write(out.join(file), text).unwrap();
    }
    // A build that changes every artifact's name.
    let stderr = ok(build(&out, &cache, &["--no-hash-names"]));
    for (file, text) in mine {
        assert_eq!(std::fs::read_to_string(out.join(file)).unwrap(), text, "{file} kept");
    }
    assert!(stderr.contains(".git, CNAME, web/index.html") && stderr.contains("did not write"), "{stderr}");
    let new = Manifest::read(&out.join("manifest.json")).unwrap();
    for artifact in &old.artifacts {
        let still_listed = new.artifacts.iter().any(|a| a.file == artifact.file);
        assert_eq!(out.join(&artifact.file).exists(), still_listed, "{}: the old build's file went", artifact.file);
    }
    let strict = verify(&out, &[]);
    assert_eq!(strict.status.code(), Some(3), "verify names files it did not check");
    assert!(String::from_utf8_lossy(&strict.stderr).contains("CNAME: extra file"));
    assert!(verify(&out, &["--allow-extra"]).status.success());
}

#[test]
fn the_output_directory_keeps_its_mode_across_builds() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = tempfile::tempdir().unwrap();
    let (out, cache) = (scratch.path().join("out"), scratch.path().join("cache"));
    ok(build(&out, &cache, &[]));
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o750)).unwrap();
    ok(build(&out, &cache, &["--no-hash-names"]));
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o750);
}

/// A copy of the two-guest workspace with `extra` appended to its root Cargo.toml.
fn two_guests(scratch: &Path, extra: &str, member_extra: &str) -> PathBuf {
    let root = scratch.join("ws");
    for (name, bytes) in common::dir_contents(&fixture("two-guests")) {
        if name.starts_with("target/") {
            continue;
        }
        let path = root.join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}\n{extra}\n")).unwrap();
    for member in ["alpha", "beta"] {
        let path = root.join(member).join("Cargo.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}\n{member_extra}\n")).unwrap();
    }
    root
}

#[test]
fn guests_of_a_workspace_never_share_an_output_directory() {
    let scratch = tempfile::tempdir().unwrap();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trust-two-guests");
    let guest = "[package.metadata.wasmship]\nprecompile = false";
    let root = two_guests(scratch.path(), "[workspace.metadata.wasmship]\nout-dir = \"dist\"", guest);
    let built = common::wasmship()
        .args(["build", "-q", "--no-precompile", "--workspace", "--target-dir"])
        .arg(&target)
        .current_dir(&root)
        .output()
        .unwrap();
    ok(built);
    for guest in ["alpha", "beta"] {
        let manifest = Manifest::read(&root.join("dist").join(guest).join("manifest.json")).unwrap();
        assert_eq!(manifest.package.name, guest, "each guest in dist/<package>");
    }
    // The same directory named by each package's own table: refused before any stage runs.
    let shared = two_guests(&scratch.path().join("b"), "", "[package.metadata.wasmship]\nout-dir = \"../dist\"");
    let refused = common::wasmship()
        .args(["build", "-q", "--workspace", "--target-dir"])
        .arg(&target)
        .current_dir(&shared)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("would both write") && stderr.contains("out-dir"), "{stderr}");
    assert!(!shared.join("dist").join("manifest.json").exists());
}

#[test]
fn report_holds_the_output_until_it_is_written_and_reruns_init_in_the_sandbox() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let go_on = scratch.path().join("go-on");
    let mut report = common::wasmship()
        .args(["report", "--reps", "1", "--no-precompile", "--call", "order_digest()", "--manifest-path"])
        .arg(Fixture::Wasi.manifest())
        .arg("--out-dir")
        .arg(&out)
        .env("CARGO_WASMSHIP_TEST_HOLD_REPORT", &go_on)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(report.stderr.take().unwrap()).lines().map(|l| l.unwrap());
    let held = lines.by_ref().find(|l| l.contains("report holds the output lock"));
    assert!(held.is_some(), "the report reached its hold");
    let other = common::wasmship()
        .args(["build", "-q", "--no-precompile", "--lock-timeout", "1", "--manifest-path"])
        .arg(Fixture::Wasi.manifest())
        .arg("--out-dir")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(4), "{}", String::from_utf8_lossy(&other.stderr));
    std::fs::write(&go_on, "").unwrap();
    let rest: Vec<String> = lines.collect();
    let status = report.wait().unwrap();
    // The HashMap's order comes from random_get: equal answers mean init saw the sandbox's
    // deterministic stream in the report's run too.
    assert!(status.success(), "{}", rest.join("\n"));
    assert!(rest.iter().any(|l| l.contains("order_digest() answered")), "{}", rest.join("\n"));
    assert!(verify(&out, &[]).status.success());
}

/// A real output directory of the regex guest whose `.br` decompresses to far more than its
/// module, with a manifest rewritten to claim so.
#[test]
fn verify_stops_decompressing_at_the_size_of_the_module_on_disk() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    ok(common::wasmship()
        .args(["build", "-q", "--no-precompile", "--manifest-path"])
        .arg(Fixture::Regex.manifest())
        .arg("--out-dir")
        .arg(&out)
        .output()
        .unwrap());
    let path = out.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // 256 MiB of zeros, compressed: a few hundred bytes that expand 1,000,000 times.
    let mut bomb = Vec::new();
    let zeros = vec![0u8; 256 << 20];
    brotli::BrotliCompress(
        &mut &zeros[..],
        &mut bomb,
        &brotli::enc::BrotliEncoderParams { quality: 1, ..Default::default() },
    )
    .unwrap();
    let digests = cargo_wasmship::digest::Digests::of_reader(&bomb[..]).unwrap();
    for artifact in manifest["artifacts"].as_array_mut().unwrap() {
        if artifact["content_encoding"] == "br" {
            std::fs::write(out.join(artifact["file"].as_str().unwrap()), &bomb).unwrap();
            artifact["bytes"] = digests.bytes.into();
            artifact["sha256"] = digests.sha256.clone().into();
            artifact["integrity"] = digests.integrity.clone().into();
        } else if artifact["kind"] == "wasm" {
            artifact["bytes"] = (64u64 << 30).into(); // "the module is 64 GiB"
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let output = verify(&out, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("decompresses to more than"), "stopped at the module's size on disk:\n{stderr}");
}

#[test]
fn serve_refuses_header_values_it_cannot_send_and_never_panics() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    ok(common::wasmship()
        .args(["build", "-q", "--no-precompile", "--manifest-path"])
        .arg(Fixture::Regex.manifest())
        .arg("--out-dir")
        .arg(&out)
        .output()
        .unwrap());
    let path = out.join("manifest.json");
    let original = std::fs::read_to_string(&path).unwrap();
    for media_type in ["application/wasm\r\nX-Injected: 1", "application/wäsm"] {
        let mut manifest: serde_json::Value = serde_json::from_str(&original).unwrap();
        for artifact in manifest["artifacts"].as_array_mut().unwrap() {
            if artifact["kind"] == "wasm" && artifact["content_encoding"].is_null() {
                artifact["media_type"] = media_type.into();
            }
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
        let output = common::wasmship().args(["serve", "--port", "0"]).arg(&out).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "refused at start, not a panic: {stderr}");
        assert!(stderr.contains("cannot be sent in an HTTP header"), "{stderr}");
    }
}

#[test]
#[cfg(target_os = "linux")]
fn a_bind_mounted_output_directory_is_replaced_file_by_file() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = tempfile::tempdir().unwrap();
    let (source, out, cache) = (scratch.path().join("src"), scratch.path().join("out"), scratch.path().join("cache"));
    std::fs::create_dir_all(&source).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o751)).unwrap();
    // A mount namespace of its own, as a container's bind mount: `out` is a mount point there.
    let tool = snapbox::cmd::cargo_bin!("cargo-wasmship");
    let mut args: Vec<String> = vec!["build".into(), "-q".into(), "--manifest-path".into()];
    args.push(fixture("bad-init/Cargo.toml").display().to_string());
    args.extend([
        "--target-dir".into(),
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("trust-target").display().to_string(),
    ]);
    args.extend(["--out-dir".into(), out.display().to_string(), "--cache-dir".into(), cache.display().to_string()]);
    let build = args.join(" ");
    let script = format!(
        "mount --bind {src} {out} && {tool} {build} && {tool} {build} --no-hash-names && {tool} verify {out}",
        src = source.display(),
        out = out.display(),
        tool = tool.display(),
    );
    let mut command = std::process::Command::new("unshare");
    command.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    common::isolate(&mut command);
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("unshare failed") || stderr.contains("Operation not permitted") && !output.status.success() {
        let why = format!("this machine allows no mount namespace: {}", stderr.lines().next().unwrap_or(""));
        common::peers::skip("a bind-mounted output directory", &why, common::peers::Source::Unavailable);
        return;
    }
    assert!(output.status.success(), "{stderr}");
    // What the builds wrote through the mount is in the mounted directory, whose mode stayed.
    let manifest = Manifest::read(&source.join("manifest.json")).unwrap();
    assert!(manifest.artifacts.iter().all(|a| !a.immutable), "the second build's files");
    assert!(manifest.artifacts.iter().all(|a| source.join(&a.file).exists()));
    assert_eq!(std::fs::metadata(&source).unwrap().permissions().mode() & 0o777, 0o751);
}

#[test]
fn serve_refuses_a_manifest_whose_web_path_points_at_another_host() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    ok(build(&out, &scratch.path().join("cache"), &["-q", "--no-precompile"]));
    // Every file still matches its sha256; only the web path was rewritten, to another origin.
    let path = out.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["profile"]["settings"]["web-path"] = "//evil.example/".into();
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let served = common::wasmship().args(["serve", "--port", "0"]).arg(&out).stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert!(!served.status.success(), "serve must not start: {stderr}");
    assert!(stderr.contains("web-path") && stderr.contains("//evil.example/"), "{stderr}");
}
