//! Which wasm-bindgen a guest was built with. Each crate that uses wasm-bindgen contributes to
//! the `__wasm_bindgen_unstable` custom section (the linker joins them into one) a header and
//! a program, each a 4-byte little-endian length and its bytes; the header is JSON
//! `{"schema_version": "...", "version": "..."}`. The CLI must be that exact version: a CLI
//! of another release refuses the module, or worse, misreads it.
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The custom section wasm-bindgen's macros write and its CLI consumes.
pub const SECTION: &str = "__wasm_bindgen_unstable";

/// The wasm-bindgen version every `__wasm_bindgen_unstable` section of `wasm` names, or
/// `None` when the module has none (no `#[wasm_bindgen]` item was linked in).
pub fn version(wasm: &[u8]) -> Result<Option<String>> {
    let mut versions = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::CustomSection(reader) = payload.context("reading the module's sections")? {
            if reader.name() == SECTION {
                versions.extend(header_versions(reader.data())?);
            }
        }
    }
    versions.sort();
    versions.dedup();
    match versions.len() {
        0 => Ok(None),
        1 => Ok(versions.pop()),
        _ => bail!(
            "the module was linked from crates built with different wasm-bindgen versions ({}); \
             one wasm-bindgen CLI cannot read them all\n  help: `cargo update -p wasm-bindgen` so one version remains",
            versions.join(", ")
        ),
    }
}

/// The version of every (header, program) pair in one section's data.
fn header_versions(mut data: &[u8]) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Header {
        version: String,
    }
    let next = |data: &mut &[u8]| -> Result<Vec<u8>> {
        let len = data.get(..4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize);
        let end = len.and_then(|len| len.checked_add(4)).filter(|end| *end <= data.len());
        let end = end.context("a __wasm_bindgen_unstable section cut short")?;
        let part = data[4..end].to_vec();
        *data = &data[end..];
        Ok(part)
    };
    let mut versions = Vec::new();
    while !data.is_empty() {
        let header: Header = serde_json::from_slice(&next(&mut data)?)
            .context("a __wasm_bindgen_unstable header is not the JSON expected")?;
        if !is_version(&header.version) {
            bail!("the __wasm_bindgen_unstable header names version {:?}, not a release number", header.version);
        }
        versions.push(header.version);
        next(&mut data)?; // the program
    }
    Ok(versions)
}

/// `0.2.130`: digits and dots only, as crates.io versions of wasm-bindgen are. The version
/// goes into a command line and a directory name, so nothing else is accepted.
pub fn is_version(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The wasm-bindgen versions `Cargo.lock` at `workspace_root` resolves, if it has one.
pub fn locked_versions(workspace_root: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(workspace_root.join("Cargo.lock")) else { return vec![] };
    let Ok(lock) = text.parse::<toml::Table>() else { return vec![] };
    let packages = lock.get("package").and_then(|p| p.as_array()).cloned().unwrap_or_default();
    packages
        .iter()
        .filter(|p| p.get("name").and_then(|n| n.as_str()) == Some("wasm-bindgen"))
        .filter_map(|p| p.get("version").and_then(|v| v.as_str()).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One section holding a (header, program) pair per header, as the linker joins them.
    fn module_with(headers: &[&str]) -> Vec<u8> {
        let mut module = wasm_encoder::Module::new();
        let mut data = Vec::new();
        for header in headers {
            for part in [header.as_bytes(), b"a program"] {
                data.extend_from_slice(&(part.len() as u32).to_le_bytes());
                data.extend_from_slice(part);
            }
        }
        if !headers.is_empty() {
            module.section(&wasm_encoder::CustomSection { name: SECTION.into(), data: data.into() });
        }
        module.finish()
    }

    #[test]
    fn the_version_comes_from_the_sections_header() {
        let header = r#"{"schema_version":"0.2.130","version":"0.2.130"}"#;
        assert_eq!(version(&module_with(&[header, header])).unwrap().as_deref(), Some("0.2.130"));
        assert_eq!(version(&module_with(&[])).unwrap(), None);
        let other = r#"{"schema_version":"0.2.100","version":"0.2.100"}"#;
        let mixed = version(&module_with(&[header, other])).unwrap_err().to_string();
        assert!(mixed.contains("0.2.100, 0.2.130"), "{mixed}");
        let hostile = r#"{"schema_version":"x","version":"0.2.1 --root /"}"#;
        assert!(version(&module_with(&[header, hostile])).is_err(), "a version goes into a command line: digits only");
    }
}
