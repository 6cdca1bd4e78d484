//! Stage 2: Wizer pre-initialization, in process with `wasmtime-wizer`. The guest's init
//! export runs once, here, inside [`sandbox`]; its memory and globals become the new
//! module's data, so no instance pays for init again.
pub mod sandbox;

use super::{Stage, StageOutput, StageReport};
use crate::wasm::ModuleFacts;
use anyhow::{bail, Context, Result};
use sandbox::{Bound, Sandbox};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;
use wasmparser::{Name, Operator, Parser, Payload, TypeRef};

/// Init export names tried, in order, when the profile names none: the classic Wizer name and
/// the one newer `wasmtime wizer` defaults to.
pub const DEFAULT_INIT_FUNCS: &[&str] = &["wizer.initialize", "wizer-initialize"];

pub struct PreinitConfig {
    /// `None`: run when the module exports an init function, skip (with a note) when not.
    pub enabled: Option<bool>,
    pub init_func: Option<String>,
    pub keep_init_func: bool,
    pub rename_funcs: BTreeMap<String, String>,
    pub sandbox: Sandbox,
}

impl PreinitConfig {
    /// Everything that decides the snapshot, for the cache key: the settings plus what init
    /// can read (env values and the contents of granted directories, hashed). The bounds are
    /// left out: they stop a failing init but do not change a successful one's output.
    pub fn cache_settings(&self) -> Result<serde_json::Value> {
        let wasi = match &self.sandbox.wasi {
            None => serde_json::Value::Null,
            Some(wasi) => {
                let mut dirs = Vec::new();
                for dir in &wasi.dirs {
                    dirs.push(
                        json!({ "guest": dir.guest, "writable": dir.writable, "contents": dir_digest(&dir.host)? }),
                    );
                }
                let env: Vec<String> =
                    wasi.env.iter().map(|(k, v)| format!("{k}={}", crate::digest::sha256_hex(v.as_bytes()))).collect();
                json!({ "env": env, "dirs": dirs, "deterministic": wasi.deterministic })
            }
        };
        Ok(json!({
            "enabled": self.enabled,
            "init-func": self.init_func,
            "keep-init-func": self.keep_init_func,
            "rename-funcs": self.rename_funcs,
            "wasi": wasi,
        }))
    }
}

/// sha256 over every file under `dir` (relative path and contents), in a fixed order.
fn dir_digest(dir: &std::path::Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in
            std::fs::read_dir(&current).with_context(|| format!("reading granted directory {}", current.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        let relative = file.strip_prefix(dir).unwrap_or(&file);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?);
        hasher.update([0]);
    }
    Ok(crate::digest::hex(&hasher.finalize()))
}

pub fn run(wasm: &[u8], config: &PreinitConfig) -> Result<StageOutput> {
    let started = Instant::now();
    let facts = ModuleFacts::read(wasm)?;
    let mut settings = json!({
        "enabled": config.enabled,
        "init-func": config.init_func,
        "keep-init-func": config.keep_init_func,
        "rename-funcs": config.rename_funcs,
        "init-timeout-secs": config.sandbox.timeout.as_secs_f64(),
        "init-max-memory": config.sandbox.max_memory,
        "wasi": config.sandbox.wasi.as_ref().map(|w| json!({
            // Names only: values may be secrets and the manifest is published.
            "env": w.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            "dirs": w.dirs.iter().map(|d| json!({"guest": d.guest, "writable": d.writable})).collect::<Vec<_>>(),
            "deterministic": w.deterministic,
        })),
    });

    let Some(init_func) = choose_init_func(&facts, config)? else {
        let why = if config.enabled == Some(false) {
            "preinit = false".to_string()
        } else {
            format!(
                "no {} export, so nothing to pre-initialize (set `preinit = true` to require one)",
                DEFAULT_INIT_FUNCS.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or ")
            )
        };
        return Ok(StageOutput::skipped(Stage::Preinit, wasm, settings, why));
    };
    settings["init-func"] = json!(init_func);

    let blockers = unsnapshottable(wasm)?;
    if !blockers.is_empty() {
        bail!(explain_blockers(&blockers));
    }
    if config.sandbox.wasi.is_some() && !facts.imports_wasi() {
        // Harmless, but worth saying: the grant does nothing for this guest.
        settings["wasi-note"] = json!("allow-wasi is set but the module imports no WASI functions");
    }

    let mut wizer = wasmtime_wizer::Wizer::new();
    wizer.init_func(init_func.clone()).keep_init_func(config.keep_init_func);
    for (new, old) in &config.rename_funcs {
        wizer.func_rename(new, old);
    }
    let stack = crate::wasm::shadow_stack(wasm)?;
    let run = sandbox::run(&wizer, wasm, &init_func, stack, &config.sandbox)?;
    let snapshot = match run.result {
        Ok(bytes) => bytes,
        Err(error) => bail!(explain_failure(&init_func, error, run.bound_hit, &run.captured_output, config)),
    };
    let mut report =
        StageReport::new(Stage::Preinit, wasm, &snapshot, started, settings).note(format!("ran `{init_func}`"));
    report.init_millis = Some(run.init_millis);
    Ok(StageOutput { bytes: snapshot, report })
}

