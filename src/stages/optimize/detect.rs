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
    fn an_mvp_module_uses_nothing_and_bulk_memory_is_seen() {
        let mvp = wasm_encoder::Module::new().finish();
        assert!(super::used_features(&mvp).is_empty());
        use wasm_encoder::*;
        let mut module = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        module.section(&funcs);
        let mut memories = MemorySection::new();
        memories.memory(MemoryType { minimum: 1, maximum: None, memory64: false, shared: false, page_size_log2: None });
        module.section(&memories);
        let mut code = CodeSection::new();
        let mut f = Function::new([]);
        f.instructions().i32_const(0).i32_const(0).i32_const(0).memory_copy(0, 0).end();
        code.function(&f);
        module.section(&code);
        assert_eq!(super::used_features(&module.finish()), ["bulk-memory"]);
    }
}
