//! Stage 5: wasmtime `.cwasm` files, so hosts deserialize instead of compiling.
//!
//! Every file is compiled with exactly the manifest's engine profile (see `engine`), for one
//! triple and one CPU level: `baseline` (the architecture's baseline CPU, loads on every
//! machine of the triple; what `host` and plain triples give), a named level from
//! `cpu-levels` (`x86-64-v3`...: faster code for newer CPUs, each its own file), or `native`
//! (this machine's CPU). Each file records what a host must match to load it.
pub mod engine;

use super::{Stage, StageReport};
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::json;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;
use wasmship_host::cpu;
use wasmship_manifest::{compatibility_id, EngineProfile, PrecompiledInfo};
use wasmtime::{Config, Engine};

/// Architectures whose cranelift backend this build ships and has been checked to work.
/// riscv64 is left out: its cranelift backend panics on Rust-built guests in this release.
pub const SUPPORTED_ARCHS: &[&str] = &["x86_64", "aarch64", "s390x"];
pub const SUPPORTED_OS: &[&str] = &["linux", "darwin", "macos", "windows", "freebsd", "android", "ios"];

pub struct PrecompileConfig {
    /// `host`, `native` or target triples; empty turns the stage off.
    pub targets: Vec<String>,
    /// Named CPU levels to add for every listed triple of their architecture.
    pub cpu_levels: Vec<String>,
}

/// One `.cwasm` to build, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CwasmTarget {
    pub triple: String,
    /// `baseline`, a level name, or `native`.
    pub cpu_level: String,
    /// Detection names of the CPU features the code may use.
    pub cpu_features: Vec<String>,
    pub compatibility_id: String,
}

impl CwasmTarget {
    pub fn is_native(&self) -> bool {
        self.cpu_level == "native"
    }
}

pub struct Precompiled {
    pub info: PrecompiledInfo,
    pub bytes: Vec<u8>,
    pub report: StageReport,
}

pub fn wasmtime_version() -> &'static str {
    env!("WASMSHIP_WASMTIME_VERSION")
}

pub fn host_triple() -> &'static str {
    env!("WASMSHIP_HOST_TRIPLE")
}

/// Resolves and checks every target before any stage runs, listing what is supported.
pub fn resolve_targets(config: &PrecompileConfig, engine: &EngineProfile) -> Result<Vec<CwasmTarget>> {
    let mut targets: Vec<CwasmTarget> = Vec::new();
    let mut push = |target: CwasmTarget| {
        if !targets.contains(&target) {
            targets.push(target);
        }
    };
    let mut triples = Vec::new();
    for requested in &config.targets {
        match requested.as_str() {
            "native" => {
                let features = cpu::detected_here();
                push(target(engine, host_triple(), "native", features));
            }
            requested => {
                let triple = if requested == "host" { host_triple() } else { requested };
                check_triple(triple)?;
                push(target(engine, triple, "baseline", vec![]));
                triples.push(triple.to_string());
            }
        }
    }
    for name in &config.cpu_levels {
        let Some(level) = cpu::level(name) else {
            let known: Vec<&str> = cpu::LEVELS.iter().map(|l| l.name).collect();
            bail!("unknown CPU level `{name}`\n  known levels: {}", known.join(", "));
        };
        let matching: Vec<&String> = triples.iter().filter(|t| cpu::triple_arch(t) == level.arch).collect();
        if matching.is_empty() {
            bail!(
                "CPU level `{name}` is for {} targets, but `precompile` lists none\n  \
                 help: add an {} triple (or `host` on an {} machine) to `precompile`",
                level.arch,
                level.arch,
                level.arch
            );
        }
        for triple in matching {
            push(target(engine, triple, level.name, level.features.iter().map(|f| f.to_string()).collect()));
        }
    }
    Ok(targets)
}

