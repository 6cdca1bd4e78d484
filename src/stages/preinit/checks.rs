//! What Wizer cannot snapshot, found before init runs, with what to change in the guest.
use anyhow::Result;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use wasmparser::{Name, Operator, Parser, Payload, TypeRef};

/// Something in the module that Wizer refuses to snapshot.
#[derive(Debug)]
pub struct Blocker {
    pub what: String,
    pub location: String,
    pub advice: &'static str,
}

const TABLE_ADVICE: &str = "Wizer cannot snapshot tables that change at run time. Table mutations come from \
    externref/funcref tables (wasm-bindgen's externref heap, code using `table.grow`); build the guest \
    without them, or set `preinit = false`";
const SEGMENT_ADVICE: &str = "passive data/element segments are dropped at run time, which Wizer cannot \
    replay. Rust emits them for threads builds: drop `-C target-feature=+atomics` from RUSTFLAGS or \
    .cargo/config.toml, or set `preinit = false`";
const GC_ADVICE: &str =
    "Wizer cannot snapshot GC objects; move GC mutations out of the module, or set `preinit = false`";
const IMPORT_ADVICE: &str = "Wizer needs the module to define its own memories, tables and globals. Remove \
    `-C link-arg=--import-memory` (or the threads build that implies it), or set `preinit = false`";

/// What in the module Wizer would refuse (it rejects the whole module, even when init never
/// runs the instruction). With `scan_code` false only the structure is checked (imports,
/// shared memories, globals), which is cheap; the instruction scan reads every function body,
/// so it runs only to explain a module Wizer has refused.
pub fn unsnapshottable(wasm: &[u8], scan_code: bool) -> Result<Vec<Blocker>> {
    let mut blockers = Vec::new();
    let mut imported_funcs = 0u32;
    let mut bodies = Vec::new();
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    let kind = match import.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => {
                            imported_funcs += 1;
                            continue;
                        }
                        TypeRef::Tag(_) => continue,
                        TypeRef::Memory(_) => "an imported memory",
                        TypeRef::Table(_) => "an imported table",
                        TypeRef::Global(_) => "an imported global",
                    };
                    blockers.push(Blocker {
                        what: kind.into(),
                        location: format!("`{}::{}`", import.module, import.name),
                        advice: IMPORT_ADVICE,
                    });
                }
            }
            Payload::MemorySection(reader) => {
                for (index, memory) in reader.into_iter().enumerate() {
                    if memory?.shared {
                        blockers.push(Blocker {
                            what: "a shared memory (threads build)".into(),
                            location: format!("memory {index}"),
                            advice: SEGMENT_ADVICE,
                        });
                    }
                }
            }
            Payload::GlobalSection(reader) => {
                for (index, global) in reader.into_iter().enumerate() {
                    let ty = global?.ty;
                    if ty.mutable && matches!(ty.content_type, wasmparser::ValType::Ref(_)) {
                        blockers.push(Blocker {
                            what: "a mutable reference-typed global".into(),
                            location: format!("global {index}"),
                            advice: TABLE_ADVICE,
                        });
                    }
                }
            }
            Payload::CodeSectionEntry(body) if scan_code => bodies.push(body),
            Payload::CustomSection(section) => {
                if let wasmparser::KnownCustom::Name(reader) = section.as_known() {
                    for name in reader.into_iter().flatten() {
                        if let Name::Function(map) = name {
                            for naming in map.into_iter().flatten() {
                                names.insert(naming.index, naming.name.to_string());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for (i, body) in bodies.iter().enumerate() {
        let func = imported_funcs + i as u32;
        let mut ops = body.get_operators_reader()?;
        while !ops.eof() {
            let offset = ops.original_position();
            let op = ops.read()?;
            let (what, advice) = match op {
                Operator::DataDrop { .. } => ("data.drop", SEGMENT_ADVICE),
                Operator::ElemDrop { .. } => ("elem.drop", SEGMENT_ADVICE),
                Operator::TableSet { .. } => ("table.set", TABLE_ADVICE),
                Operator::TableGrow { .. } => ("table.grow", TABLE_ADVICE),
                Operator::TableFill { .. } => ("table.fill", TABLE_ADVICE),
                Operator::TableCopy { .. } => ("table.copy", TABLE_ADVICE),
                Operator::TableInit { .. } => ("table.init", TABLE_ADVICE),
                Operator::StructSet { .. } => ("struct.set", GC_ADVICE),
                Operator::ArraySet { .. } => ("array.set", GC_ADVICE),
                Operator::ArrayFill { .. } => ("array.fill", GC_ADVICE),
                Operator::ArrayCopy { .. } => ("array.copy", GC_ADVICE),
                Operator::ArrayInitData { .. } => ("array.init_data", GC_ADVICE),
                Operator::ArrayInitElem { .. } => ("array.init_elem", GC_ADVICE),
                _ => continue,
            };
            let name = names.get(&func).map(|n| format!(" `{n}`")).unwrap_or_default();
            blockers.push(Blocker {
                what: format!("the `{what}` instruction"),
                location: format!("function {func}{name} at byte offset {offset:#x}"),
                advice,
            });
        }
    }
    Ok(blockers)
}

pub fn explain_blockers(blockers: &[Blocker]) -> String {
    let mut message = String::from("the module uses features Wizer cannot snapshot (preinit stage)");
    for blocker in blockers.iter().take(5) {
        let _ = write!(message, "\n  {} in {}", blocker.what, blocker.location);
    }
    if blockers.len() > 5 {
        let _ = write!(message, "\n  ... and {} more", blockers.len() - 5);
    }
    let mut advice: Vec<&str> = blockers.iter().map(|b| b.advice).collect();
    advice.dedup();
    for line in advice {
        let _ = write!(message, "\n  help: {line}");
    }
    message
}
