//! The output directory is only ever the last good build or the new one: killed builds,
//! concurrent builds and tampered files.
mod common;

use cargo_wasmship::manifest::{ArtifactKind, Manifest};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn guest_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-init/Cargo.toml")
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("output-tests")
}

fn build_command(out: &Path, extra: &[&str]) -> Command {
    let mut command = common::wasmship();
    command
        .args(["build", "--manifest-path"])
        .arg(guest_manifest())
        .arg("--target-dir")
        .arg(target_dir())
        .arg("--out-dir")
        .arg(out)
        .args(extra)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    command
}

fn build(out: &Path, extra: &[&str]) {
    let output = build_command(out, extra).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Starts a build that stops after staging its first artifact (the test hook), and waits
/// until it says so.
fn start_held_build(out: &Path, extra: &[&str]) -> (Child, String) {
    let mut child =
        build_command(out, extra).env("CARGO_WASMSHIP_TEST_HOLD_STAGED", "1").stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let marker = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find(|l| l.starts_with("wasmship-test: staged first artifact in "))
        .expect("the held build reached staging");
    let staging = marker.trim_start_matches("wasmship-test: staged first artifact in ").to_string();
    (child, staging)
}

#[test]
fn sigkill_mid_write_leaves_the_old_output_intact() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    build(&out, &["--no-precompile"]);
    let before = common::dir_contents(&out);

    // The new build differs (unhashed names), so a partial write would show.
    let (mut child, staging) = start_held_build(&out, &["--no-precompile", "--no-hash-names"]);
    let staged: Vec<_> = std::fs::read_dir(&staging).unwrap().collect();
    assert_eq!(staged.len(), 1, "exactly one artifact staged when killed");
    child.kill().unwrap(); // SIGKILL: no destructor, no cleanup
    child.wait().unwrap();

    assert!(common::dir_contents(&out) == before, "the killed build changed the output directory");
    assert!(Path::new(&staging).exists(), "the killed build's staging directory is left behind");
    assert!(!Path::new(&staging).starts_with(&out), "staging is beside the output, not in it");

    build(&out, &["--no-precompile", "--no-hash-names"]);
    assert!(!Path::new(&staging).exists(), "the next build removed the stale staging directory");
    let manifest = Manifest::read(&out.join("manifest.json")).unwrap();
    assert!(manifest.artifacts.iter().all(|a| !a.immutable), "the new build replaced the old one");
    let leftovers: Vec<String> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with("wasmship-lock") && n != "out.run.json")
        .collect();
    assert_eq!(leftovers, ["out"]);
}

