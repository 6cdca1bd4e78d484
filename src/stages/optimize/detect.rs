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
    // binaryen's `exception-handling` is the legacy form up to release 116, both after it.
    (WasmFeatures::LEGACY_EXCEPTIONS, "exception-handling"),
    (WasmFeatures::EXCEPTIONS, "exception-handling"),
    (WasmFeatures::MEMORY64, "memory64"),
    (WasmFeatures::MULTI_MEMORY, "multimemory"),
    (WasmFeatures::EXTENDED_CONST, "extended-const"),
    (WasmFeatures::GC, "gc"),
    // Newer binaryen only (an external wasm-opt): the built-in 116 refuses these up front.
    (WasmFeatures::WIDE_ARITHMETIC, "wide-arithmetic"),
    (WasmFeatures::CUSTOM_PAGE_SIZES, "custom-page-sizes"),
    (WasmFeatures::STACK_SWITCHING, "stack-switching"),
    (WasmFeatures::SHARED_EVERYTHING_THREADS, "shared-everything"),
    (WasmFeatures::BULK_MEMORY_OPT, "bulk-memory-opt"),
    (WasmFeatures::CALL_INDIRECT_OVERLONG, "call-indirect-overlong"),
];

/// Binaryen names of the features `wasm` needs, in [`CANDIDATES`] order.
pub fn used_features(wasm: &[u8]) -> Vec<&'static str> {
    let all = WasmFeatures::all();
    let mut names: Vec<&'static str> = CANDIDATES
        .iter()
        .filter(|(feature, _)| Validator::new_with_features(all.difference(*feature)).validate_all(wasm).is_err())
        .map(|(_, name)| *name)
        .collect();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_mvp_module_uses_nothing() {
        // Bulk memory found in code: tests/stages.rs, on a module the optimize stage runs.
        assert!(super::used_features(&wasm_encoder::Module::new().finish()).is_empty());
    }
}
