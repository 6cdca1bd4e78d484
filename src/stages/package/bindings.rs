//! Host code generated next to the artifacts from `templates/hosts/`: Go source that embeds
//! the shipped module with its sha256, and an ES module that loads it once per Node.js
//! process. Both refuse bytes whose sha256 differs from the manifest's.
use crate::config::profile::HostBinding;
use crate::manifest::{ArtifactKind, Manifest};
use anyhow::{bail, Result};

const GO_TEMPLATE: &str = include_str!("../../../templates/hosts/wasmship_embed.go");
const NODE_TEMPLATE: &str = include_str!("../../../templates/hosts/loader.node.mjs");
pub const GO_FILE: &str = "wasmship_embed.go";

pub struct BindingConfig {
    pub bindings: Vec<HostBinding>,
    /// Artifact base name, e.g. `url_filter`.
    pub name: String,
    pub go_package: Option<String>,
    /// The minisign public key outputs are signed with: the bindings refuse what it did not sign.
    pub public_key: Option<String>,
}

pub use super::Generated;

/// Generates each requested binding for `manifest`'s shipped module.
pub fn generate(manifest: &Manifest, config: &BindingConfig) -> Result<Vec<Generated>> {
    let Some(wasm) = manifest.shipped_wasm() else {
        bail!("host bindings need the shipped .wasm in the manifest");
    };
    let memory_cap = manifest.limits.memory_cap;
    let common = [
        ("tool_version", manifest.tool.version.clone()),
        ("crate", manifest.package.name.clone()),
        ("crate_version", manifest.package.version.clone()),
        ("wasm_file", wasm.file.clone()),
        ("sha256", wasm.sha256.clone()),
    ];
    let key = config.public_key.clone().unwrap_or_default();
    let mut out = Vec::new();
    for binding in &config.bindings {
        let (template, file, kind, media_type, extra) = match binding {
            HostBinding::Go => {
                let package = config.go_package.clone().unwrap_or_else(|| go_package_name(&config.name));
                let signature_embed = if key.is_empty() {
                    "// Signature is empty: the profile sets no `public-key` (CheckSigned fails).\nvar Signature []byte"
                } else {
                    "// Signature is manifest.json.minisig, the build's signature of Manifest.\n//\n//go:embed manifest.json.minisig\nvar Signature []byte"
                };
                let signed = !key.is_empty();
                let extra = vec![
                    ("package", package),
                    ("memory_cap", memory_cap.unwrap_or(0).to_string()),
                    ("public_key", key.clone()),
                    ("signature_embed", signature_embed.to_string()),
                    ("signature_doc", if signed { ", signed by the build's key" } else { "" }.to_string()),
                    ("signature_files", if signed { " and manifest.json.minisig" } else { "" }.to_string()),
                ];
                (GO_TEMPLATE, GO_FILE.to_string(), ArtifactKind::GoEmbed, "text/x-go", extra)
            }
            HostBinding::Node => {
                let file = format!("{}.node.mjs", config.name);
                let cap = memory_cap.map_or_else(|| "null".to_string(), |c| c.to_string());
                let key_js = if key.is_empty() { "null".to_string() } else { format!("\"{key}\"") };
                let extra = vec![("self_file", file.clone()), ("memory_cap_js", cap), ("public_key_js", key_js)];
                (NODE_TEMPLATE, file, ArtifactKind::NodeLoader, "text/javascript", extra)
            }
        };
        let values: Vec<(&str, String)> = common.iter().cloned().chain(extra).collect();
        out.push(super::generated(&file, &file, kind, media_type, render(template, &values)));
    }
    Ok(out)
}

/// Fills every `{{key}}` of `template` in one pass, so a value that itself contains `{{` is
/// left as it is. A placeholder without a value is a bug in a template.
pub fn render(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or_else(|| panic!("unclosed placeholder in a template: {}", &rest[start..]));
        let key = &after[..end];
        let value = values.iter().find(|(k, _)| *k == key).unwrap_or_else(|| panic!("no value for {{{{{key}}}}}"));
        out.push_str(&value.1);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// `url-filter.v2` -> `url_filter_v2`: a valid Go package name from an artifact name.
pub fn go_package_name(name: &str) -> String {
    let mut package: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if !package.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        package.insert(0, 'm');
    }
    package
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_package_names_are_identifiers() {
        assert_eq!(go_package_name("url-filter.v2"), "url_filter_v2");
        assert_eq!(go_package_name("2fa"), "m2fa");
        assert!(crate::config::profile::is_go_identifier(&go_package_name("Bot Check")));
    }

    #[test]
    fn values_are_not_templates() {
        assert_eq!(render("a {{x}} b", &[("x", "{{y}}".into())]), "a {{y}} b");
    }

    #[test]
    fn templates_fill_every_placeholder() {
        let values: Vec<(&str, String)> = [
            "tool_version",
            "crate",
            "crate_version",
            "wasm_file",
            "sha256",
            "package",
            "memory_cap",
            "self_file",
            "memory_cap_js",
            "public_key",
            "public_key_js",
            "signature_embed",
            "signature_doc",
            "signature_files",
        ]
        .iter()
        .map(|k| (*k, "x".to_string()))
        .collect();
        for template in [GO_TEMPLATE, NODE_TEMPLATE] {
            assert!(!render(template, &values).contains("{{"));
        }
    }
}
