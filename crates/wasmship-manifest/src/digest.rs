//! Content digests: sha256 for names, the manifest and host checks; sha384 for SRI
//! `integrity` strings as browsers check them.
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

/// A file's size, sha256 and SRI, read once in blocks: nothing is held whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub bytes: u64,
    pub sha256: String,
    pub integrity: String,
}

impl Digests {
    /// The digests of everything `reader` yields.
    pub fn of_reader(mut reader: impl std::io::Read) -> std::io::Result<Digests> {
        let (mut sha256, mut sha384, mut bytes) = (Sha256::new(), Sha384::new(), 0u64);
        let mut block = vec![0u8; 1 << 16];
        loop {
            let n = match reader.read(&mut block) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            sha256.update(&block[..n]);
            sha384.update(&block[..n]);
            bytes += n as u64;
        }
        let integrity = format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(sha384.finalize()));
        Ok(Digests { bytes, sha256: hex(&sha256.finalize()), integrity })
    }

    /// The digests of the regular file at `path` (see [`crate::files::open_regular`]), no
    /// larger than [`crate::MAX_ARTIFACT_BYTES`].
    pub fn of_file(path: &std::path::Path) -> std::io::Result<Digests> {
        let (file, len) = crate::files::open_regular(path, crate::MAX_ARTIFACT_BYTES)?;
        Digests::of_reader(std::io::Read::take(file, len))
    }
}

/// sha256 of the regular file at `path`, streamed.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    Digests::of_file(path).map(|d| d.sha256)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // FIPS 180-2 test vectors for "abc".
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sri_sha384(b"abc"), "sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn");
    }
}
