//! Which wasm proposals a module uses, as wasmparser's feature flags. Stages differ in what
//! they can read (binaryen 116, wasmtime's pre-init engine, the host's engine profile), so the
//! pipeline finds what a module needs before any stage runs.
use anyhow::Result;
use wasmparser::{Validator, WasmFeatures};

/// What every stage reads: wasm 2.0, as Rust's wasm targets emit it by default, and SIMD.
pub fn baseline() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::SIMD
        | WasmFeatures::FLOATS
        | WasmFeatures::GC_TYPES
        // Parts of bulk memory and reference types that wasmparser gates on their own.
        | WasmFeatures::BULK_MEMORY_OPT
        | WasmFeatures::CALL_INDIRECT_OVERLONG
}

/// LLVM's names in a `target_features` section for the baseline features.
const BASELINE_TARGET_FEATURES: &[&str] = &[
    "mutable-globals",
    "nontrapping-fptoint",
    "sign-ext",
    "multivalue",
    "reference-types",
    "bulk-memory",
    "bulk-memory-opt",
    "call-indirect-overlong",
    "simd128",
];

/// The proposals beyond [`baseline`] that `wasm` uses: each flag without which it stops
/// validating. A module whose `target_features` section names only baseline features is
/// taken at its word, which keeps no-op builds from validating big modules. For a component,
/// the proposals its core modules use: each stage handles the component layer itself (the
/// optimize and strip stages work on the core modules one by one).
pub fn used_beyond_baseline(wasm: &[u8]) -> Result<WasmFeatures> {
    if super::component::is_component(wasm) {
        let mut used = WasmFeatures::empty();
        for module in super::component::core_modules(wasm)? {
            used |= used_beyond_baseline(&module)?;
        }
        return Ok(used);
    }
    if let Some(features) = target_features(wasm) {
        if features.iter().all(|f| BASELINE_TARGET_FEATURES.contains(&f.as_str())) {
            return Ok(WasmFeatures::empty());
        }
    }
    let validates = |features: WasmFeatures| Validator::new_with_features(features).validate_all(wasm).is_ok();
    if validates(baseline()) {
        return Ok(WasmFeatures::empty());
    }
    let all = WasmFeatures::all();
    if !validates(all) {
        // Not valid wasm at all: the build stage's own check says where.
        return Ok(WasmFeatures::empty());
    }
    let mut used = WasmFeatures::empty();
    for flag in all.difference(baseline()).iter() {
        if !validates(all.difference(flag)) {
            used |= flag;
        }
    }
    Ok(used)
}

/// The features a module's `target_features` custom section enables (`+name`), if it has one.
pub fn target_features(wasm: &[u8]) -> Option<Vec<String>> {
    let data = super::custom_section(wasm, "target_features")?;
    let mut reader = wasmparser::BinaryReader::new(data, 0);
    let count = reader.read_var_u32().ok()?;
    let mut enabled = Vec::new();
    for _ in 0..count {
        let prefix = reader.read_u8().ok()?;
        let name = reader.read_string().ok()?;
        if prefix == b'+' || prefix == b'=' {
            enabled.push(name.to_string());
        }
    }
    Some(enabled)
}

/// `wide-arithmetic` for `WasmFeatures::WIDE_ARITHMETIC`: what users write in
/// `engine.wasm-features`, and what errors name.
pub fn name(flag: WasmFeatures) -> String {
    use bitflags::Flags as _;
    WasmFeatures::FLAGS
        .iter()
        .find(|f| *f.value() == flag)
        .map(|f| f.name().to_ascii_lowercase().replace('_', "-"))
        .unwrap_or_else(|| format!("{flag:?}"))
}

/// Every single flag set in `features`, by name.
pub fn names(features: WasmFeatures) -> Vec<String> {
    features.iter().map(name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(body: &str) -> Vec<u8> {
        wat::parse_str(format!("(module {body})")).unwrap()
    }

    #[test]
    fn finds_the_proposals_a_module_uses() {
        assert!(used_beyond_baseline(&module("(func (result i32) i32.const 1)")).unwrap().is_empty());
        let wide = module("(func (param i64 i64 i64 i64) (result i64 i64) local.get 0 local.get 1 local.get 2 local.get 3 i64.add128)");
        assert_eq!(names(used_beyond_baseline(&wide).unwrap()), ["wide-arithmetic"]);
        let two_memories = module("(memory 1) (memory 1)");
        assert_eq!(names(used_beyond_baseline(&two_memories).unwrap()), ["multi-memory"]);
        let memory64 = module("(memory i64 1)");
        assert_eq!(names(used_beyond_baseline(&memory64).unwrap()), ["memory64"]);
    }
}
