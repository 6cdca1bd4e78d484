//! A wasmtime `Config` from a manifest's engine profile, the profile a live `Engine` has, and
//! the differences between the two, each with the `Config` call that fixes it.
use anyhow::{bail, Result};
use bitflags::Flags as _;
use wasmship_manifest::{EngineProfile, EngineSettings};
use wasmtime::{Config, Engine, Inlining, WasmBacktraceDetails, WasmFeatures};

/// Sets every recorded setting on `config`, so the engine it builds has exactly the
/// profile's wasm features and settings whatever wasmtime's cargo features default to.
pub fn apply(profile: &EngineProfile, config: &mut Config) -> Result<()> {
    let enabled = features_from_names(&profile.wasm_features)?;
    config.wasm_features(WasmFeatures::all().difference(enabled), false);
    config.wasm_features(enabled, true);
    let s = &profile.settings;
    config
        .epoch_interruption(s.epoch_interruption)
        .consume_fuel(s.consume_fuel)
        .memory_reservation(s.memory_reservation)
        .memory_guard_size(s.memory_guard_size)
        .memory_may_move(s.memory_may_move)
        .guard_before_linear_memory(s.guard_before_linear_memory)
        .table_lazy_init(s.table_lazy_init)
        .memory_init_cow(s.memory_init_cow)
        .signals_based_traps(s.signals_based_traps)
        .relaxed_simd_deterministic(s.relaxed_simd_deterministic)
        .concurrency_support(s.concurrency_support)
        .debug_info(s.debug_info)
        .wasm_backtrace_details(if s.wasm_backtrace_details {
            WasmBacktraceDetails::Enable
        } else {
            WasmBacktraceDetails::Disable
        })
        .compiler_inlining(inlining(&s.compiler_inlining)?);
    if let Some(collector) = &s.collector {
        set_collector(config, collector)?;
    }
    Ok(())
}

#[cfg(feature = "gc")]
fn set_collector(config: &mut Config, name: &str) -> Result<()> {
    config.collector(match name {
        "copying" => wasmtime::Collector::Copying,
        "drc" => wasmtime::Collector::DeferredReferenceCounting,
        "null" => wasmtime::Collector::Null,
        other => bail!("unknown GC collector `{other}` in manifest.json's engine"),
    });
    Ok(())
}

/// Without the `gc` feature the collector cannot be named here: wasmtime's own choice stays,
/// and [`mismatches`] reports it if it differs from the recorded one.
#[cfg(not(feature = "gc"))]
fn set_collector(_config: &mut Config, _name: &str) -> Result<()> {
    Ok(())
}

/// The profile `engine` has (its `preset` is left empty: presets are a build-side notion).
pub fn describe(engine: &Engine) -> EngineProfile {
    let features = engine.get_wasm_features();
    EngineProfile {
        preset: String::new(),
        wasmtime: wasmtime_major().to_string(),
        wasm_features: feature_names(features),
        settings: EngineSettings {
            epoch_interruption: engine.get_epoch_interruption(),
            consume_fuel: engine.get_consume_fuel(),
            memory_reservation: engine.get_memory_reservation(),
            memory_guard_size: engine.get_memory_guard_size(),
            memory_may_move: engine.get_memory_may_move(),
            guard_before_linear_memory: engine.get_guard_before_linear_memory(),
            table_lazy_init: engine.get_table_lazy_init(),
            memory_init_cow: engine.get_memory_init_cow(),
            signals_based_traps: engine.get_signals_based_traps(),
            relaxed_simd_deterministic: engine.get_relaxed_simd_deterministic(),
            concurrency_support: engine.get_concurrency_support(),
            debug_info: engine.get_debug_info(),
            // wasmtime has no getter for it; `apply` always sets it explicitly.
            wasm_backtrace_details: false,
            compiler_inlining: inlining_name(engine.get_compiler_inlining()).to_string(),
            collector: features.gc_types().then(|| engine.get_collector().map(collector_name)).flatten(),
        },
    }
}

