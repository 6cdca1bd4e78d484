//! What the README says each profile key and flag does, checked on real guests: the keys
//! and flags no other test file exercises.
mod common;

use cargo_wasmship::manifest::Manifest;
use common::{Fixture, Form};
use std::path::{Path, PathBuf};
use std::process::Output;

fn wasmship(fixture_manifest: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    common::wasmship()
        .args(["build", "--manifest-path"])
        .arg(fixture_manifest)
        .arg("--out-dir")
        .arg(out)
        .arg("--cache-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("keys-cache"))
        .args(extra)
        .envs(env.iter().copied())
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

fn build(fixture: Fixture, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Manifest {
    let output = wasmship(&fixture.manifest(), out, extra, env);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    Manifest::read(&out.join("manifest.json")).unwrap()
}

fn shipped_bytes(out: &Path, manifest: &Manifest) -> Vec<u8> {
    std::fs::read(out.join(&manifest.shipped_wasm().unwrap().file)).unwrap()
}

/// The greeting the WASI fixture's init read, from the shipped (pre-initialized) module.
fn greeting(out: &Path, manifest: &Manifest) -> String {
    let bytes = shipped_bytes(out, manifest);
    let mut guest = common::load(Fixture::Wasi, &Form::Wasm { bytes: &bytes, run_init: false });
    let len = guest.call("greeting_len", &[]);
    (0..len as i32).map(|i| guest.call("greeting_byte", &[i]) as u8 as char).collect()
}

fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    (dir, out)
}

#[test]
fn inherit_env_copies_a_variable_from_the_build_environment() {
    let (_dir, out) = scratch();
    let extra = ["--no-precompile", "--set", "env={}", "--set", "inherit-env=[\"GREETING\"]"];
    let manifest = build(Fixture::Wasi, &out, &extra, &[("GREETING", "inherited from CI")]);
    assert_eq!(greeting(&out, &manifest), "inherited from CI");
    assert!(
        !std::fs::read_to_string(out.join("manifest.json")).unwrap().contains("inherited from CI"),
        "values stay out"
    );
}

#[test]
fn env_flag_adds_to_and_overrides_the_profile() {
    let (_dir, out) = scratch();
    let manifest = build(Fixture::Wasi, &out, &["--no-precompile", "--env", "GREETING=from the flag"], &[]);
    assert_eq!(greeting(&out, &manifest), "from the flag");
}

#[test]
fn dirs_are_read_only_unless_marked_writable() {
    let (dir, out) = scratch();
    let granted = dir.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("keys-write");
    let target = target.to_str().unwrap();
    let read_only = format!("{}:/out", granted.display());
    let refused = wasmship(
        &Fixture::Wasi.manifest(),
        &out,
        &["--no-precompile", "--features", "write", "--target-dir", target, "--dir", &read_only],
        &[],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("panicked: writing /out/written.txt"), "{stderr}");
    assert!(!granted.join("written.txt").exists());
    let writable = format!("{}:/out:rw", granted.display());
    build(
        Fixture::Wasi,
        &out,
        &["--no-precompile", "--features", "write", "--target-dir", target, "--dir", &writable],
        &[],
    );
    assert_eq!(std::fs::read_to_string(granted.join("written.txt")).unwrap(), "init was here");
    // Init's writes are an effect of the build: a second build runs init again.
    std::fs::remove_file(granted.join("written.txt")).unwrap();
    build(
        Fixture::Wasi,
        &out,
        &["--no-precompile", "--features", "write", "--target-dir", target, "--dir", &writable],
        &[],
    );
    assert!(granted.join("written.txt").exists(), "a cached snapshot skipped init's writes");
}

#[test]
fn native_precompiles_for_this_cpu_and_records_its_features() {
    let (_dir, out) = scratch();
    let manifest = build(Fixture::Regex, &out, &["--no-compress", "--precompile", "native"], &[]);
    let (artifact, info) = manifest.cwasms().next().expect("a native .cwasm");
    assert_eq!(info.cpu_level, "native");
    assert_eq!(info.cpu_features, wasmship_host::cpu::detected_here());
    assert!(artifact.file.contains(".native."), "{}", artifact.file);
    let shipped = wasmship_host::Shipped::open(&out).unwrap();
    let engine = wasmtime::Engine::new(&shipped.engine_config().unwrap()).unwrap();
    let loaded = shipped.load(&engine).unwrap();
    assert_eq!(
        loaded.source,
        wasmship_host::Source::Precompiled { file: artifact.file.clone(), cpu_level: "native".into() }
    );
}

#[test]
fn init_stdio_captures_inherits_or_drops_inits_output() {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("keys-panic");
    let run = |stdio: &str| {
        let (_dir, out) = scratch();
        let setting = format!("init-stdio=\"{stdio}\"");
        let args =
            ["--no-precompile", "--features", "panic", "--target-dir", target.to_str().unwrap(), "--set", &setting];
        let output = wasmship(&Fixture::Wasi.manifest(), &out, &args, &[]);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let error = stderr[stderr.rfind("error: ").unwrap()..].to_string();
        (stderr, error)
    };
    let (_, captured) = run("capture");
    assert!(
        captured.contains("init's output (last lines)") && captured.contains("about to read the config"),
        "{captured}"
    );
    let (stderr, error) = run("inherit");
    assert!(stderr.contains("about to read the config") && !error.contains("init's output"), "{stderr}");
    let (stderr, _) = run("null");
    assert!(!stderr.contains("about to read the config"), "{stderr}");
}

#[test]
fn keep_sections_survive_stripping() {
    let (_dir, out) = scratch();
    let manifest = build(Fixture::Regex, &out, &["--no-precompile", "--set", "keep-sections=[\"producers\"]"], &[]);
    let sections = cargo_wasmship::wasm::ModuleFacts::read(&shipped_bytes(&out, &manifest)).unwrap().custom_sections;
    assert_eq!(sections, ["producers"]);
}

#[test]
fn jobs_bound_the_threads_without_changing_the_output() {
    let (_dir, out) = scratch();
    let (_other, parallel) = scratch();
    let one = build(Fixture::Wasi, &out, &["-j", "1", "--precompile", "host,aarch64-unknown-linux-gnu"], &[]);
    let many = build(Fixture::Wasi, &parallel, &["-j", "4", "--precompile", "host,aarch64-unknown-linux-gnu"], &[]);
    assert_eq!(one, many);
}

#[test]
fn name_sets_the_artifact_names_and_is_checked() {
    let (_dir, out) = scratch();
    let manifest = build(Fixture::Regex, &out, &["--no-precompile", "--set", "name=\"botcheck\""], &[]);
    let file_name = |file: &str| file.rsplit('/').next().unwrap_or(file).to_string();
    assert!(manifest.artifacts.iter().all(|a| file_name(&a.file).starts_with("botcheck.")), "{:?}", manifest.artifacts);
    assert!(manifest.artifact("botcheck.wasm").is_some());
    let refused = wasmship(&Fixture::Regex.manifest(), &out, &["--set", "name=\"../escape\""], &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("wrong type for key `name`"));
}

#[test]
fn cargo_profile_picks_the_guests_cargo_profile() {
    let (_dir, out) = scratch();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("keys-stripped");
    let manifest = build(
        Fixture::Wasi,
        &out,
        &["--no-precompile", "--cargo-profile", "stripped", "--target-dir", target.to_str().unwrap()],
        &[],
    );
    assert_eq!(manifest.package.cargo_profile, "stripped");
    // The fixture's `stripped` profile has `strip = true`, which drops `target_features`
    // too: optimize finds the features from the code instead.
    let optimize = manifest.stages.iter().find(|s| s.stage == cargo_wasmship::stages::Stage::Optimize).unwrap();
    assert!(
        optimize.notes.iter().any(|n| n.contains("bulk-memory") && n.contains("no target_features")),
        "{:?}",
        optimize.notes
    );
    assert_eq!(greeting(&out, &manifest), common::GREETING);
}

#[test]
fn the_example_guest_ships_and_answers_like_its_raw_build() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/url-filter");
    let (_dir, out) = scratch();
    let output = wasmship(&example.join("Cargo.toml"), &out, &["-q"], &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let manifest = Manifest::read(&out.join("manifest.json")).unwrap();
    let triples: Vec<&str> = manifest.cwasms().map(|(_, info)| info.triple.as_str()).collect();
    assert!(
        triples.contains(&"aarch64-unknown-linux-gnu"),
        "the example's profile precompiles for aarch64: {triples:?}"
    );
    let (_, problems) = cargo_wasmship::commands::verify::check(&out.join("manifest.json")).unwrap();
    assert!(problems.is_empty(), "{problems:?}");

    let raw = std::fs::read(example.join("target/wasm32-unknown-unknown/release/url_filter.wasm")).unwrap();
    let urls = [
        "https://example.com/docs/a",
        "http://10.0.0.1/admin",
        "https://x.test/?token=abc",
        "https://x.test/../etc",
        "",
    ];
    let ask = |bytes: &[u8], run_init: bool| -> Vec<i32> {
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, bytes).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        if run_init {
            instance.get_typed_func::<(), ()>(&mut store, "wizer.initialize").unwrap().call(&mut store, ()).unwrap();
        }
        let alloc = instance.get_typed_func::<i32, i32>(&mut store, "alloc").unwrap();
        let verdict = instance.get_typed_func::<(i32, i32), i32>(&mut store, "verdict").unwrap();
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        urls.iter()
            .map(|url| {
                let ptr = alloc.call(&mut store, url.len() as i32).unwrap();
                memory.write(&mut store, ptr as usize, url.as_bytes()).unwrap();
                verdict.call(&mut store, (ptr, url.len() as i32)).unwrap()
            })
            .collect()
    };
    let expected = ask(&raw, true);
    assert_eq!(ask(&shipped_bytes(&out, &manifest), false), expected);
    assert!(expected.iter().any(|v| *v != expected[0]), "the questions tell verdicts apart: {expected:?}");
}

#[test]
fn compressed_copies_no_smaller_than_the_module_are_not_shipped() {
    let (_dir, out) = scratch();
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/two-guests/alpha/Cargo.toml");
    let output = wasmship(&tiny, &out, &["--no-precompile", "--set", "deploy=[\"nginx\"]"], &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let manifest = Manifest::read(&out.join("manifest.json")).unwrap();
    let shipped = manifest.shipped_wasm().unwrap().bytes;
    let mut dropped = Vec::new();
    for record in manifest.stages.iter().filter(|s| s.stage.name() == "compress") {
        let encoding = if record.notes[0].starts_with("br") { "br" } else { "gzip" };
        let artifact = manifest.artifacts.iter().find(|a| a.content_encoding.as_deref() == Some(encoding));
        let not_shipped = record.notes.iter().any(|n| n.starts_with("not shipped"));
        assert_eq!(record.bytes_out >= shipped, not_shipped, "{encoding}: {record:?}");
        assert_eq!(artifact.is_none(), not_shipped, "{encoding}");
        if not_shipped {
            dropped.push(encoding);
        }
    }
    assert!(dropped.contains(&"gzip"), "a module of {shipped} bytes gains from gzip's header: {dropped:?}");
    let nginx = std::fs::read_to_string(out.join("deploy/nginx.conf")).unwrap();
    assert!(
        !nginx.contains("gzip_static on;") && nginx.contains("brotli_static on;") == dropped.iter().all(|e| *e != "br"),
        "nginx is not told to look for a .gz that is not there:\n{nginx}"
    );
    let web: Vec<String> =
        std::fs::read_dir(out.join("web")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert!(!web.iter().any(|f| f.ends_with(".gz")), "{web:?}");
    let verify = common::wasmship().arg("verify").arg(&out).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
}
