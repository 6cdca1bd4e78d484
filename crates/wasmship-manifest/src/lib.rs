//! `manifest.json`: the versioned record of one cargo-wasmship build that hosts, CDN deploys
//! and CI release jobs read. This crate holds only the schema, the digests that check it and
//! the engine compatibility id, so a host can depend on it without wasmtime's compiler or
//! binaryen.
//!
//! Bump [`SCHEMA_VERSION`] on any change a reader could trip over; adding an optional field
//! is not such a change. The manifest holds no absolute paths, timestamps or timings: two
//! builds of the same inputs write byte-identical manifests, whatever the stage cache held.
pub mod digest;
pub mod engine;
pub mod files;
pub mod trust;

pub use engine::{compatibility_id, EngineProfile, EngineSettings};
pub use files::{check_file_name, check_web_path};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

pub const SCHEMA_VERSION: u32 = 2;
pub const FILE_NAME: &str = "manifest.json";
/// The subdirectory that holds everything meant for the web (publish it, and only it).
pub const WEB_DIR: &str = "web";
/// The subdirectory of server configuration snippets (`deploy` key).
pub const DEPLOY_DIR: &str = "deploy";
/// The largest manifest any reader reads (a build's manifest is a few KiB).
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// The largest artifact any reader reads or decompresses to: wasm32 addresses 4 GiB, and no
/// module, snapshot or `.cwasm` of one comes near it. A fixed ceiling, never taken from a
/// manifest.
pub const MAX_ARTIFACT_BYTES: u64 = 4 << 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub schema_version: u32,
    pub tool: Tool,
    pub toolchain: Toolchain,
    pub package: PackageInfo,
    pub profile: ProfileInfo,
    /// The module cargo built, before any stage of ours touched it.
    pub input: InputInfo,
    pub stages: Vec<StageRecord>,
    /// The wasmtime engine the `.cwasm` files were compiled for; hosts build theirs from it.
    pub engine: EngineProfile,
    pub limits: Limits,
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

/// The pipeline's stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Build,
    Preinit,
    /// wasm-bindgen guests only: the wasm-bindgen CLI, which makes the JS glue.
    Bindgen,
    Optimize,
    Strip,
    Precompile,
    /// One pre-compressed variant; part of the package stage, recorded on its own.
    Compress,
    Package,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Build => "build",
            Stage::Preinit => "preinit",
            Stage::Bindgen => "bindgen",
            Stage::Optimize => "optimize",
            Stage::Strip => "strip",
            Stage::Precompile => "precompile",
            Stage::Compress => "compress",
            Stage::Package => "package",
        }
    }
}

/// What one stage made of what: the deterministic part of a stage's report. How long it
/// took and whether the stage cache served it go to the run report, not here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageRecord {
    pub stage: Stage,
    /// False when the stage was turned off or had nothing to do (its output is its input).
    pub ran: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub sha256_in: String,
    pub sha256_out: String,
    /// The settings the stage ran with (the same values that key its cache entry).
    pub settings: serde_json::Value,
    /// Facts worth a line of output: which init export ran, how many converge rounds...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Limits a host should put on each instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    /// Linear-memory cap in bytes (`wasmtime::StoreLimitsBuilder::memory_size`), from the
    /// profile's `memory-cap`; null when none was set.
    pub memory_cap: Option<u64>,
    /// What `cargo wasmship report` measured for exactly this shipped module: the memory
    /// peak of a call plus headroom. Kept by later builds while the module's bytes are the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended: Option<MemoryRecommendation>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemoryRecommendation {
    /// Recommended linear-memory cap in bytes.
    pub memory_cap: u64,
    /// Linear memory after pre-init, and the peak during the measured call, in bytes.
    pub after_preinit: u64,
    pub peak: u64,
    pub headroom_percent: u32,
    /// The call that was measured, e.g. `verdict("https://example.com/")`.
    pub call: Option<String>,
    /// sha256 of the shipped module it was measured on.
    pub module_sha256: String,
}

