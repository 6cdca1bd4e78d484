//! cargo-wasmship: one command from a Rust guest crate to production WebAssembly.
//!
//! The pipeline is `build -> preinit -> optimize -> strip -> precompile -> package`, one
//! module per stage under [`stages`]; [`commands`] orchestrates them, [`cli`] only parses.
//! The library exists so tests (and host-side tools) can drive single stages.
pub mod build_identity;
pub mod cache;
pub mod call;
pub mod cli;
pub mod commands;
pub mod config;
pub mod digest;
pub mod exit;
pub mod guest;
pub mod home;
pub mod manifest;
pub mod metadata_cache;
pub mod output;
pub mod pipeline;
pub mod plan;
pub mod stages;
pub mod ui;
pub mod wasm;
