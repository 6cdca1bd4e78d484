//! Components (issue 20): a wit-bindgen guest (wasm32-wasip2) through every stage. Answers
//! are compared with the raw component run in process after its init, with the upstream
//! `wasmtime run --invoke` on the shipped component and on upstream `wasmtime wizer`'s own
//! snapshot, and with the runtime-only component host on the `.cwasm`.
mod common;

use cargo_wasmship::manifest::Manifest;
use std::path::{Path, PathBuf};
use std::process::Output;
use wasmship_host::component_call::{answer_text, invoke, ComponentCall};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

const INIT: &str = "wizer-initialize";
const CALLS: &[&str] = &["lookup(\"fox\")", "lookup(\"the\")", "lookup(\"zebra\")", "total()", "init-count()"];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/component-guest")
}

fn tool(args: &[&str], out: &Path) -> Output {
    common::wasmship()
        .args(args)
        .arg("--manifest-path")
        .arg(fixture().join("Cargo.toml"))
        .arg("--out-dir")
        .arg(out)
        .output()
        .unwrap()
}

fn build(out: &Path, extra: &[&str]) -> Manifest {
    let mut args = vec!["build", "-q"];
    args.extend(extra);
    let output = tool(&args, out);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    Manifest::read(&out.join("manifest.json")).unwrap()
}

/// cargo's component, as the build left it.
fn raw() -> Vec<u8> {
    std::fs::read(fixture().join("target/wasm32-wasip2/release/component_guest.wasm")).unwrap()
}

fn shipped(out: &Path, manifest: &Manifest) -> PathBuf {
    out.join(&manifest.shipped_wasm().unwrap().file)
}

/// Each call on a fresh instance, as `wasmtime run --invoke` makes them; `init` first when
/// given. Imports trap: the calls never reach WASI.
fn in_process(component: &[u8], init: Option<&str>) -> Vec<String> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config).unwrap();
    let component = Component::new(&engine, component).unwrap();
    let mut linker: Linker<()> = Linker::new(&engine);
    linker.define_unknown_imports_as_traps(&component).unwrap();
    CALLS
        .iter()
        .map(|call| {
            let mut store = Store::new(&engine, ());
            let instance = linker.instantiate(&mut store, &component).unwrap();
            if let Some(init) = init {
                instance.get_typed_func::<(), ()>(&mut store, init).unwrap().call(&mut store, ()).unwrap();
            }
            answer_text(&invoke(&mut store, &instance, &ComponentCall::parse(call).unwrap()).unwrap().0)
        })
        .collect()
}

/// The upstream wasmtime CLI, or `None` (recorded as a skip) where it is not installed.
fn wasmtime_cli(check: &str) -> Option<PathBuf> {
    common::peers::program("wasmtime", "--version", check)
}

fn upstream_invoke(wasmtime: &Path, component: &Path, call: &str) -> Output {
    std::process::Command::new(wasmtime).args(["run", "--invoke", call]).arg(component).output().unwrap()
}

