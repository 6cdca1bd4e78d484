//! What goes on the web and how it must be served. [`served`] is the one description every
//! deploy file here and `cargo wasmship serve` are written from, so they cannot disagree:
//! paths, media types, `Cache-Control`, and the pre-compressed variants of each file.
use crate::config::DeployTarget;
use crate::manifest::{Artifact, ArtifactKind, Manifest, DEPLOY_DIR, WEB_DIR};
use anyhow::{bail, Result};
use serde_json::json;

const LOADER_TEMPLATE: &str = include_str!("../../../templates/web/loader.js");
const BINDGEN_LOADER_TEMPLATE: &str = include_str!("../../../templates/web/loader-bindgen.js");
const NGINX_TEMPLATE: &str = include_str!("../../../templates/deploy/nginx.conf");
const CADDY_TEMPLATE: &str = include_str!("../../../templates/deploy/Caddyfile");
const HEADERS_TEMPLATE: &str = include_str!("../../../templates/deploy/_headers");

/// For content-hashed files: cache for a year, never revalidate.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For files whose name stays the same (the loader, the entry page): revalidate every time.
pub const REVALIDATE: &str = "no-cache";

/// One URL the web files answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    /// URL path, e.g. `/url_filter.0123456789abcdef.wasm`.
    pub path: String,
    /// The identity file, relative to the output directory.
    pub file: String,
    pub media_type: String,
    pub cache_control: &'static str,
    pub sha256: String,
    /// Pre-compressed copies: (`Content-Encoding` token, file, sha256), best first.
    pub variants: Vec<(String, String, String)>,
}

/// Every URL under `web_path`, from the manifest's public artifacts.
pub fn served(manifest: &Manifest, web_path: &str) -> Vec<Served> {
    let public = |a: &&Artifact| a.public && !matches!(a.kind, ArtifactKind::DeployConfig);
    let mut out = Vec::new();
    for artifact in manifest.artifacts.iter().filter(public).filter(|a| a.content_encoding.is_none()) {
        let mut variants: Vec<(String, String, String)> = manifest
            .artifacts
            .iter()
            .filter(public)
            .filter(|v| v.decoded.as_deref() == Some(artifact.name.as_str()))
            .filter_map(|v| Some((v.content_encoding.clone()?, v.file.clone(), v.sha256.clone())))
            .collect();
        variants.sort_by_key(|(encoding, _, _)| preference(encoding));
        out.push(Served {
            path: url_path(web_path, &artifact.file),
            file: artifact.file.clone(),
            media_type: artifact.media_type.clone(),
            cache_control: if artifact.immutable { IMMUTABLE } else { REVALIDATE },
            sha256: artifact.sha256.clone(),
            variants,
        });
    }
    out
}

/// Encodings in the order servers prefer them when a client takes several equally: the
/// smallest first (brotli q11, then zstd, then gzip).
pub fn preference(encoding: &str) -> u8 {
    match encoding {
        "br" => 0,
        "zstd" => 1,
        "gzip" => 2,
        _ => 3,
    }
}

/// The file suffix of a `Content-Encoding`.
fn suffix(encoding: &str) -> &str {
    match encoding {
        "gzip" => "gz",
        "zstd" => "zst",
        other => other,
    }
}

/// The URL path a file of the output directory (`web/...`) is served at under `web_path`.
pub fn url_path(web_path: &str, file: &str) -> String {
    format!("{web_path}{}", relative_to_web(file))
}

fn relative_to_web(file: &str) -> &str {
    file.strip_prefix(WEB_DIR).and_then(|f| f.strip_prefix('/')).unwrap_or(file)
}

use super::{generated, Generated};
use crate::stages::bindgen::Glue;

/// `web/<name>.loader.js`, the browser loader of the shipped module.
pub fn loader(manifest: &Manifest, name: &str) -> Result<Generated> {
    render_loader(LOADER_TEMPLATE, manifest, name)
}

