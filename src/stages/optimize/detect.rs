//! The wasm features a module uses, for modules without a `target_features` section (a guest
//! built with `strip = true` loses it): binaryen reads features only from that section, and
//! without them rejects valid modules ("Bulk memory operations require bulk memory").
//!
//! A feature is used when the module stops validating without it.
use wasmparser::{Validator, WasmFeatures};

/// (wasmparser flag, binaryen's name for it)
const CANDIDATES: &[(WasmFeatures, &str)] = &[
    (WasmFeatures::BULK_MEMORY, "bulk-memory"),
    (WasmFeatures::SIGN_EXTENSION, "sign-ext"),
    (WasmFeatures::SATURATING_FLOAT_TO_INT, "nontrapping-float-to-int"),
    (WasmFeatures::MUTABLE_GLOBAL, "mutable-globals"),
    (WasmFeatures::REFERENCE_TYPES, "reference-types"),
    (WasmFeatures::MULTI_VALUE, "multivalue"),
    (WasmFeatures::SIMD, "simd"),
    (WasmFeatures::RELAXED_SIMD, "relaxed-simd"),
    (WasmFeatures::THREADS, "threads"),
    (WasmFeatures::TAIL_CALL, "tail-call"),
    (WasmFeatures::EXCEPTIONS, "exception-handling"),
    (WasmFeatures::MEMORY64, "memory64"),
    (WasmFeatures::MULTI_MEMORY, "multimemory"),
    (WasmFeatures::EXTENDED_CONST, "extended-const"),
    (WasmFeatures::GC, "gc"),
];

/// Binaryen names of the features `wasm` needs, in [`CANDIDATES`] order.
pub fn used_features(wasm: &[u8]) -> Vec<&'static str> {
    let all = WasmFeatures::all();
    CANDIDATES
        .iter()
        .filter(|(feature, _)| Validator::new_with_features(all.difference(*feature)).validate_all(wasm).is_err())
        .map(|(_, name)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_mvp_module_uses_nothing() {
        // Bulk memory found in code: tests/stages.rs, on a module the optimize stage runs.
        assert!(super::used_features(&wasm_encoder::Module::new().finish()).is_empty());
    }
}