/// Names of every custom section, in the component and in each module inside it.
fn custom_sections(wasm: &[u8]) -> Vec<String> {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .filter_map(|payload| match payload.unwrap() {
            wasmparser::Payload::CustomSection(reader) => Some(reader.name().to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_component_goes_through_every_stage_and_stays_a_valid_component() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let manifest = build(&out, &[]);
    assert!(manifest.is_component());
    assert!(manifest
        .artifacts
        .iter()
        .filter(|a| a.kind != cargo_wasmship::manifest::ArtifactKind::WebLoader)
        .all(|a| a.component));
    assert!(
        manifest.engine.wasm_features.iter().any(|f| f == "component_model"),
        "{:?}",
        manifest.engine.wasm_features
    );
    use cargo_wasmship::manifest::Stage;
    for stage in [Stage::Preinit, Stage::Optimize, Stage::Strip, Stage::Precompile] {
        let report = manifest.stages.iter().find(|s| s.stage == stage).unwrap();
        assert!(report.ran, "{stage:?} ran");
    }
    let preinit = manifest.stages.iter().find(|s| s.stage == Stage::Preinit).unwrap();
    assert_eq!(preinit.settings["init-func"], INIT);

    let shipped = std::fs::read(shipped(&out, &manifest)).unwrap();
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all()).validate_all(&shipped).unwrap();
    let exports = cargo_wasmship::wasm::component::func_exports(&shipped).unwrap();
    assert!(!exports.iter().any(|e| e == INIT), "the init export is gone: {exports:?}");
    assert!(exports.iter().any(|e| e == "lookup"), "{exports:?}");
    let count = cargo_wasmship::wasm::component::core_module_count;
    assert_eq!(count(&shipped).unwrap(), count(&raw()).unwrap(), "every core module is still there");
    // Strip reached the modules inside: no names, no producers, anywhere in the shipped bytes.
    let sections = custom_sections(&shipped);
    for gone in ["name", "component-name", "producers"] {
        assert!(!sections.iter().any(|s| s == gone), "{gone} left in {sections:?}");
    }
    // The debug copy keeps them.
    let debug = manifest.artifacts.iter().find(|a| a.file.ends_with(".debug.wasm")).unwrap();
    assert!(custom_sections(&std::fs::read(out.join(&debug.file)).unwrap()).iter().any(|s| s == "name"));

    let verified = common::wasmship().arg("verify").arg(&out).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}

#[test]
fn shipped_answers_equal_the_raw_components_and_upstream_wasmtimes() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let manifest = build(&out, &[]);
    let raw = raw();
    // Before init the table is empty: the answers below come from the snapshot.
    assert_eq!(in_process(&raw, None)[0], "-1");
    let expected = in_process(&raw, Some(INIT));
    assert_eq!(expected[0], "3", "`fox` is in the text three times");
    assert_eq!(expected[4], "1", "init ran once");

    let shipped_path = shipped(&out, &manifest);
    let shipped = std::fs::read(&shipped_path).unwrap();
    assert_eq!(in_process(&shipped, None), expected, "the shipped component, init not called again");

    // The .cwasm, in a host built as users build theirs: runtime-only, component model on.
    let mut args: Vec<String> = vec![out.display().to_string()];
    args.extend(CALLS.iter().map(|c| c.to_string()));
    let host = common::hosts::run(common::hosts::component_host(), &args);
    assert!(host.status.success(), "{}", String::from_utf8_lossy(&host.stderr));
    let report: serde_json::Value = serde_json::from_slice(&host.stdout).unwrap();
    assert!(report["source"]["precompiled"].as_str().unwrap().ends_with(".cwasm"), "{report}");
    let answers: Vec<&str> = report["answers"].as_array().unwrap().iter().map(|a| a[1].as_str().unwrap()).collect();
    assert_eq!(answers, expected);

    let Some(wasmtime) = wasmtime_cli("component answers of the upstream wasmtime CLI") else { return };
    for (call, want) in CALLS.iter().zip(&expected) {
        let output = upstream_invoke(&wasmtime, &shipped_path, call);
        assert!(output.status.success(), "{call}: {}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), want, "wasmtime run --invoke '{call}'");
    }
    let again = upstream_invoke(&wasmtime, &shipped_path, &format!("{INIT}()"));
    assert!(!again.status.success(), "the shipped component must not export its init");

    // Upstream's own pre-init (keeping the export, which it needs to stay valid) agrees.
    let peer = scratch.path().join("peer.wasm");
    let status = std::process::Command::new(&wasmtime)
        .args(["wizer", "-Scli", "--init-func", INIT, "--keep-init-func", "-o"])
        .arg(&peer)
        .arg(fixture().join("target/wasm32-wasip2/release/component_guest.wasm"))
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    for (call, want) in CALLS.iter().zip(&expected) {
        let output = upstream_invoke(&wasmtime, &peer, call);
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), want, "upstream wizer, then '{call}'");
    }
}

