//! Stage 6: compress the shipped module, then name and describe every artifact. Naming
//! needs only digests, so a fully cached rebuild packages without reading any output bytes;
//! the build command writes the files and the manifest. Host bindings (`bindings`) are
//! generated from the named artifacts.
pub mod bindings;
pub mod compress;
pub mod web;

use super::{Stage, StageReport};
use crate::cache::BlobRef;
use crate::config::Encoding;
use crate::manifest::{Artifact, ArtifactKind, PrecompiledInfo};
use anyhow::Result;
use serde_json::{json, Value};
use std::time::Instant;

pub struct PackageConfig {
    /// Base name of every file, e.g. `app` for `app.<hash>.wasm`.
    pub name: String,
    pub hash_names: bool,
    pub compress: Vec<Encoding>,
    pub brotli_quality: u32,
    pub brotli_window: u32,
    pub gzip_level: u32,
    pub gzip_zopfli: bool,
    pub zstd_level: u32,
    pub brotli_parts: u32,
    /// The guest is a component (wasm32-wasip2).
    pub component: bool,
}

/// Length of the hex sha256 prefix in content-hashed names: 64 bits, plenty against
/// collisions between builds of one package.
pub const HASH_CHARS: usize = 16;

/// The settings that decide `encoding`'s output (its cache key and report).
pub fn compress_settings(encoding: Encoding, config: &PackageConfig) -> Value {
    match encoding {
        Encoding::Brotli => {
            json!({
                "encoding": "br", "quality": config.brotli_quality, "window": config.brotli_window,
                "parts": config.brotli_parts,
            })
        }
        Encoding::Gzip if config.gzip_zopfli => json!({ "encoding": "gz", "zopfli": true }),
        Encoding::Gzip => json!({ "encoding": "gz", "level": config.gzip_level }),
        Encoding::Zstd => json!({ "encoding": "zst", "level": config.zstd_level, "window-log": 23 }),
    }
}

/// Compresses the shipped module with one encoding.
pub fn compress(wasm: &[u8], encoding: Encoding, config: &PackageConfig) -> Result<(Vec<u8>, StageReport)> {
    let started = Instant::now();
    let settings = compress::CompressSettings {
        brotli_quality: config.brotli_quality,
        brotli_window: config.brotli_window,
        gzip_level: config.gzip_level,
        gzip_zopfli: config.gzip_zopfli,
        zstd_level: config.zstd_level as i32,
        brotli_parts: config.brotli_parts,
    };
    let bytes = compress::compress(wasm, encoding, &settings)?;
    let ratio = (bytes.len() as f64 / wasm.len().max(1) as f64 - 1.0) * 100.0;
    let mut report = StageReport::new(Stage::Compress, wasm, &bytes, started, compress_settings(encoding, config))
        .note(format!("{} ({ratio:+.0}%)", encoding.extension()));
    let parts = compress::brotli_parts(wasm.len(), config.brotli_parts);
    if encoding == Encoding::Brotli && parts > 1 {
        report = report.note(format!("in {parts} parts side by side"));
    }
    Ok((bytes, report))
}

