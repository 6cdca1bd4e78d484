//! Resolves a profile's `engine` keys into the engine profile the manifest records: a
//! wasmtime `Config` built from the preset and the keys, read back through the engine's
//! getters, so the record is what wasmtime will check, not what we assume it defaults to.
use crate::config::engine::{EngineKeys, EnginePreset};
use anyhow::{anyhow, Context, Result};
use wasmship_host::engine::{describe, features_from_names};
use wasmship_manifest::EngineProfile;
use wasmtime::{Config, Engine, WasmBacktraceDetails};

pub fn resolve(keys: &EngineKeys) -> Result<EngineProfile> {
    let mut config = Config::new();
    if keys.preset == EnginePreset::RuntimeOnly {
        // What `Config::new()` has in a wasmtime without the `gc`, `threads`,
        // `component-model` and `component-model-async` cargo features (wasmtime 48's
        // `Config::features` and `Config::validate`).
        config
            .gc_support(false)
            .wasm_exceptions(false)
            .wasm_threads(false)
            .wasm_component_model(false)
            .concurrency_support(false);
    }
    // wasmtime's default reads WASMTIME_BACKTRACE_DETAILS; the build machine's environment
    // must not decide what the host needs.
    config.wasm_backtrace_details(if keys.wasm_backtrace_details == Some(true) {
        WasmBacktraceDetails::Enable
    } else {
        WasmBacktraceDetails::Disable
    });
    for toggle in &keys.wasm_features {
        let (enable, name) = match toggle.strip_prefix('-') {
            Some(name) => (false, name),
            None => (true, toggle.strip_prefix('+').unwrap_or(toggle)),
        };
        let flag = features_from_names(&[name.to_string()]).map_err(|e| anyhow!("`engine.wasm-features`: {e}"))?;
        config.wasm_features(flag, enable);
    }
    // Each key is named after the `Config` method it calls.
    macro_rules! pass_through {
        ($($key:ident),*) => { $( if let Some(value) = keys.$key { config.$key(value); } )* };
    }
    pass_through!(
        epoch_interruption,
        consume_fuel,
        memory_reservation,
        memory_guard_size,
        memory_may_move,
        guard_before_linear_memory,
        table_lazy_init,
        memory_init_cow,
        signals_based_traps,
        relaxed_simd_deterministic,
        concurrency_support,
        debug_info
    );
    if let Some(name) = &keys.compiler_inlining {
        config.compiler_inlining(name.parse().map_err(|e| anyhow!("`engine.compiler-inlining`: {e}"))?);
    }
    if let Some(name) = &keys.collector {
        config.collector(match name.as_str() {
            "copying" => wasmtime::Collector::Copying,
            "drc" => wasmtime::Collector::DeferredReferenceCounting,
            _ => wasmtime::Collector::Null,
        });
    }
    let engine = Engine::new(&config)
        .map_err(|e| anyhow!("{e:#}"))
        .context("the profile's `engine` keys do not make a valid wasmtime engine")?;
    let mut profile = describe(&engine);
    profile.preset = keys.preset.name().to_string();
    profile.wasmtime = super::wasmtime_version().to_string();
    profile.settings.wasm_backtrace_details = keys.wasm_backtrace_details == Some(true);
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_only_leaves_out_what_a_runtime_only_wasmtime_lacks() {
        let profile = resolve(&EngineKeys::default()).unwrap();
        for absent in ["gc_types", "exceptions", "threads", "component_model", "cm_async"] {
            assert!(!profile.wasm_features.iter().any(|f| f == absent), "{absent} in {:?}", profile.wasm_features);
        }
        for present in ["simd", "bulk_memory", "reference_types", "multi_value", "mutable_global"] {
            assert!(
                profile.wasm_features.iter().any(|f| f == present),
                "{present} missing: {:?}",
                profile.wasm_features
            );
        }
        assert!(!profile.settings.concurrency_support);
        assert_eq!(profile.settings.collector, None);
        assert_eq!(profile.preset, "runtime-only");
    }

    #[test]
    fn keys_change_the_recorded_settings() {
        let keys = EngineKeys {
            epoch_interruption: Some(true),
            memory_reservation: Some(1 << 30),
            wasm_features: vec!["-relaxed-simd".into(), "-simd".into()],
            ..Default::default()
        };
        let profile = resolve(&keys).unwrap();
        assert!(profile.settings.epoch_interruption);
        assert_eq!(profile.settings.memory_reservation, 1 << 30);
        assert!(!profile.wasm_features.iter().any(|f| f == "simd"));
        let full = resolve(&EngineKeys { preset: EnginePreset::WasmtimeDefault, ..Default::default() }).unwrap();
        assert!(full.settings.concurrency_support && full.wasm_features.iter().any(|f| f == "threads"));
    }

    #[test]
    fn the_environment_does_not_decide_backtrace_details() {
        // WASMTIME_BACKTRACE_DETAILS=1 on the build machine must not change the record.
        let profile = resolve(&EngineKeys::default()).unwrap();
        assert!(!profile.settings.wasm_backtrace_details);
    }
}
