//! Each stage, run for real on real guests: the output of every stage answers exactly like
//! the raw guest after its init, and pre-initialized forms never run init again.
mod common;

use cargo_wasmship::config::{DirGrant, InitStdio};
use cargo_wasmship::stages::optimize::{self, OptimizeConfig};
use cargo_wasmship::stages::precompile::{self, PrecompileConfig};
use cargo_wasmship::stages::preinit::sandbox::{Sandbox, WasiGrant};
use cargo_wasmship::stages::preinit::{self, PreinitConfig};
use cargo_wasmship::stages::strip::{self, StripConfig};
use cargo_wasmship::stages::StageStatus;
use cargo_wasmship::wasm::ModuleFacts;
use common::{answers, expected_answers, raw_wasm, Fixture, Form};
use std::collections::BTreeMap;
use std::time::Duration;

fn preinit_config(fixture: Fixture) -> PreinitConfig {
    let wasi = (fixture == Fixture::Wasi).then(|| WasiGrant {
        env: vec![("GREETING".into(), common::GREETING.into())],
        dirs: vec![DirGrant { host: fixture.dir().join("data"), guest: "/data".into(), writable: false }],
        stdio: InitStdio::Capture,
        deterministic: true,
    });
    PreinitConfig {
        enabled: None,
        init_func: None,
        keep_init_func: false,
        rename_funcs: BTreeMap::new(),
        sandbox: Sandbox { timeout: Duration::from_secs(10), max_memory: 1 << 30, wasi },
    }
}

/// binaryen in a child process of the tool, as the tool runs it.
fn passes(list: &[&str]) -> OptimizeConfig {
    OptimizeConfig {
        passes: Some(list.iter().map(|s| s.to_string()).collect()),
        wasm_features: vec![],
        isolate_in: Some(env!("CARGO_BIN_EXE_cargo-wasmship").into()),
        external: None,
    }
}

/// binaryen in this process, as a library caller may run it.
fn passes_in_process(list: &[&str]) -> OptimizeConfig {
    OptimizeConfig { isolate_in: None, ..passes(list) }
}

/// Runs preinit -> optimize -> strip -> precompile and checks every output against the raw
/// guest's answers.
fn every_stage_answers_like_the_raw_guest(fixture: Fixture, optimize_config: OptimizeConfig) {
    let expected = expected_answers(fixture);
    let raw = raw_wasm(fixture);

    let snapshot = preinit::run(&raw, &preinit_config(fixture)).expect("preinit");
    assert_eq!(snapshot.report.status, StageStatus::Ran);
    assert!(snapshot.report.notes[0].contains(fixture.init_export()), "{:?}", snapshot.report.notes);
    let facts = ModuleFacts::read(&snapshot.bytes).unwrap();
    assert!(!facts.exports_func(fixture.init_export()), "init export removed after pre-init");
    assert!(!facts.exports_func("_initialize"), "WASI reactor init removed after pre-init");
    assert_eq!(answers(fixture, &Form::Wasm { bytes: &snapshot.bytes, run_init: false }), expected, "preinit");

    let optimized = optimize::run(&snapshot.bytes, &optimize_config).expect("optimize");
    assert!(optimized.bytes.len() < snapshot.bytes.len(), "wasm-opt shrank the module");
    assert_eq!(answers(fixture, &Form::Wasm { bytes: &optimized.bytes, run_init: false }), expected, "optimize");

    let stripped = strip::run(&optimized.bytes, &StripConfig { enabled: true, keep_sections: vec![] }).expect("strip");
    assert!(ModuleFacts::read(&stripped.bytes).unwrap().custom_sections.is_empty());
    assert_eq!(answers(fixture, &Form::Wasm { bytes: &stripped.bytes, run_init: false }), expected, "strip");

    let engine = default_engine();
    let config = PrecompileConfig { targets: vec!["host".into()], cpu_levels: vec![] };
    let targets = precompile::resolve_targets(&config, &engine).unwrap();
    let compiled = precompile::run(&stripped.bytes, &targets[0], &engine).expect("precompile");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guest.cwasm");
    std::fs::write(&path, &compiled.bytes).unwrap();
    assert_eq!(answers(fixture, &Form::Cwasm(&path, &engine)), expected, "precompile");
}

