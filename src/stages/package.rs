//! Stage 6: name, hash and compress every artifact. Pure: bytes in, named files out; the
//! output module writes them (atomically) and the build command writes the manifest.
use super::precompile::Precompiled;
use super::{Stage, StageReport};
use crate::config::Encoding;
use crate::digest::{sha256_hex, sri_sha384};
use crate::manifest::{Artifact, ArtifactKind};
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde_json::json;
use std::io::Write;
use std::time::Instant;

pub struct PackageConfig {
    /// Base name of every file, e.g. `app` for `app.<hash>.wasm`.
    pub name: String,
    pub hash_names: bool,
    pub compress: Vec<Encoding>,
    pub brotli_quality: u32,
    pub brotli_window: u32,
    pub gzip_level: u32,
}

/// A file to write and its manifest entry.
pub struct OutputFile {
    pub artifact: Artifact,
    pub bytes: Vec<u8>,
}

/// Length of the hex sha256 prefix in content-hashed names: 64 bits, plenty against
/// collisions between builds of one package.
pub const HASH_CHARS: usize = 16;

pub struct Compressed {
    pub encoding: Encoding,
    pub bytes: Vec<u8>,
    pub millis: f64,
}

/// Compresses `wasm` with every configured encoding, in parallel.
pub fn compress(wasm: &[u8], config: &PackageConfig) -> Result<Vec<Compressed>> {
    config
        .compress
        .par_iter()
        .map(|&encoding| {
            let started = Instant::now();
            let bytes = match encoding {
                Encoding::Brotli => brotli(wasm, config.brotli_quality, config.brotli_window)?,
                Encoding::Gzip => gzip(wasm, config.gzip_level)?,
            };
            Ok(Compressed { encoding, bytes, millis: super::elapsed_ms(started) })
        })
        .collect()
}

fn brotli(input: &[u8], quality: u32, window: u32) -> Result<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: quality as i32,
        lgwin: window as i32,
        size_hint: input.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(input.len() / 3);
    brotli::BrotliCompress(&mut &input[..], &mut out, &params).context("brotli compression")?;
    Ok(out)
}

fn gzip(input: &[u8], level: u32) -> Result<Vec<u8>> {
    // GzBuilder writes mtime 0 and no file name: the bytes depend only on the input.
    let mut encoder = flate2::GzBuilder::new().write(Vec::with_capacity(input.len() / 2), flate2::Compression::new(level));
    encoder.write_all(input).context("gzip compression")?;
    encoder.finish().context("gzip compression")
}

/// Names and describes every artifact. `wasm` is the shipped module, `debug_wasm` the
/// unstripped one.
pub fn run(
    wasm: &[u8],
    debug_wasm: &[u8],
    compressed: Vec<Compressed>,
    precompiled: Vec<Precompiled>,
    config: &PackageConfig,
) -> (Vec<OutputFile>, StageReport) {
    let started = Instant::now();
    let name = &config.name;
    let mut files = Vec::new();

    let wasm_name = format!("{name}.wasm");
    let wasm_file = file_name(config, name, "wasm", wasm);
    files.push(describe(&wasm_name, &wasm_file, ArtifactKind::Wasm, wasm.to_vec(), config.hash_names));
    let mut compress_notes = Vec::new();
    let mut compress_times = Vec::new();
    for variant in compressed {
        compress_times.push(variant.millis);
        let ext = variant.encoding.extension();
        compress_notes.push(format!(
            "{ext} {} ({:+.0}%)",
            crate::stages::preinit::human_bytes(variant.bytes.len() as u64),
            (variant.bytes.len() as f64 / wasm.len().max(1) as f64 - 1.0) * 100.0
        ));
        let mut file = describe(
            &format!("{wasm_name}.{ext}"),
            &format!("{wasm_file}.{ext}"),
            ArtifactKind::Wasm,
            variant.bytes,
            config.hash_names,
        );
        file.artifact.content_encoding = Some(content_encoding(variant.encoding).into());
        file.artifact.decoded = Some(wasm_name.clone());
        files.push(file);
    }
    files.push(describe(&format!("{name}.debug.wasm"), &format!("{name}.debug.wasm"), ArtifactKind::DebugWasm, debug_wasm.to_vec(), false));
    for compiled in precompiled {
        let stem = format!("{name}.{}", compiled.info.triple) + if compiled.info.native_cpu_features { "-native" } else { "" };
        let logical = format!("{stem}.cwasm");
        let file_name = file_name(config, &stem, "cwasm", &compiled.bytes);
        let mut file = describe(&logical, &file_name, ArtifactKind::Cwasm, compiled.bytes, config.hash_names);
        file.artifact.media_type = "application/octet-stream".into();
        file.artifact.precompiled = Some(compiled.info);
        files.push(file);
    }

    let total: u64 = files.iter().map(|f| f.artifact.bytes).sum();
    // Variants compressed side by side: the stage took as long as the slowest one.
    let compress_ms = compress_times.into_iter().fold(0.0, f64::max);
    let settings = json!({
        "hash-names": config.hash_names,
        "compress": config.compress,
        "brotli-quality": config.brotli_quality,
        "brotli-window": config.brotli_window,
        "gzip-level": config.gzip_level,
    });
    let mut report = StageReport::new(Stage::Package, wasm, &[], started, settings);
    report.bytes_out = total;
    report.millis += compress_ms;
    report.sha256_out = String::new();
    report.notes = compress_notes;
    (files, report)
}

fn content_encoding(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Brotli => "br",
        Encoding::Gzip => "gzip",
    }
}

fn file_name(config: &PackageConfig, stem: &str, ext: &str, bytes: &[u8]) -> String {
    if config.hash_names {
        format!("{stem}.{}.{ext}", &sha256_hex(bytes)[..HASH_CHARS])
    } else {
        format!("{stem}.{ext}")
    }
}

fn describe(name: &str, file: &str, kind: ArtifactKind, bytes: Vec<u8>, immutable: bool) -> OutputFile {
    OutputFile {
        artifact: Artifact {
            name: name.into(),
            file: file.into(),
            kind,
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            integrity: sri_sha384(&bytes),
            media_type: "application/wasm".into(),
            content_encoding: None,
            decoded: None,
            immutable,
            precompiled: None,
        },
        bytes,
    }
}
