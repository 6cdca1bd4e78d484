//! Read-only facts about a wasm module, gathered with wasmparser: validation with the byte
//! offset of the first error, exports, imports, and custom sections.
pub mod component;
pub mod features;

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

/// Whether `wasm` has a custom section called `name`; reads section headers only, skipping
/// the code section, so it is cheap enough for every (even no-op) build.
pub fn has_custom_section(wasm: &[u8], name: &str) -> bool {
    custom_section(wasm, name).is_some()
}

/// The bytes of the custom section `name`, if `wasm` has one (section headers only, as
/// [`has_custom_section`]).
pub fn custom_section<'a>(wasm: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut parser = Parser::new(0);
    let mut offset = 0;
    while offset <= wasm.len() {
        match parser.parse(&wasm[offset..], true) {
            Ok(wasmparser::Chunk::Parsed { consumed, payload }) => {
                offset += consumed;
                match payload {
                    Payload::CustomSection(reader) if reader.name() == name => return Some(reader.data()),
                    Payload::CodeSectionStart { size, .. } => {
                        parser.skip_section();
                        offset += size as usize;
                    }
                    Payload::End(_) => return None,
                    _ => {}
                }
            }
            _ => return None,
        }
    }
    None
}

impl ModuleFacts {
    pub fn read(wasm: &[u8]) -> Result<Self> {
        if component::is_component(wasm) {
            // A component's own exports and imports (its modules' are inside it).
            let exports = component::func_exports(wasm)?
                .into_iter()
                .map(|name| Export { name, kind: wasmparser::ExternalKind::Func })
                .collect();
            let imports = component::imports(wasm)?
                .into_iter()
                .map(|name| Import { module: name, name: String::new(), is_func: false })
                .collect();
            return Ok(ModuleFacts { exports, imports, custom_sections: component::custom_sections(wasm)? });
        }
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
        self.exports.iter().any(|e| e.name == name && e.kind == wasmparser::ExternalKind::Func)
    }

    pub fn func_exports(&self) -> impl Iterator<Item = &str> {
        self.exports.iter().filter(|e| e.kind == wasmparser::ExternalKind::Func).map(|e| e.name.as_str())
    }

    pub fn imports_wasi(&self) -> bool {
        self.imports.iter().any(|i| i.module.starts_with("wasi"))
    }
}

/// The parameter types (`i32`, `i64`, `f32`, `f64`, ...) of the function `wasm` exports as
/// `name`, or `None` when it exports no such function.
pub fn export_params(wasm: &[u8], name: &str) -> Result<Option<Vec<String>>> {
    let (mut types, mut funcs, mut export) = (Vec::new(), Vec::new(), None);
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group?.into_types() {
                        let params = match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => {
                                f.params().iter().map(|t| t.to_string()).collect()
                            }
                            _ => Vec::new(),
                        };
                        types.push(params);
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if let TypeRef::Func(index) | TypeRef::FuncExact(index) = import?.ty {
                        funcs.push(index);
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for index in reader {
                    funcs.push(index?);
                }
            }
            Payload::ExportSection(reader) => {
                for item in reader {
                    let item = item?;
                    if item.name == name && item.kind == wasmparser::ExternalKind::Func {
                        export = Some(item.index);
                    }
                }
            }
            _ => {}
        }
    }
    let Some(func) = export else { return Ok(None) };
    let ty = funcs.get(func as usize).and_then(|t| types.get(*t as usize));
    Ok(ty.cloned())
}

/// The extent of a module's initialized linear memory: for each defined memory with data, the
/// span from its first to its last initialized byte and the bytes of data in it. `None` when
/// some active segment is not at a constant offset, or targets an imported memory: then no
/// engine can lay the memory out ahead of time.
pub fn memory_extent(wasm: &[u8]) -> Result<Option<Vec<(u64, u64)>>> {
    let (mut imported, mut ranges) = (0u32, std::collections::BTreeMap::<u32, (u64, u64, u64)>::new());
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import?.ty, TypeRef::Memory(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data?;
                    let wasmparser::DataKind::Active { memory_index, offset_expr } = data.kind else { continue };
                    if memory_index < imported {
                        return Ok(None);
                    }
                    let mut ops = offset_expr.get_operators_reader();
                    let start = match ops.read()? {
                        wasmparser::Operator::I32Const { value } => value as u32 as u64,
                        wasmparser::Operator::I64Const { value } => value as u64,
                        _ => return Ok(None),
                    };
                    if data.data.is_empty() {
                        continue;
                    }
                    let end = start + data.data.len() as u64;
                    let entry = ranges.entry(memory_index).or_insert((u64::MAX, 0, 0));
                    *entry = (entry.0.min(start), entry.1.max(end), entry.2 + data.data.len() as u64);
                }
            }
            _ => {}
        }
    }
    Ok(Some(ranges.values().map(|(low, high, data)| (high - low, *data)).collect()))
}

/// Where a module's shadow stack lives (the stack LLVM keeps in linear memory), so the part
/// below the stack pointer, dead once init has returned, can be cleared before the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShadowStack {
    /// Index of the `__stack_pointer` global.
    pub pointer_global: u32,
    /// Lowest address of the stack region: 0 when the stack comes first in memory,
    /// `__data_end` when it follows the static data.
    pub floor: u32,
}

