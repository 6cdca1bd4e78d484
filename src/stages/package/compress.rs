//! The pre-compressed copies of the shipped module: brotli (q11 by default), gzip (zlib, or
//! zopfli for a smaller one at more build time) and zstd. Every output depends on the input
//! and the settings only, never on the machine: content-addressed names and the manifest stay
//! reproducible.
//!
//! Brotli is the slow one (tens of seconds at q11 for a snapshot of tens of MiB). With
//! `brotli-parts = N` the module is cut into N parts compressed side by side: each part is a
//! brotli stream that knows the bytes before it as its dictionary, and the parts are joined into
//! one standard stream. Faster on N cores, but at q11 the parts lose compression (about 15% on a
//! data-heavy snapshot: the encoder's q11 search makes little use of the dictionary), so one
//! stream stays the default. The part count is the profile's, never the machine's.
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
    /// Brotli parts compressed side by side (1: one stream, the smallest).
    pub brotli_parts: u32,
}

/// A brotli part is at least this large: a smaller module is cut into fewer parts.
pub const BROTLI_MIN_PART: usize = 1 << 20;
/// zstd's window for `Content-Encoding: zstd` (RFC 9659: decoders need not take more than 8 MiB).
const ZSTD_WINDOW_LOG: u32 = 23;

pub fn compress(input: &[u8], encoding: Encoding, settings: &CompressSettings) -> Result<Vec<u8>> {
    match encoding {
        Encoding::Brotli => brotli(input, settings.brotli_quality, settings.brotli_window, settings.brotli_parts),
        Encoding::Gzip if settings.gzip_zopfli => zopfli(input),
        Encoding::Gzip => gzip(input, settings.gzip_level),
        Encoding::Zstd => zstd(input, settings.zstd_level),
    }
}

/// How many parts brotli cuts `len` bytes into when asked for `wanted`: none smaller than
/// [`BROTLI_MIN_PART`].
pub fn brotli_parts(len: usize, wanted: u32) -> usize {
    (wanted as usize).min(len / BROTLI_MIN_PART).max(1)
}

pub fn brotli(input: &[u8], quality: u32, window: u32, parts: u32) -> Result<Vec<u8>> {
    let params = BrotliEncoderParams {
        quality: quality as i32,
        lgwin: window as i32,
        size_hint: input.len(),
        ..Default::default()
    };
    let parts = brotli_parts(input.len(), parts);
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
    fn parts_follow_the_setting_and_the_size() {
        assert_eq!(brotli_parts(64 << 20, 1), 1);
        assert_eq!(brotli_parts(64 << 20, 4), 4);
        assert_eq!(brotli_parts(BROTLI_MIN_PART * 2, 8), 2, "no part smaller than the minimum");
        assert_eq!(brotli_parts(1000, 8), 1);
    }

    #[test]
    fn brotli_in_parts_is_one_stream_decoders_read_and_the_same_every_time() {
        let input = snapshot_like(3 * BROTLI_MIN_PART);
        let parted = brotli(&input, 9, 24, 3).unwrap();
        let mut decoded = Vec::new();
        brotli::Decompressor::new(&parted[..], 1 << 16).read_to_end(&mut decoded).unwrap();
        assert!(decoded == input, "the parts decode to the module");
        assert_eq!(brotli(&input, 9, 24, 3).unwrap(), parted, "the same bytes every time");
        assert_ne!(brotli(&input, 9, 24, 1).unwrap(), parted, "three streams joined, not one");
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
