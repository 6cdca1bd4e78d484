//! Stage 5: wasmtime `.cwasm` for each requested target, so hosts deserialize instead of
//! compiling. Each entry records what a host needs to know the file will load: the triple,
//! the wasmtime version, and the engine's precompile compatibility hash.
//!
//! `host` means this machine's triple with the baseline CPU features of its architecture, so
//! the file loads on any machine of that triple; `native` adds this CPU's own features
//! (faster code, only for identical machines).
use super::{Stage, StageReport};
use crate::digest::Sha256Hasher;
use anyhow::{anyhow, bail, Context, Result};
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CwasmTarget {
    pub triple: String,
    /// Compiled for this machine's CPU features rather than the architecture's baseline.
    pub native: bool,
    /// sha256 of the engine's precompile compatibility hash: changes with anything in the
    /// engine that changes the code (wasmtime version, flags, CPU features for `native`).
    pub compatibility_hash: String,
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

impl CwasmTarget {
    fn new(triple: &str, native: bool) -> Result<CwasmTarget> {
        let engine = engine_for(triple, native)?;
        let mut hasher = Sha256Hasher::default();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(CwasmTarget { triple: triple.into(), native, compatibility_hash: hasher.hex() })
    }
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
            "host" => CwasmTarget::new(host_triple(), false)?,
            "native" => CwasmTarget::new(host_triple(), true)?,
            triple => {
                check_triple(triple)?;
                CwasmTarget::new(triple, false)?
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

fn engine_for(triple: &str, native: bool) -> Result<Engine> {
    let mut config = Config::new();
    if !native {
        config.target(triple).map_err(|e| anyhow!("{e}"))?;
    }
    Engine::new(&config).map_err(|e| anyhow!("creating a wasmtime engine for {triple}: {e}"))
}

/// The settings that decide a target's output (its cache key and report).
pub fn settings(target: &CwasmTarget) -> serde_json::Value {
    json!({
        "target": target.triple,
        "native-cpu-features": target.native,
        "wasmtime": wasmtime_version(),
        "compatibility-hash": target.compatibility_hash,
    })
}

/// Compiles `wasm` for one target.
pub fn run(wasm: &[u8], target: &CwasmTarget) -> Result<Precompiled> {
    let started = Instant::now();
    let engine = engine_for(&target.triple, target.native)?;
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

    let info = PrecompileInfo {
        triple: target.triple.clone(),
        native_cpu_features: target.native,
        wasmtime_version: wasmtime_version().into(),
        compatibility_hash: target.compatibility_hash.clone(),
        engine: json!({ "target": target.triple, "native-cpu-features": target.native, "config": "default" }),
    };
    let report =
        StageReport::new(Stage::Precompile, wasm, &bytes, started, settings(target)).note(target.triple.clone());
    Ok(Precompiled { info, bytes, report })
}
