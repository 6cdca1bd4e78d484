//! What one build will do, decided and checked before any stage runs: the guest, its
//! resolved profile, the output directory and each stage's typed config. Shared by `build`,
//! `verify` (to find the output directory) and `stage`.
use crate::config::cargo_config::CargoTarget;
use crate::config::{self, DirGrant, Layer, MetadataSource, Profile};
use crate::guest::{self, CargoArgs, Guest};
use crate::stages;
use crate::stages::bindgen::BindgenConfig;
use crate::stages::optimize::OptimizeConfig;
use crate::stages::package::bindings::BindingConfig;
use crate::stages::package::PackageConfig;
use crate::stages::precompile::{CwasmTarget, PrecompileConfig};
use crate::stages::preinit::sandbox::{Sandbox, WasiGrant};
use crate::stages::preinit::PreinitConfig;
use crate::stages::strip::StripConfig;
use crate::ui::Ui;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the user asked for, from the command line.
#[derive(Clone)]
pub struct Request {
    pub cargo: CargoArgs,
    pub profile: String,
    pub out_dir: Option<PathBuf>,
    /// Profile keys from the command line, applied last.
    pub overrides: Vec<(String, Value)>,
    /// `--env KEY=VALUE` and `--dir` entries, added to the profile's.
    pub extra_env: Vec<String>,
    pub extra_dirs: Vec<String>,
    pub jobs: Option<usize>,
    pub lock_timeout: Duration,
    pub quiet: bool,
    pub cache: CacheOptions,
}

impl Request {
    /// What a plain `cargo wasmship build` would ask for this guest and profile: no overrides,
    /// default cache. For commands that only need to know the guest's resolved profile.
    pub fn plain(cargo: CargoArgs, profile: &str) -> Request {
        Request {
            cargo,
            profile: profile.to_string(),
            out_dir: None,
            overrides: vec![],
            extra_env: vec![],
            extra_dirs: vec![],
            jobs: None,
            lock_timeout: Duration::from_secs(600),
            quiet: true,
            cache: CacheOptions { disabled: false, dir: None, max_bytes: 2 << 30 },
        }
    }
}

/// Stage cache options.
#[derive(Clone)]
pub struct CacheOptions {
    /// `--no-cache`: run every stage; the cache is neither read nor written.
    pub disabled: bool,
    /// Default: `<target-dir>/wasmship/cache`.
    pub dir: Option<PathBuf>,
    pub max_bytes: u64,
}

/// Everything a build will do, decided and checked before any stage runs.
pub struct Plan {
    pub guest: Guest,
    pub profile_name: String,
    pub profile: Profile,
    pub name: String,
    pub out_dir: PathBuf,
    pub preinit: PreinitConfig,
    pub optimize: OptimizeConfig,
    pub strip: StripConfig,
    /// The host engine the `.cwasm` files are compiled for (recorded in the manifest).
    pub engine: wasmship_manifest::EngineProfile,
    pub cwasm_targets: Vec<CwasmTarget>,
    pub package: PackageConfig,
    pub bindings: BindingConfig,
    /// Set for a wasm-bindgen guest: the path through the bindgen stage, chosen here once.
    pub bindgen: Option<BindgenConfig>,
}

/// The guest and its resolved profile: all that `verify` needs to find the output directory.
pub struct Located {
    pub guest: Guest,
    pub profile: Profile,
    pub out_dir: PathBuf,
    cwd: PathBuf,
    /// cargo's config names a wasm target this tool does not build (warned about by `plan`).
    unused_cargo_target: Option<String>,
}

/// Finds the guest, resolves its profile and the output directory, and nothing else: no
/// engines, no binaryen, no env vars or directories init would need. A deploy machine can
/// run this.
pub fn locate(request: &Request) -> Result<Located> {
    let guest = guest::locate(&request.cargo)?;
    let workspace_manifest = guest.workspace_manifest();
    let sources = [
        MetadataSource {
            scope: "workspace",
            manifest: &workspace_manifest,
            metadata: &guest.metadata.workspace_metadata,
        },
        MetadataSource {
            scope: "package",
            manifest: guest.package.manifest_path.as_std_path(),
            metadata: &guest.package.metadata,
        },
    ];
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let cli = Layer {
        table: "the command line".into(),
        file: None,
        base_dir: cwd.clone(),
        keys: request.overrides.iter().cloned().collect(),
    };
    let mut profile = config::resolve(&request.profile, &sources, cli)?;
    let mut unused_cargo_target = None;
    if !profile.origins.contains_key("target") {
        match config::cargo_config::build_target(&cwd) {
            Some(CargoTarget::Guest(target, origin)) => {
                profile.target = target;
                profile.origins.insert("target".into(), origin);
            }
            Some(CargoTarget::OtherWasm(message)) => unused_cargo_target = Some(message),
            None => {}
        }
    }
    let out_dir = match (&request.out_dir, &profile.out_dir) {
        (Some(dir), _) => cwd.join(dir),
        // One `out-dir` for every guest of a workspace: each gets its own directory in it, as
        // with `--out-dir` for a workspace build, so no guest replaces another's output.
        (None, Some(dir)) if profile.origins.get("out-dir").is_some_and(|o| o.starts_with("[workspace.")) => {
            dir.join(guest.package.name.as_str())
        }
        (None, Some(dir)) => dir.clone(),
        (None, None) => guest.target_dir.join("wasmship").join(guest.package.name.as_str()).join(&request.profile),
    };
    Ok(Located { guest, profile, out_dir, cwd, unused_cargo_target })
}