/// Finds the shadow stack of a module laid out by wasm-ld, or `None` when the layout is not
/// one this recognizes for certain (then nothing is cleared).
pub fn shadow_stack(wasm: &[u8]) -> Result<Option<ShadowStack>> {
    let mut pointer_global = None;
    let mut initial: Vec<Option<i64>> = Vec::new();
    let mut mutable_i32: Vec<bool> = Vec::new();
    let mut data_start = u64::MAX;
    let mut data_end_export = None;
    let mut imported_globals = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import?.ty, wasmparser::TypeRef::Global(_)) {
                        imported_globals += 1;
                    }
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader {
                    let global = global?;
                    mutable_i32.push(global.ty.mutable && global.ty.content_type == wasmparser::ValType::I32);
                    initial.push(const_i32(&global.init_expr));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    if export.name == "__data_end" && export.kind == wasmparser::ExternalKind::Global {
                        data_end_export = Some(export.index);
                    }
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    if let wasmparser::DataKind::Active { offset_expr, .. } = data?.kind {
                        match const_i32(&offset_expr) {
                            Some(offset) => data_start = data_start.min(offset as u64),
                            None => return Ok(None),
                        }
                    }
                }
            }
            Payload::CustomSection(section) => {
                if let wasmparser::KnownCustom::Name(reader) = section.as_known() {
                    for name in reader.into_iter().flatten() {
                        if let wasmparser::Name::Global(map) = name {
                            for naming in map.into_iter().flatten() {
                                if naming.name == "__stack_pointer" {
                                    pointer_global = Some(naming.index);
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // Without a name section (a guest built with `strip = true`): wasm-ld always makes
    // `__stack_pointer` the first global it defines; the layout checks below confirm it.
    let index = pointer_global.unwrap_or(imported_globals);
    let defined = index.checked_sub(imported_globals).map(|i| i as usize);
    let (Some(true), Some(Some(stack_top))) =
        (defined.and_then(|i| mutable_i32.get(i)), defined.and_then(|i| initial.get(i)))
    else {
        return Ok(None);
    };
    if data_start != u64::MAX && *stack_top as u64 <= data_start {
        // Stack first (Rust's default): [0, stack top) holds nothing but the stack. (Without
        // any data segment the layout cannot be told apart from statics all in .bss.)
        if pointer_global.is_none() && !allocates_stack_frames(wasm, index)? {
            return Ok(None);
        }
        return Ok(Some(ShadowStack { pointer_global: index, floor: 0 }));
    }
    // Stack after the data: it starts at `__data_end` (statics in .bss sit below it, so the
    // end of the last data segment is not enough).
    let floor = data_end_export
        .and_then(|g| g.checked_sub(imported_globals))
        .and_then(|g| initial.get(g as usize).copied().flatten());
    if pointer_global.is_none() && !allocates_stack_frames(wasm, index)? {
        return Ok(None);
    }
    Ok(floor.filter(|f| *f as u64 <= *stack_top as u64).map(|f| ShadowStack { pointer_global: index, floor: f as u32 }))
}

/// True when some function allocates a frame on `global` the way LLVM's prologue does
/// (`global.get g; i32.const n; i32.sub`): the proof a guessed global is the stack pointer,
/// before memory below it is cleared.
fn allocates_stack_frames(wasm: &[u8], global: u32) -> Result<bool> {
    use wasmparser::Operator;
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CodeSectionEntry(body) = payload? {
            let mut recent: [Option<Operator<'_>>; 2] = [None, None];
            for op in body.get_operators_reader()? {
                let op = op?;
                if matches!(op, Operator::I32Sub)
                    && matches!(recent, [Some(Operator::GlobalGet { global_index }), Some(Operator::I32Const { .. })] if global_index == global)
                {
                    return Ok(true);
                }
                recent = [recent[1].take(), Some(op)];
            }
        }
    }
    Ok(false)
}

fn const_i32(expr: &wasmparser::ConstExpr<'_>) -> Option<i64> {
    let mut ops = expr.get_operators_reader();
    match (ops.read().ok()?, ops.read().ok()?) {
        (wasmparser::Operator::I32Const { value }, wasmparser::Operator::End) => Some(value as u32 as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use wasm_encoder::{CodeSection, CustomSection, Function, FunctionSection, Instruction, Module, TypeSection};

    /// A module with one function and, after its code, the custom sections `names`.
    fn module(names: &[&str]) -> Vec<u8> {
        let mut module = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        let mut functions = FunctionSection::new();
        functions.function(0);
        module.section(&functions);
        let mut code = CodeSection::new();
        let mut body = Function::new([]);
        body.instruction(&Instruction::End);
        code.function(&body);
        module.section(&code);
        for name in names {
            module.section(&CustomSection { name: (*name).into(), data: b"payload".as_slice().into() });
        }
        module.finish()
    }

    #[test]
    fn finds_a_custom_section_after_the_skipped_code() {
        let wasm = module(&["producers", "__wasm_bindgen_unstable"]);
        assert!(super::has_custom_section(&wasm, "__wasm_bindgen_unstable"));
        assert!(!super::has_custom_section(&module(&["producers"]), "__wasm_bindgen_unstable"));
        assert!(!super::has_custom_section(&wasm[..wasm.len() - 3], "__wasm_bindgen_unstable"), "truncated");
        let facts = super::ModuleFacts::read(&wasm).unwrap();
        assert_eq!(facts.custom_sections, ["producers", "__wasm_bindgen_unstable"], "agrees with the full read");
    }
}
