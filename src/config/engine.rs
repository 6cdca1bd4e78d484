//! The `engine` table of a profile: the wasmtime engine of the host that will load the
//! `.cwasm` files. Starts from a preset and changes single settings; resolved into the
//! manifest's engine profile by the precompile stage.
use serde::Serialize;
use serde_json::Value;

/// Which host `Config` the settings start from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnginePreset {
    /// `Config::new()` of wasmtime built with `default-features = false, features =
    /// ["runtime", "std"]`: no compiler, GC, threads, component model or async.
    #[default]
    RuntimeOnly,
    /// `Config::new()` of wasmtime with its default cargo features.
    WasmtimeDefault,
}

impl EnginePreset {
    pub fn name(self) -> &'static str {
        match self {
            EnginePreset::RuntimeOnly => "runtime-only",
            EnginePreset::WasmtimeDefault => "wasmtime-default",
        }
    }
}

/// Every `engine` key; `None` keeps the preset's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EngineKeys {
    pub preset: EnginePreset,
    /// Toggles on top of the preset: `"simd"` enables, `"-threads"` disables.
    pub wasm_features: Vec<String>,
    pub epoch_interruption: Option<bool>,
    pub consume_fuel: Option<bool>,
    pub memory_reservation: Option<u64>,
    pub memory_guard_size: Option<u64>,
    pub memory_may_move: Option<bool>,
    pub guard_before_linear_memory: Option<bool>,
    pub table_lazy_init: Option<bool>,
    pub memory_init_cow: Option<bool>,
    pub signals_based_traps: Option<bool>,
    pub relaxed_simd_deterministic: Option<bool>,
    pub concurrency_support: Option<bool>,
    pub debug_info: Option<bool>,
    pub wasm_backtrace_details: Option<bool>,
    pub compiler_inlining: Option<String>,
    pub collector: Option<String>,
}

/// (key, expected type, what it is) for every `engine` key; the README's engine table is
/// written from this list.
pub const ENGINE_KEYS: &[(&str, &str, &str)] = &[
    (
        "preset",
        "`runtime-only` or `wasmtime-default`",
        "the host's wasmtime build: runtime-only (default) or default cargo features",
    ),
    (
        "wasm-features",
        "a list of strings",
        "wasm proposals on (`\"simd\"`) or off (`\"-threads\"`) relative to the preset",
    ),
    ("epoch-interruption", "a boolean", "`Config::epoch_interruption`"),
    ("consume-fuel", "a boolean", "`Config::consume_fuel`"),
    ("memory-reservation", "a size", "`Config::memory_reservation`"),
    ("memory-guard-size", "a size", "`Config::memory_guard_size`"),
    ("memory-may-move", "a boolean", "`Config::memory_may_move`"),
    ("guard-before-linear-memory", "a boolean", "`Config::guard_before_linear_memory`"),
    ("table-lazy-init", "a boolean", "`Config::table_lazy_init`"),
    ("memory-init-cow", "a boolean", "`Config::memory_init_cow`"),
    ("signals-based-traps", "a boolean", "`Config::signals_based_traps`"),
    ("relaxed-simd-deterministic", "a boolean", "`Config::relaxed_simd_deterministic`"),
    ("concurrency-support", "a boolean", "`Config::concurrency_support` (true in `wasmtime-default`)"),
    ("debug-info", "a boolean", "`Config::debug_info`"),
    (
        "wasm-backtrace-details",
        "a boolean",
        "`Config::wasm_backtrace_details` (Enable/Disable; never read from the environment)",
    ),
    (
        "compiler-inlining",
        "`no`, `yes`, `inter-module`, `inter-module-and-intra-gc` or `intrinsics`",
        "`Config::compiler_inlining`",
    ),
    ("collector", "`copying`, `drc` or `null`", "`Config::collector` (GC hosts only)"),
];

impl EngineKeys {
    /// Merges one layer's `engine` table into these keys: later layers win key by key.
    /// Errors name the key and what it expects.
    pub fn merge(&mut self, table: &Value) -> Result<(), (String, String)> {
        let Some(table) = table.as_object() else {
            return Err(("engine".into(), "a table of engine keys".into()));
        };
        for (key, value) in table {
            self.set(key, value)?;
        }
        Ok(())
    }

