//! Example guest: an edge URL filter. Its init compiles every rule (and a Unicode-aware
//! RegexSet per verdict), which takes milliseconds per cold start if done at run time;
//! cargo-wasmship runs it once at build time and ships the compiled state.
use regex::RegexSet;
use std::sync::OnceLock;

struct Filter {
    allow: RegexSet,
    review: RegexSet,
    block: RegexSet,
}

static FILTER: OnceLock<Filter> = OnceLock::new();

fn compile() -> Filter {
    let (mut allow, mut review, mut block) = (vec![], vec![], vec![]);
    for line in include_str!("rules.txt").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (verdict, pattern) = line.split_once(' ').expect("rule has a verdict and a pattern");
        match verdict {
            "allow" => allow.push(pattern),
            "review" => review.push(pattern),
            "block" => block.push(pattern),
            other => panic!("unknown verdict {other}"),
        }
    }
    Filter {
        allow: RegexSet::new(allow).expect("allow rules compile"),
        review: RegexSet::new(review).expect("review rules compile"),
        block: RegexSet::new(block).expect("block rules compile"),
    }
}

/// Runs at build time under cargo-wasmship (Wizer); the snapshot ships the compiled filter.
#[export_name = "wizer.initialize"]
pub extern "C" fn init() {
    let _ = FILTER.set(compile());
}

fn filter() -> &'static Filter {
    // Without pre-init (e.g. in a plain wasm host), compile on first use.
    FILTER.get_or_init(compile)
}

#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let mut buf = Vec::<u8>::with_capacity(len);
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

/// 2 = block, 1 = review, 0 = allow (explicitly or by default), -1 = not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn verdict(ptr: *const u8, len: usize) -> i32 {
    let Ok(url) = std::str::from_utf8(std::slice::from_raw_parts(ptr, len)) else {
        return -1;
    };
    let filter = filter();
    if filter.block.is_match(url) {
        2
    } else if filter.allow.is_match(url) {
        0
    } else if filter.review.is_match(url) {
        1
    } else {
        0
    }
}
