//! `cargo wasmship build` as users run it: the real binary on the fixture guests.
mod common;

use cargo_wasmship::digest::{sha256_hex, sri_sha384};
use cargo_wasmship::manifest::{ArtifactKind, Manifest};
use common::{answers, expected_answers, Fixture, Form};
use snapbox::cmd::Command;
use snapbox::data::IntoData;
use std::io::Read;
use std::path::Path;

fn wasmship() -> Command {
    Command::from_std(common::wasmship()).arg("wasmship").env_remove("RUST_BACKTRACE")
}

fn build(fixture: Fixture, out: &Path, extra: &[&str]) -> Manifest {
    wasmship()
        .arg("build")
        .arg("--manifest-path")
        .arg(fixture.manifest())
        .arg("--out-dir")
        .arg(out)
        .arg("--cache-dir")
        .arg(out.with_extension("cache"))
        .arg("-q")
        .args(extra)
        .assert()
        .success();
    Manifest::read(&out.join("manifest.json")).expect("manifest parses")
}

/// Every artifact in the manifest exists with the recorded size, sha256 and integrity, and
/// nothing else is in the directory.
fn check_artifacts(out: &Path, manifest: &Manifest) {
    let mut expected_files: Vec<String> = manifest.artifacts.iter().map(|a| a.file.clone()).collect();
    expected_files.push("manifest.json".into());
    expected_files.sort();
    let files: Vec<String> = common::dir_contents(out).into_keys().collect();
    assert_eq!(files, expected_files, "the output holds exactly the manifest's artifacts");

    for artifact in &manifest.artifacts {
        let bytes = std::fs::read(out.join(&artifact.file)).unwrap();
        assert_eq!(bytes.len() as u64, artifact.bytes, "{}", artifact.file);
        assert_eq!(sha256_hex(&bytes), artifact.sha256, "{}", artifact.file);
        assert_eq!(sri_sha384(&bytes), artifact.integrity, "{}", artifact.file);
        if artifact.immutable {
            // Pre-compressed variants are named after the module they decode to
            // (`app.<hash>.wasm.br`), so a server can pick them by `Accept-Encoding`.
            let named_after = match &artifact.decoded {
                Some(decoded) => manifest.artifact(decoded).expect("decoded artifact listed"),
                None => artifact,
            };
            assert!(artifact.file.contains(&named_after.sha256[..16]), "{} carries its hash", artifact.file);
        }
    }
}

#[test]
fn build_writes_every_artifact_and_a_manifest_that_matches_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let manifest = build(Fixture::Regex, &out, &[]);

    let text = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    snapbox::assert_data_eq!(text.is_json(), snapbox::file!["snapshots/regex-guest.manifest.json": Json]);
    check_artifacts(&out, &manifest);

    let wasm = manifest.artifact("regex_guest.wasm").expect("shipped wasm");
    let wasm_bytes = std::fs::read(out.join(&wasm.file)).unwrap();
    for (name, encoding) in [("regex_guest.wasm.br", "br"), ("regex_guest.wasm.gz", "gzip")] {
        let variant = manifest.artifact(name).unwrap_or_else(|| panic!("{name} listed"));
        assert_eq!(variant.content_encoding.as_deref(), Some(encoding));
        let compressed = std::fs::read(out.join(&variant.file)).unwrap();
        let mut decoded = Vec::new();
        match encoding {
            "br" => brotli::Decompressor::new(&compressed[..], 4096).read_to_end(&mut decoded).unwrap(),
            _ => flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut decoded).unwrap(),
        };
        assert!(decoded == wasm_bytes, "{name} decompresses to exactly the .wasm");
    }

    let expected = expected_answers(Fixture::Regex);
    assert_eq!(answers(Fixture::Regex, &Form::Wasm { bytes: &wasm_bytes, run_init: false }), expected);
    let debug = manifest.artifacts.iter().find(|a| a.kind == ArtifactKind::DebugWasm).unwrap();
    let debug_bytes = std::fs::read(out.join(&debug.file)).unwrap();
    let sections = cargo_wasmship::wasm::ModuleFacts::read(&debug_bytes).unwrap().custom_sections;
    assert!(sections.iter().any(|s| s == "name"), "debug.wasm keeps names: {sections:?}");
    assert_eq!(answers(Fixture::Regex, &Form::Wasm { bytes: &debug_bytes, run_init: false }), expected);
    let cwasm = manifest.artifacts.iter().find(|a| a.kind == ArtifactKind::Cwasm).unwrap();
    assert_eq!(answers(Fixture::Regex, &Form::Cwasm(&out.join(&cwasm.file), &manifest.engine)), expected);
}

#[test]
fn profile_and_flags_shape_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fast");
    // The fixture's `fast` profile: -O1, gzip only, no precompile.
    let manifest = build(Fixture::Regex, &out, &["--profile", "fast", "--no-hash-names"]);
    check_artifacts(&out, &manifest);
    let names: Vec<&str> = manifest.artifacts.iter().map(|a| a.file.as_str()).collect();
    assert_eq!(
        names,
        ["web/regex_guest.wasm", "web/regex_guest.wasm.gz", "regex_guest.debug.wasm", "web/regex_guest.loader.js"]
    );
    let optimize = manifest.stages.iter().find(|s| s.stage == cargo_wasmship::stages::Stage::Optimize).unwrap();
    assert_eq!(optimize.settings["passes"], serde_json::json!(["-O1"]));
}

