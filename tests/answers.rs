//! Right answers on guests shaped like public bug reports (issue 18): a WASI reactor's
//! `_initialize`, typed calls, proposals a stage cannot read, relaxed SIMD at init, and errors
//! without backtraces. Answers are compared with the upstream `wasmtime` CLI (`wasmtime run
//! --invoke`) where it is installed, and with the raw module run in process everywhere.
mod common;

use cargo_wasmship::manifest::Manifest;
use std::path::{Path, PathBuf};
use std::process::Output;
use wasmtime::{Config, Engine, Instance, Linker, Module, Store};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The tool run in the guest's directory (so its `.cargo/config.toml` applies, as for a user).
fn tool_in(guest: &str, args: &[&str]) -> Output {
    common::wasmship().args(args).current_dir(fixture(guest)).output().unwrap()
}

fn build(guest: &str, out: &Path, extra: &[&str]) -> Manifest {
    let mut args = vec!["build", "-q", "--no-compress", "--out-dir", out.to_str().unwrap()];
    args.extend(extra);
    let output = tool_in(guest, &args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    Manifest::read(&out.join("manifest.json")).unwrap()
}

/// cargo's module for `guest`, as the build in its directory left it.
fn raw(guest: &str, target: &str) -> Vec<u8> {
    let name = guest.replace('-', "_");
    std::fs::read(fixture(guest).join("target").join(target).join("release").join(format!("{name}.wasm"))).unwrap()
}

fn shipped(out: &Path, manifest: &Manifest) -> PathBuf {
    out.join(&manifest.shipped_wasm().unwrap().file)
}

/// `wasmtime run --invoke EXPORT MODULE ARGS...` of the upstream CLI: its answer, or `None`
/// (recorded as a skip) where it is not installed.
fn upstream(module: &Path, flags: &[&str], export: &str, args: &[&str]) -> Option<String> {
    let wasmtime = common::peers::program("wasmtime", "--version", "answers of the upstream wasmtime CLI")?;
    let output = std::process::Command::new(wasmtime)
        .arg("run")
        .args(flags)
        .arg("--invoke")
        .arg(export)
        .arg(module)
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "wasmtime run --invoke {export}: {}", String::from_utf8_lossy(&output.stderr));
    Some(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// In process, the way `wasmtime run --invoke` runs a reactor: a fresh instance, `_initialize`
/// when exported, then the call (typed by `cargo_wasmship::call`).
fn in_process(module: &[u8], config: &Config, init: &[&str], call: &str) -> String {
    let engine = Engine::new(config).unwrap();
    let module = Module::new(&engine, module).unwrap();
    let mut linker: Linker<wasmtime_wasi::p1::WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx).unwrap();
    linker.define_unknown_imports_as_traps(&module).unwrap();
    let mut store = Store::new(&engine, wasmtime_wasi::WasiCtxBuilder::new().build_p1());
    let instance: Instance = linker.instantiate(&mut store, &module).unwrap();
    for name in init {
        if let Some(func) = instance.get_func(&mut store, name) {
            func.typed::<(), ()>(&store).unwrap().call(&mut store, ()).unwrap();
        }
    }
    let spec = cargo_wasmship::call::CallSpec::parse(call).unwrap();
    let (results, _) = cargo_wasmship::call::invoke(&mut store, &instance, &spec).unwrap();
    cargo_wasmship::call::answer_text(&results)
}

const REACTOR_CALLS: &[(&str, &[&str])] =
    &[("constructor_runs", &[]), ("init_runs", &[]), ("run", &["5000000000"]), ("mix", &["1", "-2", "3.5", "0.25"])];

fn call_text(export: &str, args: &[&str]) -> String {
    format!("{export}({})", args.join(", "))
}

#[test]
fn a_reactors_initialize_runs_once_whatever_init_func_names() {
    let scratch = tempfile::tempdir().unwrap();
    let raw_path = scratch.path().join("raw.wasm");
    for (init_func, init_in_host) in [("_initialize", &["_initialize"][..]), ("init", &["_initialize", "init"][..])] {
        let out = scratch.path().join(init_func);
        let manifest = build("reactor-guest", &out, &["--init-func", init_func, "--no-precompile"]);
        let module = shipped(&out, &manifest);
        std::fs::write(&raw_path, raw("reactor-guest", "wasm32-wasip1")).unwrap();
        for (export, args) in REACTOR_CALLS {
            // The raw module as its host runs it (`_initialize`, then the init function once).
            let expected = in_process(
                &raw("reactor-guest", "wasm32-wasip1"),
                &Config::new(),
                init_in_host,
                &call_text(export, args),
            );
            let answer = in_process(&std::fs::read(&module).unwrap(), &Config::new(), &[], &call_text(export, args));
            assert_eq!(answer, expected, "--init-func {init_func}: {export}");
            // And as the upstream CLI runs each: the shipped module must not need `_initialize`.
            if init_func == "_initialize" {
                if let (Some(raw_answer), Some(shipped_answer)) =
                    (upstream(&raw_path, &[], export, args), upstream(&module, &[], export, args))
                {
                    assert_eq!(shipped_answer, raw_answer, "wasmtime run --invoke {export}");
                }
            }
        }
        let exports: Vec<String> = Module::new(&Engine::default(), std::fs::read(&module).unwrap())
            .unwrap()
            .exports()
            .map(|e| e.name().to_string())
            .collect();
        assert!(!exports.iter().any(|e| e == "_initialize"), "a host must not run the constructors again: {exports:?}");
    }
    // `report` reruns init on the raw module the same way: once, no trap.
    let out = scratch.path().join("report");
    let output = common::wasmship()
        .args(["report", "--reps", "1", "--no-compress", "--init-func", "_initialize", "--call", "run(5)", "--out-dir"])
        .arg(&out)
        .current_dir(fixture("reactor-guest"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("run(5) answered 5000000036 on both"), "an i64 call, init run once: {stderr}");
}

#[test]
fn calls_are_typed_by_the_exports_parameters_in_every_host() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    build("reactor-guest", &out, &["--init-func", "_initialize"]);
    let args = vec![out.display().to_string(), "run(5000000000)".into(), "mix(1, -2, 3.5, 0.25)".into()];
    let output = common::hosts::run(common::hosts::rust_host(), &args);
    let report = common::hosts::stdout_json(&output);
    // The guest's own arithmetic, with its constructor run once by pre-init.
    assert_eq!(report["answers"][0][1], 5_000_000_000i64.wrapping_mul(1_000_000_007) + 1, "{report}");
    assert_eq!(report["answers"][1][1], 1.0 + -2.0 * 2.0 + 3.5 * 0.5 + 0.25, "{report}");
    let wrong = common::hosts::run(common::hosts::rust_host(), &[out.display().to_string(), "run(2.5)".into()]);
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("parameter 1 of `run` is i64, and `2.5` is not one"), "{stderr}");
}

