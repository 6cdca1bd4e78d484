//! {{name}}: a WebAssembly guest made by `cargo wasmship new`.
//!
//! `wizer.initialize` builds the state once, at build time (cargo wasmship pre-initializes the
//! module), so no instance pays for it at start-up. `score` answers from that state.
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Words and their weights; init turns them into a lookup table.
const WORDS: &str = "free 3\nwinner 4\nprize 3\nurgent 2\nclick 2\nguarantee 3\ncash 2\noffer 1";

static TABLE: OnceLock<BTreeMap<String, i32>> = OnceLock::new();

/// Runs once at build time; its memory ships in the module.
#[export_name = "wizer.initialize"]
pub extern "C" fn init() {
    TABLE.get_or_init(build_table);
}

fn build_table() -> BTreeMap<String, i32> {
    WORDS
        .lines()
        .filter_map(|line| {
            let (word, weight) = line.split_once(' ')?;
            Some((word.to_string(), weight.parse().ok()?))
        })
        .collect()
}

/// Space for the host to write `len` bytes of input into, for `score`.
#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let mut buf = Vec::<u8>::with_capacity(len);
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

/// The sum of the weights of the words in the UTF-8 text at `ptr..ptr+len`; -1 if it is not
/// UTF-8. Without pre-init (a plain host), the table is built on first use.
///
/// # Safety
/// `ptr..ptr+len` must be memory the host wrote through `alloc`.
#[no_mangle]
pub unsafe extern "C" fn score(ptr: *const u8, len: usize) -> i32 {
    let Ok(text) = std::str::from_utf8(std::slice::from_raw_parts(ptr, len)) else {
        return -1;
    };
    let table = TABLE.get_or_init(build_table);
    text.split(|c: char| !c.is_alphanumeric()).filter_map(|word| table.get(&word.to_lowercase())).sum()
}