#[test]
fn wasi_guest_gets_env_and_dirs_from_its_profile() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let manifest = build(Fixture::Wasi, &out, &["--no-precompile"]);
    check_artifacts(&out, &manifest);
    let preinit = &manifest.stages[1];
    assert_eq!(preinit.settings["wasi"]["env"], serde_json::json!(["GREETING"]), "env names, never values");
    assert!(!std::fs::read_to_string(out.join("manifest.json")).unwrap().contains(common::GREETING));
    let wasm = manifest.artifact("wasi_guest.wasm").unwrap();
    let bytes = std::fs::read(out.join(&wasm.file)).unwrap();
    assert_eq!(answers(Fixture::Wasi, &Form::Wasm { bytes: &bytes, run_init: false }), expected_answers(Fixture::Wasi));
}

#[test]
fn chatty_init_output_is_captured_without_failing_the_build() {
    // Init prints ~200 KiB; only the tail is kept, and no write may fail the guest.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chatty");
    let manifest = build(
        Fixture::Wasi,
        &out,
        &["--features", "chatty", "--no-precompile", "--target-dir", target.to_str().unwrap()],
    );
    check_artifacts(&out, &manifest);
}

#[test]
fn the_kill_test_hook_is_compiled_out_of_release_builds() {
    // Release builds (`cargo install`) must not stop and wait because of an env var.
    let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands/build.rs")).unwrap();
    let hook = source.find("fn hold_for_kill_test(staging").expect("the hook");
    let before = &source[..hook];
    let attribute = before.rfind("#[cfg(").map(|at| &before[at..]).unwrap_or_default();
    assert!(attribute.starts_with("#[cfg(debug_assertions)]") && !attribute.contains("\nfn "), "{attribute}");
    assert!(source.contains("#[cfg(not(debug_assertions))]\nfn hold_for_kill_test(_staging: &Path) {}"));
}

#[test]
fn quiet_prints_nothing_but_problems() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::wasmship()
        .args(["build", "-q", "--no-precompile", "--manifest-path"])
        .arg(Fixture::Regex.manifest())
        .arg("--out-dir")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "-q printed status lines or the table");
}

#[test]
fn the_dev_profile_builds_cargos_dev_profile() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = build(Fixture::Regex, &dir.path().join("out"), &["--profile", "dev", "--no-precompile"]);
    assert_eq!(manifest.package.cargo_profile, "dev");
    assert_eq!(manifest.stages[0].settings["cargo-profile"], "dev");
    let optimize = manifest.stages.iter().find(|s| s.stage == cargo_wasmship::stages::Stage::Optimize).unwrap();
    assert!(!optimize.ran, "no wasm-opt in the dev preset");
}

#[test]
fn cargo_term_color_decides_colour_even_off_a_terminal() {
    let run = |choice: &str| {
        let output = common::wasmship()
            .args(["build", "--manifest-path", "/nonexistent/Cargo.toml"])
            .env("CARGO_TERM_COLOR", choice)
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert!(run("always").contains("\u{1b}["), "CARGO_TERM_COLOR=always colours a pipe");
    assert!(!run("never").contains("\u{1b}["));
    assert!(!run("auto").contains("\u{1b}["), "a pipe is not a terminal");
}

#[test]
fn a_wasm_bindgen_guest_without_glue_is_told_its_bindgen_exports_are_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wbg-guest/Cargo.toml");
    let output = common::wasmship()
        .args(["build", "--no-precompile", "--set", "bindgen-target=\"none\"", "--manifest-path"])
        .arg(&guest)
        .arg("--out-dir")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("warning: `wbg-guest` links wasm-bindgen items but gets no JS glue"), "{stderr}");

    // Its plain export ships pre-initialized; the wasm-bindgen imports are there but unused.
    let manifest = Manifest::read(&out.join("manifest.json")).unwrap();
    let wasm = std::fs::read(out.join(&manifest.shipped_wasm().unwrap().file)).unwrap();
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, &wasm).unwrap();
    assert!(module.imports().count() > 0, "the module imports wasm-bindgen's glue");
    let mut linker = wasmtime::Linker::new(&engine);
    linker.define_unknown_imports_as_traps(&module).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = linker.instantiate(&mut store, &module).unwrap();
    assert!(instance.get_func(&mut store, "wizer.initialize").is_none(), "init is gone");
    let count = instance.get_typed_func::<(), i32>(&mut store, "word_count").unwrap();
    assert_eq!(count.call(&mut store, ()).unwrap(), 1000, "init's state is in the snapshot");

    // A guest without wasm-bindgen gets no such warning.
    let plain = dir.path().join("plain");
    let output = common::wasmship()
        .args(["build", "--no-precompile", "--manifest-path"])
        .arg(Fixture::Regex.manifest())
        .arg("--out-dir")
        .arg(&plain)
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stderr).contains("wasm-bindgen"));
}
