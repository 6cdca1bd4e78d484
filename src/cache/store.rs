//! The cache directory's files, reached only through handles of the directory itself
//! (cap-std): no path read from an entry, a symlink or `..` can lead outside it. Files are
//! opened without following symlinks and without blocking (a FIFO planted there is refused,
//! not waited on), must be regular, and are read no further than the size they should have.
use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::SystemTime;

/// One directory of the cache (`entries` or `blobs`).
pub struct Store {
    dir: Dir,
}

impl Store {
    /// Opens (creating) `root/<sub>`, following no symlink from `root` on.
    pub fn open(root: &Path, parts: &[&str]) -> io::Result<Store> {
        std::fs::create_dir_all(root)?;
        let mut dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
        for part in parts {
            match dir.create_dir(part) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            dir = dir.open_dir_nofollow(part)?;
        }
        Ok(Store { dir })
    }

    /// The file `name`, if it is a regular file of at most `max` bytes (exactly `exact` when
    /// given); its modification time is refreshed (the cache's LRU clock).
    pub fn read(&self, name: &str, max: u64, exact: Option<u64>) -> io::Result<Vec<u8>> {
        let (file, len) = self.open_regular(name)?;
        if len > max || exact.is_some_and(|want| want != len) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{len} bytes, not the size expected")));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        (&file).take(len + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 != len {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "changed while read"));
        }
        Ok(bytes)
    }

    /// The size of the regular file `name`, its use time refreshed.
    pub fn touch(&self, name: &str) -> io::Result<u64> {
        self.open_regular(name).map(|(_, len)| len)
    }

    /// Opens `name` for reading if it is a regular file, without following a link or waiting
    /// on a FIFO, and refreshes its modification time.
    fn open_regular(&self, name: &str) -> io::Result<(std::fs::File, u64)> {
        let mut options = OpenOptions::new();
        options.read(true).follow(FollowSymlinks::No);
        #[cfg(unix)]
        {
            use cap_std::fs::OpenOptionsExt;
            options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
        }
        let file = self.dir.open_with(name, &options)?.into_std();
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not a regular file"));
        }
        let _ = file.set_modified(SystemTime::now());
        Ok((file, meta.len()))
    }

    /// Writes `name` whole or not at all: a new file with a random name, then a rename.
    /// Random names keep writers apart even on a volume shared between hosts.
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = format!("{TMP_PREFIX}{}", random_hex(16));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true).follow(FollowSymlinks::No);
        let mut file = self.dir.open_with(&tmp, &options)?;
        let written = file.write_all(bytes).and_then(|()| file.flush());
        drop(file);
        if let Err(e) = written.and_then(|()| self.dir.rename(&tmp, &self.dir, name)) {
            let _ = self.dir.remove_file(&tmp);
            return Err(e);
        }
        Ok(())
    }

    /// Removes `name` from this directory (a symlink is removed, never followed).
    pub fn remove(&self, name: &str) -> io::Result<()> {
        self.dir.remove_file(name)
    }

    /// (name, bytes, last used) of every regular file whose name `keep` accepts.
    pub fn list(&self, keep: impl Fn(&str) -> bool) -> io::Result<Vec<(String, u64, SystemTime)>> {
        let mut files = Vec::new();
        for entry in self.dir.entries()? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep(&name) {
                continue;
            }
            let Ok(meta) = self.dir.symlink_metadata(&name) else { continue };
            if meta.is_file() {
                let used = meta.modified().map(|t| t.into_std()).unwrap_or(SystemTime::UNIX_EPOCH);
                files.push((name, meta.len(), used));
            }
        }
        Ok(files)
    }
}

/// Temporary files this cache writes start with this; eviction may remove old ones.
pub const TMP_PREFIX: &str = ".tmp-";

/// `n` random bytes from the operating system, as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    crate::digest::hex(&bytes)
}
