//! `cargo wasmship build`: resolve the guest and its profile, check every setting up front,
//! run the stages in order, and write the artifacts and manifest atomically.
use crate::config::{self, DirGrant, GuestTarget, Layer, MetadataSource, Profile};
use crate::guest::{self, CargoArgs, Guest};
use crate::manifest::{self, InputInfo, Manifest, PackageInfo, ProfileInfo, Tool, Toolchain};
use crate::output::{self, Staging};
use crate::stages::build::BuildConfig;
use crate::stages::optimize::OptimizeConfig;
use crate::stages::package::PackageConfig;
use crate::stages::precompile::{CwasmTarget, PrecompileConfig};
use crate::stages::preinit::sandbox::{Sandbox, WasiGrant};
use crate::stages::preinit::PreinitConfig;
use crate::stages::strip::StripConfig;
use crate::stages::{self, StageReport};
use crate::ui::Ui;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
}

pub struct Outcome {
    pub out_dir: PathBuf,
    pub manifest: Manifest,
}

/// Everything a build will do, decided and checked before any stage runs.
struct Plan {
    guest: Guest,
    profile_name: String,
    profile: Profile,
    name: String,
    out_dir: PathBuf,
    preinit: PreinitConfig,
    optimize: OptimizeConfig,
    strip: StripConfig,
    cwasm_targets: Vec<CwasmTarget>,
    package: PackageConfig,
}

pub fn run(request: &Request) -> Result<Outcome> {
    let ui = Ui::new(request.quiet);
    let plan = plan(request, &ui)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(request.jobs.unwrap_or(0))
        .build()
        .context("starting the worker threads")?;
    pool.install(|| execute(request, &plan, &ui))
}