/// A loader from `template`: it names the shipped module's hashed file, its integrity, and
/// the glue `<name>.js` (used by a wasm-bindgen guest's loader).
fn render_loader(template: &str, manifest: &Manifest, name: &str) -> Result<Generated> {
    let Some(wasm) = manifest.shipped_wasm() else { bail!("the loader needs the shipped .wasm in the manifest") };
    let self_file = format!("{name}.loader.js");
    let text = super::bindings::render(
        template,
        &[
            ("tool_version", manifest.tool.version.clone()),
            ("crate", manifest.package.name.clone()),
            ("crate_version", manifest.package.version.clone()),
            ("wasm_name", wasm.name.clone()),
            ("wasm_file_name", relative_to_web(&wasm.file).to_string()),
            ("integrity", wasm.integrity.clone()),
            ("glue_file", format!("{name}.js")),
            ("self_file", self_file.clone()),
        ],
    );
    Ok(generated(&self_file, &super::web(&self_file), ArtifactKind::WebLoader, "text/javascript", text))
}

/// wasm-bindgen's glue files under `web/`, each pointed at the shipped module's hashed name.
/// Their names stay (`<name>.js`), so they revalidate; the module they load is immutable.
pub fn bindgen_glue(manifest: &Manifest, glue: &[Glue], out_name: &str) -> Result<Vec<Generated>> {
    let Some(wasm) = manifest.shipped_wasm() else { bail!("the glue needs the shipped .wasm in the manifest") };
    let shipped = relative_to_web(&wasm.file);
    let mut out = Vec::new();
    for file in glue {
        // The CLI's own file names; anything else would not be a name it writes.
        if let Err(why) = wasmship_manifest::check_file_name(&file.file) {
            bail!("wasm-bindgen wrote `{}`: {why}", file.file);
        }
        let media_type = if file.file.ends_with(".d.ts") { "text/plain" } else { "text/javascript" };
        let text = crate::stages::bindgen::point_glue_at(file, out_name, shipped)?;
        out.push(generated(&file.file, &super::web(&file.file), ArtifactKind::BindgenGlue, media_type, text));
    }
    Ok(out)
}

/// `web/<name>.loader.js` of a wasm-bindgen guest (`bindgen-target = "web"`): fetches the
/// module with its integrity and initializes the glue with it.
pub fn bindgen_loader(manifest: &Manifest, name: &str) -> Result<Generated> {
    render_loader(BINDGEN_LOADER_TEMPLATE, manifest, name)
}

/// The deploy files `targets` ask for, describing `manifest`'s web files at `web_path`.
pub fn deploy_files(manifest: &Manifest, targets: &[DeployTarget], web_path: &str) -> Vec<Generated> {
    let urls = served(manifest, web_path);
    let common = |extra: (&'static str, String)| {
        vec![
            ("tool_version", manifest.tool.version.clone()),
            ("crate", manifest.package.name.clone()),
            ("crate_version", manifest.package.version.clone()),
            ("web_path", web_path.to_string()),
            extra,
        ]
    };
    let deploy = |file: &str| format!("{DEPLOY_DIR}/{file}");
    let mut out = Vec::new();
    for target in targets {
        match target {
            DeployTarget::Nginx => {
                let text =
                    super::bindings::render(NGINX_TEMPLATE, &common(("locations", nginx_locations(&urls, web_path))));
                out.push(generated(
                    "nginx.conf",
                    &deploy("nginx.conf"),
                    ArtifactKind::DeployConfig,
                    "text/plain",
                    text,
                ));
            }
            DeployTarget::Caddy => {
                let mut values = common(("headers", caddy_headers(&urls, web_path)));
                values.push(("precompressed", caddy_precompressed(&urls)));
                let text = super::bindings::render(CADDY_TEMPLATE, &values);
                out.push(generated("Caddyfile", &deploy("Caddyfile"), ArtifactKind::DeployConfig, "text/plain", text));
            }
            DeployTarget::Headers => {
                let text = super::bindings::render(HEADERS_TEMPLATE, &common(("rules", header_rules(&urls, web_path))));
                out.push(generated(
                    "_headers",
                    &super::web("_headers"),
                    ArtifactKind::DeployConfig,
                    "text/plain",
                    text,
                ));
            }
            DeployTarget::S3 => {
                let mut text = serde_json::to_string_pretty(&s3_objects(&urls)).expect("JSON");
                text.push('\n');
                out.push(generated(
                    "s3-objects.json",
                    &deploy("s3-objects.json"),
                    ArtifactKind::DeployConfig,
                    "application/json",
                    text,
                ));
            }
        }
    }
    out
}

