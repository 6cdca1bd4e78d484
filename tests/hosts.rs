//! Hosts built the way users build theirs load what the tool ships: a wasmtime host built
//! runtime-only (`examples/rust-host`, compiled here with `default-features = false`), the
//! generated Node.js loader under `node`, and the generated Go embed under `go`. Each answers
//! like the raw guest after its init, and refuses what it must.
mod common;

use common::hosts::{answers_from, build, calls, host_args, run, rust_host, stdout_json};
use common::{expected_answers, Fixture};
use std::path::Path;
use std::process::{Command, Output};

#[test]
fn runtime_only_host_loads_each_fixtures_cwasm_and_answers_like_the_raw_guest() {
    for fixture in [Fixture::Regex, Fixture::Wasi] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        build(fixture, &out, &["--precompile", "host,aarch64-unknown-linux-gnu"]);
        let output = run(rust_host(), &host_args(&out, fixture, &["--requests", "3"]));
        let report = stdout_json(&output);
        assert_eq!(report["source"]["cpu_level"], "baseline", "{report}");
        assert!(report["source"]["precompiled"].as_str().unwrap().ends_with(".cwasm"));
        // init_count is 1 in every fresh instance: the snapshot's, init never ran again.
        assert_eq!(answers_from(&output.stdout, fixture), expected_answers(fixture), "{fixture:?}");
        let skipped = report["skipped"].to_string();
        if std::env::consts::ARCH != "aarch64" {
            assert!(skipped.contains("for aarch64-unknown-linux-gnu, not this host"), "{skipped}");
        }
    }
}

#[test]
fn the_default_engine_profile_is_what_runtime_only_wasmtime_defaults_to() {
    // Compared against the runtime-only build itself, not against what the tool assumes.
    let output = run(rust_host(), &["--describe-default-engine".to_string()]);
    let host = stdout_json(&output);
    let dir = tempfile::tempdir().unwrap();
    let manifest = build(Fixture::Regex, &dir.path().join("out"), &["--no-compress"]);
    let recorded = serde_json::to_value(&manifest.engine).unwrap();
    assert_eq!(host["wasm_features"], recorded["wasm_features"]);
    assert_eq!(host["settings"], recorded["settings"]);
    assert_eq!(recorded["preset"], "runtime-only");
}

#[test]
fn epoch_interruption_is_part_of_the_profile_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let epoch = dir.path().join("epoch");
    build(Fixture::Regex, &epoch, &["--no-compress", "--set", "engine.epoch-interruption=true"]);
    // A host built from the manifest loads it (and runs each request under a deadline).
    let output = run(rust_host(), &host_args(&epoch, Fixture::Regex, &["--engine", "manifest"]));
    stdout_json(&output);
    assert_eq!(answers_from(&output.stdout, Fixture::Regex), expected_answers(Fixture::Regex));
    // A default runtime-only engine is refused, naming the setting and the fix.
    let refused = run(rust_host(), &host_args(&epoch, Fixture::Regex, &["--engine", "default"]));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains(
            "epoch_interruption: manifest has true, this engine has false (fix: config.epoch_interruption(true))"
        ),
        "{stderr}"
    );
    // And an epoch host refuses the default profile's files.
    let plain = dir.path().join("plain");
    build(Fixture::Regex, &plain, &["--no-compress"]);
    let refused = run(rust_host(), &host_args(&plain, Fixture::Regex, &["--engine", "default", "--epoch"]));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("epoch_interruption: manifest has false, this engine has true"), "{stderr}");
}