fn default_engine() -> wasmship_manifest::EngineProfile {
    precompile::engine::resolve(&Default::default()).expect("default engine profile")
}

#[test]
fn regex_guest_default_passes() {
    every_stage_answers_like_the_raw_guest(Fixture::Regex, passes(&["--converge", "-Oz", "--gufa"]));
}

#[test]
fn regex_guest_long_pass_list() {
    every_stage_answers_like_the_raw_guest(
        Fixture::Regex,
        passes_in_process(&["--converge", "--flatten", "--rereloop", "-Oz", "--gufa", "-Oz"]),
    );
}

#[test]
fn wasi_guest_default_passes() {
    every_stage_answers_like_the_raw_guest(Fixture::Wasi, passes(&["--converge", "-Oz", "--gufa"]));
}

#[test]
fn keep_init_func_keeps_the_export_and_renames_apply() {
    let raw = raw_wasm(Fixture::Regex);
    let mut config = preinit_config(Fixture::Regex);
    config.keep_init_func = true;
    config.rename_funcs.insert("count_of_inits".into(), "init_count".into());
    let snapshot = preinit::run(&raw, &config).unwrap();
    let facts = ModuleFacts::read(&snapshot.bytes).unwrap();
    assert!(facts.exports_func("wizer.initialize"));
    assert!(facts.exports_func("count_of_inits"));
    assert!(!facts.exports_func("init_count"));
}

#[test]
fn explicit_init_func_and_disabled_preinit() {
    let raw = raw_wasm(Fixture::Regex);
    let mut config = preinit_config(Fixture::Regex);
    config.enabled = Some(false);
    let skipped = preinit::run(&raw, &config).unwrap();
    assert_eq!(skipped.report.status, StageStatus::Skipped);
    assert_eq!(skipped.bytes, raw);

    let mut config = preinit_config(Fixture::Regex);
    config.init_func = Some("wizer.initialize".into());
    let snapshot = preinit::run(&raw, &config).unwrap();
    assert_eq!(snapshot.report.status, StageStatus::Ran);
}

#[test]
fn wasi_snapshots_are_deterministic() {
    let raw = raw_wasm(Fixture::Wasi);
    let a = preinit::run(&raw, &preinit_config(Fixture::Wasi)).unwrap();
    let b = preinit::run(&raw, &preinit_config(Fixture::Wasi)).unwrap();
    assert_eq!(a.report.sha256_out, b.report.sha256_out, "same inputs, same snapshot");
}

#[test]
fn optimize_runs_the_list_in_order_as_binaryens_own_driver_does() {
    // `-Oz --flatten` and `--flatten -Oz` are different programs: a stage that ran named
    // passes at the end, or collapsed the levels, would give both the same bytes.
    let snapshot = preinit::run(&raw_wasm(Fixture::Regex), &preinit_config(Fixture::Regex)).unwrap();
    let ours = optimize::run(&snapshot.bytes, &passes_in_process(&["-Oz", "--flatten"])).unwrap().bytes;
    let reversed = optimize::run(&snapshot.bytes, &passes_in_process(&["--flatten", "-Oz"])).unwrap().bytes;
    assert!(reversed.len() < ours.len(), "flatten last leaves a bigger module ({} vs {})", reversed.len(), ours.len());

    // The peer: the wasm-opt crate's own driver (binaryen's OptimizationOptions), `-Oz --flatten`.
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.wasm"), dir.path().join("out.wasm"));
    std::fs::write(&input, &snapshot.bytes).unwrap();
    wasm_opt::OptimizationOptions::new_optimize_for_size_aggressively()
        .add_pass(wasm_opt::Pass::Flatten)
        .debug_info(true)
        .run(&input, &output)
        .unwrap();
    assert!(std::fs::read(&output).unwrap() == ours, "binaryen's driver made different bytes from the same list");

    let skipped = optimize::run(&snapshot.bytes, &OptimizeConfig { passes: None, ..passes(&[]) }).unwrap();
    assert_eq!(skipped.report.status, StageStatus::Skipped);
    assert_eq!(skipped.bytes, snapshot.bytes);
}

