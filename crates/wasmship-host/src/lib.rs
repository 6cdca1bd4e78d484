//! Load what `cargo wasmship build` shipped into a wasmtime host.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! # let public_key = "RWQ...";
//! // Trust the manifest on its signature (or `open_pinned` on its sha256):
//! let shipped = wasmship_host::Shipped::open_signed("dist/manifest.json", public_key)?;
//! let engine = wasmtime::Engine::new(&shipped.engine_config()?)?;
//! let loaded = shipped.load(&engine)?; // the best .cwasm this CPU runs, sha256-checked
//! let linker = wasmtime::Linker::<()>::new(&engine);
//! let pre = linker.instantiate_pre(&loaded.module)?; // once per process
//! // per request: a new Store and `pre.instantiate(&mut store)`
//! # Ok(()) }
//! ```
//!
//! A `.cwasm` is native code, loaded with `unsafe`: what it runs is what the manifest names.
//! So the manifest is read through a trust root first ([`wasmship_manifest::trust`]):
//! [`Shipped::open_signed`] (a minisign signature by the build's key), [`Shipped::open_pinned`]
//! (the manifest's sha256, pinned by the host), or [`Shipped::open`], which trusts the
//! directory as much as the host binary itself: use it only where no one else can write it.
//!
//! The manifest records the engine the `.cwasm` files were compiled for; [`Shipped::engine_config`]
//! rebuilds that `Config` and [`Shipped::check_engine`] names every setting a hand-built one
//! gets wrong. [`Shipped::load`] opens a `.cwasm` (a regular file under a size ceiling, never a
//! link), hashes the opened handle against the manifest, and deserializes that same handle:
//! wasmtime maps the file copy-on-write, with no second copy in memory. That assumes the file
//! does not change once opened (wasmtime reads code from the mapping later): where someone else
//! may write the file meanwhile, set [`LoadOptions::from_bytes`], which deserializes the checked
//! bytes themselves. With no `.cwasm` that fits, it compiles the checked `.wasm` when the host
//! has a compiler (the `compiler` feature).
pub mod call;
#[cfg(feature = "component-model")]
pub mod component_call;
pub mod cpu;
pub mod engine;

pub use wasmship_manifest as manifest;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmship_manifest::digest::Digests;
use wasmship_manifest::trust::TrustRoot;
use wasmship_manifest::{files, Artifact, Manifest, PrecompiledInfo, MAX_ARTIFACT_BYTES};
use wasmtime::{Config, Engine, Module};

/// A build's output directory, opened through its manifest.
pub struct Shipped {
    dir: PathBuf,
    manifest: Manifest,
    /// What vouched for the manifest: `signed`, `pinned` or `the directory`.
    trusted_on: &'static str,
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

/// What [`Shipped::load`] (a [`Module`]) or [`Shipped::load_component`] (a component) gave.
pub struct Loaded<T = Module> {
    /// The core module, or the component for [`Shipped::load_component`].
    pub module: T,
    pub source: Source,
    /// Candidates passed over on the way, best first.
    pub skipped: Vec<Skipped>,
    /// Reading the file and checking its sha256.
    pub verify_time: Duration,
    /// `Module::deserialize` (or `Module::new` for a fallback compile).
    pub load_time: Duration,
}

/// What a `.cwasm` deserializes into: a core [`Module`], or with the `component-model`
/// feature a `wasmtime::component::Component`.
pub trait Precompiled: Sized {
    /// Whether this is what a component build ships.
    const COMPONENT: bool;
    /// Whether wasmtime can map the checked file itself; otherwise the checked bytes are
    /// read once and deserialized from memory.
    const MAPS_FILE: bool;
    /// # Safety
    /// `file` holds what the trusted manifest names (see [`Shipped::load_with`]).
    unsafe fn deserialize_file(engine: &Engine, file: std::fs::File) -> wasmtime::Result<Self>;
    /// # Safety
    /// `bytes` are what the trusted manifest names.
    unsafe fn deserialize_bytes(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
    /// Compiles the shipped `.wasm` (hosts with the `compiler` feature).
    #[cfg(feature = "compiler")]
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self>;
}

impl Precompiled for Module {
    const COMPONENT: bool = false;
    const MAPS_FILE: bool = true;
    unsafe fn deserialize_file(engine: &Engine, file: std::fs::File) -> wasmtime::Result<Self> {
        Module::deserialize_open_file(engine, file)
    }
    unsafe fn deserialize_bytes(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        Module::deserialize(engine, bytes)
    }
    #[cfg(feature = "compiler")]
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self> {
        Module::new(engine, wasm)
    }
}

#[cfg(feature = "component-model")]
impl Precompiled for wasmtime::component::Component {
    const COMPONENT: bool = true;
    // wasmtime 48 has no `Component::deserialize_open_file`: reading the path again would
    // load bytes other than those checked, so components always load from checked bytes.
    const MAPS_FILE: bool = false;
    unsafe fn deserialize_file(_: &Engine, _: std::fs::File) -> wasmtime::Result<Self> {
        wasmtime::bail!("components load from checked bytes, not a mapped file")
    }
    unsafe fn deserialize_bytes(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        wasmtime::component::Component::deserialize(engine, bytes)
    }
    #[cfg(feature = "compiler")]
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self> {
        wasmtime::component::Component::new(engine, wasm)
    }
}

/// How [`Shipped::load_with`] picks and loads a `.cwasm`.
#[derive(Clone, Copy)]
pub struct LoadOptions {
    /// Answers "does this CPU have feature X" (detection names, see [`cpu::FEATURES`]).
    /// Defaults to [`cpu::detect`]; give the same function to wasmtime with
    /// `Config::detect_host_feature` when replacing it.
    pub cpu_has: fn(&str) -> Option<bool>,
    /// Deserialize a copy of the checked bytes instead of mapping the checked file: for
    /// directories someone else may write while the module is in use.
    pub from_bytes: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { cpu_has: cpu::detect, from_bytes: false }
    }
}

impl Shipped {
    /// Opens an output directory or its `manifest.json`, trusting whatever the directory
    /// holds: as much as the host binary itself. Use it only for a directory no one else can
    /// write; elsewhere use [`Shipped::open_signed`] or [`Shipped::open_pinned`]. Refuses
    /// manifests of a schema version this crate does not know.
    pub fn open(path: impl AsRef<Path>) -> Result<Shipped> {
        Shipped::open_with(path.as_ref(), &TrustRoot::Directory)
    }