#[test]
fn a_second_build_waits_for_the_lock_then_times_out_or_proceeds() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let (mut holder, _) = start_held_build(&out, &["--no-precompile"]);

    let output = build_command(&out, &["--no-precompile", "--lock-timeout", "1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "a lock timeout has its own exit code:\n{stderr}");
    assert!(stderr.contains("Waiting for another build of"), "says it is waiting:\n{stderr}");
    assert!(stderr.contains("another cargo-wasmship build held"), "fails after the timeout:\n{stderr}");

    // The holder is released only once the waiter says it waits: the wait is observed, not
    // assumed from a sleep.
    let mut waiter =
        build_command(&out, &["--no-precompile", "--lock-timeout", "120"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(waiter.stderr.take().unwrap()).lines().map(|l| l.unwrap());
    let mut said = Vec::new();
    for line in lines.by_ref() {
        let waiting = line.contains("Waiting for another build of");
        said.push(line);
        if waiting {
            break;
        }
    }
    assert!(said.last().is_some_and(|l| l.contains("Waiting")), "the second build never waited:\n{}", said.join("\n"));
    assert!(waiter.try_wait().unwrap().is_none(), "the waiter is still waiting while the lock is held");
    holder.kill().unwrap(); // the OS releases the holder's lock
    holder.wait().unwrap();
    said.extend(lines);
    let status = waiter.wait().unwrap();
    assert!(status.success(), "{}", said.join("\n"));
    let (_, problems) = cargo_wasmship::commands::verify::check(&out.join("manifest.json")).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

fn verify(target: &Path) -> (bool, String) {
    let output = common::wasmship().arg("verify").arg(target).output().unwrap();
    // 0, or 3 for problems found: never the code of a failed build or bad input.
    assert!(matches!(output.status.code(), Some(0 | 3)), "{:?}", output.status);
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn verify_catches_one_flipped_byte_in_each_artifact_kind() {
    let scratch = tempfile::tempdir().unwrap();
    let good = scratch.path().join("good");
    build(&good, &[]);
    let (ok, stderr) = verify(&good);
    assert!(ok, "a fresh build verifies: {stderr}");
    let manifest = Manifest::read(&good.join("manifest.json")).unwrap();
    let kinds: Vec<(ArtifactKind, Option<&str>)> =
        manifest.artifacts.iter().map(|a| (a.kind, a.content_encoding.as_deref())).collect();
    for kind in [
        (ArtifactKind::Wasm, None),
        (ArtifactKind::Wasm, Some("br")),
        (ArtifactKind::Wasm, Some("gzip")),
        (ArtifactKind::DebugWasm, None),
        (ArtifactKind::Cwasm, None),
    ] {
        assert!(kinds.contains(&kind), "the build has a {kind:?} artifact");
    }

    for (i, artifact) in manifest.artifacts.iter().enumerate() {
        let copy = scratch.path().join(format!("flip-{i}"));
        std::fs::create_dir(&copy).unwrap();
        common::copy_dir(&good, &copy);
        let path = copy.join(&artifact.file);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();

        let (ok, stderr) = verify(&copy.join("manifest.json"));
        assert!(!ok, "verify missed a flipped byte in {}", artifact.file);
        assert!(stderr.contains(&format!("{}: sha256 is", artifact.file)), "names {}:\n{stderr}", artifact.file);
    }

    let broken = scratch.path().join("missing-and-extra");
    std::fs::create_dir(&broken).unwrap();
    common::copy_dir(&good, &broken);
    let debug = manifest.artifacts.iter().find(|a| a.kind == ArtifactKind::DebugWasm).unwrap();
    std::fs::remove_file(broken.join(&debug.file)).unwrap();
    std::fs::write(broken.join("notes.txt"), "not an artifact").unwrap();
    let (ok, stderr) = verify(&broken);
    assert!(!ok);
    assert!(stderr.contains(&format!("{}: missing", debug.file)), "{stderr}");
    assert!(stderr.contains("notes.txt: extra file, not in the manifest"), "{stderr}");
}

#[test]
fn verify_without_a_path_checks_the_profile_output_directory() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    build(&out, &["--no-precompile"]);
    let run = |out: &Path| {
        common::wasmship()
            .args(["verify", "--manifest-path"])
            .arg(guest_manifest())
            .arg("--target-dir")
            .arg(target_dir())
            .arg("--out-dir")
            .arg(out)
            .output()
            .unwrap()
    };
    assert!(run(&out).status.success());
    // From inside the directory, with a bare file name.
    let inside = common::wasmship().args(["verify", "manifest.json"]).current_dir(&out).output().unwrap();
    assert!(inside.status.success(), "{}", String::from_utf8_lossy(&inside.stderr));
    let missing = run(&scratch.path().join("never-built"));
    assert_eq!(missing.status.code(), Some(2), "nothing to verify is bad input, not problems found");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("run `cargo wasmship build`"));
}

#[test]
fn refuses_to_replace_a_directory_it_did_not_write() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("dist");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("index.html"), "<html>").unwrap();
    let output = build_command(&out, &["--no-precompile"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("refusing to replace it"));
    assert_eq!(std::fs::read_to_string(out.join("index.html")).unwrap(), "<html>");
}

#[test]
fn verify_without_a_path_needs_nothing_only_the_build_needed() {
    // On a deploy machine: no env var init read, no directory init was granted. verify must
    // only find the output directory, not plan a build.
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let data = scratch.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let grants = ["--allow-wasi", "--set", "inherit-env=[\"WASMSHIP_TEST_DEPLOY_TOKEN\"]", "--dir"];
    let mut build_args: Vec<&str> = vec!["--no-precompile"];
    build_args.extend(grants);
    build_args.push(data.to_str().unwrap());
    let output = build_command(&out, &build_args).env("WASMSHIP_TEST_DEPLOY_TOKEN", "s3cret").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    std::fs::remove_dir(&data).unwrap();
    let verified = common::wasmship()
        .args(["verify", "--manifest-path"])
        .arg(guest_manifest())
        .arg("--target-dir")
        .arg(target_dir())
        .arg("--out-dir")
        .arg(&out)
        .args(grants)
        .arg(&data)
        .env_remove("WASMSHIP_TEST_DEPLOY_TOKEN")
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}

#[test]
fn a_symlinked_output_directory_stays_a_symlink() {
    // `dist -> /srv/app` is a deploy layout: builds write into the target, the link stays.
    let scratch = tempfile::tempdir().unwrap();
    let real = scratch.path().join("srv-app");
    let link = scratch.path().join("dist");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    build(&link, &["--no-precompile"]);
    build(&link, &["--no-precompile", "--no-hash-names"]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    let manifest = Manifest::read(&real.join("manifest.json")).unwrap();
    assert!(manifest.artifacts.iter().all(|a| !a.immutable), "the second build landed in the link's target");
    let (_, problems) = cargo_wasmship::commands::verify::check(&link.join("manifest.json")).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn two_spellings_of_one_directory_share_one_lock() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    std::fs::create_dir(scratch.path().join("sub")).unwrap();
    let (mut holder, _) = start_held_build(&out, &["--no-precompile"]);
    let other_spelling = scratch.path().join("sub/../out");
    let output = build_command(&other_spelling, &["--no-precompile", "--lock-timeout", "1"]).output().unwrap();
    holder.kill().unwrap();
    holder.wait().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the second spelling did not wait for the first build");
    assert!(stderr.contains("another cargo-wasmship build held"), "{stderr}");
}

#[test]
fn stale_staging_directories_go_even_when_nothing_is_written() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    build(&out, &["--no-precompile"]);
    // What a build killed mid-write leaves beside the output.
    let stale = scratch.path().join(".out.wasmship-staging-4242");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("half.wasm"), b"\0asm").unwrap();
    build(&out, &["--no-precompile"]); // Fresh: the output already holds this build
    assert!(!stale.exists(), "the stale staging directory was left");
}

#[test]
fn a_foreign_directory_is_refused_before_any_stage_runs() {
    // A guest that does not even compile: the refusal must come first, not cargo's errors.
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("dist");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("index.html"), "<html>").unwrap();
    let broken = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken-guest/Cargo.toml");
    let output =
        common::wasmship().args(["build", "--manifest-path"]).arg(broken).arg("--out-dir").arg(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("refusing to replace it"), "{stderr}");
    assert!(!stderr.contains("error[E"), "cargo ran before the refusal:\n{stderr}");
}