#[test]
fn cross_triples_and_cpu_levels_compile_to_different_code() {
    // Each target must be compiled for its own triple and CPU features: the files differ,
    // and each carries the compatibility id of exactly its (engine, triple, features).
    let stripped = strip::run(&raw_wasm(Fixture::Wasi), &StripConfig { enabled: true, keep_sections: vec![] }).unwrap();
    let engine = default_engine();
    let config = PrecompileConfig {
        targets: vec![
            "x86_64-unknown-linux-gnu".into(),
            "aarch64-unknown-linux-gnu".into(),
            "x86_64-pc-windows-msvc".into(),
        ],
        cpu_levels: vec!["x86-64-v3".into()],
    };
    let targets = precompile::resolve_targets(&config, &engine).unwrap();
    let levels: Vec<(&str, &str)> = targets.iter().map(|t| (t.triple.as_str(), t.cpu_level.as_str())).collect();
    assert_eq!(
        levels,
        [
            ("x86_64-unknown-linux-gnu", "baseline"),
            ("aarch64-unknown-linux-gnu", "baseline"),
            ("x86_64-pc-windows-msvc", "baseline"),
            ("x86_64-unknown-linux-gnu", "x86-64-v3"),
            ("x86_64-pc-windows-msvc", "x86-64-v3"),
        ],
        "a level applies to every triple of its architecture"
    );
    let compiled: Vec<_> = targets.iter().map(|t| precompile::run(&stripped.bytes, t, &engine).unwrap()).collect();
    for (target, c) in targets.iter().zip(&compiled) {
        let expected = wasmship_manifest::compatibility_id(&engine, &target.triple, &target.cpu_features);
        assert_eq!(c.info.compatibility_id, expected, "{}", target.triple);
        assert!(wasmtime::Engine::detect_precompiled(&c.bytes).is_some(), "{} is a precompiled module", c.info.triple);
    }
    let distinct: std::collections::HashSet<&[u8]> = compiled.iter().map(|c| c.bytes.as_slice()).collect();
    assert_eq!(distinct.len(), compiled.len(), "every triple and level gives different machine code");
    // wasmtime itself refuses a file for the wrong triple.
    let mut config = wasmtime::Config::new();
    wasmship_host::engine::apply(&engine, &mut config).unwrap();
    let host = wasmtime::Engine::new(&config).unwrap();
    let aarch64 = &compiled[1].bytes;
    let error = unsafe { wasmtime::Module::deserialize(&host, aarch64) }.err().map(|e| format!("{e:?}"));
    if std::env::consts::ARCH != "aarch64" {
        assert!(error.unwrap().contains("Module was compiled for architecture 'aarch64'"));
    }
}

#[test]
fn unknown_or_unmatched_cpu_levels_are_refused_by_name() {
    let engine = default_engine();
    let unknown = PrecompileConfig { targets: vec!["host".into()], cpu_levels: vec!["x86-64-v9".into()] };
    let error = precompile::resolve_targets(&unknown, &engine).unwrap_err().to_string();
    assert!(error.contains("unknown CPU level `x86-64-v9`") && error.contains("x86-64-v3"), "{error}");
    let unmatched =
        PrecompileConfig { targets: vec!["s390x-unknown-linux-gnu".into()], cpu_levels: vec!["neoverse-n1".into()] };
    let error = precompile::resolve_targets(&unmatched, &engine).unwrap_err().to_string();
    assert!(error.contains("`neoverse-n1` is for aarch64 targets, but `precompile` lists none"), "{error}");
}

