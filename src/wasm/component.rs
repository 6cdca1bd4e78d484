//! A component's binary, section by section: enough to run the core-module stages (optimize,
//! strip) on each core module inside it and put the component back together. The component
//! binary format is a header and sections (`id`, LEB128 size, contents); a core module section
//! (id 1) holds one whole core module. Every other section is copied as it is.
use anyhow::{bail, Context, Result};

/// Section id of a core module in a component.
const CORE_MODULE: u8 = 1;
/// Section id of a custom section.
const CUSTOM: u8 = 0;

/// Whether `wasm` is a component rather than a core module (the header's layer field).
pub fn is_component(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && &wasm[..4] == b"\0asm" && wasm[6..8] == [1, 0]
}

struct Section<'a> {
    id: u8,
    contents: &'a [u8],
}

fn sections(component: &[u8]) -> Result<Vec<Section<'_>>> {
    if !is_component(component) {
        bail!("not a WebAssembly component");
    }
    let mut reader = wasmparser::BinaryReader::new(&component[8..], 8);
    let mut out = Vec::new();
    while !reader.eof() {
        let id = reader.read_u8().context("reading a section id")?;
        let size = reader.read_var_u32().context("reading a section size")? as usize;
        let contents = reader.read_bytes(size).context("reading a section")?;
        out.push(Section { id, contents });
    }
    Ok(out)
}

/// How many core modules the component holds at its top level.
pub fn core_module_count(component: &[u8]) -> Result<usize> {
    Ok(sections(component)?.iter().filter(|s| s.id == CORE_MODULE).count())
}

/// The component with each top-level core module replaced by `map(index, module)`, and its
/// own custom sections kept only where `keep_custom(name)` says so.
pub fn rebuild(
    component: &[u8],
    mut map: impl FnMut(usize, &[u8]) -> Result<Vec<u8>>,
    keep_custom: impl Fn(&str) -> bool,
) -> Result<Vec<u8>> {
    let mut out = component[..8].to_vec();
    let mut index = 0;
    for section in sections(component)? {
        let contents = match section.id {
            CORE_MODULE => {
                let module = map(index, section.contents).with_context(|| format!("core module {index}"))?;
                index += 1;
                module
            }
            CUSTOM => {
                let name = wasmparser::BinaryReader::new(section.contents, 0).read_string().unwrap_or_default();
                if !keep_custom(name) {
                    continue;
                }
                section.contents.to_vec()
            }
            _ => section.contents.to_vec(),
        };
        out.push(section.id);
        leb128(&mut out, contents.len() as u32);
        out.extend_from_slice(&contents);
    }
    Ok(out)
}

/// The names of the component's own custom sections (not those of its core modules).
pub fn custom_sections(component: &[u8]) -> Result<Vec<String>> {
    Ok(sections(component)?
        .iter()
        .filter(|s| s.id == CUSTOM)
        .filter_map(|s| wasmparser::BinaryReader::new(s.contents, 0).read_string().ok().map(str::to_string))
        .collect())
}

/// Each top-level core module's bytes.
pub fn core_modules(component: &[u8]) -> Result<Vec<Vec<u8>>> {
    Ok(sections(component)?.iter().filter(|s| s.id == CORE_MODULE).map(|s| s.contents.to_vec()).collect())
}