fn choose_init_func(facts: &ModuleFacts, config: &PreinitConfig) -> Result<Option<String>> {
    if config.enabled == Some(false) {
        return Ok(None);
    }
    if let Some(name) = &config.init_func {
        if facts.exports_func(name) {
            return Ok(Some(name.clone()));
        }
        bail!(missing_init(facts, &format!("the init export `{name}` (init-func) is not in the module")));
    }
    if let Some(name) = DEFAULT_INIT_FUNCS.iter().find(|n| facts.exports_func(n)) {
        return Ok(Some(name.to_string()));
    }
    if config.enabled == Some(true) {
        bail!(missing_init(
            facts,
            "preinit = true, but the module exports neither `wizer.initialize` nor `wizer-initialize`"
        ));
    }
    Ok(None)
}

/// The error for a missing init export, listing the exports that look like init.
fn missing_init(facts: &ModuleFacts, headline: &str) -> String {
    let looks_like_init: Vec<&str> = facts
        .func_exports()
        .filter(|name| {
            let lower = name.to_ascii_lowercase();
            ["init", "setup", "start", "wizer", "boot", "load"].iter().any(|w| lower.contains(w))
        })
        .collect();
    let mut message = format!("{headline} (preinit stage)");
    if looks_like_init.is_empty() {
        let all: Vec<&str> = facts.func_exports().take(12).collect();
        let _ = write!(message, "\n  no export looks like init; function exports: {}", all.join(", "));
    } else {
        let _ = write!(message, "\n  exports that look like init: {}", looks_like_init.join(", "));
    }
    message.push_str(
        "\n  help: export one from the guest, e.g.\n      #[export_name = \"wizer.initialize\"]\n      \
         pub extern \"C\" fn init() { ... }\n    or name yours with `init-func = \"...\"`, or set `preinit = false`",
    );
    message
}

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

/// Scans the whole module (Wizer rejects it even when init never runs the instruction).
pub fn unsnapshottable(wasm: &[u8]) -> Result<Vec<Blocker>> {
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
            Payload::CodeSectionEntry(body) => bodies.push(body),
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

fn explain_blockers(blockers: &[Blocker]) -> String {
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

fn explain_failure(
    init_func: &str,
    error: wasmtime::Error,
    bound: Option<Bound>,
    captured: &str,
    config: &PreinitConfig,
) -> String {
    let mut message = match bound {
        Some(Bound::Timeout) => format!(
            "init `{init_func}` did not finish within {:?} and was stopped (preinit stage)\n  \
             help: if init is just slow, raise the bound: `init-timeout = \"{}s\"` (or --set init-timeout=...)",
            config.sandbox.timeout,
            (config.sandbox.timeout.as_secs() * 4).max(1)
        ),
        Some(Bound::Memory { requested }) => format!(
            "init `{init_func}` tried to grow linear memory to {} but the cap is {} (preinit stage)\n  \
             help: if init really needs that much, raise the bound: `init-max-memory = \"{}MiB\"`",
            human_bytes(requested),
            human_bytes(config.sandbox.max_memory),
            ((requested >> 20) + 1).next_power_of_two().max((config.sandbox.max_memory >> 20) * 2)
        ),
        None => {
            // A trap names itself; a refused host call carries our message naming the import.
            let headline = match error.downcast_ref::<wasmtime::Trap>() {
                Some(trap) => {
                    let trap = trap.to_string();
                    format!("init `{init_func}` trapped: {} (preinit stage)", trap.trim_start_matches("wasm trap: "))
                }
                None => format!("{} (preinit stage)", error.root_cause()),
            };
            format!("{headline}\n{}", describe_trap(&error))
        }
    };
    let captured = captured.trim_end();
    if !captured.is_empty() {
        let tail: Vec<&str> = captured.lines().rev().take(15).collect();
        message.push_str("\n  init's output (last lines):");
        for line in tail.iter().rev() {
            let _ = write!(message, "\n    | {line}");
        }
    }
    message
}

/// The error's own messages and the guest's wasm backtrace, without the host's Rust stack.
fn describe_trap(error: &wasmtime::Error) -> String {
    let mut text = String::new();
    let Some(backtrace) = error.downcast_ref::<wasmtime::WasmBacktrace>() else {
        return text;
    };
    let names: Vec<&str> = backtrace.frames().iter().filter_map(|f| f.func_name()).collect();
    if names.iter().any(|n| n.contains("rust_panic") || n.contains("__rust_start_panic")) {
        text.push_str(
            "  the guest panicked (a Rust panic in wasm ends in an `unreachable` trap); \
             the frames below show where",
        );
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str("  wasm backtrace:");
    for (i, frame) in backtrace.frames().iter().take(16).enumerate() {
        let name = frame.func_name().map(|n| format!("{:#}", rustc_demangle::demangle(n)));
        let shown: String = name.as_deref().unwrap_or("<unnamed>").chars().take(110).collect();
        let offset = frame.module_offset().map(|o| format!("{o:#x}")).unwrap_or_default();
        let _ = write!(text, "\n    {i:>2}: {offset:>9} {shown}");
    }
    if backtrace.frames().len() > 16 {
        let _ = write!(text, "\n    ... {} more frames", backtrace.frames().len() - 16);
    }
    text
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