#[test]
fn snapshots_do_not_depend_on_file_metadata() {
    // A fresh checkout gives the granted files new inodes and times; init's stat buffers
    // must not carry them into the snapshot.
    let raw = raw_wasm(Fixture::Wasi);
    let copy = tempfile::tempdir().unwrap();
    let data = copy.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(Fixture::Wasi.dir().join("data/words.txt"), data.join("words.txt")).unwrap();
    let mut config = preinit_config(Fixture::Wasi);
    let original = preinit::run(&raw, &config).unwrap();
    config.sandbox.wasi.as_mut().unwrap().dirs[0].host = data.clone();
    let past = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options().append(true).open(data.join("words.txt")).unwrap().set_modified(past).unwrap();
    let copied = preinit::run(&raw, &config).unwrap();
    assert_eq!(original.report.sha256_out, copied.report.sha256_out);
}

#[test]
fn shadow_stack_is_found_in_rust_guests() {
    for fixture in [Fixture::Regex, Fixture::Wasi] {
        let stack = cargo_wasmship::wasm::shadow_stack(&raw_wasm(fixture)).unwrap();
        assert_eq!(stack.map(|s| s.floor), Some(0), "{fixture:?}: Rust puts the stack first");
    }
}

/// A module using `table.grow` and `data.drop` (stable Rust cannot emit them; threads builds
/// and reference-type code do), assembled here.
fn module_wizer_refuses() -> Vec<u8> {
    use wasm_encoder::*;
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    module.section(&types);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    funcs.function(0);
    module.section(&funcs);
    let mut tables = TableSection::new();
    tables.table(TableType {
        element_type: RefType::FUNCREF,
        table64: false,
        minimum: 1,
        maximum: None,
        shared: false,
    });
    module.section(&tables);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType { minimum: 1, maximum: None, memory64: false, shared: false, page_size_log2: None });
    module.section(&memories);
    let mut exports = ExportSection::new();
    exports.export("wizer.initialize", ExportKind::Func, 0);
    exports.export("memory", ExportKind::Memory, 0);
    module.section(&exports);
    module.section(&DataCountSection { count: 1 });
    let mut code = CodeSection::new();
    let mut init = Function::new([]);
    init.instructions().ref_null(HeapType::FUNC).i32_const(1).table_grow(0).drop().end();
    code.function(&init);
    let mut other = Function::new([]);
    other.instructions().data_drop(0).end();
    code.function(&other);
    module.section(&code);
    let mut data = DataSection::new();
    data.passive(b"passive".iter().copied());
    module.section(&data);
    module.finish()
}

#[test]
fn instructions_wizer_refuses_are_named_with_their_function() {
    let wasm = module_wizer_refuses();
    cargo_wasmship::wasm::validate(&wasm).expect("a valid module");
    let error = preinit::run(&wasm, &preinit_config(Fixture::Regex)).err().expect("refused").to_string();
    assert!(error.starts_with("the module uses features Wizer cannot snapshot (preinit stage)"), "{error}");
    assert!(error.contains("the `table.grow` instruction in function 0 at byte offset 0x"), "{error}");
    assert!(error.contains("the `data.drop` instruction in function 1"), "{error}");
    assert!(error.contains("Wizer cannot snapshot tables") && error.contains("+atomics"), "advice for both: {error}");
}

/// A valid module whose one function uses `memory.copy` (bulk memory), with the given
/// `target_features` entries (`b"+sign-ext"`...), or no such section.
fn module_using_bulk_memory(target_features: Option<&[&[u8]]>) -> Vec<u8> {
    use wasm_encoder::*;
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    module.section(&types);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    module.section(&funcs);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType { minimum: 1, maximum: None, memory64: false, shared: false, page_size_log2: None });
    module.section(&memories);
    let mut code = CodeSection::new();
    let mut copy = Function::new([]);
    copy.instructions().i32_const(0).i32_const(8).i32_const(8).memory_copy(0, 0).end();
    code.function(&copy);
    module.section(&code);
    if let Some(entries) = target_features {
        // A count, then per feature a prefix byte and the name as a wasm string.
        let mut data = vec![entries.len() as u8];
        for entry in entries {
            data.push(entry[0]);
            data.push((entry.len() - 1) as u8);
            data.extend(&entry[1..]);
        }
        module.section(&CustomSection { name: "target_features".into(), data: data.into() });
    }
    module.finish()
}

