//! `manifest.json`: the schema lives in the `wasmship-manifest` crate so hosts can read it
//! without this tool's dependencies; this module re-exports it for the tool's own use.
pub use wasmship_manifest::*;