pub fn plan(request: &Request, ui: &Ui) -> Result<Plan> {
    let Located { guest, mut profile, out_dir, cwd, unused_cargo_target } = locate(request)?;
    if let Some(message) = unused_cargo_target {
        ui.warn(&message);
    }
    add_cli_grants(&mut profile, request, &cwd)?;
    let name = profile.name.clone().unwrap_or_else(|| guest.lib_name.clone());

    let external =
        match profile.wasm_opt {
            Some(_) => stages::optimize::external::configured(profile.wasm_opt_path.as_deref())
                .map_err(bad_setting(&profile, "wasm-opt-path", "optimize stage"))?,
            None => None,
        };
    let optimize = OptimizeConfig {
        passes: profile.wasm_opt.clone(),
        wasm_features: profile.wasm_features.clone(),
        isolate_in: std::env::current_exe().ok(),
        external,
    };
    stages::optimize::check_features(&optimize.wasm_features).map_err(bad_setting(
        &profile,
        "wasm-features",
        "optimize stage; binaryen did not run",
    ))?;
    stages::optimize::plan(&optimize).map_err(bad_setting(
        &profile,
        "wasm-opt",
        "optimize stage; binaryen did not run",
    ))?;
    // A component's .cwasm needs the host's component model: on unless the profile says off.
    let mut engine_keys = profile.engine.clone();
    let names_component_model = |f: &String| f.trim_start_matches(['-', '+']).replace('_', "-") == "component-model";
    if profile.target.is_component() && !engine_keys.wasm_features.iter().any(names_component_model) {
        engine_keys.wasm_features.push("component-model".into());
    }
    let engine = stages::precompile::engine::resolve(&engine_keys).map_err(bad_setting(
        &profile,
        "engine",
        "precompile stage",
    ))?;
    let bindgen = bindgen_config(&profile, &guest, &name, &request.cargo);
    // A wasm-bindgen guest runs in JS, which wasmtime cannot give it: no .cwasm unless asked.
    let precompile_asked = profile.origins.contains_key("precompile") || profile.origins.contains_key("cpu-levels");
    let precompile_targets = if bindgen.is_some() && !precompile_asked { vec![] } else { profile.precompile.clone() };
    let precompile = PrecompileConfig { targets: precompile_targets, cpu_levels: profile.cpu_levels.clone() };
    let key = if profile.origins.contains_key("cpu-levels") { "cpu-levels" } else { "precompile" };
    let cwasm_targets = stages::precompile::resolve_targets(&precompile, &engine).map_err(bad_setting(
        &profile,
        key,
        "precompile stage",
    ))?;
    let preinit = preinit_config(&profile, ui)?;
    let strip = StripConfig { enabled: profile.strip, keep_sections: profile.keep_sections.clone() };
    let package = PackageConfig {
        name: name.clone(),
        hash_names: profile.hash_names,
        compress: profile.compress.clone(),
        brotli_quality: profile.brotli_quality,
        brotli_window: profile.brotli_window,
        gzip_level: profile.gzip_level,
        gzip_zopfli: profile.gzip_zopfli,
        zstd_level: profile.zstd_level,
        brotli_parts: profile.brotli_parts,
        component: profile.target.is_component(),
    };
    if bindgen.is_some() && !profile.host_bindings.is_empty() {
        return Err(bad_setting(&profile, "host-bindings", "package stage")(anyhow::anyhow!(
            "`host-bindings` loads the bare module, whose `#[wasm_bindgen]` imports need wasm-bindgen's glue\n  \
             help: remove `host-bindings`; `bindgen-target = \"nodejs\"` (or `web`, `deno`) makes glue that hosts import"
        )));
    }
    if profile.target.is_component() && !profile.host_bindings.is_empty() {
        return Err(bad_setting(&profile, "host-bindings", "package stage")(anyhow::anyhow!(
            "`host-bindings` makes Go (wazero) and Node hosts of core modules; neither runs a component \
             (wasm32-wasip2)\n  help: remove `host-bindings`, and load the component with wasmship-host's \
             `Shipped::load_component` (see examples/component-host)"
        )));
    }
    let bindings = BindingConfig {
        bindings: profile.host_bindings.clone(),
        name: name.clone(),
        go_package: profile.go_package.clone(),
        public_key: profile.public_key.clone(),
    };
    Ok(Plan {
        guest,
        profile_name: request.profile.clone(),
        profile,
        name,
        out_dir,
        preinit,
        optimize,
        strip,
        engine,
        cwasm_targets,
        package,
        bindings,
        bindgen,
    })
}

