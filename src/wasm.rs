//! Read-only facts about a wasm module, gathered with wasmparser: validation with the byte
//! offset of the first error, exports, imports, and custom sections.
use anyhow::{bail, Result};
use wasmparser::{Parser, Payload, TypeRef, Validator, WasmFeatures};

/// Validates `wasm`; the error names the byte offset of the problem.
pub fn validate(wasm: &[u8]) -> Result<()> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        bail!(
            "not a WebAssembly module: it does not start with the `\\0asm` magic bytes \
             (first bytes: {:02x?})",
            &wasm[..wasm.len().min(8)]
        );
    }
    if let Err(e) = Validator::new_with_features(WasmFeatures::all()).validate_all(wasm) {
        bail!("invalid WebAssembly at byte offset {:#x}: {}", e.offset(), e.message());
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub name: String,
    pub kind: wasmparser::ExternalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub is_func: bool,
}

/// The parts of a module's structure the pipeline decides on.
#[derive(Debug, Default)]
pub struct ModuleFacts {
    pub exports: Vec<Export>,
    pub imports: Vec<Import>,
    /// Custom section names in order, e.g. `name`, `producers`, `target_features`, `.debug_info`.
    pub custom_sections: Vec<String>,
}

impl ModuleFacts {
    pub fn read(wasm: &[u8]) -> Result<Self> {
        let mut facts = ModuleFacts::default();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload? {
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        facts.exports.push(Export { name: export.name.to_string(), kind: export.kind });
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import?;
                        facts.imports.push(Import {
                            module: import.module.to_string(),
                            name: import.name.to_string(),
                            is_func: matches!(import.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)),
                        });
                    }
                }
                Payload::CustomSection(reader) => facts.custom_sections.push(reader.name().to_string()),
                _ => {}
            }
        }
        Ok(facts)
    }

    pub fn exports_func(&self, name: &str) -> bool {
        self.exports
            .iter()
            .any(|e| e.name == name && e.kind == wasmparser::ExternalKind::Func)
    }

    pub fn func_exports(&self) -> impl Iterator<Item = &str> {
        self.exports
            .iter()
            .filter(|e| e.kind == wasmparser::ExternalKind::Func)
            .map(|e| e.name.as_str())
    }

    pub fn imports_wasi(&self) -> bool {
        self.imports.iter().any(|i| i.module.starts_with("wasi"))
    }
}
