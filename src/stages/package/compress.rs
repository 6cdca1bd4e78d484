//! The pre-compressed copies of the shipped module: brotli (q11 by default), gzip (zlib, or
//! zopfli for a smaller one at more build time) and zstd. Every output depends on the input
//! and the settings only, never on the machine: content-addressed names and the manifest stay
//! reproducible.
//!
//! Brotli is the slow one (tens of seconds at q11 for a snapshot of tens of MiB), so a large
//! module is cut into parts compressed side by side: each part is one brotli stream that knows
//! the bytes before it as its dictionary (so it loses almost nothing), and the parts are joined
//! into a single standard stream. The number of parts follows the size alone.
use crate::config::Encoding;
use anyhow::{anyhow, Context, Result};
use brotli::enc::threading::{Owned, SendAlloc};
use brotli::enc::{BrotliEncoderParams, StandardAlloc, UnionHasher};
use std::io::Write;

/// Settings of the compressions.
#[derive(Debug, Clone, Copy)]
pub struct CompressSettings {
    pub brotli_quality: u32,
    pub brotli_window: u32,
    pub gzip_level: u32,
    /// Gzip with zopfli (same format, a few percent smaller, far slower to make).
    pub gzip_zopfli: bool,
    pub zstd_level: i32,
}

/// A brotli part is at least this large: smaller modules are one stream.
pub const BROTLI_PART: usize = 4 << 20;
/// At most this many parts run side by side.
pub const BROTLI_MAX_PARTS: usize = 8;
/// zstd's window for `Content-Encoding: zstd` (RFC 9659: decoders need not take more than 8 MiB).
const ZSTD_WINDOW_LOG: u32 = 23;

pub fn compress(input: &[u8], encoding: Encoding, settings: &CompressSettings) -> Result<Vec<u8>> {
    match encoding {
        Encoding::Brotli => brotli(input, settings.brotli_quality, settings.brotli_window),
        Encoding::Gzip if settings.gzip_zopfli => zopfli(input),
        Encoding::Gzip => gzip(input, settings.gzip_level),
        Encoding::Zstd => zstd(input, settings.zstd_level),
    }
}

/// How many parts brotli cuts `len` bytes into: by size only.
pub fn brotli_parts(len: usize) -> usize {
    (len / BROTLI_PART).clamp(1, BROTLI_MAX_PARTS)
}

pub fn brotli(input: &[u8], quality: u32, window: u32) -> Result<Vec<u8>> {
    let params = BrotliEncoderParams {
        quality: quality as i32,
        lgwin: window as i32,
        size_hint: input.len(),
        ..Default::default()
    };
    let parts = brotli_parts(input.len());
    if parts == 1 {
        let mut out = Vec::with_capacity(input.len() / 3);
        brotli::BrotliCompress(&mut &input[..], &mut out, &params).context("brotli compression")?;
        return Ok(out);
    }
    brotli_in_parts(input, &params, parts)
}

/// The module as its bytes, for the brotli threads (which take ownership of their input).
struct Input(Vec<u8>);

impl brotli::enc::SliceWrapper<u8> for Input {
    fn slice(&self) -> &[u8] {
        &self.0
    }
}

/// `parts` brotli streams compressed on as many threads, each with the bytes before its part
/// as its dictionary, joined into one stream.
fn brotli_in_parts(input: &[u8], params: &BrotliEncoderParams, parts: usize) -> Result<Vec<u8>> {
    let mut out = vec![0u8; brotli::enc::BrotliEncoderMaxCompressedSizeMulti(input.len(), parts)];
    let mut allocs: Vec<_> =
        (0..parts).map(|_| SendAlloc::new(StandardAlloc::default(), UnionHasher::Uninit)).collect();
    let written = brotli::enc::compress_multi_no_threadpool(
        params,
        &mut Owned::new(Input(input.to_vec())),
        &mut out,
        &mut allocs,
    )
    .map_err(|e| anyhow!("brotli compression in {parts} parts: {e:?}"))?;
    out.truncate(written);
    Ok(out)
}

