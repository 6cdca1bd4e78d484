//! Who vouches for a manifest. A manifest and its artifacts sit in a directory that others can
//! write (a bucket, an artifact store, a shared volume), so a reader decides first what it
//! trusts, and reads the manifest through that:
//! - [`TrustRoot::PublicKey`]: `manifest.json.minisig`, a minisign signature (the format of the
//!   `minisign` and `rsign2` tools) that the holder of the secret key made;
//! - [`TrustRoot::Sha256`]: the manifest's own sha256, pinned by the reader (in its code, its
//!   config, a deploy record);
//! - [`TrustRoot::Directory`]: whatever the directory holds; as much as the reader trusts
//!   everyone who can write the directory.
use crate::{files, Manifest, FILE_NAME, MAX_MANIFEST_BYTES};
use std::fmt;
use std::path::{Path, PathBuf};

/// The signature beside a manifest: `manifest.json.minisig`.
pub const SIGNATURE_FILE: &str = "manifest.json.minisig";
/// A signature file is a few lines.
const MAX_SIGNATURE_BYTES: u64 = 64 << 10;

/// What a reader trusts the manifest on.
#[derive(Clone)]
pub enum TrustRoot {
    /// A minisign public key: the manifest must carry a good signature by its secret key.
    PublicKey(minisign_verify::PublicKey),
    /// The manifest's sha256 (64 hex digits).
    Sha256(String),
    /// The directory itself.
    Directory,
}

impl TrustRoot {
    /// A minisign public key: its base64 line (`RW...`), or the text of a `.pub` file.
    pub fn public_key(text: &str) -> Result<TrustRoot, TrustError> {
        let text = text.trim();
        let key = if text.lines().count() > 1 {
            minisign_verify::PublicKey::decode(text)
        } else {
            minisign_verify::PublicKey::from_base64(text)
        };
        key.map(TrustRoot::PublicKey).map_err(|e| TrustError::BadKey(e.to_string()))
    }

    /// A pinned manifest sha256.
    pub fn sha256(hex: &str) -> Result<TrustRoot, TrustError> {
        let hex = hex.trim().to_ascii_lowercase();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TrustError::BadKey(format!("`{hex}` is not a sha256 (64 hex digits)")));
        }
        Ok(TrustRoot::Sha256(hex))
    }

    pub fn describe(&self) -> &'static str {
        match self {
            TrustRoot::PublicKey(_) => "signed",
            TrustRoot::Sha256(_) => "pinned",
            TrustRoot::Directory => "the directory",
        }
    }
}

/// Why a manifest is not trusted.
#[derive(Debug)]
pub enum TrustError {
    /// The key or pin given is not one.
    BadKey(String),
    /// No `manifest.json.minisig` beside the manifest.
    NoSignature(PathBuf),
    /// The signature does not verify with the key (or is not a signature).
    BadSignature(String),
    /// The manifest's sha256 is not the pinned one.
    WrongDigest { found: String, pinned: String },
    /// The manifest or signature could not be read, or does not parse.
    Read(String),
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustError::BadKey(why) => write!(f, "not a trust root: {why}"),
            TrustError::NoSignature(path) => {
                write!(f, "{} is missing: the manifest is not signed, so it is not trusted", path.display())
            }
            TrustError::BadSignature(why) => {
                write!(f, "the signature does not verify with the public key ({why}): the manifest is not trusted")
            }
            TrustError::WrongDigest { found, pinned } => {
                write!(f, "the manifest's sha256 is {found}, not the pinned {pinned}: the manifest is not trusted")
            }
            TrustError::Read(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for TrustError {}

/// The manifest file of `path` (an output directory or the manifest itself).
pub fn manifest_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(FILE_NAME)
    } else {
        path.to_path_buf()
    }
}

/// Checks `manifest` (its exact bytes) against `root`; `signature` is the text of the
/// signature file, when there is one.
pub fn check(
    manifest: &[u8],
    signature: Option<&str>,
    root: &TrustRoot,
    signature_path: &Path,
) -> Result<(), TrustError> {
    match root {
        TrustRoot::Directory => Ok(()),
        TrustRoot::Sha256(pinned) => {
            let found = crate::digest::sha256_hex(manifest);
            if &found == pinned {
                Ok(())
            } else {
                Err(TrustError::WrongDigest { found, pinned: pinned.clone() })
            }
        }
        TrustRoot::PublicKey(key) => {
            let text = signature.ok_or_else(|| TrustError::NoSignature(signature_path.to_path_buf()))?;
            let signature =
                minisign_verify::Signature::decode(text).map_err(|e| TrustError::BadSignature(e.to_string()))?;
            // Legacy (not prehashed) signatures are accepted too: the data is small either way.
            key.verify(manifest, &signature, true).map_err(|e| TrustError::BadSignature(e.to_string()))
        }
    }
}

/// Reads the manifest at `path` through `root`: the signature or pin is checked against the
/// exact bytes read, before they are parsed. Returns the manifest and its bytes.
pub fn read(path: &Path, root: &TrustRoot) -> Result<(Manifest, Vec<u8>), TrustError> {
    let file = manifest_file(path);
    let bytes = files::read_regular(&file, MAX_MANIFEST_BYTES)
        .map_err(|e| TrustError::Read(format!("reading {}: {e}", file.display())))?;
    let signature_path = file.with_file_name(SIGNATURE_FILE);
    let signature = match root {
        TrustRoot::PublicKey(_) => match files::read_regular(&signature_path, MAX_SIGNATURE_BYTES) {
            Ok(text) => Some(String::from_utf8_lossy(&text).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(TrustError::Read(format!("reading {}: {e}", signature_path.display()))),
        },
        _ => None,
    };
    check(&bytes, signature.as_deref(), root, &signature_path)?;
    let manifest = Manifest::parse(&String::from_utf8_lossy(&bytes))
        .map_err(|e| TrustError::Read(format!("reading {}: {e}", file.display())))?;
    Ok((manifest, bytes))
}