    fn set(&mut self, key: &str, value: &Value) -> Result<(), (String, String)> {
        let Some((_, expects, _)) = ENGINE_KEYS.iter().find(|(name, _, _)| *name == key) else {
            let near = super::keys::nearest_of(key, ENGINE_KEYS.iter().map(|(name, _, _)| *name));
            let hint = near.map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default();
            return Err((format!("engine.{key}"), format!("one of the engine keys; `{key}` is not one{hint}")));
        };
        let bad = || (format!("engine.{key}"), expects.to_string());
        let flag = || value.as_bool().map(Some).ok_or_else(bad);
        let size = || super::values::byte_size(value).map(Some).ok_or_else(bad);
        match key {
            "preset" => {
                self.preset = match value.as_str() {
                    Some("runtime-only") => EnginePreset::RuntimeOnly,
                    Some("wasmtime-default") => EnginePreset::WasmtimeDefault,
                    _ => return Err(bad()),
                }
            }
            "wasm-features" => {
                let list = value.as_array().ok_or_else(bad)?;
                self.wasm_features =
                    list.iter().map(|v| v.as_str().map(str::to_string)).collect::<Option<_>>().ok_or_else(bad)?;
            }
            "epoch-interruption" => self.epoch_interruption = flag()?,
            "consume-fuel" => self.consume_fuel = flag()?,
            "memory-reservation" => self.memory_reservation = size()?,
            "memory-guard-size" => self.memory_guard_size = size()?,
            "memory-may-move" => self.memory_may_move = flag()?,
            "guard-before-linear-memory" => self.guard_before_linear_memory = flag()?,
            "table-lazy-init" => self.table_lazy_init = flag()?,
            "memory-init-cow" => self.memory_init_cow = flag()?,
            "signals-based-traps" => self.signals_based_traps = flag()?,
            "relaxed-simd-deterministic" => self.relaxed_simd_deterministic = flag()?,
            "concurrency-support" => self.concurrency_support = flag()?,
            "debug-info" => self.debug_info = flag()?,
            "wasm-backtrace-details" => self.wasm_backtrace_details = flag()?,
            "compiler-inlining" => {
                let name = value.as_str().filter(|s| {
                    matches!(*s, "no" | "yes" | "inter-module" | "inter-module-and-intra-gc" | "intrinsics")
                });
                self.compiler_inlining = Some(name.ok_or_else(bad)?.to_string());
            }
            "collector" => {
                let name = value.as_str().filter(|s| matches!(*s, "copying" | "drc" | "null"));
                self.collector = Some(name.ok_or_else(bad)?.to_string());
            }
            _ => unreachable!("ENGINE_KEYS lists `{key}`"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layers_merge_key_by_key() {
        let mut keys = EngineKeys::default();
        keys.merge(&json!({"epoch-interruption": true, "memory-reservation": "1GiB"})).unwrap();
        keys.merge(&json!({"memory-reservation": "2GiB"})).unwrap();
        assert_eq!(keys.epoch_interruption, Some(true), "an earlier layer's key survives");
        assert_eq!(keys.memory_reservation, Some(2 << 30));
    }

    #[test]
    fn unknown_and_mistyped_keys_are_named() {
        let mut keys = EngineKeys::default();
        let (key, expected) = keys.merge(&json!({"epoch-interuption": true})).unwrap_err();
        assert_eq!(key, "engine.epoch-interuption");
        assert!(expected.contains("did you mean `epoch-interruption`?"), "{expected}");
        let (key, expected) = keys.merge(&json!({"collector": "mark-sweep"})).unwrap_err();
        assert_eq!((key.as_str(), expected.as_str()), ("engine.collector", "`copying`, `drc` or `null`"));
    }
}

#[cfg(test)]
mod readme_tests {
    #[test]
    fn readme_documents_every_engine_key() {
        let readme = include_str!("../../README.md");
        for (key, _, _) in super::ENGINE_KEYS {
            assert!(readme.contains(&format!("| `{key}` |")), "README's engine key table lacks `{key}`");
        }
    }
}
