//! Finding the guest package with `cargo metadata`: which package, its lib name, its
//! `wasmship` metadata and the workspace's, and where its target directory is.
use anyhow::{bail, Result};
use cargo_metadata::{Metadata, MetadataCommand, Package, TargetKind};
use std::path::PathBuf;

/// Cargo's own flags, passed through to `cargo metadata` and `cargo build`.
#[derive(Debug, Clone, Default)]
pub struct CargoArgs {
    pub manifest_path: Option<PathBuf>,
    pub package: Option<String>,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub locked: bool,
    pub offline: bool,
    pub frozen: bool,
    pub target_dir: Option<PathBuf>,
}

impl CargoArgs {
    /// `--locked`, `--offline`, `--frozen` as given.
    pub fn lock_flags(&self) -> Vec<&'static str> {
        let mut flags = vec![];
        if self.locked {
            flags.push("--locked");
        }
        if self.offline {
            flags.push("--offline");
        }
        if self.frozen {
            flags.push("--frozen");
        }
        flags
    }
}

pub struct Guest {
    pub package: Package,
    /// The lib target's name (cargo's artifact stem, `-` replaced by `_`).
    pub lib_name: String,
    pub metadata: Metadata,
    pub target_dir: PathBuf,
}

impl Guest {
    pub fn workspace_manifest(&self) -> PathBuf {
        self.metadata.workspace_root.join("Cargo.toml").into()
    }

    pub fn package_dir(&self) -> PathBuf {
        self.package.manifest_path.parent().map(PathBuf::from).unwrap_or_default()
    }
}

pub fn locate(args: &CargoArgs) -> Result<Guest> {
    if let Some(metadata) = crate::metadata_cache::load(args) {
        // A cached answer that no longer selects a package falls through to a fresh one.
        if let Ok(guest) = from_metadata(metadata, args) {
            return Ok(guest);
        }
    }
    from_metadata(fresh_metadata(args)?, args)
}

/// `cargo metadata` for `args`: the cached answer while nothing it read has changed, else a
/// fresh one, remembered for next time.
fn metadata(args: &CargoArgs) -> Result<Metadata> {
    match crate::metadata_cache::load(args) {
        Some(metadata) => Ok(metadata),
        None => fresh_metadata(args),
    }
}

fn fresh_metadata(args: &CargoArgs) -> Result<Metadata> {
    let metadata = run_cargo_metadata(args)?;
    // Best effort: a cache that cannot be written only costs speed.
    let _ = crate::metadata_cache::store(args, &metadata);
    Ok(metadata)
}

/// The workspace root, and the names of its packages that have a
/// `[package.metadata.wasmship]` table (in workspace order): what `--workspace` builds.
pub fn guests_with_profiles(args: &CargoArgs) -> Result<(PathBuf, Vec<String>)> {
    let metadata = metadata(args)?;
    let names = metadata
        .workspace_packages()
        .iter()
        .filter(|p| p.metadata.get("wasmship").is_some())
        .map(|p| p.name.to_string())
        .collect();
    Ok((metadata.workspace_root.clone().into(), names))
}

/// True when `args` point at a virtual workspace (no root package) and name no package.
pub fn is_virtual_workspace(args: &CargoArgs) -> Result<bool> {
    if args.package.is_some() {
        return Ok(false);
    }
    let metadata = metadata(args)?;
    Ok(invoked_package(&metadata, args).is_none())
}

/// The package whose Cargo.toml the command was pointed at (`--manifest-path`, else the
/// nearest Cargo.toml above the current directory), as cargo picks it; `None` for a
/// virtual manifest. (`Metadata::root_package` is the workspace root's package instead, which
/// is the wrong one for `--manifest-path member/Cargo.toml`.)
fn invoked_package<'m>(metadata: &'m Metadata, args: &CargoArgs) -> Option<&'m Package> {
    let manifest = match &args.manifest_path {
        Some(path) => path.clone(),
        None => {
            let cwd = std::env::current_dir().ok()?;
            cwd.ancestors().map(|dir| dir.join("Cargo.toml")).find(|path| path.is_file())?
        }
    };
    let manifest = manifest.canonicalize().ok()?;
    metadata
        .workspace_packages()
        .into_iter()
        .find(|p| p.manifest_path.as_std_path().canonicalize().is_ok_and(|path| path == manifest))
}