    /// Opens an output directory whose `manifest.json.minisig` is a good minisign signature
    /// by `public_key` (its `RW...` line, or a `.pub` file's text); anything else is refused.
    pub fn open_signed(path: impl AsRef<Path>, public_key: &str) -> Result<Shipped> {
        Shipped::open_with(path.as_ref(), &TrustRoot::public_key(public_key)?)
    }

    /// Opens an output directory whose `manifest.json` has exactly this sha256 (64 hex digits).
    pub fn open_pinned(path: impl AsRef<Path>, manifest_sha256: &str) -> Result<Shipped> {
        Shipped::open_with(path.as_ref(), &TrustRoot::sha256(manifest_sha256)?)
    }

    /// Opens an output directory through `root`.
    pub fn open_with(path: &Path, root: &TrustRoot) -> Result<Shipped> {
        let file = wasmship_manifest::trust::manifest_file(path);
        let (manifest, _) = wasmship_manifest::trust::read(&file, root)
            .with_context(|| format!("opening {} ({})", file.display(), root.describe()))?;
        let dir = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Shipped { dir, manifest, trusted_on: root.describe() })
    }

    /// What vouched for the manifest: `signed`, `pinned` or `the directory`.
    pub fn trusted_on(&self) -> &'static str {
        self.trusted_on
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

    /// The best `.cwasm` of a component build (wasm32-wasip2) for this machine, as
    /// [`Shipped::load_with`] picks it. The engine needs the component model on, as
    /// [`Shipped::engine_config`] sets it.
    #[cfg(feature = "component-model")]
    pub fn load_component(&self, engine: &Engine) -> Result<Loaded<wasmtime::component::Component>> {
        self.load_as(engine, &LoadOptions::default())
    }

    /// Picks the `.cwasm` for this triple that uses the most CPU features this CPU has,
    /// checks its sha256 against the manifest, and deserializes it; a file that fails either
    /// is skipped for the next best. With none left it compiles the sha256-checked `.wasm`
    /// (with the `compiler` feature) or fails naming every candidate and why it was passed over.
    pub fn load_with(&self, engine: &Engine, options: &LoadOptions) -> Result<Loaded> {
        self.load_as(engine, options)
    }