#[test]
fn without_target_features_optimize_finds_the_features_in_the_code() {
    let wasm = module_using_bulk_memory(None);
    let optimized = optimize::run(&wasm, &passes(&["-Oz"])).expect("binaryen is told about bulk memory");
    assert!(optimized.report.notes.iter().any(|n| n.ends_with("told binaryen the features it uses: bulk-memory")));
}

#[test]
fn binaryens_own_findings_reach_the_user() {
    // The section claims sign-ext only: binaryen believes it, and rejects memory.copy.
    let wasm = module_using_bulk_memory(Some(&[b"+sign-ext"]));
    cargo_wasmship::wasm::validate(&wasm).expect("a valid module");
    let error = optimize::run(&wasm, &passes(&["-Oz"])).err().expect("binaryen rejects it").to_string();
    assert!(error.starts_with("binaryen 116 rejected the module as invalid (optimize stage)"), "{error}");
    // The validator's own words, not just a pointer to them.
    assert!(
        error.contains("binaryen said:") && error.contains("Bulk memory operations require bulk memory"),
        "{error}"
    );
    assert!(error.contains("help: "), "{error}");
    assert!(error.lines().count() <= 40, "bounded to a screen:\n{error}");
}

/// The WASI fixture built with extra features or another cargo profile, in its own target dir.
fn wasi_variant(features: &[&str], cargo_profile: &str) -> Vec<u8> {
    use cargo_wasmship::guest::{self, CargoArgs};
    use cargo_wasmship::stages::build::{self, BuildConfig};
    let case = format!("{}-{cargo_profile}", features.join("-"));
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasi-variants").join(case);
    let cargo =
        CargoArgs { manifest_path: Some(Fixture::Wasi.manifest()), target_dir: Some(target), ..Default::default() };
    common::isolate_process();
    let guest = guest::locate(&cargo).expect("fixture metadata");
    let config = BuildConfig {
        cargo: &cargo,
        cargo_profile,
        target: Fixture::Wasi.target(),
        features: features.iter().map(|f| f.to_string()).collect(),
        all_features: false,
        no_default_features: false,
        quiet: true,
    };
    build::run(&guest, &config).expect("fixture builds").stage.bytes
}

#[test]
fn the_shadow_stack_is_found_without_a_name_section() {
    // `strip = true` in the guest's cargo profile drops the name section.
    let stripped = wasi_variant(&[], "stripped");
    assert!(!ModuleFacts::read(&stripped).unwrap().custom_sections.iter().any(|s| s == "name"), "no names");
    let named = cargo_wasmship::wasm::shadow_stack(&raw_wasm(Fixture::Wasi)).unwrap();
    assert_eq!(cargo_wasmship::wasm::shadow_stack(&stripped).unwrap(), named);
    // And so a fresh checkout (new file times) still snapshots the same bytes.
    let copy = tempfile::tempdir().unwrap();
    let data = copy.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(Fixture::Wasi.dir().join("data/words.txt"), data.join("words.txt")).unwrap();
    let mut config = preinit_config(Fixture::Wasi);
    let original = preinit::run(&stripped, &config).unwrap();
    assert!(!original.report.notes.iter().any(|n| n.contains("no shadow stack")), "{:?}", original.report.notes);
    config.sandbox.wasi.as_mut().unwrap().dirs[0].host = data.clone();
    let past = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options().append(true).open(data.join("words.txt")).unwrap().set_modified(past).unwrap();
    assert_eq!(original.report.sha256_out, preinit::run(&stripped, &config).unwrap().report.sha256_out);
}

