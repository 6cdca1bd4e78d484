//! Calls on a guest (`--call`): shared with hosts through `wasmship-host`.
pub use wasmship_host::call::*;
