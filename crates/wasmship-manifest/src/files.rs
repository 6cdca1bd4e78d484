//! Files named by a manifest, read by every reader the same way: the build, `verify`,
//! `serve` and every host. A directory is written by someone else until checked, so:
//! - an artifact's file name follows one rule ([`check_file_name`]): relative, `/`-separated
//!   plain names, so it cannot leave the directory;
//! - a file is opened only when it is a regular file (a symlink is not followed, a FIFO is not
//!   waited on) and no larger than the reader's ceiling, checked before reading.
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Why a file name is refused, or `Ok`. The rule: one or more components joined by `/`, each
/// 1 to 255 characters of ASCII letters, digits, `.`, `_`, `-` and `+`, none `.` or `..` or
/// starting with `.` (hidden and relative components are never artifacts).
pub fn check_file_name(file: &str) -> Result<(), String> {
    if file.is_empty() {
        return Err("an empty file name".into());
    }
    for part in file.split('/') {
        if part.is_empty() {
            return Err(format!("`{file}` has an empty component (a leading, doubled or trailing `/`)"));
        }
        if part.starts_with('.') {
            return Err(format!("`{file}` has a component starting with `.` (`{part}`)"));
        }
        if part.len() > 255 {
            return Err(format!("`{file}` has a component longer than 255 characters"));
        }
        if let Some(bad) = part.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))) {
            return Err(format!(
                "`{file}` has the character {bad:?}; names use ASCII letters, digits, `.`, `_`, `-`, `+`"
            ));
        }
    }
    Ok(())
}

/// The one rule for the URL path `web/` is published at (the profile's `web-path`, and what a
/// manifest says it was): `/`-started and `/`-terminated, no empty, `.` or `..` segment (so
/// never `//host`), and only unreserved URL characters, so it is safe in a URL, an HTML
/// attribute and a JS string alike.
pub fn check_web_path(path: &str) -> Result<(), String> {
    let Some(inner) = path.strip_prefix('/').and_then(|p| p.strip_suffix('/').or((p.is_empty()).then_some(p))) else {
        return Err(format!("`{path}` must start and end with `/`"));
    };
    if inner.is_empty() {
        return Ok(());
    }
    for segment in inner.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!("`{path}` has an empty, `.` or `..` segment"));
        }
        if let Some(bad) = segment.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')))
        {
            return Err(format!("`{path}` has the character {bad:?}; use ASCII letters, digits, `-`, `.`, `_`, `~`"));
        }
    }
    Ok(())
}

/// Opens `path` for reading when it is a regular file of at most `max` bytes, and returns it
/// with its size. Symlinks are refused, and so is anything but a regular file, before a read
/// could block on it.
pub fn open_regular(path: &Path, max: u64) -> io::Result<(File, u64)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NOFOLLOW: a link is an error; O_NONBLOCK: opening a FIFO does not wait for a writer.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a symbolic link, not a regular file"));
    }
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return io::Error::new(io::ErrorKind::InvalidInput, "a symbolic link, not a regular file");
        }
        e
    })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} bytes, over the ceiling of {max} bytes for this file", meta.len()),
        ));
    }
    Ok((file, meta.len()))
}

/// [`open_regular`], read whole (no more than its size at open: a file growing meanwhile is
/// an error).
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let (file, len) = open_regular(path, max)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(len + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != len {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the file changed while it was read"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod web_path_tests {
    #[test]
    fn web_paths_are_plain_url_paths() {
        for good in ["/", "/app/", "/a/b-c_d.e~/"] {
            assert!(super::check_web_path(good).is_ok(), "{good}");
        }
        for bad in ["", "app/", "/app", "//evil.example/", "/a//b/", "/../", "/a b/", "/a\"/", "/</script>/"] {
            assert!(super::check_web_path(bad).is_err(), "{bad}");
        }
    }
}