    /// [`Shipped::load_with`] for a module or a component: `T` must be what was shipped.
    pub fn load_as<T: Precompiled>(&self, engine: &Engine, options: &LoadOptions) -> Result<Loaded<T>> {
        match (self.manifest.is_component(), T::COMPONENT) {
            (true, false) => bail!(
                "{} holds a component (wasm32-wasip2), not a core module\n  help: load it with \
                 `Shipped::load_component` (wasmship-host's `component-model` feature)",
                self.dir.display()
            ),
            (false, true) => bail!(
                "{} holds a core module, not a component\n  help: load it with `Shipped::load`",
                self.dir.display()
            ),
            _ => {}
        }
        let mut skipped = Vec::new();
        let engine_problems = engine::mismatches(&self.manifest.engine, engine);
        for (artifact, info) in self.candidates(options, &mut skipped) {
            if !engine_problems.is_empty() {
                let first = &engine_problems[0];
                skipped.push(Skipped { file: artifact.file.clone(), why: format!("engine differs: {first}") });
                continue;
            }
            let started = Instant::now();
            let checked = if options.from_bytes || !T::MAPS_FILE {
                self.read_verified(artifact).map(Checked::Bytes)
            } else {
                self.open_verified(artifact).map(Checked::File)
            };
            let checked = match checked {
                Ok(checked) => checked,
                Err(error) => {
                    skipped.push(Skipped { file: artifact.file.clone(), why: format!("{error:#}") });
                    continue;
                }
            };
            let verify_time = started.elapsed();
            let started = Instant::now();
            // SAFETY: what is deserialized is exactly what the manifest's sha256 names (the
            // opened file was hashed through the same handle; see the crate docs for what a
            // mapped file assumes), and the manifest was read through the caller's trust root.
            // wasmtime checks the engine compatibility recorded in it before using any code.
            let module = match checked {
                Checked::File(file) => unsafe { T::deserialize_file(engine, file) },
                Checked::Bytes(bytes) => unsafe { T::deserialize_bytes(engine, &bytes) },
            };
            match module {
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
        let (path, file, len) = self.open_artifact(artifact)?;
        let mut bytes = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(&mut std::io::Read::take(&file, len + 1), &mut bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        let found = Digests::of_reader(&bytes[..]).with_context(|| format!("reading {}", path.display()))?;
        self.check_digests(artifact, &path, &found)?;
        Ok(bytes)
    }

    /// An artifact's open file, refused unless what was read through that very handle matches
    /// the manifest's size and sha256.
    pub fn open_verified(&self, artifact: &Artifact) -> Result<std::fs::File> {
        let (path, file, len) = self.open_artifact(artifact)?;
        let found = Digests::of_reader(std::io::Read::take(&file, len + 1))
            .with_context(|| format!("reading {}", path.display()))?;
        self.check_digests(artifact, &path, &found)?;
        Ok(file)
    }

    /// Opens an artifact: its name must follow the one rule for artifact names, and the file
    /// must be a regular file within the ceiling, checked before anything is read.
    fn open_artifact(&self, artifact: &Artifact) -> Result<(PathBuf, std::fs::File, u64)> {
        if let Err(why) = wasmship_manifest::check_file_name(&artifact.file) {
            bail!("{why}; refusing to read it");
        }
        let path = self.dir.join(&artifact.file);
        let ceiling = artifact.bytes.min(MAX_ARTIFACT_BYTES);
        let (file, len) =
            files::open_regular(&path, ceiling).with_context(|| format!("{}: refusing to read it", path.display()))?;
        Ok((path, file, len))
    }

    fn check_digests(&self, artifact: &Artifact, path: &Path, found: &Digests) -> Result<()> {
        if found.bytes != artifact.bytes || found.sha256 != artifact.sha256 {
            bail!(
                "{} does not match manifest.json (sha256 {}, {} bytes; manifest says {}, {} bytes): refusing to load it",
                path.display(),
                found.sha256,
                found.bytes,
                artifact.sha256,
                artifact.bytes
            );
        }
        Ok(())
    }

    #[cfg(feature = "compiler")]
    fn fallback<T: Precompiled>(&self, engine: &Engine, skipped: Vec<Skipped>) -> Result<Loaded<T>> {
        let wasm = self.manifest.shipped_wasm().context("manifest.json lists no shipped .wasm to compile")?;
        let started = Instant::now();
        let bytes = self.read_verified(wasm).map_err(|e| self.nothing_fits(&skipped, Some(e)))?;
        let verify_time = started.elapsed();
        let started = Instant::now();
        let module = T::compile(engine, &bytes).map_err(|e| anyhow::anyhow!("compiling {}: {e:#}", wasm.file))?;
        Ok(Loaded {
            module,
            source: Source::Compiled { file: wasm.file.clone() },
            skipped,
            verify_time,
            load_time: started.elapsed(),
        })
    }

    #[cfg(not(feature = "compiler"))]
    fn fallback<T: Precompiled>(&self, _engine: &Engine, skipped: Vec<Skipped>) -> Result<Loaded<T>> {
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

/// A checked `.cwasm`: its open file, or a copy of its bytes.
enum Checked {
    File(std::fs::File),
    Bytes(Vec<u8>),
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