/// The major version of the wasmtime this crate was built with: `.cwasm` files load only
/// into the major version that wrote them.
pub fn wasmtime_major() -> &'static str {
    wasmtime::ModuleVersionStrategy::WasmtimeVersion.as_str()
}

/// One way `engine` differs from the profile a `.cwasm` was compiled for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub setting: String,
    pub recorded: String,
    pub engine: String,
    /// The `Config` call that makes the engine match.
    pub fix: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: manifest has {}, this engine has {} (fix: {})",
            self.setting, self.recorded, self.engine, self.fix
        )
    }
}

/// Every difference that makes wasmtime refuse the profile's `.cwasm` files in `engine`.
/// (The one setting wasmtime has no getter for, backtrace details, is not compared.)
pub fn mismatches(recorded: &EngineProfile, engine: &Engine) -> Vec<Mismatch> {
    let actual = describe(engine);
    let mut out = Vec::new();
    if recorded.wasmtime_major() != actual.wasmtime {
        out.push(Mismatch {
            setting: "wasmtime version".into(),
            recorded: recorded.wasmtime.clone(),
            engine: format!("{}.x", actual.wasmtime),
            fix: format!(
                "use wasmtime {}.x in the host, or rebuild with a cargo-wasmship on wasmtime {}",
                recorded.wasmtime_major(),
                actual.wasmtime
            ),
        });
    }
    for feature in &recorded.wasm_features {
        if !actual.wasm_features.contains(feature) {
            out.push(Mismatch {
                setting: format!("wasm feature `{feature}`"),
                recorded: "enabled".into(),
                engine: "disabled".into(),
                fix: format!(
                    "config.wasm_features(WasmFeatures::{}, true), with the wasmtime cargo feature it needs",
                    feature.to_uppercase()
                ),
            });
        }
    }
    let (r, a) = (&recorded.settings, &actual.settings);
    let mut compare = |name: &str, recorded: String, engine: String| {
        if recorded != engine {
            out.push(Mismatch { setting: name.into(), fix: format!("config.{name}({recorded})"), recorded, engine });
        }
    };
    compare("epoch_interruption", r.epoch_interruption.to_string(), a.epoch_interruption.to_string());
    compare("consume_fuel", r.consume_fuel.to_string(), a.consume_fuel.to_string());
    compare("memory_reservation", r.memory_reservation.to_string(), a.memory_reservation.to_string());
    compare("memory_guard_size", r.memory_guard_size.to_string(), a.memory_guard_size.to_string());
    compare("memory_may_move", r.memory_may_move.to_string(), a.memory_may_move.to_string());
    compare(
        "guard_before_linear_memory",
        r.guard_before_linear_memory.to_string(),
        a.guard_before_linear_memory.to_string(),
    );
    compare("table_lazy_init", r.table_lazy_init.to_string(), a.table_lazy_init.to_string());
    compare("memory_init_cow", r.memory_init_cow.to_string(), a.memory_init_cow.to_string());
    compare("signals_based_traps", r.signals_based_traps.to_string(), a.signals_based_traps.to_string());
    compare(
        "relaxed_simd_deterministic",
        r.relaxed_simd_deterministic.to_string(),
        a.relaxed_simd_deterministic.to_string(),
    );
    compare("concurrency_support", r.concurrency_support.to_string(), a.concurrency_support.to_string());
    compare("debug_info", r.debug_info.to_string(), a.debug_info.to_string());
    compare("compiler_inlining", r.compiler_inlining.clone(), a.compiler_inlining.clone());
    if r.collector.is_some() && r.collector != a.collector {
        let show = |c: &Option<String>| c.clone().unwrap_or_else(|| "no GC".into());
        out.push(Mismatch {
            setting: "collector".into(),
            recorded: show(&r.collector),
            engine: show(&a.collector),
            fix: "config.collector(...) (wasmship-host's `gc` feature sets it), with wasmtime's `gc` cargo feature"
                .into(),
        });
    }
    out
}