fn gzip(input: &[u8], level: u32) -> Result<Vec<u8>> {
    // GzBuilder writes mtime 0 and no file name: the bytes depend only on the input.
    let mut encoder =
        flate2::GzBuilder::new().write(Vec::with_capacity(input.len() / 2), flate2::Compression::new(level));
    encoder.write_all(input).context("gzip compression")?;
    encoder.finish().context("gzip compression")
}

fn zopfli(input: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 2);
    zopfli::compress(zopfli::Options::default(), zopfli::Format::Gzip, input, &mut out)
        .context("gzip compression with zopfli")?;
    Ok(out)
}

fn zstd(input: &[u8], level: i32) -> Result<Vec<u8>> {
    let mut encoder = zstd::stream::Encoder::new(Vec::with_capacity(input.len() / 3), level)?;
    encoder.set_parameter(zstd::stream::raw::CParameter::WindowLog(ZSTD_WINDOW_LOG))?;
    encoder.include_checksum(true)?;
    encoder.set_pledged_src_size(Some(input.len() as u64))?;
    encoder.write_all(input).context("zstd compression")?;
    encoder.finish().context("zstd compression")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Data shaped like a snapshot's heap: records that repeat in patterns, some noise.
    fn snapshot_like(len: usize) -> Vec<u8> {
        let mut state = 0x9e3779b97f4a7c15u64;
        (0..len / 8)
            .flat_map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let record = (i as u64).wrapping_mul(2654435761) % 4093;
                ((record << 40) | (state & 0xff)).to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn parts_depend_on_the_size_only() {
        assert_eq!(brotli_parts(1 << 20), 1);
        assert_eq!(brotli_parts(9 << 20), 2);
        assert_eq!(brotli_parts(1 << 30), BROTLI_MAX_PARTS);
    }

    #[test]
    fn brotli_in_parts_is_one_stream_the_size_of_one_part() {
        let input = snapshot_like(3 * BROTLI_PART);
        let parted = brotli(&input, 9, 24).unwrap();
        let params = BrotliEncoderParams { quality: 9, lgwin: 24, size_hint: input.len(), ..Default::default() };
        let mut whole = Vec::new();
        brotli::BrotliCompress(&mut &input[..], &mut whole, &params).unwrap();
        let mut decoded = Vec::new();
        brotli::Decompressor::new(&parted[..], 1 << 16).read_to_end(&mut decoded).unwrap();
        assert!(decoded == input, "the parts decode to the module");
        let ratio = parted.len() as f64 / whole.len() as f64;
        assert!(ratio <= 1.01, "{} bytes in parts against {} in one stream ({ratio:.4})", parted.len(), whole.len());
        assert_eq!(brotli(&input, 9, 24).unwrap(), parted, "the same bytes every time");
    }

    #[test]
    fn zstd_and_zopfli_decode_to_the_input() {
        let input = snapshot_like(1 << 20);
        let zst = zstd(&input, 19).unwrap();
        assert_eq!(zstd::decode_all(&zst[..]).unwrap(), input);
        let gz = zopfli(&input[..64 << 10]).unwrap();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut decoded).unwrap();
        assert_eq!(decoded, &input[..64 << 10]);
        assert!(gz.len() < gzip(&input[..64 << 10], 9).unwrap().len(), "zopfli is smaller than gzip -9");
    }
}

#[cfg(test)]
mod experiment {
    #[test]
    #[ignore]
    fn ratio_on_a_file() {
        let input = std::fs::read(std::env::var("EXP_FILE").unwrap()).unwrap();
        let parts: usize = std::env::var("EXP_PARTS").unwrap().parse().unwrap();
        let q: i32 = std::env::var("EXP_Q").unwrap_or("11".into()).parse().unwrap();
        let params = super::BrotliEncoderParams { quality: q, lgwin: 24, size_hint: input.len(), ..Default::default() };
        let t = std::time::Instant::now();
        let parted = super::brotli_in_parts(&input, &params, parts).unwrap();
        let tp = t.elapsed();
        let t = std::time::Instant::now();
        let mut whole = Vec::new();
        brotli::BrotliCompress(&mut &input[..], &mut whole, &params).unwrap();
        let tw = t.elapsed();
        eprintln!(
            "parts {parts}: {} in {tp:?}; whole: {} in {tw:?}; ratio {:.4}",
            parted.len(),
            whole.len(),
            parted.len() as f64 / whole.len() as f64
        );
    }
}
