//! What init sees of the build machine's files, made the same on every checkout: file
//! metadata (inode, device, timestamps) is replaced by fixed values and directory listings
//! come sorted by name. Otherwise a fresh clone (new inodes, new mtimes) or another
//! filesystem (another readdir order) gives init different answers, a different snapshot,
//! and new content-hashed names.
//!
//! Done by shadowing three WASI preview 1 functions with wrappers that call wasmtime-wasi's
//! own and then rewrite what it wrote into guest memory. wasmtime-wasi finds guest memory
//! through its caller's `memory` export, so the originals cannot be called from the host:
//! they are called through [`SHIM`], a tiny module that imports the guest's memory and
//! re-exports it, instantiated on first use.
use super::sandbox::InitState;
use sha2::{Digest, Sha256};
use wasmtime::{Caller, Extern, Func, Instance, Linker, Memory, Module, Store};

/// Calls the three original functions from wasm, with the guest's memory as its own.
const SHIM: &str = r#"(module
  (import "guest" "memory" (memory 0))
  (import "wasi" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (export "memory" (memory 0))
  (func (export "fd_filestat_get") (param i32 i32) (result i32)
    (call $fd_filestat_get (local.get 0) (local.get 1)))
  (func (export "path_filestat_get") (param i32 i32 i32 i32 i32) (result i32)
    (call $path_filestat_get (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
  (func (export "fd_readdir") (param i32 i32 i32 i64 i32) (result i32)
    (call $fd_readdir (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4))))"#;

const WASI: &str = "wasi_snapshot_preview1";
/// `filestat` (wasi_snapshot_preview1): dev u64 @0, ino u64 @8, filetype u8 @16,
/// nlink u64 @24, size u64 @32, atim u64 @40, mtim u64 @48, ctim u64 @56.
const FILESTAT_DEV: usize = 0;
const FILESTAT_INO: usize = 8;
const FILESTAT_TIMES: [usize; 3] = [40, 48, 56];
/// `dirent`: d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20; name follows.
const DIRENT_SIZE: usize = 24;

/// Shadows `fd_filestat_get`, `path_filestat_get` and `fd_readdir` in `linker` (which has
/// wasmtime-wasi's preview 1 functions) with their neutralized versions.
pub fn neutralize(
    linker: &mut Linker<InitState>,
    store: &mut Store<InitState>,
    epoch_secs: u64,
) -> wasmtime::Result<()> {
    let time = epoch_secs.saturating_mul(1_000_000_000);
    let mut originals = Vec::new();
    for name in ["fd_filestat_get", "path_filestat_get", "fd_readdir"] {
        let func = linker.get(&mut *store, WASI, name)?.into_func();
        originals.push(func.ok_or_else(|| wasmtime::Error::msg(format!("WASI's {name} is not a function")))?);
    }
    let shim = Module::new(store.engine(), SHIM)?;
    let originals: [Func; 3] = originals.try_into().expect("three functions");
    // The shim instance, made on first use (it needs the guest's memory, which exists only
    // once the guest is instantiated).
    let shim_fn = move |caller: &mut Caller<'_, InitState>, name: &str| -> wasmtime::Result<Func> {
        let instance = match caller.data().shim {
            Some(instance) => instance,
            None => {
                let memory = memory(caller)?;
                let imports: [Extern; 4] =
                    [memory.into(), originals[0].into(), originals[1].into(), originals[2].into()];
                let instance = Instance::new(&mut *caller, &shim, &imports)?;
                caller.data_mut().shim = Some(instance);
                instance
            }
        };
        instance.get_func(&mut *caller, name).ok_or_else(|| wasmtime::Error::msg("shim export"))
    };
    linker.allow_shadowing(true);

    let shim = shim_fn.clone();
    linker.func_wrap(WASI, "fd_filestat_get", move |mut caller: Caller<'_, InitState>, fd: i32, buf: i32| {
        let original = shim(&mut caller, "fd_filestat_get")?.typed::<(i32, i32), i32>(&caller)?;
        let errno = original.call(&mut caller, (fd, buf))?;
        if errno == 0 {
            rewrite_filestat(&mut caller, buf, &fd.to_le_bytes(), time)?;
        }
        Ok(errno)
    })?;

    let shim = shim_fn.clone();
    linker.func_wrap(
        WASI,
        "path_filestat_get",
        move |mut caller: Caller<'_, InitState>, fd: i32, flags: i32, path: i32, len: i32, buf: i32| {
            let original = shim(&mut caller, "path_filestat_get")?.typed::<(i32, i32, i32, i32, i32), i32>(&caller)?;
            let errno = original.call(&mut caller, (fd, flags, path, len, buf))?;
            if errno == 0 {
                let memory = memory(&mut caller)?;
                let mut key = fd.to_le_bytes().to_vec();
                key.extend(read(&memory, &caller, path as usize, len as usize)?);
                rewrite_filestat(&mut caller, buf, &key, time)?;
            }
            Ok(errno)
        },
    )?;

    let shim = shim_fn;
    linker.func_wrap(
        WASI,
        "fd_readdir",
        move |mut caller: Caller<'_, InitState>, fd: i32, buf: i32, len: i32, cookie: i64, used: i32| {
            let readdir = shim(&mut caller, "fd_readdir")?.typed::<(i32, i32, i32, i64, i32), i32>(&caller)?;
            // The whole listing, read through the guest's own buffer, then served sorted.
            let mut entries: Vec<(Vec<u8>, u8)> = Vec::new();
            let mut next = 0i64;
            loop {
                let errno = readdir.call(&mut caller, (fd, buf, len, next, used))?;
                if errno != 0 {
                    return Ok(errno);
                }
                let memory = memory(&mut caller)?;
                let filled = u32::from_le_bytes(read(&memory, &caller, used as usize, 4)?.try_into().expect("4 bytes"));
                let bytes = read(&memory, &caller, buf as usize, filled as usize)?;
                let mut at = 0;
                let mut parsed = 0;
                while at + DIRENT_SIZE <= bytes.len() {
                    let name_len = u32::from_le_bytes(bytes[at + 16..at + 20].try_into().expect("4 bytes")) as usize;
                    if at + DIRENT_SIZE + name_len > bytes.len() {
                        break; // cut off by the buffer's end; asked for again from its cookie
                    }
                    next = i64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
                    entries.push((bytes[at + DIRENT_SIZE..at + DIRENT_SIZE + name_len].to_vec(), bytes[at + 20]));
                    at += DIRENT_SIZE + name_len;
                    parsed += 1;
                }
                if (filled as usize) < len as usize {
                    break; // the listing is complete
                }
                if parsed == 0 {
                    // One entry does not fit the guest's buffer: answer unsorted, as WASI would.
                    return readdir.call(&mut caller, (fd, buf, len, cookie, used));
                }
            }
            entries.sort();
            let mut out = Vec::new();
            for (index, (name, kind)) in entries.iter().enumerate().skip(cookie.max(0) as usize) {
                out.extend(((index + 1) as u64).to_le_bytes());
                out.extend(stable_u64(name).to_le_bytes());
                out.extend((name.len() as u32).to_le_bytes());
                out.extend([*kind, 0, 0, 0]);
                out.extend(name);
                if out.len() >= len as usize {
                    break;
                }
            }
            out.truncate(len as usize);
            let memory = memory(&mut caller)?;
            memory.write(&mut caller, buf as usize, &out)?;
            memory.write(&mut caller, used as usize, &(out.len() as u32).to_le_bytes())?;
            Ok(0)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Device 0, an inode derived from what named the file, and every timestamp `time`.
fn rewrite_filestat(caller: &mut Caller<'_, InitState>, buf: i32, key: &[u8], time: u64) -> wasmtime::Result<()> {
    let memory = memory(caller)?;
    let base = buf as usize;
    memory.write(&mut *caller, base + FILESTAT_DEV, &0u64.to_le_bytes())?;
    memory.write(&mut *caller, base + FILESTAT_INO, &stable_u64(key).to_le_bytes())?;
    for offset in FILESTAT_TIMES {
        memory.write(&mut *caller, base + offset, &time.to_le_bytes())?;
    }
    Ok(())
}

fn stable_u64(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    u64::from_le_bytes(digest[..8].try_into().expect("sha256 has 32 bytes")).max(1)
}

fn memory(caller: &mut Caller<'_, InitState>) -> wasmtime::Result<Memory> {
    ["memory", "__wizer_memory_0"]
        .iter()
        .find_map(|name| caller.get_export(name).and_then(Extern::into_memory))
        .ok_or_else(|| wasmtime::Error::msg("the guest exports no memory"))
}

fn read(memory: &Memory, caller: &Caller<'_, InitState>, at: usize, len: usize) -> wasmtime::Result<Vec<u8>> {
    let data = memory.data(caller);
    data.get(at..at.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| wasmtime::Error::msg("WASI wrote outside guest memory"))
}
