//! The key that authenticates stage cache entries. Whoever can write the cache directory (a
//! restored CI cache, a shared volume) cannot write an entry this build accepts without it,
//! so it lives outside that directory: `CARGO_WASMSHIP_CACHE_KEY` (a CI secret), else
//! `cache-key` in the tool's home, created with mode 0600 on first use.
use anyhow::{bail, Context, Result};
use std::path::Path;

pub const ENV: &str = "CARGO_WASMSHIP_CACHE_KEY";
const FILE: &str = "cache-key";
/// Shortest key accepted from the environment, in bytes.
const MIN_ENV_KEY: usize = 16;

/// The key, and where it came from (for `-v` and errors).
pub struct Secret {
    pub key: Vec<u8>,
    pub origin: String,
}

/// Reads (or on first use creates) the key.
pub fn load() -> Result<Secret> {
    if let Some(value) = std::env::var_os(ENV) {
        let value = value.into_encoded_bytes();
        if value.len() < MIN_ENV_KEY {
            bail!(
                "{ENV} holds {} bytes; a cache key needs at least {MIN_ENV_KEY}\n  \
                 help: store 32 random bytes as the CI secret, e.g. the output of `openssl rand -hex 32`",
                value.len()
            );
        }
        return Ok(Secret { key: value, origin: format!("${ENV}") });
    }
    let home = crate::home::dir().context(
        "no home directory for the stage cache's key (neither CARGO_WASMSHIP_HOME, XDG_CACHE_HOME nor HOME is set)",
    )?;
    let path = home.join(FILE);
    let key = match read_key_file(&path) {
        Ok(key) => key,
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) => {
            create_key_file(&home, &path)?
        }
        Err(e) => return Err(e),
    };
    Ok(Secret { key, origin: path.display().to_string() })
}

/// A key file must be a regular file (not a link), readable by its owner only, owned by us,
/// holding 64 hex digits.
fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() {
        bail!("{} is not a regular file; remove it and a new key is made", path.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.mode() & 0o077 != 0 || meta.uid() != rustix::process::geteuid().as_raw() {
            bail!(
                "{} is readable or writable by others (mode {:o}) or not owned by this user; a cache key must be \
                 private\n  help: `chmod 600 {}`, or remove it and a new key is made",
                path.display(),
                meta.mode() & 0o777,
                path.display()
            );
        }
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{} does not hold a key (64 hex digits); remove it and a new key is made", path.display());
    }
    Ok(text.as_bytes().to_vec())
}

/// Writes 32 random bytes, private, under a random name, then links it into place: of two
/// builds creating it at once, one wins and the other reads the winner's whole file.
fn create_key_file(home: &Path, path: &Path) -> Result<Vec<u8>> {
    std::fs::create_dir_all(home).with_context(|| format!("creating {}", home.display()))?;
    let tmp = home.join(format!(".{FILE}-{}", super::store::random_hex(8)));
    let key = super::store::random_hex(32);
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(key.as_bytes()).and_then(|()| file.sync_all())?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key.into_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(path),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}
