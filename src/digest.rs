//! Content digests: sha256 for names and the manifest, sha384 for SRI `integrity` strings.
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384};

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Subresource Integrity value (`sha384-<base64>`), as browsers check it on `fetch` and
/// `<script integrity>`.
pub fn sri_sha384(bytes: &[u8]) -> String {
    let digest = Sha384::digest(bytes);
    format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(digest))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// A `std::hash::Hasher` that feeds sha256, so a `Hash` value (wasmtime's precompile
/// compatibility hash) gets a digest that is stable across processes and Rust versions,
/// unlike `DefaultHasher`.
#[derive(Default)]
pub struct Sha256Hasher(Sha256);

impl Sha256Hasher {
    pub fn hex(self) -> String {
        hex(&self.0.finalize())
    }
}

impl std::hash::Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("sha256 has 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sri_sha384(b"abc"), "sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn");
    }
}