#[test]
fn init_sees_fixed_file_metadata_and_sorted_listings() {
    let raw = wasi_variant(&["listing"], "release");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // Created out of order, with a real (and checkout-specific) mtime.
    let mut names: Vec<String> = (0..24).map(|i| format!("entry-{:02}", (i * 7) % 24)).collect();
    for name in &names {
        std::fs::write(data.join(name), name).unwrap();
    }
    std::fs::copy(Fixture::Wasi.dir().join("data/words.txt"), data.join("words.txt")).unwrap();
    names.push("words.txt".into());
    names.sort();
    let mut config = preinit_config(Fixture::Wasi);
    config.sandbox.wasi.as_mut().unwrap().dirs[0].host = data;
    let snapshot = preinit::run(&raw, &config).unwrap();
    let mut guest = common::load(Fixture::Wasi, &Form::Wasm { bytes: &snapshot.bytes, run_init: false });
    let len = guest.call("listing_len", &[]);
    let listing: Vec<u8> = (0..len as i32).map(|i| guest.call("listing_byte", &[i]) as u8).collect();
    let seen: Vec<&str> = std::str::from_utf8(&listing).unwrap().split('\n').collect();
    assert_eq!(seen, names.iter().map(String::as_str).collect::<Vec<_>>(), "init saw the listing sorted");
    let epoch: i64 = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    assert_eq!(guest.call("words_mtime", &[]), epoch, "init saw the fixed clock's time, not the file's");
}

/// binaryen 116's own option list, read from its sources (the wasm-opt-sys crate this build
/// compiled): `"--flag"`/`"-f"` literals in the files that declare wasm-opt's options.
fn binaryen_options() -> Vec<String> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .exec()
        .unwrap();
    let sys = metadata.packages.iter().find(|p| p.name.as_str() == "wasm-opt-sys").expect("wasm-opt-sys in the graph");
    let tools = sys.manifest_path.parent().unwrap().join("binaryen/src/tools");
    let mut flags = Vec::new();
    for file in ["optimization-options.h", "tool-options.h", "wasm-opt.cpp"] {
        let text = std::fs::read_to_string(tools.join(file)).unwrap();
        for literal in text.split('"').skip(1).step_by(2) {
            let flag = literal.trim();
            let is_flag = flag.starts_with('-') && flag.len() > 2 && !flag.ends_with('-') && !flag.contains(' ');
            if is_flag && !flags.iter().any(|f| f == flag) {
                flags.push(flag.to_string());
            }
        }
    }
    flags
}

#[test]
fn every_wasm_opt_flag_of_binaryen_116_is_taken_or_refused_with_a_reason() {
    let flags = binaryen_options();
    assert!(flags.len() > 60, "found binaryen's options: {flags:?}");
    let registered = wasm_opt::base::pass_registry::get_registered_names();
    for flag in &flags {
        let mut args = vec!["-O1".to_string(), flag.clone()];
        let value = match flag.as_str() {
            "--pass-arg" | "-pa" => Some("key@value"),
            flag if optimize::passes::takes_value(flag) => Some("2"),
            _ => None,
        };
        args.extend(value.map(str::to_string));
        match optimize::passes::parse(&args, &registered) {
            Ok(_) => {}
            Err(error) => {
                let error = error.to_string();
                assert!(
                    error.contains("is not taken here: "),
                    "`{flag}` is neither taken nor refused with a reason: {error}"
                );
            }
        }
    }
}

#[test]
fn converge_measures_size_as_wasm_opt_does() {
    // wasm-opt compares the module's size written without debug info; names, which the
    // passes keep for debug.wasm, must not decide when to stop.
    let snapshot = preinit::run(&raw_wasm(Fixture::Regex), &preinit_config(Fixture::Regex)).unwrap();
    assert!(ModuleFacts::read(&snapshot.bytes).unwrap().custom_sections.iter().any(|s| s == "name"));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.wasm");
    std::fs::write(&input, &snapshot.bytes).unwrap();
    let mut module = wasm_opt::base::Module::new();
    let mut reader = wasm_opt::base::ModuleReader::new();
    reader.set_debug_info(true);
    reader.read_binary(&input, &mut module, None).unwrap();
    let scratch = dir.path().join("out.wasm");
    let measured = optimize::converge_size(&mut module, &scratch).unwrap();
    let mut writer = wasm_opt::base::ModuleWriter::new();
    writer.set_debug_info(true);
    writer.write_binary(&mut module, &scratch).unwrap();
    let with_names = std::fs::read(&scratch).unwrap();
    let without = cargo_wasmship::stages::strip::remove_custom_sections(&with_names, |n| n == "name").unwrap();
    assert!(measured < with_names.len() as u64);
    assert_eq!(measured, without.len() as u64);
}
