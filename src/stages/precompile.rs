//! Stage 5: wasmtime `.cwasm` for each requested target, so hosts deserialize instead of
//! compiling. Each entry records what a host needs to know the file will load: the triple,
//! the wasmtime version, and the engine's precompile compatibility hash.
//!
//! `host` means this machine's triple with the baseline CPU features of its architecture, so
//! the file loads on any machine of that triple; `native` adds this CPU's own features
//! (faster code, only for identical machines).
use super::{Stage, StageReport};
use crate::digest::{sha256_hex, Sha256Hasher};
use anyhow::{anyhow, bail, Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::hash::Hash;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;
use wasmtime::{Config, Engine};

/// Architectures whose cranelift backend this build ships and has been checked to work.
/// riscv64 is left out: its cranelift backend panics on Rust-built guests in this release.
pub const SUPPORTED_ARCHS: &[&str] = &["x86_64", "aarch64", "s390x"];
pub const SUPPORTED_OS: &[&str] = &["linux", "darwin", "macos", "windows", "freebsd", "android", "ios"];

pub struct PrecompileConfig {
    /// `host`, `native` or target triples; empty turns the stage off.
    pub targets: Vec<String>,
}

/// One requested target, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CwasmTarget {
    pub triple: String,
    /// Compiled for this machine's CPU features rather than the architecture's baseline.
    pub native: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrecompileInfo {
    pub triple: String,
    pub native_cpu_features: bool,
    pub wasmtime_version: String,
    /// sha256 of wasmtime's `Engine::precompile_compatibility_hash` for the engine used.
    pub compatibility_hash: String,
    /// The `wasmtime::Config` a host must match (defaults apart from these).
    pub engine: serde_json::Value,
}

pub struct Precompiled {
    pub info: PrecompileInfo,
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
pub fn resolve_targets(config: &PrecompileConfig) -> Result<Vec<CwasmTarget>> {
    let mut targets: Vec<CwasmTarget> = Vec::new();
    for requested in &config.targets {
        let target = match requested.as_str() {
            "host" => CwasmTarget { triple: host_triple().into(), native: false },
            "native" => CwasmTarget { triple: host_triple().into(), native: true },
            triple => {
                check_triple(triple)?;
                CwasmTarget { triple: triple.into(), native: false }
            }
        };
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    Ok(targets)
}

fn check_triple(triple: &str) -> Result<()> {
    let arch = triple.split('-').next().unwrap_or_default();
    let supported = || {
        format!(
            "  supported: architectures {} on {}; `host` ({}) and `native`",
            SUPPORTED_ARCHS.join(", "),
            SUPPORTED_OS.join(", "),
            host_triple()
        )
    };
    if !SUPPORTED_ARCHS.contains(&arch) {
        bail!("cannot precompile for `{triple}`: architecture `{arch}` is not supported by this build's wasmtime\n{}", supported());
    }
    if !SUPPORTED_OS.iter().any(|os| triple.split('-').any(|part| part.starts_with(os))) {
        bail!("cannot precompile for `{triple}`: no supported operating system in the triple\n{}", supported());
    }
    let mut config = Config::new();
    config
        .target(triple)
        .map_err(|e| anyhow!("cannot precompile for `{triple}`: {e}\n{}", supported()))?;
    Ok(())
}

fn engine_for(target: &CwasmTarget) -> Result<Engine> {
    let mut config = Config::new();
    if !target.native {
        config.target(&target.triple).map_err(|e| anyhow!("{e}"))?;
    }
    Engine::new(&config).map_err(|e| anyhow!("creating a wasmtime engine for {}: {e}", target.triple))
}

pub fn run(wasm: &[u8], targets: &[CwasmTarget]) -> Result<Vec<Precompiled>> {
    targets.par_iter().map(|target| compile_one(wasm, target)).collect()
}

fn compile_one(wasm: &[u8], target: &CwasmTarget) -> Result<Precompiled> {
    let started = Instant::now();
    let engine = engine_for(target)?;
    // A backend bug must become an error that names the target, never a crash of the tool.
    let compiled = catch_unwind(AssertUnwindSafe(|| engine.precompile_module(wasm))).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        anyhow!("wasmtime's compiler crashed compiling for `{}`: {why} (precompile stage)\n  help: remove this triple from `precompile`", target.triple)
    })?;
    let bytes = compiled
        .map_err(|e| anyhow!("{e:?}"))
        .with_context(|| format!("compiling for `{}` (precompile stage)", target.triple))?;

    let mut hasher = Sha256Hasher::default();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_settings = json!({ "target": target.triple, "native-cpu-features": target.native, "config": "default" });
    let info = PrecompileInfo {
        triple: target.triple.clone(),
        native_cpu_features: target.native,
        wasmtime_version: wasmtime_version().into(),
        compatibility_hash: hasher.hex(),
        engine: engine_settings.clone(),
    };
    let settings = json!({ "target": target.triple, "native-cpu-features": target.native, "wasmtime": wasmtime_version() });
    let report = StageReport::new(Stage::Precompile, wasm, &bytes, started, settings).note(target.triple.clone());
    debug_assert_eq!(report.sha256_out, sha256_hex(&bytes));
    Ok(Precompiled { info, bytes, report })
}
