//! Before any stage runs: the wasm proposals the module uses that a stage of this build
//! cannot handle (binaryen 116 in the optimize stage, the host's engine profile in the
//! precompile stage, wasmtime in pre-init), named in one error with every way out, instead of
//! a stage's own message halfway through the pipeline.
use crate::plan::Plan;
use crate::wasm::features::{name, used_beyond_baseline};
use anyhow::{bail, Result};
use wasmparser::WasmFeatures;

/// What binaryen 116 reads beyond the baseline (its `--enable-*` features). Not: wide
/// arithmetic, standardized exception handling (exnref; binaryen 116 has the legacy form),
/// custom page sizes, stack switching, shared-everything threads.
pub fn binaryen_116() -> WasmFeatures {
    WasmFeatures::RELAXED_SIMD
        | WasmFeatures::THREADS
        | WasmFeatures::TAIL_CALL
        | WasmFeatures::LEGACY_EXCEPTIONS
        | WasmFeatures::MEMORY64
        | WasmFeatures::MULTI_MEMORY
        | WasmFeatures::EXTENDED_CONST
        | WasmFeatures::GC
        | WasmFeatures::FUNCTION_REFERENCES
}

/// Whether this build of wasmtime can run code that uses `features` (pre-init compiles the
/// module with them on).
pub fn wasmtime_reads(features: WasmFeatures) -> bool {
    let mut config = wasmtime::Config::new();
    config.wasm_features(features, true);
    wasmtime::Engine::new(&config).is_ok()
}

/// Fails, naming each proposal, the stages that cannot handle it and each way out, when the
/// module uses a proposal a stage this plan runs cannot handle.
pub fn check(wasm: &[u8], plan: &Plan, preinit_runs: bool) -> Result<WasmFeatures> {
    let used = used_beyond_baseline(wasm)?;
    if used.is_empty() {
        return Ok(used);
    }
    let host = wasmship_host::engine::features_from_names(&plan.engine.wasm_features)?;
    let mut lines = Vec::new();
    for flag in used.iter() {
        let feature = name(flag);
        let mut stages = Vec::new();
        if preinit_runs && !wasmtime_reads(flag) {
            stages.push((
                format!("preinit stage: wasmtime {} cannot run it", crate::stages::precompile::wasmtime_version()),
                "`preinit = false` (or --no-preinit): ship without pre-initialization".to_string(),
            ));
        }
        if plan.optimize.runs_builtin() && !binaryen_116().contains(flag) {
            stages.push((
                "optimize stage: binaryen 116 (built in) cannot read it".to_string(),
                "a newer binaryen, `wasm-opt-path = \"/path/to/wasm-opt\"` (or CARGO_WASMSHIP_WASM_OPT), or \
                 `wasm-opt = false` (or --no-wasm-opt) to ship without its passes"
                    .to_string(),
            ));
        }
        if !plan.cwasm_targets.is_empty() && !host.contains(flag) {
            stages.push((
                format!("precompile stage: the host engine (preset `{}`) has it off", plan.engine.preset),
                format!(
                    "`engine.wasm-features = [\"{feature}\"]` when your hosts' wasmtime has it on, or \
                     `precompile = false` (or --no-precompile) to ship no .cwasm"
                ),
            ));
        }
        if !stages.is_empty() {
            let shown: Vec<String> =
                stages.iter().map(|(what, way)| format!("    {what}\n      way out: {way}")).collect();
            lines.push(format!("  `{feature}`:\n{}", shown.join("\n")));
        }
    }
    if lines.is_empty() {
        return Ok(used);
    }
    bail!(
        "the module uses wasm proposals that stages of this build cannot handle (found before any stage ran)\n{}",
        lines.join("\n")
    )
}