fn run_cargo_metadata(args: &CargoArgs) -> Result<Metadata> {
    let mut command = MetadataCommand::new();
    command.no_deps();
    if let Some(path) = &args.manifest_path {
        command.manifest_path(path);
    }
    command.other_options(args.lock_flags().iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let metadata = command.exec().map_err(|e| match e {
        cargo_metadata::Error::CargoMetadata { stderr } => anyhow::anyhow!(
            "`cargo metadata` failed for {}:\n{}\n  help: run in the guest crate's directory or pass --manifest-path <guest>/Cargo.toml",
            args.manifest_path.as_ref().map_or("the current directory".into(), |p| p.display().to_string()),
            stderr.trim_end()
        ),
        other => anyhow::Error::new(other).context("could not run `cargo metadata`"),
    })?;
    Ok(metadata)
}

fn from_metadata(metadata: Metadata, args: &CargoArgs) -> Result<Guest> {
    let package = select_package(&metadata, args)?.clone();
    let lib_name = cdylib_name(&package)?;
    let target_dir = args.target_dir.clone().unwrap_or_else(|| metadata.target_directory.clone().into());
    Ok(Guest { package, lib_name, metadata, target_dir })
}

fn select_package<'m>(metadata: &'m Metadata, args: &CargoArgs) -> Result<&'m Package> {
    let members: Vec<&Package> = metadata.workspace_packages();
    if let Some(name) = &args.package {
        let found: Vec<&Package> = members.iter().copied().filter(|p| p.name.as_str() == name).collect();
        return match found.as_slice() {
            [one] => Ok(one),
            [] => bail!(
                "package `{name}` is not in the workspace at {}\n  candidates: {}",
                metadata.workspace_root,
                list_candidates(&members)
            ),
            many => bail!(
                "package name `{name}` is ambiguous in the workspace at {}\n  candidates: {}",
                metadata.workspace_root,
                many.iter().map(|p| format!("{} ({})", p.name, p.manifest_path)).collect::<Vec<_>>().join(", ")
            ),
        };
    }
    if let Some(invoked) = invoked_package(metadata, args) {
        return Ok(invoked);
    }
    let cdylibs: Vec<&Package> = members.iter().copied().filter(|p| is_cdylib(p)).collect();
    match cdylibs.as_slice() {
        [one] => Ok(one),
        [] => bail!(
            "no package in the workspace at {} builds a cdylib\n  members: {}\n  \
             help: add to the guest's Cargo.toml:\n      [lib]\n      crate-type = [\"cdylib\"]",
            metadata.workspace_root,
            list_candidates(&members)
        ),
        many => bail!(
            "the workspace at {} has several cdylib packages; pick one with -p/--package\n  candidates: {}\n  \
             help: or give each a [package.metadata.wasmship] table (`cargo wasmship init`) and build them all with --workspace",
            metadata.workspace_root,
            list_candidates(many)
        ),
    }
}

fn list_candidates(packages: &[&Package]) -> String {
    let mut names: Vec<String> = packages
        .iter()
        .map(|p| if is_cdylib(p) { format!("{} (cdylib)", p.name) } else { p.name.to_string() })
        .collect();
    names.sort();
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}

fn is_cdylib(package: &Package) -> bool {
    package.targets.iter().any(|t| t.kind.contains(&TargetKind::CDyLib))
}

fn cdylib_name(package: &Package) -> Result<String> {
    let lib = package
        .targets
        .iter()
        .find(|t| t.kind.iter().any(|k| matches!(k, TargetKind::Lib | TargetKind::CDyLib | TargetKind::RLib)));
    match lib {
        Some(target) if target.kind.contains(&TargetKind::CDyLib) => Ok(target.name.replace('-', "_")),
        Some(target) => bail!(
            "package `{}` is not a cdylib: its lib target `{}` has crate-type {:?}, so cargo writes no .wasm\n  --> {}\n  \
             help: in the [lib] table of that Cargo.toml set:\n      crate-type = [\"cdylib\"]        \
             # or [\"cdylib\", \"rlib\"] to keep using it as a Rust dependency",
            package.name,
            target.name,
            target.kind.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            package.manifest_path
        ),
        None => bail!(
            "package `{}` has no lib target, so cargo writes no .wasm\n  --> {}\n  \
             help: add src/lib.rs and, in that Cargo.toml:\n      [lib]\n      crate-type = [\"cdylib\"]",
            package.name,
            package.manifest_path
        ),
    }
}
