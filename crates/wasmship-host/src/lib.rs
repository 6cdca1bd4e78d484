//! Load what `cargo wasmship build` shipped into a wasmtime host.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! let shipped = wasmship_host::Shipped::open("dist/manifest.json")?;
//! let engine = wasmtime::Engine::new(&shipped.engine_config()?)?;
//! let loaded = shipped.load(&engine)?; // the best .cwasm this CPU runs, sha256-checked
//! let linker = wasmtime::Linker::<()>::new(&engine);
//! let pre = linker.instantiate_pre(&loaded.module)?; // once per process
//! // per request: a new Store and `pre.instantiate(&mut store)`
//! # Ok(()) }
//! ```
//!
//! The manifest records the engine the `.cwasm` files were compiled for; [`Shipped::engine_config`]
//! rebuilds that `Config` and [`Shipped::check_engine`] names every setting a hand-built one
//! gets wrong. [`Shipped::load`] verifies a file's sha256 before the `unsafe` deserialize, and
//! falls back to compiling the verified `.wasm` when the host has a compiler (the `compiler`
//! feature) and no `.cwasm` fits.
pub mod call;
pub mod cpu;
pub mod engine;

pub use wasmship_manifest as manifest;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmship_manifest::{digest::sha256_hex, Artifact, Manifest, PrecompiledInfo};
use wasmtime::{Config, Engine, Module};

/// A build's output directory, opened through its manifest.
pub struct Shipped {
    dir: PathBuf,
    manifest: Manifest,
}

/// Where the loaded module came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Deserialized from this `.cwasm` (file name, CPU level).
    Precompiled { file: String, cpu_level: String },
    /// Compiled at load time from the shipped `.wasm` (no `.cwasm` fit this host).
    Compiled { file: String },
}

/// A `.cwasm` that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub file: String,
    pub why: String,
}

pub struct Loaded {
    pub module: Module,
    pub source: Source,
    /// Candidates passed over on the way, best first.
    pub skipped: Vec<Skipped>,
    /// Reading the file and checking its sha256.
    pub verify_time: Duration,
    /// `Module::deserialize` (or `Module::new` for a fallback compile).
    pub load_time: Duration,
}

/// How [`Shipped::load_with`] decides what this machine's CPU has.
#[derive(Clone, Copy)]
pub struct LoadOptions {
    /// Answers "does this CPU have feature X" (detection names, see [`cpu::FEATURES`]).
    /// Defaults to [`cpu::detect`]; give the same function to wasmtime with
    /// `Config::detect_host_feature` when replacing it.
    pub cpu_has: fn(&str) -> Option<bool>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { cpu_has: cpu::detect }
    }
}