fn plan(request: &Request, ui: &Ui) -> Result<Plan> {
    let guest = guest::locate(&request.cargo)?;
    let workspace_manifest = guest.workspace_manifest();
    let sources = [
        MetadataSource { scope: "workspace", manifest: &workspace_manifest, metadata: &guest.metadata.workspace_metadata },
        MetadataSource { scope: "package", manifest: guest.package.manifest_path.as_std_path(), metadata: &guest.package.metadata },
    ];
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let cli = Layer {
        table: "the command line".into(),
        file: None,
        base_dir: cwd.clone(),
        keys: request.overrides.iter().cloned().collect(),
    };
    let mut profile = config::resolve(&request.profile, &sources, cli)?;
    add_cli_grants(&mut profile, request, &cwd)?;

    let name = profile.name.clone().unwrap_or_else(|| guest.lib_name.clone());
    let out_dir = match (&request.out_dir, &profile.out_dir) {
        (Some(dir), _) => cwd.join(dir),
        (None, Some(dir)) => dir.clone(),
        (None, None) => guest.target_dir.join("wasmship").join(guest.package.name.as_str()).join(&request.profile),
    };

    let optimize = OptimizeConfig { passes: profile.wasm_opt.clone(), wasm_features: profile.wasm_features.clone() };
    stages::optimize::plan(&optimize).map_err(bad_setting(&profile, "wasm-opt", "optimize stage; binaryen did not run"))?;
    let cwasm_targets = stages::precompile::resolve_targets(&PrecompileConfig { targets: profile.precompile.clone() })
        .map_err(bad_setting(&profile, "precompile", "precompile stage"))?;
    let preinit = preinit_config(&profile, ui)?;
    let strip = StripConfig { enabled: profile.strip, keep_sections: profile.keep_sections.clone() };
    let package = PackageConfig {
        name: name.clone(),
        hash_names: profile.hash_names,
        compress: profile.compress.clone(),
        brotli_quality: profile.brotli_quality,
        brotli_window: profile.brotli_window,
        gzip_level: profile.gzip_level,
    };
    Ok(Plan { guest, profile_name: request.profile.clone(), profile, name, out_dir, preinit, optimize, strip, cwasm_targets, package })
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
    if profile.allow_wasi && profile.target != GuestTarget::Wasip1 {
        ui.warn("`allow-wasi` only matters for wasm32-wasip1 guests; this profile builds wasm32-unknown-unknown");
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

fn execute(request: &Request, plan: &Plan, ui: &Ui) -> Result<Outcome> {
    let guest = &plan.guest;
    let lock = output::lock(&plan.out_dir, request.lock_timeout, |path| {
        ui.status("Waiting", &format!("for another build of {} (lock {})", plan.out_dir.display(), path.display()))
    })?;

    let features: Vec<String> = plan.profile.features.iter().chain(&request.cargo.features).cloned().collect();
    let build_config = BuildConfig {
        cargo: &request.cargo,
        cargo_profile: &plan.profile.cargo_profile,
        target: plan.profile.target,
        features: features.clone(),
        all_features: plan.profile.all_features || request.cargo.all_features,
        no_default_features: plan.profile.no_default_features || request.cargo.no_default_features,
        quiet: request.quiet,
    };
    ui.status(
        "Building",
        &format!(
            "{} v{} for {} (cargo profile `{}`, wasmship profile `{}`)",
            guest.package.name,
            guest.package.version,
            plan.profile.target.triple(),
            plan.profile.cargo_profile,
            plan.profile_name
        ),
    );
    let built = stages::build::run(guest, &build_config)?;
    ui.finish(crate::ui::Running::none(), &[&built.stage.report]);
    let input = built.stage.bytes;
    let mut reports = vec![built.stage.report];

    let running = ui.start("preinit");
    let preinit = stages::preinit::run(&input, &plan.preinit).map_err(at_file(&built.artifact))?;
    ui.finish(running, &[&preinit.report]);
    reports.push(preinit.report);

    let running = ui.start("optimize");
    let optimized = stages::optimize::run(&preinit.bytes, &plan.optimize).map_err(at_file(&built.artifact))?;
    ui.finish(running, &[&optimized.report]);
    reports.push(optimized.report);

    let running = ui.start("strip");
    let stripped = stages::strip::run(&optimized.bytes, &plan.strip).map_err(at_file(&built.artifact))?;
    ui.finish(running, &[&stripped.report]);
    reports.push(stripped.report);

    // Precompiling and compressing only read the final module: run them side by side.
    let running = ui.start("precompile + compress");
    let (precompiled, compressed) = rayon::join(
        || stages::precompile::run(&stripped.bytes, &plan.cwasm_targets),
        || stages::package::compress(&stripped.bytes, &plan.package),
    );
    let (precompiled, compressed) = (precompiled.map_err(at_file(&built.artifact))?, compressed?);
    let precompile_reports: Vec<StageReport> = precompiled.iter().map(|p| p.report.clone()).collect();
    let (files, package_report) =
        stages::package::run(&stripped.bytes, &optimized.bytes, compressed, precompiled, &plan.package);
    ui.finish(running, &precompile_reports.iter().chain([&package_report]).collect::<Vec<_>>());
    reports.extend(precompile_reports);
    reports.push(package_report);

    let manifest = Manifest {
        schema_version: manifest::SCHEMA_VERSION,
        tool: Tool { name: env!("CARGO_PKG_NAME").into(), version: env!("CARGO_PKG_VERSION").into() },
        toolchain: Toolchain {
            rustc: rustc_version(&guest.package_dir()),
            wasmtime: stages::precompile::wasmtime_version().into(),
            binaryen: stages::optimize::binaryen_version().into(),
        },
        package: PackageInfo {
            name: guest.package.name.to_string(),
            version: guest.package.version.to_string(),
            target: plan.profile.target.triple().into(),
            cargo_profile: plan.profile.cargo_profile.clone(),
            features,
        },
        profile: ProfileInfo { name: plan.profile_name.clone(), settings: publishable_settings(&plan.profile, &guest.package_dir(), &plan.name) },
        input: InputInfo {
            file: built.artifact.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            bytes: input.len() as u64,
            sha256: crate::digest::sha256_hex(&input),
        },
        stages: reports,
        artifacts: files.iter().map(|f| f.artifact.clone()).collect(),
    };

    let staging = Staging::begin(&plan.out_dir)?;
    for (i, file) in files.iter().enumerate() {
        staging.write(&file.artifact.file, &file.bytes)?;
        if i == 0 {
            hold_for_kill_test(staging.path());
        }
    }
    staging.write(manifest::FILE_NAME, manifest.to_json().as_bytes())?;
    staging.commit().with_context(|| format!("replacing {}", plan.out_dir.display()))?;
    drop(lock);

    ui.table(&manifest.stages);
    ui.status("Finished", &format!("{} artifacts in {}", manifest.artifacts.len(), plan.out_dir.display()));
    Ok(Outcome { out_dir: plan.out_dir.clone(), manifest })
}

/// Test hook: with `CARGO_WASMSHIP_TEST_HOLD_STAGED=1` the build stops after staging its
/// first artifact, says so on stderr, and waits to be killed, so a test can show that a kill
/// mid-write leaves the previous output intact.
fn hold_for_kill_test(staging: &Path) {
    if std::env::var_os("CARGO_WASMSHIP_TEST_HOLD_STAGED").is_some() {
        eprintln!("wasmship-test: staged first artifact in {}", staging.display());
        std::thread::sleep(Duration::from_secs(120));
    }
}

/// Names the stage and where the offending key was set under an error's first line.
fn bad_setting<'a>(profile: &'a Profile, key: &'a str, stage: &'a str) -> impl FnOnce(anyhow::Error) -> anyhow::Error + 'a {
    move |error| {
        let text = error.to_string();
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let mut message = format!("{first} ({stage})\n  --> {}", profile.origin(key));
        if !rest.is_empty() {
            message.push('\n');
            message.push_str(rest);
        }
        anyhow::anyhow!(message)
    }
}

/// Adds `--> <file>` under an error's first line: the module the failing stage worked on.
fn at_file(file: &Path) -> impl FnOnce(anyhow::Error) -> anyhow::Error + '_ {
    move |error| {
        let text = error.to_string();
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let mut message = format!("{first}\n  --> {} (from cargo)", file.display());
        if !rest.is_empty() {
            message.push('\n');
            message.push_str(rest);
        }
        for cause in error.chain().skip(1) {
            message.push_str(&format!("\n  caused by: {cause}"));
        }
        anyhow::anyhow!(message)
    }
}

/// The resolved profile as published in the manifest: no env values (they may be secrets),
/// no absolute paths (they would differ between checkouts).
fn publishable_settings(profile: &Profile, package_dir: &Path, name: &str) -> Value {
    let mut settings = serde_json::to_value(profile).expect("profile serializes");
    settings["name"] = Value::String(name.to_string());
    settings["env"] = serde_json::json!(profile.env.keys().collect::<Vec<_>>());
    let relative = |p: &Path| p.strip_prefix(package_dir).map(|r| r.display().to_string()).ok();
    settings["out-dir"] = serde_json::json!(profile.out_dir.as_deref().and_then(relative));
    settings["dirs"] = serde_json::json!(profile
        .dirs
        .iter()
        .map(|d| serde_json::json!({ "host": relative(&d.host), "guest": d.guest, "writable": d.writable }))
        .collect::<Vec<_>>());
    settings
}

fn rustc_version(package_dir: &Path) -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .arg("-V")
        .current_dir(package_dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
