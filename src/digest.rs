//! Content digests (sha256, SRI sha384): shared with hosts through `wasmship-manifest`.
pub use wasmship_manifest::digest::*;