/// The names of the functions the component itself exports (not its modules' exports).
pub fn func_exports(component: &[u8]) -> Result<Vec<String>> {
    use wasmparser::{ComponentExternalKind, Parser, Payload};
    let (mut depth, mut names) = (0usize, Vec::new());
    for payload in Parser::new(0).parse_all(component) {
        match payload? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export?;
                    if export.kind == ComponentExternalKind::Func {
                        names.push(export.name.name.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// The names the component imports (`wasi:cli/environment@0.2.6`...).
pub fn imports(component: &[u8]) -> Result<Vec<String>> {
    use wasmparser::{Parser, Payload};
    let (mut depth, mut names) = (0usize, Vec::new());
    for payload in Parser::new(0).parse_all(component) {
        match payload? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    names.push(import?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// The component without its top-level func export `name`, `None` when it has none. An
/// export adds a function to the component's index space, so every later index above it
/// moves down by one and a use of the export itself becomes a use of what it exported.
pub fn without_export(component: &[u8], name: &str) -> Result<Option<Vec<u8>>> {
    let Some((export_index, target)) = func_export_index(component, name)? else {
        return Ok(None);
    };
    let mut reencoder = DropExport { name, export_index, target, depth: 0 };
    let mut out = wasm_encoder::Component::new();
    wasm_encoder::reencode::ReencodeComponent::parse_component(
        &mut reencoder,
        &mut out,
        wasmparser::Parser::new(0),
        component,
    )
    .map_err(|e| anyhow::anyhow!("re-encoding the component without `{name}`: {e}"))?;
    Ok(Some(out.finish()))
}

/// The component-level function index the export `name` creates, and the index it exports.
fn func_export_index(component: &[u8], name: &str) -> Result<Option<(u32, u32)>> {
    use wasmparser::{CanonicalFunction, ComponentAlias, ComponentExternalKind, ComponentTypeRef, Parser, Payload};
    let (mut depth, mut funcs) = (0usize, 0u32);
    for payload in Parser::new(0).parse_all(component) {
        let payload = payload?;
        match &payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            Payload::ComponentImportSection(reader) => {
                for import in reader.clone() {
                    funcs += matches!(import?.ty, ComponentTypeRef::Func(_)) as u32;
                }
            }
            Payload::ComponentAliasSection(reader) => {
                for alias in reader.clone() {
                    let func = ComponentExternalKind::Func;
                    funcs += matches!(alias?, ComponentAlias::InstanceExport { kind, .. } if kind == func) as u32;
                }
            }
            Payload::ComponentCanonicalSection(reader) => {
                for canon in reader.clone() {
                    funcs += matches!(canon?, CanonicalFunction::Lift { .. }) as u32;
                }
            }
            Payload::ComponentExportSection(reader) => {
                for export in reader.clone() {
                    let export = export?;
                    if export.kind == ComponentExternalKind::Func {
                        if export.name.name == name {
                            return Ok(Some((funcs, export.index)));
                        }
                        funcs += 1;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Re-encodes a component without one top-level export; core modules are copied as they are.
struct DropExport<'a> {
    name: &'a str,
    export_index: u32,
    target: u32,
    depth: u32,
}

impl wasm_encoder::reencode::Reencode for DropExport<'_> {
    type Error = std::convert::Infallible;
}

impl wasm_encoder::reencode::ReencodeComponent for DropExport<'_> {
    fn component_func_index(&mut self, index: u32) -> u32 {
        if self.depth > 0 || index < self.export_index {
            index
        } else if index == self.export_index {
            self.component_func_index(self.target)
        } else {
            index - 1
        }
    }

    fn push_depth(&mut self) {
        self.depth += 1;
    }

    fn pop_depth(&mut self) {
        self.depth -= 1;
    }

    fn parse_component_submodule(
        &mut self,
        component: &mut wasm_encoder::Component,
        _parser: wasmparser::Parser,
        module: &[u8],
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        component.section(&wasm_encoder::RawSection { id: CORE_MODULE, data: module });
        Ok(())
    }

    fn parse_component_export(
        &mut self,
        exports: &mut wasm_encoder::ComponentExportSection,
        export: wasmparser::ComponentExport<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        if self.depth == 0 && export.kind == wasmparser::ComponentExternalKind::Func && export.name.name == self.name {
            return Ok(());
        }
        wasm_encoder::reencode::component_utils::parse_component_export(self, exports, export)
    }
}

/// Validates a component with every feature wasmparser knows.
pub fn validate(component: &[u8]) -> Result<()> {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(component)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("invalid component at byte offset {:#x}: {}", e.offset(), e.message()))
}

fn leb128(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component() -> Vec<u8> {
        wat::parse_str(
            r#"(component
                (core module $m (func (export "f") (result i32) i32.const 7) (@custom "name-ish" "x"))
                (core instance $i (instantiate $m))
                (func (export "f") (result s32) (canon lift (core func $i "f"))))"#,
        )
        .unwrap()
    }

    #[test]
    fn rebuilding_with_the_same_modules_gives_the_same_component() {
        let wasm = component();
        assert!(is_component(&wasm));
        assert!(!is_component(&wat::parse_str("(module)").unwrap()));
        assert_eq!(core_module_count(&wasm).unwrap(), 1);
        assert_eq!(rebuild(&wasm, |_, m| Ok(m.to_vec()), |_| true).unwrap(), wasm);
    }

    #[test]
    fn an_export_removed_is_gone_and_the_indices_after_it_move_down() {
        // As wit-component lays a world out: lift, export, lift, export.
        let wasm = wat::parse_str(
            r#"(component
                (core module $m
                  (func (export "init"))
                  (func (export "f") (result i32) i32.const 7))
                (core instance $i (instantiate $m))
                (func $init (canon lift (core func $i "init")))
                (export $init2 "init" (func $init))
                (func $f (result s32) (canon lift (core func $i "f")))
                (export "f" (func $f)))"#,
        )
        .unwrap();
        assert_eq!(func_exports(&wasm).unwrap(), ["init", "f"]);
        assert!(without_export(&wasm, "missing").unwrap().is_none());
        let without = without_export(&wasm, "init").unwrap().unwrap();
        validate(&without).unwrap();
        assert_eq!(func_exports(&without).unwrap(), ["f"]);
        let engine = wasmtime::Engine::default();
        let component = wasmtime::component::Component::new(&engine, &without).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wasmtime::component::Linker::new(&engine).instantiate(&mut store, &component).unwrap();
        assert!(instance.get_func(&mut store, "init").is_none());
        let f = instance.get_typed_func::<(), (i32,)>(&mut store, "f").unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), (7,));
    }

    #[test]
    fn a_replaced_module_is_what_the_component_runs() {
        let wasm = component();
        let replaced = rebuild(
            &wasm,
            |_, _| Ok(wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 42))"#).unwrap()),
            |_| true,
        )
        .unwrap();
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all()).validate_all(&replaced).unwrap();
        let engine = wasmtime::Engine::default();
        let component = wasmtime::component::Component::new(&engine, &replaced).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wasmtime::component::Linker::new(&engine).instantiate(&mut store, &component).unwrap();
        let f = instance.get_typed_func::<(), (i32,)>(&mut store, "f").unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), (42,));
    }
}