impl Shipped {
    /// Opens an output directory or its `manifest.json`. Refuses manifests of a schema
    /// version this crate does not know.
    pub fn open(path: impl AsRef<Path>) -> Result<Shipped> {
        let path = path.as_ref();
        let file = if path.is_dir() { path.join(wasmship_manifest::FILE_NAME) } else { path.to_path_buf() };
        let manifest = Manifest::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        Ok(Shipped { dir, manifest })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A `Config` with every setting the `.cwasm` files were compiled with. Settings that do
    /// not affect compiled code (allocation strategy, stack sizes...) may be changed after.
    pub fn engine_config(&self) -> Result<Config> {
        let mut config = Config::new();
        engine::apply(&self.manifest.engine, &mut config).context("building the engine config from manifest.json")?;
        Ok(config)
    }

    /// Fails with every setting of `engine` that would make wasmtime refuse these `.cwasm`
    /// files, each with the `Config` call that fixes it.
    pub fn check_engine(&self, engine: &Engine) -> Result<()> {
        let mismatches = engine::mismatches(&self.manifest.engine, engine);
        if mismatches.is_empty() {
            return Ok(());
        }
        let mut message = format!(
            "this engine cannot load {}'s .cwasm files ({} setting(s) differ):",
            self.dir.display(),
            mismatches.len()
        );
        for m in &mismatches {
            message.push_str(&format!("\n  {m}"));
        }
        message.push_str("\n  help: build the engine from `Shipped::engine_config()`, or change the profile's `engine` keys to describe this host");
        bail!(message)
    }

    /// The linear-memory cap for each instance, in bytes: the profile's `memory-cap`, else
    /// what `cargo wasmship report` measured and recommended for this module.
    pub fn memory_cap(&self) -> Option<u64> {
        self.manifest.limits.effective_memory_cap()
    }

    /// `StoreLimits` with the recorded memory cap (unlimited when none was recorded).
    pub fn store_limits(&self) -> wasmtime::StoreLimits {
        let mut limits = wasmtime::StoreLimitsBuilder::new();
        if let Some(cap) = self.memory_cap() {
            limits = limits.memory_size(usize::try_from(cap).unwrap_or(usize::MAX));
        }
        limits.build()
    }

    /// The best module for this machine: see [`Shipped::load_with`].
    pub fn load(&self, engine: &Engine) -> Result<Loaded> {
        self.load_with(engine, &LoadOptions::default())
    }

    /// Picks the `.cwasm` for this triple that uses the most CPU features this CPU has,
    /// checks its sha256 against the manifest, and deserializes it; a file that fails either
    /// is skipped for the next best. With none left it compiles the sha256-checked `.wasm`
    /// (with the `compiler` feature) or fails naming every candidate and why it was passed over.
    pub fn load_with(&self, engine: &Engine, options: &LoadOptions) -> Result<Loaded> {
        let mut skipped = Vec::new();
        let engine_problems = engine::mismatches(&self.manifest.engine, engine);
        for (artifact, info) in self.candidates(options, &mut skipped) {
            if !engine_problems.is_empty() {
                let first = &engine_problems[0];
                skipped.push(Skipped { file: artifact.file.clone(), why: format!("engine differs: {first}") });
                continue;
            }
            let started = Instant::now();
            let bytes = match self.read_verified(artifact) {
                Ok(bytes) => bytes,
                Err(error) => {
                    skipped.push(Skipped { file: artifact.file.clone(), why: format!("{error:#}") });
                    continue;
                }
            };
            let verify_time = started.elapsed();
            let started = Instant::now();
            // SAFETY: the bytes are exactly the ones the manifest's sha256 names, written by
            // cargo-wasmship's precompile stage for this engine profile; wasmtime checks the
            // engine compatibility recorded in them before using any code.
            match unsafe { Module::deserialize(engine, &bytes) } {
                Ok(module) => {
                    return Ok(Loaded {
                        module,
                        source: Source::Precompiled { file: artifact.file.clone(), cpu_level: info.cpu_level.clone() },
                        skipped,
                        verify_time,
                        load_time: started.elapsed(),
                    })
                }
                Err(error) => skipped
                    .push(Skipped { file: artifact.file.clone(), why: format!("wasmtime refused it: {error:#}") }),
            }
        }
        self.fallback(engine, skipped)
    }

    /// This host's `.cwasm` candidates, best first; the rest go to `skipped` with a reason.
    fn candidates<'a>(
        &'a self,
        options: &LoadOptions,
        skipped: &mut Vec<Skipped>,
    ) -> Vec<(&'a Artifact, &'a PrecompiledInfo)> {
        let mut fits = Vec::new();
        for (artifact, info) in self.manifest.cwasms() {
            if !triple_matches_host(&info.triple) {
                skipped
                    .push(Skipped { file: artifact.file.clone(), why: format!("for {}, not this host", info.triple) });
                continue;
            }
            let missing: Vec<&str> =
                info.cpu_features.iter().map(String::as_str).filter(|f| (options.cpu_has)(f) != Some(true)).collect();
            if !missing.is_empty() {
                skipped.push(Skipped {
                    file: artifact.file.clone(),
                    why: format!("CPU level {} needs {}, which this CPU lacks", info.cpu_level, missing.join(", ")),
                });
                continue;
            }
            fits.push((artifact, info));
        }
        fits.sort_by_key(|(_, info)| std::cmp::Reverse(info.cpu_features.len()));
        fits
    }

