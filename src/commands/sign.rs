//! `cargo wasmship sign [DIR|MANIFEST] --secret-key FILE`: writes `manifest.json.minisig`, a
//! minisign signature of the manifest's exact bytes, in the format of the `minisign` and
//! `rsign2` tools (anyone checks it with `minisign -V -p KEY.pub -m manifest.json`). The
//! manifest names every artifact by sha256, so the signature covers them all; hosts and
//! `verify --public-key` then trust nothing the key's holder did not sign.
use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use wasmship_manifest::trust::SIGNATURE_FILE;

/// The env var a secret key's password is read from (a CI secret); on a terminal without it,
/// the password is asked for.
pub const PASSWORD_ENV: &str = "CARGO_WASMSHIP_SECRET_KEY_PASSWORD";
/// A minisign secret key file is a few lines.
const MAX_KEY_BYTES: u64 = 64 << 10;

pub struct SignOptions {
    pub secret_key: PathBuf,
    /// The signed comment; by default the package, its version and the time of signing.
    pub trusted_comment: Option<String>,
}

/// Signs the manifest of `target` and returns the signature file written.
pub fn run(target: &Path, options: &SignOptions) -> Result<PathBuf> {
    let manifest_path = wasmship_manifest::trust::manifest_file(target);
    let bytes = wasmship_manifest::files::read_regular(&manifest_path, wasmship_manifest::MAX_MANIFEST_BYTES)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    // Only a manifest this tool wrote is signed: a signature vouches for its artifacts.
    let manifest = crate::manifest::Manifest::parse(&String::from_utf8_lossy(&bytes))
        .with_context(|| format!("{} is not a cargo-wasmship manifest", manifest_path.display()))?;
    let secret = secret_key(&options.secret_key)?;
    let comment = match &options.trusted_comment {
        Some(comment) => comment.clone(),
        None => format!(
            "timestamp:{}\tfile:{}\tpackage:{}@{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            crate::manifest::FILE_NAME,
            manifest.package.name,
            manifest.package.version
        ),
    };
    if comment.contains('\n') {
        bail!("the trusted comment must be one line");
    }
    let signature = minisign::sign(None, &secret, &bytes[..], Some(&comment), Some("signature from cargo-wasmship"))
        .map_err(|e| anyhow::anyhow!("signing {}: {e}", manifest_path.display()))?;
    let out = manifest_path.with_file_name(SIGNATURE_FILE);
    crate::output::write_atomically(&out, signature.to_string().as_bytes())?;
    Ok(out)
}

/// The minisign tool's `-W` (no password) keys carry an all-zero checksum, which the minisign
/// crate takes for a corrupt key: such a key (no KDF, zero checksum, nothing else) is read as
/// it is.
fn unencrypted_without_checksum(text: &str) -> Option<minisign::SecretKey> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.lines().nth(1)?.trim()).ok()?;
    // sig alg (2), kdf alg (2), chk alg (2), salt (32), limits (16), keynum (8), key (64), chk (32)
    let (kdf_alg, checksum) = (bytes.get(2..4)?, bytes.get(126..158)?);
    (bytes.len() == 158 && kdf_alg == [0, 0] && checksum.iter().all(|b| *b == 0))
        .then(|| minisign::SecretKey::from_bytes(&bytes).ok())
        .flatten()
}

/// The secret key of `path`: unencrypted, or decrypted with the password from
/// [`PASSWORD_ENV`], or from a prompt on a terminal.
fn secret_key(path: &Path) -> Result<minisign::SecretKey> {
    let text = wasmship_manifest::files::read_regular(path, MAX_KEY_BYTES)
        .with_context(|| format!("reading the secret key {}", path.display()))?;
    let text = String::from_utf8(text).with_context(|| format!("{} is not a minisign secret key", path.display()))?;
    let key_box = || minisign::SecretKeyBox::from_string(&text);
    let not_a_key = |e: minisign::PError| anyhow::anyhow!("{} is not a minisign secret key: {e}", path.display());
    if let Ok(key) = key_box().map_err(not_a_key)?.into_unencrypted_secret_key() {
        return Ok(key);
    }
    if let Some(key) = unencrypted_without_checksum(&text) {
        return Ok(key);
    }
    let password = match std::env::var(PASSWORD_ENV) {
        Ok(password) => Some(password),
        Err(_) if std::io::stdin().is_terminal() => None, // minisign asks on the terminal
        Err(_) => bail!(
            "{} is encrypted and there is no terminal to ask for its password\n  help: set {PASSWORD_ENV} \
             (in CI, from a secret)",
            path.display()
        ),
    };
    key_box()
        .map_err(not_a_key)?
        .into_secret_key(password)
        .map_err(|e| anyhow::anyhow!("decrypting {}: {e} (wrong password?)", path.display()))
}
