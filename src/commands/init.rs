//! `cargo wasmship init`: makes an existing crate a guest. Adds `crate-type = ["cdylib"]`
//! (keeping the crate's other crate types) and a commented release profile, editing the
//! Cargo.toml with toml_edit so its formatting and comments survive. A second run finds
//! nothing to change and says so.
use anyhow::{bail, Context, Result};
use std::path::Path;
use toml_edit::{Array, DocumentMut, Item, Table, Value};

const PROFILE: &str = include_str!("../../templates/new/profile.toml");
/// The same profile, for a crate whose `package.metadata` is an inline table.
const INLINE_PROFILE: &str = r#"{ profile = { release = { wasm-opt = ["--converge", "-Oz", "--gufa"], precompile = ["host"], compress = ["br", "gz"] } } }"#;

/// What the init export looks like, for crates that have none yet.
pub const INIT_SNIPPET: &str = r#"#[export_name = "wizer.initialize"]
pub extern "C" fn init() {
    // Build tables, compile regexes, parse config: this runs once, at build time.
}"#;

pub struct Changes {
    /// One line per change; empty when the crate was already a guest.
    pub made: Vec<String>,
    /// True when no `wizer.initialize`/`wizer-initialize` export is in `src/lib.rs`.
    pub needs_init_export: bool,
}

pub fn run(manifest: &Path) -> Result<Changes> {
    let text = std::fs::read_to_string(manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let mut doc: DocumentMut = text.parse().with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    if !doc.contains_key("package") {
        bail!(
            "{} has no [package]: `cargo wasmship init` makes one package a guest\n  \
             help: pass the guest's own Cargo.toml with --manifest-path",
            manifest.display()
        );
    }
    let mut made = Vec::new();
    add_cdylib(&mut doc, &mut made)?;
    let mut updated = doc.to_string();
    let has_profile = doc.get("package").and_then(|p| p.get("metadata")).and_then(|m| m.get("wasmship")).is_some();
    if !has_profile {
        // Appended as text, so its comments stay as written; checked to still parse.
        let appended = format!("{}{PROFILE}", ensure_newline(&updated));
        match appended.parse::<DocumentMut>() {
            Ok(_) => updated = appended,
            Err(_) => {
                // `package.metadata` is an inline table: the profile goes into it, inline too.
                let profile: Value = INLINE_PROFILE.parse().expect("the inline profile is TOML");
                let metadata =
                    doc["package"]["metadata"].as_table_like_mut().context("package.metadata is not a table")?;
                metadata.insert("wasmship", Item::Value(profile));
                updated = doc.to_string();
            }
        }
        made.push("added [package.metadata.wasmship.profile.release] (wasm-opt, precompile, compress)".into());
    }
    if updated != text {
        std::fs::write(manifest, &updated).with_context(|| format!("writing {}", manifest.display()))?;
    }
    let lib = manifest.parent().unwrap_or(Path::new(".")).join(lib_path(&doc));
    let source = std::fs::read_to_string(&lib).unwrap_or_default();
    let needs_init_export = !source.contains("wizer.initialize") && !source.contains("wizer-initialize");
    Ok(Changes { made, needs_init_export })
}

fn ensure_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

fn lib_path(doc: &DocumentMut) -> String {
    doc.get("lib").and_then(|l| l.get("path")).and_then(|p| p.as_str()).unwrap_or("src/lib.rs").to_string()
}

fn add_cdylib(doc: &mut DocumentMut, made: &mut Vec<String>) -> Result<()> {
    let Some(lib) = doc.get_mut("lib") else {
        let mut lib = Table::new();
        let mut types = Array::new();
        // The crate was an rlib (the default): it stays one, for crates that depend on it.
        types.push("rlib");
        types.push("cdylib");
        lib.insert("crate-type", Item::Value(Value::Array(types)));
        lib.decor_mut().set_prefix("\n# A .wasm comes from a cdylib (added by `cargo wasmship init`).\n");
        doc.insert("lib", Item::Table(lib));
        made.push("added [lib] crate-type = [\"rlib\", \"cdylib\"] (rlib was the default)".into());
        return Ok(());
    };
    let Some(lib) = lib.as_table_like_mut() else { bail!("[lib] in Cargo.toml is not a table") };
    match lib.get_mut("crate-type").and_then(|t| t.as_array_mut()) {
        Some(types) if types.iter().any(|t| t.as_str() == Some("cdylib")) => {}
        Some(types) => {
            types.push("cdylib");
            made.push("added \"cdylib\" to [lib] crate-type (the other crate types stay)".into());
        }
        None => {
            let mut types = Array::new();
            // A lib with no crate-type was an rlib: keep it one, for crates that depend on it.
            types.push("rlib");
            types.push("cdylib");
            lib.insert("crate-type", Item::Value(Value::Array(types)));
            made.push("set [lib] crate-type = [\"rlib\", \"cdylib\"] (rlib was the default)".into());
        }
    }
    Ok(())
}
