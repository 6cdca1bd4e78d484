//! The pipeline's stages, one module each, in order:
//! `build -> preinit -> (bindgen) -> optimize -> strip -> precompile -> package`; bindgen only
//! for wasm-bindgen guests.
//!
//! Every stage takes bytes and a typed config and returns bytes plus a [`StageReport`]; the
//! orchestration (and nothing else) lives in `commands::build`.
pub mod bindgen;
pub mod build;
pub mod optimize;
pub mod package;
pub mod precompile;
pub mod preinit;
pub mod proposals;
pub mod strip;

use crate::digest::sha256_hex;
use serde::{Deserialize, Serialize};
use std::time::Instant;

pub use wasmship_manifest::Stage;

/// What one stage did in this run: printed in the stage table and kept in the run report;
/// its deterministic part ([`StageReport::record`]) goes into the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageReport {
    pub stage: Stage,
    /// `ran`, `skipped` (turned off, or nothing to do) or `cached`.
    pub status: StageStatus,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub sha256_in: String,
    pub sha256_out: String,
    /// Wall time in milliseconds.
    pub millis: f64,
    /// Preinit only: wall time of instantiation, init and snapshot (compilation excluded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_millis: Option<f64>,
    /// The settings the stage ran with (the same values that key its cache entry).
    pub settings: serde_json::Value,
    /// Facts worth a line of output: which init export ran, how many converge rounds...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageStatus {
    Ran,
    Skipped,
    Cached,
}

/// A stage's main output.
pub struct StageOutput {
    pub bytes: Vec<u8>,
    pub report: StageReport,
}

impl StageReport {
    /// A report for a stage that turned `input` into `output`, timed from `started`.
    pub fn new(stage: Stage, input: &[u8], output: &[u8], started: Instant, settings: serde_json::Value) -> Self {
        StageReport {
            stage,
            status: StageStatus::Ran,
            bytes_in: input.len() as u64,
            bytes_out: output.len() as u64,
            // The build stage has no input bytes: say so rather than hash nothing.
            sha256_in: if input.is_empty() { String::new() } else { sha256_hex(input) },
            sha256_out: sha256_hex(output),
            millis: elapsed_ms(started),
            init_millis: None,
            settings,
            notes: vec![],
        }
    }

    /// A stage that passed its input through unchanged.
    pub fn skipped(stage: Stage, input: &[u8], settings: serde_json::Value, why: impl Into<String>) -> Self {
        let mut report = StageReport::new(stage, input, input, Instant::now(), settings);
        report.status = StageStatus::Skipped;
        report.millis = 0.0;
        report.notes.push(why.into());
        report
    }

    /// The manifest's record: what the stage made, not how long it took or whether the
    /// cache served it.
    pub fn record(&self) -> wasmship_manifest::StageRecord {
        wasmship_manifest::StageRecord {
            stage: self.stage,
            ran: self.status != StageStatus::Skipped,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            sha256_in: self.sha256_in.clone(),
            sha256_out: self.sha256_out.clone(),
            settings: self.settings.clone(),
            notes: self.notes.clone(),
        }
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

pub fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

impl StageOutput {
    pub fn skipped(stage: Stage, input: &[u8], settings: serde_json::Value, why: impl Into<String>) -> Self {
        StageOutput { bytes: input.to_vec(), report: StageReport::skipped(stage, input, settings, why) }
    }
}