#[test]
fn hosts_load_a_component_only_through_its_trust_root_and_as_a_component() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    build(&out, &["--no-compress"]);
    let digest = cargo_wasmship::digest::sha256_hex(&std::fs::read(out.join("manifest.json")).unwrap());
    let dir = out.display().to_string();
    let pinned = common::hosts::run(
        common::hosts::component_host(),
        &[dir.clone(), "--manifest-sha256".into(), digest.clone(), "total()".into()],
    );
    assert!(pinned.status.success(), "{}", String::from_utf8_lossy(&pinned.stderr));
    let wrong = digest.chars().rev().collect::<String>();
    let refused = common::hosts::run(
        common::hosts::component_host(),
        &[dir.clone(), "--manifest-sha256".into(), wrong, "total()".into()],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("sha256"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // A core-module host is told what it holds instead of failing in wasmtime.
    let core_host = common::hosts::run(common::hosts::rust_host(), &[dir, "total()".into()]);
    assert!(!core_host.status.success());
    let stderr = String::from_utf8_lossy(&core_host.stderr);
    assert!(stderr.contains("holds a component") && stderr.contains("load_component"), "{stderr}");
}

#[test]
fn a_components_init_runs_in_the_sandbox() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let spins = tool(&["build", "-q", "--init-func", "spin", "--set", "init-timeout=1"], &out);
    assert!(!spins.status.success());
    let stderr = String::from_utf8_lossy(&spins.stderr);
    assert!(stderr.contains("did not finish within 1s"), "{stderr}");

    let no_wasi = tool(&["build", "-q", "--init-func", "init-from-env"], &out);
    assert!(!no_wasi.status.success());
    let stderr = String::from_utf8_lossy(&no_wasi.stderr);
    assert!(stderr.contains("init called the import `wasi:cli/environment@"), "{stderr}");
    assert!(stderr.contains("allow-wasi = true"), "{stderr}");
    assert!(!out.join("manifest.json").exists(), "a failed build writes nothing");

    // Granted, init reads exactly what was granted, and the snapshot keeps it.
    let granted = ["--init-func", "init-from-env", "--allow-wasi", "--env", "FIXTURE_WORD=granted"];
    build(&out, &granted);
    let host = common::hosts::run(common::hosts::component_host(), &[out.display().to_string(), "env-word()".into()]);
    assert!(host.status.success(), "{}", String::from_utf8_lossy(&host.stderr));
    let report: serde_json::Value = serde_json::from_slice(&host.stdout).unwrap();
    assert_eq!(report["answers"][0][1], "\"granted\"");
}

#[test]
fn report_and_serve_handle_a_component() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let reported = tool(&["report", "-q", "--reps", "1", "--call", "lookup(\"the\")"], &out);
    assert!(reported.status.success(), "{}", String::from_utf8_lossy(&reported.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["call"], "lookup(\"the\")");
    assert_eq!(report["startup"]["answer"], "7", "raw after init and shipped agree, and on the text's count");
    assert!(report["startup"]["deserialize_cwasm"]["median_ms"].as_f64().unwrap() > 0.0);
    assert!(report["startup"]["init_raw"]["median_ms"].as_f64().unwrap() > 0.0);
    let manifest = Manifest::read(&out.join("manifest.json")).unwrap();
    assert!(manifest.limits.recommended.is_some(), "the measured cap is recorded for hosts");

    let serving = common::Serving::start(&out, &[]);
    let page = http_get(&serving.address(), "/");
    assert!(page.contains("200 OK") && page.contains("A WebAssembly component"), "{page}");
    let wasm_path = format!("/{}", manifest.shipped_wasm().unwrap().file.trim_start_matches("web/"));
    assert!(http_get(&serving.address(), &wasm_path).contains("application/wasm"));
}

fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response).into_owned()
}