/// The bindgen stage's config when the guest depends on wasm-bindgen (and builds for
/// wasm32-unknown-unknown, the target wasm-bindgen serves), unless `bindgen-target = "none"`.
fn bindgen_config(profile: &Profile, guest: &Guest, name: &str, cargo: &CargoArgs) -> Option<BindgenConfig> {
    let uses_bindgen = guest.package.dependencies.iter().any(|d| d.name == "wasm-bindgen");
    if !uses_bindgen || profile.target != config::GuestTarget::Unknown {
        return None;
    }
    profile.bindgen_target.cli_name()?;
    let from_env = std::env::var_os(stages::bindgen::cli::ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    Some(BindgenConfig {
        target: profile.bindgen_target,
        out_name: name.to_string(),
        lookup: stages::bindgen::cli::Lookup {
            configured: profile.wasm_bindgen_path.clone().or(from_env),
            offline: cargo.offline || cargo.frozen,
        },
    })
}

fn add_cli_grants(profile: &mut Profile, request: &Request, cwd: &Path) -> Result<()> {
    for pair in &request.extra_env {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("`--env {pair}`: expected KEY=VALUE");
        };
        profile.env.insert(key.to_string(), value.to_string());
    }
    for spec in &request.extra_dirs {
        let Some(mut grant) = config::profile::dir_grant(&Value::String(spec.clone())) else {
            bail!("`--dir {spec}`: expected HOST[:GUEST[:rw]]");
        };
        grant.host = cwd.join(&grant.host);
        profile.dirs.push(grant);
    }
    Ok(())
}

fn preinit_config(profile: &Profile, ui: &Ui) -> Result<PreinitConfig> {
    let grants_given = !profile.env.is_empty() || !profile.inherit_env.is_empty() || !profile.dirs.is_empty();
    if !profile.allow_wasi && grants_given {
        ui.warn("`env`, `inherit-env` and `dirs` have no effect unless `allow-wasi = true`");
    }
    if profile.allow_wasi && !profile.target.has_wasi() {
        ui.warn("`allow-wasi` only matters for WASI guests (wasm32-wasip1, wasm32-wasip2); this profile builds wasm32-unknown-unknown");
    }
    let wasi = if profile.allow_wasi {
        let mut env: Vec<(String, String)> = profile.env.clone().into_iter().collect();
        for name in &profile.inherit_env {
            let value = std::env::var(name).with_context(|| {
                format!("`inherit-env` names `{name}`, but it is not set in the build environment (preinit stage)")
            })?;
            env.push((name.clone(), value));
        }
        for dir in &profile.dirs {
            check_dir(dir)?;
        }
        Some(WasiGrant {
            env,
            dirs: profile.dirs.clone(),
            stdio: profile.init_stdio,
            deterministic: profile.deterministic_init,
        })
    } else {
        None
    };
    Ok(PreinitConfig {
        enabled: profile.preinit,
        init_func: profile.init_func.clone(),
        keep_init_func: profile.keep_init_func,
        rename_funcs: profile.rename_funcs.clone(),
        sandbox: Sandbox { timeout: profile.init_timeout, max_memory: profile.init_max_memory, wasi },
    })
}

fn check_dir(dir: &DirGrant) -> Result<()> {
    if !dir.host.is_dir() {
        bail!(
            "`dirs` grants {} to init as {}, but it is not a directory (preinit stage)\n  \
             help: create it, or fix the path (relative paths start at the Cargo.toml that sets `dirs`)",
            dir.host.display(),
            dir.guest
        );
    }
    Ok(())
}

/// Names the stage and where the offending key was set under an error's first line.
fn bad_setting<'a>(
    profile: &'a Profile,
    key: &'a str,
    stage: &'a str,
) -> impl FnOnce(anyhow::Error) -> anyhow::Error + 'a {
    move |error| located(error, &format!(" ({stage})"), &profile.origin(key))
}

/// Rewrites an error as: its first line (plus `suffix`), `--> location`, the rest of its
/// message, then its causes, so the headline stays the specific problem. A cache corruption
/// passes through unchanged.
pub(crate) fn located(error: anyhow::Error, suffix: &str, location: &str) -> anyhow::Error {
    // The build retries without the cache on this error, so it must keep its type.
    if error.is::<crate::cache::Corrupt>() {
        return error;
    }
    let text = error.to_string();
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let mut message = format!("{first}{suffix}\n  --> {location}");
    if !rest.is_empty() {
        message.push('\n');
        message.push_str(rest);
    }
    for cause in error.chain().skip(1) {
        message.push_str(&format!("\n  caused by: {cause}"));
    }
    anyhow::anyhow!(message)
}