/// The entry page (`index.html` at `web_path`), which is the user's, revalidates too.
fn entry_paths(web_path: &str) -> [String; 2] {
    [web_path.to_string(), format!("{web_path}index.html")]
}

fn nginx_locations(urls: &[Served], web_path: &str) -> String {
    let mut blocks = Vec::new();
    for url in urls {
        let mut lines = vec![
            format!("location = {} {{", url.path),
            "    types { }".into(),
            format!("    default_type {};", url.media_type),
        ];
        if url.variants.iter().any(|(e, _, _)| e == "gzip") {
            lines.push("    gzip_static on;".into());
        }
        if url.variants.iter().any(|(e, _, _)| e == "br") {
            lines.push("    brotli_static on;".into());
        }
        if url.variants.iter().any(|(e, _, _)| e == "zstd") {
            // Not in Debian's or nginx.org's packages: uncomment with the module loaded.
            lines.push("    # zstd_static on;  # needs ngx_http_zstd_module (tokers/zstd-nginx-module)".into());
        }
        if !url.variants.is_empty() {
            lines.push("    add_header Vary \"Accept-Encoding\" always;".into());
        }
        lines.push(format!("    add_header Cache-Control \"{}\" always;", url.cache_control));
        lines.push("}".into());
        blocks.push(lines.join("\n"));
    }
    for path in entry_paths(web_path) {
        blocks.push(format!("location = {path} {{\n    add_header Cache-Control \"{REVALIDATE}\" always;\n}}"));
    }
    blocks.join("\n\n")
}

/// Caddy's `precompressed` formats for the encodings the build made, best first.
fn caddy_precompressed(urls: &[Served]) -> String {
    let mut encodings: Vec<&str> =
        urls.iter().flat_map(|url| url.variants.iter().map(|(encoding, _, _)| encoding.as_str())).collect();
    encodings.sort_by_key(|e| preference(e));
    encodings.dedup();
    if encodings.is_empty() {
        return "br gzip".into();
    }
    encodings.join(" ")
}

fn caddy_headers(urls: &[Served], web_path: &str) -> String {
    let mut lines = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        lines.push(format!("\t@wasmship{i} path {}", url.path));
        lines.push(format!("\theader @wasmship{i} Cache-Control \"{}\"", url.cache_control));
        lines.push(format!("\theader @wasmship{i} Content-Type \"{}\"", url.media_type));
    }
    let [entry, index] = entry_paths(web_path);
    lines.push(format!("\t@wasmship_entry path {entry} {index}"));
    lines.push(format!("\theader @wasmship_entry Cache-Control \"{REVALIDATE}\""));
    lines.join("\n")
}

fn header_rules(urls: &[Served], web_path: &str) -> String {
    let mut lines = Vec::new();
    for url in urls {
        lines.push(url.path.clone());
        lines.push(format!("  Content-Type: {}", url.media_type));
        lines.push(format!("  Cache-Control: {}", url.cache_control));
        // These hosts do not negotiate: each pre-compressed copy is its own URL.
        for (encoding, _, _) in &url.variants {
            lines.push(format!("{}.{}", url.path, suffix(encoding)));
            lines.push(format!("  Content-Type: {}", url.media_type));
            lines.push(format!("  Content-Encoding: {encoding}"));
            lines.push(format!("  Cache-Control: {}", url.cache_control));
        }
    }
    for path in entry_paths(web_path) {
        lines.push(path);
        lines.push(format!("  Cache-Control: {REVALIDATE}"));
    }
    lines.join("\n")
}

/// One object per file (S3 cannot negotiate): the identity file under its URL's key, and each
/// pre-compressed copy under its own key with its `Content-Encoding`.
fn s3_objects(urls: &[Served]) -> serde_json::Value {
    let mut objects = Vec::new();
    for url in urls {
        let key = url.path.trim_start_matches('/');
        objects.push(json!({
            "key": key, "file": url.file, "content_type": url.media_type,
            "content_encoding": null, "cache_control": url.cache_control, "sha256": url.sha256,
        }));
        for (encoding, file, sha256) in &url.variants {
            objects.push(json!({
                "key": format!("{key}.{}", suffix(encoding)), "file": file, "content_type": url.media_type,
                "content_encoding": encoding, "cache_control": url.cache_control, "sha256": sha256,
            }));
        }
    }
    json!(objects)
}
