//! Stage 4: strip custom sections (`name`, `producers`, DWARF `.debug_*`, `target_features`
//! and any other) from the module that ships. Sections are copied byte for byte; nothing
//! else in the module changes. The unstripped input is kept as `<name>.debug.wasm`.
use super::{Stage, StageOutput, StageReport};
use anyhow::{Context, Result};
use serde_json::json;
use std::time::Instant;
use wasm_encoder::{CustomSection, RawSection};
use wasmparser::{Parser, Payload};

pub struct StripConfig {
    pub enabled: bool,
    /// Custom sections that survive, e.g. `["name"]` to keep function names in backtraces.
    pub keep_sections: Vec<String>,
}

impl StripConfig {
    /// The settings that decide the output (its cache key and report).
    pub fn settings(&self) -> serde_json::Value {
        json!({ "strip": self.enabled, "keep-sections": self.keep_sections })
    }
}

pub fn run(wasm: &[u8], config: &StripConfig) -> Result<StageOutput> {
    let started = Instant::now();
    let settings = config.settings();
    if !config.enabled {
        return Ok(StageOutput::skipped(Stage::Strip, wasm, settings, "strip = false"));
    }
    let removed = std::cell::RefCell::new(Vec::new());
    let drop = |name: &str| {
        let drop = !config.keep_sections.iter().any(|k| k == name);
        if drop {
            removed.borrow_mut().push(name.to_string());
        }
        drop
    };
    let stripped = if crate::wasm::component::is_component(wasm) {
        // A component: its own custom sections, and those of every core module in it.
        crate::wasm::component::rebuild(wasm, |_, module| remove_custom_sections(module, drop), |name| !drop(name))
    } else {
        remove_custom_sections(wasm, drop)
    }
    .context("stripping custom sections (strip stage)")?;
    let mut removed = removed.into_inner();
    removed.sort();
    let mut report = StageReport::new(Stage::Strip, wasm, &stripped, started, settings);
    if !removed.is_empty() {
        removed.dedup();
        report = report.note(format!("removed {}", removed.join(", ")));
    }
    Ok(StageOutput { bytes: stripped, report })
}

/// Copies `wasm` without the custom sections for which `remove(name)` is true.
pub fn remove_custom_sections(wasm: &[u8], mut remove: impl FnMut(&str) -> bool) -> Result<Vec<u8>> {
    let mut module = wasm_encoder::Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::CustomSection(section) => {
                if !remove(section.name()) {
                    module.section(&CustomSection { name: section.name().into(), data: section.data().into() });
                }
            }
            // Function bodies are covered by the CodeSectionStart range below.
            Payload::CodeSectionEntry(_) | Payload::Version { .. } | Payload::End(_) => {}
            _ => {
                if let Some((id, range)) = payload.as_section() {
                    module.section(&RawSection { id, data: &wasm[range] });
                }
            }
        }
    }
    Ok(module.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with_sections() -> Vec<u8> {
        let mut module = wasm_encoder::Module::new();
        module.section(&CustomSection { name: "name".into(), data: b"\0\x01x"[..].into() });
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        module.section(&CustomSection { name: "producers".into(), data: b"\0"[..].into() });
        module.finish()
    }

    #[test]
    fn removes_all_but_kept_sections() {
        let wasm = module_with_sections();
        let out = run(&wasm, &StripConfig { enabled: true, keep_sections: vec!["producers".into()] }).unwrap();
        let facts = crate::wasm::ModuleFacts::read(&out.bytes).unwrap();
        assert_eq!(facts.custom_sections, ["producers"]);
        crate::wasm::validate(&out.bytes).unwrap();
        assert_eq!(out.report.notes, ["removed name"]);
    }
}