#[test]
fn a_tampered_cwasm_is_refused_before_deserialize() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let manifest = build(Fixture::Regex, &out, &["--no-compress"]);
    let (cwasm, _) = manifest.cwasms().next().unwrap();
    let path = out.join(&cwasm.file);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1; // same size: only the digest can tell
    std::fs::write(&path, &bytes).unwrap();
    let output = run(rust_host(), &host_args(&out, Fixture::Regex, &[]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a tampered file must not load");
    assert!(stderr.contains("does not match manifest.json") && stderr.contains("refusing to load it"), "{stderr}");
    assert!(
        stderr.contains("wasmship-host's `compiler` feature"),
        "the runtime-only host says what would help: {stderr}"
    );
}

/// What the host must pick and say when `hidden` features are hidden from it: the best level
/// whose every feature this CPU has and nothing hides, and for each better level exactly the
/// features it lacks. Derived from this machine's own CPU, never from the one the test was
/// written on.
fn expected_pick(levels: &[&wasmship_host::cpu::Level], hidden: &[&str]) -> (String, Vec<(String, Vec<String>)>) {
    let has = |feature: &str| !hidden.contains(&feature) && wasmship_host::cpu::detect(feature) == Some(true);
    let mut picked = "baseline".to_string();
    let mut passed_over = Vec::new();
    for level in levels.iter().rev() {
        let missing: Vec<String> = level.features.iter().filter(|f| !has(f)).map(|f| f.to_string()).collect();
        if missing.is_empty() {
            picked = level.name.to_string();
            break;
        }
        passed_over.push((level.name.to_string(), missing));
    }
    (picked, passed_over)
}

#[test]
fn the_best_cpu_level_this_cpu_has_is_picked_and_the_rest_skipped() {
    let levels: Vec<&wasmship_host::cpu::Level> =
        wasmship_host::cpu::LEVELS.iter().filter(|l| l.arch == std::env::consts::ARCH).collect();
    if levels.is_empty() {
        let why = format!("no CPU levels are defined for {}", std::env::consts::ARCH);
        common::peers::skip("CPU levels", &why, common::peers::Source::Unavailable);
        return;
    }
    let names: Vec<&str> = levels.iter().map(|l| l.name).collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let list = format!("cpu-levels={:?}", names);
    build(Fixture::Regex, &out, &["--no-compress", "--set", &list]);
    // For every level: a CPU with all of its features (nothing hidden), with some (its last
    // one hidden) and with none (all hidden), as CPUs without them would be.
    let mut cases: Vec<Vec<&str>> = vec![vec![]];
    for level in &levels {
        cases.push(vec![*level.features.last().unwrap()]);
        cases.push(level.features.to_vec());
    }
    for hide in &cases {
        let mut extra = vec![];
        for feature in hide {
            extra.extend(["--hide-cpu-feature", feature]);
        }
        let output = run(rust_host(), &host_args(&out, Fixture::Regex, &extra));
        let report = stdout_json(&output);
        let (picked, passed_over) = expected_pick(&levels, hide);
        assert_eq!(report["source"]["cpu_level"], picked.as_str(), "hiding {hide:?}: {report}");
        assert_eq!(answers_from(&output.stdout, Fixture::Regex), expected_answers(Fixture::Regex));
        let skipped: Vec<String> =
            report["skipped"].as_array().unwrap().iter().map(|s| s[1].as_str().unwrap().to_string()).collect();
        for (level, missing) in &passed_over {
            let reason = format!("CPU level {level} needs {}, which this CPU lacks", missing.join(", "));
            assert!(skipped.contains(&reason), "hiding {hide:?}: expected {reason:?} among {skipped:?}");
        }
    }
}

#[test]
fn an_unknown_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    build(Fixture::Regex, &out, &["--no-compress"]);
    let path = out.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap().replacen("\"schema_version\": 2", "\"schema_version\": 99", 1);
    std::fs::write(&path, text).unwrap();
    let output = run(rust_host(), &host_args(&out, Fixture::Regex, &[]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("schema_version 99 is not supported"), "{stderr}");
}

#[test]
fn node_loader_answers_like_the_raw_guest_and_refuses_other_bytes() {
    let Some(node) = common::peers::program("node", "--version", "the generated Node.js loader") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let manifest = build(Fixture::Regex, &out, &["--no-precompile", "--set", "host-bindings=[\"node\"]"]);
    let loader = manifest.artifact("regex_guest.node.mjs").expect("the loader is an artifact");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts/node-host.mjs");
    let mut args = vec![script.display().to_string(), out.join(&loader.file).display().to_string()];
    args.extend(calls(Fixture::Regex).into_iter().map(|(_, call)| call));
    let output = run(&node, &args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(answers_from(&output.stdout, Fixture::Regex), expected_answers(Fixture::Regex));

    let wasm = out.join(&manifest.shipped_wasm().unwrap().file);
    let mut bytes = std::fs::read(&wasm).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&wasm, bytes).unwrap();
    let output = run(&node, &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("does not match manifest.json's") && stderr.contains("refusing to load it"), "{stderr}");
}

#[test]
fn go_embed_compiles_embeds_the_module_and_checks_it() {
    let Some(go) = common::peers::program("go", "version", "the generated Go embed") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let list = "host-bindings=[\"go\"]";
    let manifest = build(Fixture::Regex, &out, &["--no-precompile", "--set", list, "--set", "memory-cap=\"16MiB\""]);
    let wasm = manifest.shipped_wasm().unwrap();
    // A Go module that vendors the output directory as package `shipped`, as a service would.
    let module = dir.path().join("gohost");
    let package = module.join("shipped");
    std::fs::create_dir_all(&package).unwrap();
    for file in ["wasmship_embed.go", wasm.file.as_str(), "manifest.json"] {
        std::fs::create_dir_all(package.join(file).parent().unwrap()).unwrap();
        std::fs::copy(out.join(file), package.join(file)).unwrap();
    }
    std::fs::write(module.join("go.mod"), "module example.com/gohost\n\ngo 1.19\n").unwrap();
    std::fs::write(
        module.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\n\tpkg \"example.com/gohost/shipped\"\n)\n\nfunc main() {\n\
         \tif err := pkg.Check(); err != nil {\n\t\tfmt.Fprintln(os.Stderr, err)\n\t\tos.Exit(1)\n\t}\n\
         \tfmt.Println(len(pkg.Wasm), pkg.WasmSHA256, pkg.WasmFile, pkg.MemoryLimitPages())\n}\n",
    )
    .unwrap();
    // The generated package is named after the artifact; import it under that name.
    let embed = std::fs::read_to_string(package.join("wasmship_embed.go")).unwrap();
    assert!(embed.contains("package regex_guest\n"), "{embed}");
    let go = |args: &[&str], dir: &Path, offline: bool| {
        let mut command = Command::new(&go);
        command
            .args(args)
            .current_dir(dir)
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .env("GOCACHE", Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache"));
        if offline {
            command.env("GOPROXY", "off");
        }
        command.output().unwrap()
    };
    let go_run = || go(&["run", "."], &module, true);
    let output = go_run();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(printed.trim(), format!("{} {} {} {}", wasm.bytes, wasm.sha256, wasm.file, 16 * 16));

    wazero_host_answers_like_the_raw_guest(&package, dir.path(), &go);

    // The wrong bytes next to the generated file are caught at startup.
    let mut bytes = std::fs::read(package.join(&wasm.file)).unwrap();
    bytes[8] ^= 1;
    std::fs::write(package.join(&wasm.file), bytes).unwrap();
    let output = go_run();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("does not match manifest.json's") && stderr.contains("refusing to use it"), "{stderr}");
}

#[test]
fn a_default_features_wasmtime_needs_only_concurrency_support_off() {
    // What the README tells hosts built with wasmtime's default cargo features: the tests'
    // own wasmtime has them all on.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let manifest = build(Fixture::Regex, &out, &["--no-compress"]);
    let (cwasm, _) = manifest.cwasms().next().unwrap();
    let bytes = std::fs::read(out.join(&cwasm.file)).unwrap();
    let plain = wasmtime::Engine::new(&wasmtime::Config::new()).unwrap();
    let error = unsafe { wasmtime::Module::deserialize(&plain, &bytes) }.expect_err("refused as is");
    assert!(format!("{error:?}").contains("concurrency support"), "{error:?}");
    let mut config = wasmtime::Config::new();
    config.concurrency_support(false);
    let engine = wasmtime::Engine::new(&config).unwrap();
    unsafe { wasmtime::Module::deserialize(&engine, &bytes) }.expect("loads with concurrency_support(false)");
}

/// Runs `examples/go-host` (wazero: compile once, instantiate per request) on the generated
/// package. wazero comes from the Go module proxy, or from a local checkout named by
/// `WASMSHIP_WAZERO_DIR` on machines without one; with neither, says so and skips.
fn wazero_host_answers_like_the_raw_guest(package: &Path, scratch: &Path, go: &dyn Fn(&[&str], &Path, bool) -> Output) {
    let host = scratch.join("go-host");
    std::fs::create_dir_all(host.join("shipped")).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/go-host");
    for file in ["go.mod", "main.go"] {
        std::fs::copy(example.join(file), host.join(file)).unwrap();
    }
    common::copy_dir(package, &host.join("shipped"));
    let local = std::env::var_os("WASMSHIP_WAZERO_DIR");
    if let Some(checkout) = &local {
        let replace = format!("-replace=github.com/tetratelabs/wazero={}", Path::new(checkout).display());
        let output = go(&["mod", "edit", &replace], &host, true);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    } else {
        let output = go(&["mod", "download", "github.com/tetratelabs/wazero"], &host, false);
        if !output.status.success() {
            let why = String::from_utf8_lossy(&output.stderr);
            let reason = format!(
                "the Go module proxy is not reachable ({}); set WASMSHIP_WAZERO_DIR to a wazero v1.9 checkout to run it",
                why.lines().last().unwrap_or_default()
            );
            common::peers::skip("examples/go-host on wazero", &reason, common::peers::Source::Unavailable);
            return;
        }
    }
    let mut args = vec!["run".to_string(), ".".to_string()];
    args.extend(calls(Fixture::Regex).into_iter().map(|(_, call)| call));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = go(&args, &host, local.is_some());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(answers_from(&output.stdout, Fixture::Regex), expected_answers(Fixture::Regex));
}

#[test]
fn with_no_cwasm_for_this_host_a_compiler_host_compiles_the_checked_wasm() {
    // In-process through wasmship-host with its `compiler` feature (as the tool builds it).
    let other =
        if std::env::consts::ARCH == "aarch64" { "x86_64-unknown-linux-gnu" } else { "aarch64-unknown-linux-gnu" };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    build(Fixture::Regex, &out, &["--no-compress", "--precompile", other]);
    let shipped = wasmship_host::Shipped::open(&out).unwrap();
    let engine = wasmtime::Engine::new(&shipped.engine_config().unwrap()).unwrap();
    let loaded = shipped.load(&engine).unwrap();
    let wasm = &shipped.manifest().shipped_wasm().unwrap().file;
    assert_eq!(loaded.source, wasmship_host::Source::Compiled { file: wasm.clone() });
    assert!(loaded.skipped[0].why.contains("not this host"), "{:?}", loaded.skipped);
    // The fallback checks the .wasm's sha256 too.
    let path = out.join(wasm);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let error = shipped.load(&engine).err().expect("a tampered .wasm is not compiled").to_string();
    assert!(error.contains("does not match manifest.json") && error.contains("not this host"), "{error}");
}