    /// An artifact's bytes, refused unless they match the manifest's size and sha256.
    pub fn read_verified(&self, artifact: &Artifact) -> Result<Vec<u8>> {
        if artifact.file.contains("..") || Path::new(&artifact.file).is_absolute() {
            bail!("{}: file name leaves the output directory; refusing to read it", artifact.file);
        }
        let path = self.dir.join(&artifact.file);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let sha256 = sha256_hex(&bytes);
        if bytes.len() as u64 != artifact.bytes || sha256 != artifact.sha256 {
            bail!(
                "{} does not match manifest.json (sha256 {sha256}, {} bytes; manifest says {}, {} bytes): refusing to load it",
                path.display(),
                bytes.len(),
                artifact.sha256,
                artifact.bytes
            );
        }
        Ok(bytes)
    }

    #[cfg(feature = "compiler")]
    fn fallback(&self, engine: &Engine, skipped: Vec<Skipped>) -> Result<Loaded> {
        let wasm = self.manifest.shipped_wasm().context("manifest.json lists no shipped .wasm to compile")?;
        let started = Instant::now();
        let bytes = self.read_verified(wasm).map_err(|e| self.nothing_fits(&skipped, Some(e)))?;
        let verify_time = started.elapsed();
        let started = Instant::now();
        let module = Module::new(engine, &bytes).map_err(|e| anyhow::anyhow!("compiling {}: {e:?}", wasm.file))?;
        Ok(Loaded {
            module,
            source: Source::Compiled { file: wasm.file.clone() },
            skipped,
            verify_time,
            load_time: started.elapsed(),
        })
    }

    #[cfg(not(feature = "compiler"))]
    fn fallback(&self, _engine: &Engine, skipped: Vec<Skipped>) -> Result<Loaded> {
        Err(self.nothing_fits(&skipped, None))
    }

    fn nothing_fits(&self, skipped: &[Skipped], last: Option<anyhow::Error>) -> anyhow::Error {
        let mut message = format!(
            "no .cwasm in {} loads on this host ({} {})",
            self.dir.display(),
            std::env::consts::ARCH,
            std::env::consts::OS
        );
        if skipped.is_empty() {
            message.push_str("\n  the build precompiled nothing (`precompile = false`)");
        }
        for s in skipped {
            message.push_str(&format!("\n  {}: {}", s.file, s.why));
        }
        if let Some(error) = last {
            message.push_str(&format!("\n  the .wasm fallback failed too: {error:#}"));
        } else if cfg!(feature = "compiler") {
            message.push_str("\n  and the .wasm could not be compiled");
        } else {
            message.push_str(
                "\n  help: add this host's triple to the profile's `precompile`, or build the host with \
                 wasmship-host's `compiler` feature to compile the .wasm instead",
            );
        }
        anyhow::anyhow!(message)
    }
}

/// Whether a `.cwasm` triple names this machine's architecture and operating system.
pub fn triple_matches_host(triple: &str) -> bool {
    let mut parts = triple.split('-');
    let arch = parts.next().unwrap_or_default();
    let os_ok = match std::env::consts::OS {
        "macos" => triple.contains("-darwin") || triple.contains("-macos"),
        os => parts.any(|part| part == os || part.starts_with(os)),
    };
    arch == std::env::consts::ARCH && os_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples_match_this_host_only() {
        let here = format!("{}-unknown-{}-gnu", std::env::consts::ARCH, std::env::consts::OS);
        if std::env::consts::OS == "linux" {
            assert!(triple_matches_host(&here));
        }
        assert!(!triple_matches_host("s390x-unknown-linux-gnu") || std::env::consts::ARCH == "s390x");
        assert!(!triple_matches_host("x86_64-pc-windows-msvc") || std::env::consts::OS == "windows");
    }
}
