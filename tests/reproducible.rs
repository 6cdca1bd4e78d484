//! Same inputs, same bytes: two clean builds of a guest, from two different checkout paths,
//! give byte-identical artifacts and manifests that differ only in timing fields.
mod common;

use serde_json::Value;

use std::path::Path;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" {
            continue;
        }
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Builds a fresh copy of `fixture` under `root/<nesting>` with its own target and cache
/// directories; returns the manifest with timing fields removed.
fn clean_build(fixture: &str, root: &Path, nesting: &str) -> (Value, Vec<(String, Vec<u8>)>) {
    let checkout = root.join(nesting).join(fixture);
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(fixture), &checkout);
    let output = common::wasmship()
        .args(["build", "-q", "--no-cache", "--precompile", "host,aarch64-unknown-linux-gnu"])
        .current_dir(&checkout)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = checkout.join("target/wasmship").join(fixture).join("release");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    for stage in manifest["stages"].as_array_mut().unwrap() {
        let stage = stage.as_object_mut().unwrap();
        stage.remove("millis");
        stage.remove("init_millis");
    }
    let files: Vec<(String, Vec<u8>)> = common::dir_contents(&out).into_iter().collect();
    (manifest, files)
}

fn builds_are_identical(fixture: &str) {
    let root = tempfile::tempdir().unwrap();
    let (manifest_a, files_a) = clean_build(fixture, root.path(), "a");
    let (manifest_b, files_b) = clean_build(fixture, root.path(), "b/deeper/checkout");
    assert_eq!(manifest_a, manifest_b, "manifests differ beyond timing fields");
    let names: Vec<&String> = files_a.iter().map(|(n, _)| n).collect();
    assert_eq!(names, files_b.iter().map(|(n, _)| n).collect::<Vec<_>>());
    for ((name, a), (_, b)) in files_a.iter().zip(&files_b) {
        // manifest.json was compared above, without its timing fields.
        if name != "manifest.json" {
            assert!(a == b, "{name} differs between the two builds");
        }
    }
    let text = String::from_utf8_lossy(&files_a.iter().find(|(n, _)| n == "manifest.json").unwrap().1).into_owned();
    assert!(!text.contains(&root.path().display().to_string()), "no absolute paths in the manifest");
}

#[test]
fn wasm32_unknown_unknown_guest_is_reproducible() {
    builds_are_identical("regex-guest");
}

#[test]
fn wasm32_wasip1_guest_is_reproducible() {
    builds_are_identical("wasi-guest");
}