fn target(engine: &EngineProfile, triple: &str, level: &str, cpu_features: Vec<String>) -> CwasmTarget {
    CwasmTarget {
        triple: triple.into(),
        cpu_level: level.into(),
        compatibility_id: compatibility_id(engine, triple, &cpu_features),
        cpu_features,
    }
}

fn check_triple(triple: &str) -> Result<()> {
    let arch = cpu::triple_arch(triple);
    let supported = || {
        format!(
            "  supported: architectures {} on {}; `host` ({}) and `native`",
            SUPPORTED_ARCHS.join(", "),
            SUPPORTED_OS.join(", "),
            host_triple()
        )
    };
    if !SUPPORTED_ARCHS.contains(&arch) {
        bail!(
            "cannot precompile for `{triple}`: architecture `{arch}` is not supported by this build's wasmtime\n{}",
            supported()
        );
    }
    if !SUPPORTED_OS.iter().any(|os| triple.split('-').any(|part| part.starts_with(os))) {
        bail!("cannot precompile for `{triple}`: no supported operating system in the triple\n{}", supported());
    }
    let mut config = Config::new();
    config.target(triple).map_err(|e| anyhow!("cannot precompile for `{triple}`: {e}\n{}", supported()))?;
    Ok(())
}

/// The engine that compiles for `target`: the profile's settings, applied the way a host
/// applies them, plus the triple and CPU features.
fn engine_for(profile: &EngineProfile, target: &CwasmTarget, dense_up_to: u64) -> Result<Engine> {
    let mut config = Config::new();
    wasmship_host::engine::apply(profile, &mut config)?;
    config.memory_guaranteed_dense_image_size(dense_up_to);
    if !target.is_native() {
        config.target(&target.triple).map_err(|e| anyhow!("{e}"))?;
        for feature in &target.cpu_features {
            let setting = cpu::cranelift_setting(feature).expect("levels name known features");
            // SAFETY: only cranelift's CPU-feature settings are enabled; the manifest records
            // them and hosts check the CPU has each one before loading the file.
            unsafe {
                config.cranelift_flag_enable(setting);
            }
        }
    }
    let engine =
        Engine::new(&config).map_err(|e| anyhow!("creating a wasmtime engine for {}: {e:#}", target.triple))?;
    // The engine must be the one the manifest describes, or hosts built from it fail.
    if let Some(problem) = wasmship_host::engine::mismatches(profile, &engine).first() {
        bail!("internal: the precompile engine for {} differs from the recorded profile: {problem}", target.triple);
    }
    Ok(engine)
}

/// The settings that decide a target's output (its cache key and report). The
/// compatibility id covers the whole engine profile.
pub fn settings(target: &CwasmTarget) -> serde_json::Value {
    json!({
        "target": target.triple,
        "cpu-level": target.cpu_level,
        "cpu-features": target.cpu_features,
        "wasmtime": wasmtime_version(),
        "compatibility-id": target.compatibility_id,
    })
}

/// wasmtime's own threshold (`Config::memory_guaranteed_dense_image_size`'s default): a memory
/// image spanning less is always laid out densely.
const WASMTIME_DENSE_IMAGE: u64 = 16 << 20;
/// The largest span the stage lays out as one image: wasm32's whole address space.
const MAX_DENSE_IMAGE: u64 = 4 << 30;

/// How the module's initial memory will be laid out in the `.cwasm`. A snapshot is exactly the
/// module whose image outgrows wasmtime's default threshold while holding zero pages (freed
/// or unused heap) that make it "sparse": the stage raises the threshold to the image's span,
/// so every instantiation maps it copy-on-write instead of copying segments. (A host that
/// compiles the `.wasm` itself needs the same `memory_guaranteed_dense_image_size`.)
fn memory_image(wasm: &[u8], profile: &EngineProfile) -> Result<Option<wasmship_manifest::MemoryImage>> {
    if crate::wasm::component::is_component(wasm) {
        // A component's memories live in its core modules; wasmtime lays each out alike.
        return Ok(None);
    }
    let Some(memories) = crate::wasm::memory_extent(wasm)? else {
        return Ok(Some(wasmship_manifest::MemoryImage { copy_on_write: false, span: 0, data: 0 }));
    };
    let Some(&(span, data)) = memories.iter().max_by_key(|(span, _)| *span) else { return Ok(None) };
    let copy_on_write = profile.settings.memory_init_cow && span <= MAX_DENSE_IMAGE;
    Ok(Some(wasmship_manifest::MemoryImage { copy_on_write, span, data }))
}

