//! `manifest.json`: the versioned record of one build that hosts, CDN deploys and CI release
//! jobs read. Bump [`SCHEMA_VERSION`] on any change a reader could trip over; adding an
//! optional field is not such a change.
//!
//! It holds no absolute paths and no timestamps, so two builds of the same inputs give equal
//! manifests apart from the `millis` timing fields.
use crate::stages::precompile::PrecompileInfo;
use crate::stages::StageReport;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const SCHEMA_VERSION: u32 = 1;
pub const FILE_NAME: &str = "manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub schema_version: u32,
    pub tool: Tool,
    pub toolchain: Toolchain,
    pub package: PackageInfo,
    pub profile: ProfileInfo,
    /// The module cargo built, before any stage of ours touched it.
    pub input: InputInfo,
    pub stages: Vec<StageReport>,
    pub artifacts: Vec<Artifact>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Toolchain {
    /// `rustc -V` of the toolchain that built the guest.
    pub rustc: String,
    pub wasmtime: String,
    pub binaryen: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PackageInfo {
    pub name: String,
    pub version: String,
    pub target: String,
    pub cargo_profile: String,
    pub features: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProfileInfo {
    pub name: String,
    /// Every resolved key, paths relative to the guest package, env values left out.
    pub settings: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputInfo {
    /// File name only (cargo's artifact name).
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// The shipped module (stripped).
    Wasm,
    /// The optimized module before stripping, for debugging and symbolication.
    DebugWasm,
    /// A wasmtime precompiled module.
    Cwasm,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    /// Stable name to look the artifact up by, e.g. `app.wasm`, `app.wasm.br`,
    /// `app.x86_64-unknown-linux-gnu.cwasm`.
    pub name: String,
    /// The file in the output directory, e.g. `app.0123456789abcdef.wasm`.
    pub file: String,
    pub kind: ArtifactKind,
    pub bytes: u64,
    pub sha256: String,
    /// Subresource Integrity value of the file's bytes (`sha384-...`).
    pub integrity: String,
    /// `Content-Type` to serve it with.
    pub media_type: String,
    /// `br` or `gzip` for pre-compressed variants: serve `name` without the suffix with this
    /// `Content-Encoding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// For a pre-compressed variant: the `name` of the artifact it decompresses to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<String>,
    /// True when the file name carries its content hash: safe to serve with
    /// `Cache-Control: public, max-age=31536000, immutable`.
    pub immutable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precompiled: Option<PrecompileInfo>,
}

impl Manifest {
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("manifest serializes");
        text.push('\n');
        text
    }

    /// Reads a manifest, refusing schema versions this build does not know.
    pub fn read(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("{} is not a cargo-wasmship manifest", path.display()))
    }

    pub fn parse(text: &str) -> Result<Manifest> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == SCHEMA_VERSION as u64 => {}
            Some(v) => bail!("schema_version {v} is not supported (this cargo-wasmship reads {SCHEMA_VERSION})"),
            None => bail!("no `schema_version` field"),
        }
        Ok(serde_json::from_value(value)?)
    }

    pub fn artifact(&self, name: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.name == name)
    }
}
