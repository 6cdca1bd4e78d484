//! The host engine profile: every wasmtime `Config` setting that decides whether a `.cwasm`
//! loads, recorded as plain values a host can rebuild its `Config` from, and a stable
//! compatibility id computed from them.
//!
//! wasmtime refuses a `.cwasm` unless the loading engine has (1) the same major version,
//! (2) every wasm feature the compiling engine had, (3) equal values for the settings in
//! [`EngineSettings`], and (4) every CPU feature the code was compiled to use.
use crate::digest::sha256_hex;
use serde::{Deserialize, Serialize};

/// The engine a host must build to load this build's `.cwasm` files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EngineProfile {
    /// `runtime-only` (the default: what `Config::new()` gives in a wasmtime built with
    /// `default-features = false, features = ["runtime", "std"]`), `wasmtime-default` (a
    /// wasmtime with its default cargo features), or `custom` when keys changed either.
    pub preset: String,
    /// The wasmtime version that compiled the files. Hosts must have the same major version.
    pub wasmtime: String,
    /// Every wasm proposal the engine had enabled (wasmparser's `WasmFeatures` flag names in
    /// lower case, sorted). A host needs at least these.
    pub wasm_features: Vec<String>,
    pub settings: EngineSettings,
}

/// Settings a host engine must match exactly. Field names are `wasmtime::Config` methods.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EngineSettings {
    pub epoch_interruption: bool,
    pub consume_fuel: bool,
    pub memory_reservation: u64,
    pub memory_guard_size: u64,
    pub memory_may_move: bool,
    pub guard_before_linear_memory: bool,
    pub table_lazy_init: bool,
    pub memory_init_cow: bool,
    pub signals_based_traps: bool,
    pub relaxed_simd_deterministic: bool,
    pub concurrency_support: bool,
    /// `Config::debug_info` (native DWARF for debuggers).
    pub debug_info: bool,
    /// `Config::wasm_backtrace_details`: `true` = `Enable`, `false` = `Disable`. wasmtime's
    /// default reads `WASMTIME_BACKTRACE_DETAILS` from the environment; set it explicitly.
    pub wasm_backtrace_details: bool,
    /// `Config::compiler_inlining`: `no`, `yes`, `inter-module`, `inter-module-and-intra-gc`, `intrinsics`.
    pub compiler_inlining: String,
    /// The GC collector (`copying`, `drc`, `null`) when GC types are enabled, else null.
    pub collector: Option<String>,
}

impl EngineProfile {
    /// The wasmtime major version, the part a `.cwasm` is checked against.
    pub fn wasmtime_major(&self) -> &str {
        self.wasmtime.split('.').next().unwrap_or(&self.wasmtime)
    }
}

/// What identifies one `.cwasm` build target: the engine profile, the triple and the CPU
/// features its code uses. Hashed into [`compatibility_id`].
#[derive(Serialize)]
struct IdMaterial<'a> {
    wasmtime_major: &'a str,
    triple: &'a str,
    cpu_features: Vec<&'a str>,
    wasm_features: Vec<&'a str>,
    settings: &'a EngineSettings,
}

/// A stable id for (engine profile, triple, CPU features): `sha256` of the compact JSON
/// `{"wasmtime_major", "triple", "cpu_features", "wasm_features", "settings"}` with both lists
/// sorted and the settings in [`EngineSettings`]' field order. Any host can recompute it from
/// the manifest; two `.cwasm` files with the same id load into the same engines.
pub fn compatibility_id(engine: &EngineProfile, triple: &str, cpu_features: &[String]) -> String {
    let mut cpu: Vec<&str> = cpu_features.iter().map(String::as_str).collect();
    cpu.sort_unstable();
    cpu.dedup();
    let mut wasm: Vec<&str> = engine.wasm_features.iter().map(String::as_str).collect();
    wasm.sort_unstable();
    let material = IdMaterial {
        wasmtime_major: engine.wasmtime_major(),
        triple,
        cpu_features: cpu,
        wasm_features: wasm,
        settings: &engine.settings,
    };
    sha256_hex(serde_json::to_string(&material).expect("id material serializes").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> EngineProfile {
        EngineProfile {
            preset: "runtime-only".into(),
            wasmtime: "48.0.8".into(),
            wasm_features: vec!["simd".into(), "bulk_memory".into()],
            settings: EngineSettings {
                epoch_interruption: false,
                consume_fuel: false,
                memory_reservation: 1 << 32,
                memory_guard_size: 32 << 20,
                memory_may_move: true,
                guard_before_linear_memory: true,
                table_lazy_init: true,
                memory_init_cow: true,
                signals_based_traps: true,
                relaxed_simd_deterministic: false,
                concurrency_support: false,
                debug_info: false,
                wasm_backtrace_details: false,
                compiler_inlining: "no".into(),
                collector: None,
            },
        }
    }

    #[test]
    fn id_is_the_documented_digest() {
        // Recomputed by hand from the documented recipe, so a change to the recipe shows here.
        let json = r#"{"wasmtime_major":"48","triple":"x86_64-unknown-linux-gnu","cpu_features":["avx2","bmi1"],"wasm_features":["bulk_memory","simd"],"settings":{"epoch_interruption":false,"consume_fuel":false,"memory_reservation":4294967296,"memory_guard_size":33554432,"memory_may_move":true,"guard_before_linear_memory":true,"table_lazy_init":true,"memory_init_cow":true,"signals_based_traps":true,"relaxed_simd_deterministic":false,"concurrency_support":false,"debug_info":false,"wasm_backtrace_details":false,"compiler_inlining":"no","collector":null}}"#;
        let id = compatibility_id(&sample(), "x86_64-unknown-linux-gnu", &["bmi1".into(), "avx2".into()]);
        assert_eq!(id, sha256_hex(json.as_bytes()));
    }

    #[test]
    fn id_changes_with_every_input_that_decides_loading() {
        let base = sample();
        let id = |e: &EngineProfile, triple: &str, cpu: &[&str]| {
            compatibility_id(e, triple, &cpu.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        let reference = id(&base, "x86_64-unknown-linux-gnu", &[]);
        let mut epoch = base.clone();
        epoch.settings.epoch_interruption = true;
        let mut features = base.clone();
        features.wasm_features.push("threads".into());
        let mut major = base.clone();
        major.wasmtime = "49.0.0".into();
        let mut patch = base.clone();
        patch.wasmtime = "48.0.9".into();
        assert_ne!(reference, id(&epoch, "x86_64-unknown-linux-gnu", &[]));
        assert_ne!(reference, id(&features, "x86_64-unknown-linux-gnu", &[]));
        assert_ne!(reference, id(&major, "x86_64-unknown-linux-gnu", &[]));
        assert_ne!(reference, id(&base, "aarch64-unknown-linux-gnu", &[]));
        assert_ne!(reference, id(&base, "x86_64-unknown-linux-gnu", &["avx2"]));
        // wasmtime checks the major version only: a patch release loads the same files.
        assert_eq!(reference, id(&patch, "x86_64-unknown-linux-gnu", &[]));
    }
}