impl Limits {
    /// The cap a host should apply: the profile's, else the measured recommendation.
    pub fn effective_memory_cap(&self) -> Option<u64> {
        self.memory_cap.or(self.recommended.as_ref().map(|r| r.memory_cap))
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// The shipped module (stripped), or a pre-compressed variant of it.
    Wasm,
    /// The optimized module before stripping, for debugging and symbolication.
    DebugWasm,
    /// A wasmtime precompiled module.
    Cwasm,
    /// Go source embedding the shipped module (`//go:embed`) with its sha256.
    GoEmbed,
    /// An ES module for Node.js that loads the shipped module once, checking its sha256.
    NodeLoader,
    /// The browser loader (an ES module): fetches the module with its SRI integrity.
    WebLoader,
    /// wasm-bindgen's JS glue for the shipped module (and its TypeScript declarations).
    BindgenGlue,
    /// A server or CDN configuration describing how to serve the web files.
    DeployConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    /// Stable name to look the artifact up by, e.g. `app.wasm`, `app.wasm.br`,
    /// `app.x86_64-unknown-linux-gnu.cwasm`.
    pub name: String,
    /// The file, relative to the manifest, e.g. `web/app.0123456789abcdef.wasm`.
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
    /// True for files under `web/`, meant to be published; everything else stays on servers.
    #[serde(default)]
    pub public: bool,
    /// True for a WebAssembly component (and its compressed copies and `.cwasm`): hosts load
    /// it with `wasmtime::component`, not as a core module.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub component: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precompiled: Option<PrecompiledInfo>,
}

/// What a host needs to know to pick a `.cwasm` and trust it will load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrecompiledInfo {
    pub triple: String,
    /// `baseline` (the architecture's baseline CPU: loads on every machine of the triple), a
    /// named level such as `x86-64-v3`, or `native` (the build machine's own CPU).
    pub cpu_level: String,
    /// CPU features the code uses, named as `std::arch::is_*_feature_detected!` names them.
    /// The host CPU must have every one.
    pub cpu_features: Vec<String>,
    pub wasmtime_version: String,
    /// [`compatibility_id`] of the manifest's engine, this triple and these CPU features.
    pub compatibility_id: String,
    /// How the module's initial linear memory is laid out in the file: as one image a host
    /// maps copy-on-write, or as segments each instantiation copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_image: Option<MemoryImage>,
}

/// The initial contents of a module's linear memory, as the precompile stage laid them out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MemoryImage {
    /// True when the `.cwasm` holds one dense image: a host with `memory_init_cow` (the
    /// default) maps it copy-on-write, so instantiating costs microseconds, not a copy.
    pub copy_on_write: bool,
    /// From the first to the last initialized byte, in bytes (the image's size).
    pub span: u64,
    /// Bytes of data the segments hold.
    pub data: u64,
}

/// Why a manifest could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    NotJson(serde_json::Error),
    /// A `schema_version` this reader does not know: the tool that wrote it is newer (or
    /// older) than this reader.
    UnsupportedSchema {
        found: u64,
    },
    NoSchemaVersion,
    /// The right version, but a field is missing or has the wrong type.
    BadShape(serde_json::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotJson(e) => write!(f, "not JSON: {e}"),
            ReadError::UnsupportedSchema { found } => write!(
                f,
                "schema_version {found} is not supported (this reader knows {SCHEMA_VERSION}); \
                 use a cargo-wasmship / wasmship-host release that matches the tool that wrote it"
            ),
            ReadError::NoSchemaVersion => write!(f, "no `schema_version` field: not a cargo-wasmship manifest"),
            ReadError::BadShape(e) => write!(f, "not a schema_version {SCHEMA_VERSION} manifest: {e}"),
        }
    }
}

impl std::error::Error for ReadError {}

impl Manifest {
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("manifest serializes");
        text.push('\n');
        text
    }

    /// Reads a manifest, refusing schema versions this build does not know.
    pub fn read(path: &Path) -> Result<Manifest, ReadError> {
        let bytes = files::read_regular(path, MAX_MANIFEST_BYTES).map_err(ReadError::Io)?;
        Self::parse(&String::from_utf8_lossy(&bytes))
    }

    pub fn parse(text: &str) -> Result<Manifest, ReadError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(ReadError::NotJson)?;
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == SCHEMA_VERSION as u64 => {}
            Some(found) => return Err(ReadError::UnsupportedSchema { found }),
            None => return Err(ReadError::NoSchemaVersion),
        }
        serde_json::from_value(value).map_err(ReadError::BadShape)
    }

    pub fn artifact(&self, name: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.name == name)
    }

    /// The shipped module (not a compressed variant).
    pub fn shipped_wasm(&self) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.kind == ArtifactKind::Wasm && a.content_encoding.is_none())
    }

    /// Whether the build shipped a component (wasm32-wasip2) rather than a core module.
    pub fn is_component(&self) -> bool {
        self.shipped_wasm().is_some_and(|a| a.component)
    }

    pub fn cwasms(&self) -> impl Iterator<Item = (&Artifact, &PrecompiledInfo)> {
        self.artifacts.iter().filter_map(|a| a.precompiled.as_ref().map(|p| (a, p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_other_schema_versions_by_name() {
        let err = Manifest::parse(r#"{"schema_version": 3}"#).unwrap_err();
        assert!(matches!(err, ReadError::UnsupportedSchema { found: 3 }), "{err}");
        assert!(err.to_string().contains("schema_version 3 is not supported"), "{err}");
        assert!(matches!(Manifest::parse(r#"{"name": "pwa"}"#), Err(ReadError::NoSchemaVersion)));
        assert!(matches!(Manifest::parse("{"), Err(ReadError::NotJson(_))));
        let shape = Manifest::parse(r#"{"schema_version": 2}"#).unwrap_err();
        assert!(matches!(shape, ReadError::BadShape(_)), "{shape}");
    }
}