/// Lower-case names of every named wasm feature flag fully contained in `features`, sorted.
pub fn feature_names(features: WasmFeatures) -> Vec<String> {
    let mut names: Vec<String> = WasmFeatures::FLAGS
        .iter()
        .filter(|flag| features.contains(*flag.value()))
        .map(|flag| flag.name().to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names
}

pub fn features_from_names(names: &[String]) -> Result<WasmFeatures> {
    let mut features = WasmFeatures::empty();
    for name in names {
        let Some(flag) = WasmFeatures::from_name(&name.to_ascii_uppercase().replace('-', "_")) else {
            bail!("unknown wasm feature `{name}` (wasmtime {} does not know it)", wasmtime_major());
        };
        features |= flag;
    }
    Ok(features)
}

fn inlining(name: &str) -> Result<Inlining> {
    Ok(match name {
        "no" => Inlining::No,
        "yes" => Inlining::Yes,
        "inter-module" => Inlining::InterModule,
        "inter-module-and-intra-gc" => Inlining::InterModuleAndIntraGc,
        "intrinsics" => Inlining::Intrinsics,
        other => bail!("unknown compiler_inlining `{other}`: expected no, yes, inter-module, inter-module-and-intra-gc or intrinsics"),
    })
}

pub fn inlining_name(inlining: Inlining) -> &'static str {
    match inlining {
        Inlining::No => "no",
        Inlining::Yes => "yes",
        Inlining::InterModule => "inter-module",
        Inlining::InterModuleAndIntraGc => "inter-module-and-intra-gc",
        Inlining::Intrinsics => "intrinsics",
    }
}

fn collector_name(collector: wasmtime::Collector) -> String {
    match collector {
        wasmtime::Collector::Copying => "copying",
        wasmtime::Collector::DeferredReferenceCounting => "drc",
        wasmtime::Collector::Null => "null",
        // `Auto` resolves to the copying collector in wasmtime 48.
        _ => "copying",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `apply` rebuilds exactly the engine `describe` read, whatever the starting config.
    #[test]
    fn apply_inverts_describe() {
        let mut varied = Config::new();
        varied
            .epoch_interruption(true)
            .memory_reservation(1 << 30)
            .memory_guard_size(1 << 20)
            .wasm_features(WasmFeatures::THREADS, false);
        varied.wasm_backtrace_details(WasmBacktraceDetails::Disable);
        for config in [Config::new(), varied] {
            let original = describe(&Engine::new(&config).unwrap());
            let mut rebuilt = Config::new();
            apply(&original, &mut rebuilt).unwrap();
            let rebuilt = Engine::new(&rebuilt).unwrap();
            assert_eq!(describe(&rebuilt), original);
            assert!(mismatches(&original, &rebuilt).is_empty());
        }
    }

    #[test]
    fn mismatches_name_the_setting_and_the_fix() {
        let recorded = describe(&Engine::new(&Config::new()).unwrap());
        let mut other = Config::new();
        other.consume_fuel(true).wasm_simd(false).wasm_relaxed_simd(false);
        let found = mismatches(&recorded, &Engine::new(&other).unwrap());
        let text: Vec<String> = found.iter().map(|m| m.to_string()).collect();
        assert!(
            text.iter().any(
                |t| t == "consume_fuel: manifest has false, this engine has true (fix: config.consume_fuel(false))"
            ),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.starts_with("wasm feature `simd`: manifest has enabled")), "{text:?}");
    }

    #[test]
    fn unknown_feature_names_are_errors() {
        assert!(features_from_names(&["simd".into(), "bulk-memory".into()]).is_ok());
        assert!(features_from_names(&["simdd".into()])
            .unwrap_err()
            .to_string()
            .contains("unknown wasm feature `simdd`"));
    }
}