/// How a .cwasm target is named to people: its triple, and its CPU level unless baseline.
pub fn target_label(triple: &str, cpu_level: &str) -> String {
    match cpu_level {
        "baseline" => triple.to_string(),
        level => format!("{triple} {level}"),
    }
}

/// Compiles `wasm` for one target.
pub fn run(wasm: &[u8], target: &CwasmTarget, profile: &EngineProfile) -> Result<Precompiled> {
    let started = Instant::now();
    let image = memory_image(wasm, profile)?;
    let dense_up_to =
        image.as_ref().map_or(WASMTIME_DENSE_IMAGE, |i| i.span.max(WASMTIME_DENSE_IMAGE).saturating_add(1));
    let engine = engine_for(profile, target, dense_up_to)?;
    // A backend bug must become an error that names the target, never a crash of the tool.
    let component = crate::wasm::component::is_component(wasm);
    let compiled = catch_unwind(AssertUnwindSafe(|| {
        if component {
            engine.precompile_component(wasm)
        } else {
            engine.precompile_module(wasm)
        }
    }))
    .map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        anyhow!("wasmtime's compiler crashed compiling for `{}`: {why} (precompile stage)\n  help: remove this triple from `precompile`", target.triple)
    })?;
    let bytes = compiled
        .map_err(|e| explain_compile_error(e, profile, wasm))
        .with_context(|| format!("compiling for `{}` (precompile stage)", target.triple))?;

    let info = PrecompiledInfo {
        triple: target.triple.clone(),
        cpu_level: target.cpu_level.clone(),
        cpu_features: target.cpu_features.clone(),
        wasmtime_version: wasmtime_version().into(),
        compatibility_id: target.compatibility_id.clone(),
        memory_image: image.clone(),
    };
    let note = match target.cpu_level.as_str() {
        "baseline" => target.triple.clone(),
        level => format!("{} ({level})", target.triple),
    };
    let mut report = StageReport::new(Stage::Precompile, wasm, &bytes, started, settings(target)).note(note);
    if let Some(image) = image.filter(|i| !i.copy_on_write) {
        report = report.note(format!(
            "warning: its {} initial memory is not one copy-on-write image: every instantiation copies it \
             (the host engine's `memory-init-cow` is off, or a data segment is not at a constant offset)",
            crate::ui::human_bytes(image.span)
        ));
    }
    Ok(Precompiled { info, bytes, report })
}

/// A module that needs a wasm feature the host engine profile leaves out fails validation:
/// say which key enables it.
fn explain_compile_error(error: wasmtime::Error, profile: &EngineProfile, wasm: &[u8]) -> anyhow::Error {
    let text = format!("{error:#}");
    let host = wasmship_host::engine::features_from_names(&profile.wasm_features).unwrap_or_default();
    let missing: Vec<String> = crate::wasm::features::used_beyond_baseline(wasm)
        .map(|used| crate::wasm::features::names(used.difference(host)))
        .unwrap_or_default();
    let hint = if missing.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = missing.iter().map(|m| format!("\"{m}\"")).collect();
        format!(
            "\n  help: the module uses {} and the host engine (`engine.preset = \"{}\"`) leaves it out: set \
             `engine.wasm-features = [{}]` if your hosts' wasmtime has it on, or `precompile = false`",
            missing.join(", "),
            profile.preset,
            list.join(", ")
        )
    };
    anyhow!("{text}{hint}")
}