#[test]
fn a_proposal_a_stage_cannot_read_is_named_with_every_way_out_before_any_stage_runs() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let output = tool_in("wide-guest", &["build", "--out-dir", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for expected in [
        "`wide-arithmetic`:",
        "optimize stage: binaryen 116 (built in) cannot read it",
        "wasm-opt-path",
        "precompile stage: the host engine (preset `runtime-only`) has it off",
        "`engine.wasm-features = [\"wide-arithmetic\"]`",
    ] {
        assert!(stderr.contains(expected), "{expected}:\n{stderr}");
    }
    assert!(!stderr.contains("preinit  "), "no stage ran: {stderr}");
    assert!(!out.exists(), "nothing written");
    // Each way out works, and the shipped module answers as the raw one does.
    let expected = {
        let mut config = Config::new();
        config.wasm_wide_arithmetic(true);
        in_process(&raw("wide-guest", "wasm32-unknown-unknown"), &config, &["wizer.initialize"], "total_high()")
    };
    let mut config = Config::new();
    config.wasm_wide_arithmetic(true);
    let manifest = build("wide-guest", &out, &["--no-wasm-opt", "--no-precompile"]);
    assert_eq!(in_process(&std::fs::read(shipped(&out, &manifest)).unwrap(), &config, &[], "total_high()"), expected);
}

#[test]
fn a_newer_wasm_opt_of_the_users_reads_what_binaryen_116_cannot() {
    let wasm_opt = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/node_modules/.bin/wasm-opt");
    if !wasm_opt.exists() {
        let why = "binaryen's wasm-opt from npm is not installed (.ci/run runs `npm ci` in tests/browser)";
        common::peers::skip("an external wasm-opt", why, common::peers::Source::CiInstalls);
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let engine = "engine.wasm-features=[\"wide-arithmetic\"]";
    let output = common::wasmship()
        .args(["build", "-q", "--no-compress", "--set", engine, "--out-dir"])
        .arg(&out)
        .env("CARGO_WASMSHIP_WASM_OPT", &wasm_opt)
        .current_dir(fixture("wide-guest"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let manifest = Manifest::read(&out.join("manifest.json")).unwrap();
    assert!(manifest.toolchain.binaryen.starts_with("wasm-opt version 132"), "{}", manifest.toolchain.binaryen);
    let optimize = manifest.stages.iter().find(|s| s.stage == cargo_wasmship::stages::Stage::Optimize).unwrap();
    assert!(optimize.ran && optimize.bytes_out < optimize.bytes_in, "{optimize:?}");
    assert!(!manifest.to_json().contains(env!("CARGO_MANIFEST_DIR")), "no absolute path in the manifest");
    let mut config = Config::new();
    config.wasm_wide_arithmetic(true);
    let expected =
        in_process(&raw("wide-guest", "wasm32-unknown-unknown"), &config, &["wizer.initialize"], "high(1000)");
    for call in ["total_high()", "high(1000)"] {
        assert_eq!(
            in_process(&std::fs::read(shipped(&out, &manifest)).unwrap(), &config, &[], call),
            expected,
            "{call}"
        );
    }
    // The .cwasm, for a host whose wasmtime has the proposal on.
    let (cwasm, _) = manifest.cwasms().next().unwrap();
    let mut host = Config::new();
    wasmship_host::engine::apply(&manifest.engine, &mut host).unwrap();
    let engine = Engine::new(&host).unwrap();
    let module = unsafe { Module::deserialize_file(&engine, out.join(&cwasm.file)) }.unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let total = instance.get_typed_func::<(), i64>(&mut store, "total_high").unwrap().call(&mut store, ()).unwrap();
    assert_eq!(total.to_string(), expected);
}

#[test]
fn relaxed_simd_at_init_snapshots_the_same_answer_on_every_machine() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let manifest = build("relaxed-guest", &out, &["--no-precompile"]);
    let preinit = manifest.stages.iter().find(|s| s.stage == cargo_wasmship::stages::Stage::Preinit).unwrap();
    assert_eq!(preinit.settings["relaxed-simd-deterministic"], true, "recorded in the manifest");
    let raw_module = raw("relaxed-guest", "wasm32-unknown-unknown");
    let mut deterministic = Config::new();
    deterministic.relaxed_simd_deterministic(true);
    let expected = in_process(&raw_module, &deterministic, &["wizer.initialize"], "swizzled()");
    let answer = in_process(&std::fs::read(shipped(&out, &manifest)).unwrap(), &Config::new(), &[], "swizzled()");
    assert_eq!(answer, expected, "the snapshot holds the deterministic answer");
    if let Some(cli) = upstream(&shipped(&out, &manifest), &[], "swizzled", &[]) {
        assert_eq!(cli, expected, "wasmtime run --invoke swizzled");
    }
    // On x86 the machine's own relaxed swizzle differs: without the deterministic setting the
    // snapshot would depend on the build machine.
    if std::env::consts::ARCH == "x86_64" {
        let native = in_process(&raw_module, &Config::new(), &["wizer.initialize"], "swizzled()");
        assert_ne!(native, expected, "this check can fail: x86's relaxed swizzle differs here");
    }
}

#[test]
fn no_backtrace_reaches_a_users_error() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let cases = [
        ("wide-guest", vec!["build", "--out-dir", out.to_str().unwrap()]),
        (
            "reactor-guest",
            vec!["report", "--reps", "1", "--no-precompile", "--call", "run(1.5)", "--out-dir", out.to_str().unwrap()],
        ),
    ];
    for (guest, args) in cases {
        let output =
            common::wasmship().args(&args).env("RUST_BACKTRACE", "1").current_dir(fixture(guest)).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{guest}: {stderr}");
        assert!(!stderr.to_lowercase().contains("stack backtrace"), "{guest}: {stderr}");
        assert!(!stderr.contains("/rustc/") && !stderr.contains(".cargo/registry"), "{guest}: {stderr}");
    }
}