/// One artifact to name, by digest.
pub enum Piece<'a> {
    /// The shipped (stripped) module; must come first.
    Wasm(&'a BlobRef),
    Compressed(Encoding, &'a BlobRef),
    Debug(&'a BlobRef),
    Cwasm(&'a PrecompiledInfo, &'a BlobRef),
}

/// Names and describes `pieces`; the i-th artifact is the i-th piece.
pub fn run(pieces: &[Piece<'_>], config: &PackageConfig) -> (Vec<Artifact>, StageReport) {
    let started = Instant::now();
    let name = &config.name;
    let wasm_logical = format!("{name}.wasm");
    let mut wasm_file = String::new();
    let mut artifacts = Vec::new();
    let mut shipped: Option<&BlobRef> = None;
    for piece in pieces {
        let mut artifact = match piece {
            Piece::Wasm(blob) => {
                shipped = Some(blob);
                wasm_file = web(&file_name(config, name, "wasm", blob));
                describe(&wasm_logical, &wasm_file, ArtifactKind::Wasm, blob, config.hash_names)
            }
            Piece::Compressed(encoding, blob) => {
                let ext = encoding.extension();
                let mut artifact = describe(
                    &format!("{wasm_logical}.{ext}"),
                    &format!("{wasm_file}.{ext}"),
                    ArtifactKind::Wasm,
                    blob,
                    config.hash_names,
                );
                artifact.content_encoding = Some(content_encoding(*encoding).into());
                artifact.decoded = Some(wasm_logical.clone());
                artifact
            }
            Piece::Debug(blob) => describe(
                &format!("{name}.debug.wasm"),
                &format!("{name}.debug.wasm"),
                ArtifactKind::DebugWasm,
                blob,
                false,
            ),
            Piece::Cwasm(info, blob) => {
                // Baseline files keep the plain `<name>.<triple>` stem; levels add theirs.
                let stem = match info.cpu_level.as_str() {
                    "baseline" => format!("{name}.{}", info.triple),
                    level => format!("{name}.{}.{level}", info.triple),
                };
                let mut artifact = describe(
                    &format!("{stem}.cwasm"),
                    &file_name(config, &stem, "cwasm", blob),
                    ArtifactKind::Cwasm,
                    blob,
                    config.hash_names,
                );
                artifact.media_type = "application/octet-stream".into();
                artifact.precompiled = Some((*info).clone());
                artifact
            }
        };
        // Everything made from a component is one: the module, its copies, its .cwasm.
        artifact.component = config.component;
        artifacts.push(artifact);
    }

    let shipped = shipped.expect("the shipped module is packaged");
    let settings = json!({ "hash-names": config.hash_names, "compress": config.compress });
    let report = StageReport {
        stage: Stage::Package,
        status: super::StageStatus::Ran,
        bytes_in: shipped.bytes,
        bytes_out: artifacts.iter().map(|a| a.bytes).sum(),
        sha256_in: shipped.sha256.clone(),
        sha256_out: String::new(),
        millis: super::elapsed_ms(started),
        init_millis: None,
        settings,
        notes: vec![format!("{} artifacts", artifacts.len())],
    };
    (artifacts, report)
}

fn content_encoding(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Brotli => "br",
        Encoding::Gzip => "gzip",
        Encoding::Zstd => "zstd",
    }
}

fn file_name(config: &PackageConfig, stem: &str, ext: &str, blob: &BlobRef) -> String {
    if config.hash_names {
        format!("{stem}.{}.{ext}", &blob.sha256[..HASH_CHARS])
    } else {
        format!("{stem}.{ext}")
    }
}

/// One file generated from the named artifacts (host code, loader, deploy configuration):
/// its manifest entry and its bytes.
pub struct Generated {
    pub artifact: Artifact,
    pub bytes: Vec<u8>,
}

/// A generated text file, not content-hashed (its name stays; its content names hashed files).
pub fn generated(name: &str, file: &str, kind: ArtifactKind, media_type: &str, text: String) -> Generated {
    let bytes = text.into_bytes();
    let mut artifact = describe(name, file, kind, &BlobRef::of(&bytes), false);
    artifact.media_type = media_type.into();
    Generated { artifact, bytes }
}

/// `web/<file>`: where files meant for the web go.
pub fn web(file: &str) -> String {
    format!("{}/{file}", crate::manifest::WEB_DIR)
}

pub fn describe(name: &str, file: &str, kind: ArtifactKind, blob: &BlobRef, immutable: bool) -> Artifact {
    Artifact {
        public: file.starts_with(&format!("{}/", crate::manifest::WEB_DIR)),
        name: name.into(),
        file: file.into(),
        kind,
        bytes: blob.bytes,
        sha256: blob.sha256.clone(),
        integrity: blob.integrity.clone(),
        media_type: "application/wasm".into(),
        content_encoding: None,
        decoded: None,
        immutable,
        component: false,
        precompiled: None,
    }
}
