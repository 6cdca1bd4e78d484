//! `cargo wasmship build`: resolve the guest and its profile, check every setting up front,
//! run the stages in order, and write the artifacts and manifest atomically.
use crate::cache::{Cache, Corrupt};
use crate::config::{Encoding, Profile};
use crate::exit::Failure;
use crate::manifest::{self, InputInfo, Limits, Manifest, PackageInfo, PrecompiledInfo, ProfileInfo, Tool, Toolchain};
use crate::output::{self, Staging};
use crate::pipeline::{Done, Product, Runner};
use crate::plan::Request;
use crate::plan::{located, plan, Plan};
use crate::stages::build::{BuildConfig, BuildOutput};
use crate::stages::package::Piece;
use crate::stages::precompile::CwasmTarget;
use crate::stages::{self, Stage, StageReport};
use crate::ui::Ui;
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub struct Outcome {
    pub out_dir: PathBuf,
    pub manifest: Manifest,
    /// This run's stage reports, with cache status and timings (the manifest has neither).
    pub reports: Vec<StageReport>,
    /// The module as cargo wrote it.
    pub raw: PathBuf,
    /// The output directory already held this build; nothing was written.
    pub fresh: bool,
}

pub fn run(request: &Request) -> Result<Outcome, Failure> {
    build(request).map(|(_, outcome, _lock)| outcome)
}

/// Builds each of `packages` (a workspace's guests) in turn: one cargo target directory, so
/// one stage cache, and each build's final stages in parallel. With `--out-dir DIR`, each
/// package's output goes to `DIR/<package>`. Prints one summary; fails with the first
/// failure's kind after trying every package.
pub fn run_workspace(request: &Request, packages: &[String]) -> Result<Vec<Outcome>, Failure> {
    let ui = Ui::new(request.quiet);
    let requests: Vec<Request> = packages
        .iter()
        .map(|package| {
            let mut one = request.clone();
            one.cargo.package = Some(package.clone());
            one.out_dir = request.out_dir.as_ref().map(|dir| dir.join(package));
            one
        })
        .collect();
    refuse_shared_out_dirs(&requests).map_err(Failure::config)?;
    let mut outcomes = Vec::new();
    let mut rows: Vec<(String, Result<String, String>)> = Vec::new();
    let mut first_failure: Option<Failure> = None;
    for (package, one) in packages.iter().zip(&requests) {
        match run(one) {
            Ok(outcome) => {
                rows.push((
                    package.clone(),
                    Ok(format!("{} artifacts in {}", outcome.manifest.artifacts.len(), outcome.out_dir.display())),
                ));
                outcomes.push(outcome);
            }
            Err(failure) => {
                let first_line = failure.error.to_string().lines().next().unwrap_or_default().to_string();
                crate::ui::emit(
                    "error",
                    json!({ "package": package, "message": format!("{:#}", failure.error), "exit_code": failure.code() }),
                );
                ui.warn(&format!("{package}: {first_line}"));
                rows.push((package.clone(), Err(first_line)));
                first_failure.get_or_insert(failure);
            }
        }
    }
    let built = rows.iter().filter(|(_, r)| r.is_ok()).count();
    ui.summary(&rows);
    crate::ui::emit(
        "workspace-finished",
        json!({ "packages": packages, "built": built, "failed": packages.len() - built }),
    );
    match first_failure {
        Some(failure) => Err(Failure {
            kind: failure.kind,
            error: anyhow::anyhow!(
                "{} of {} guests failed; the first:\n{:#}",
                packages.len() - built,
                packages.len(),
                failure.error
            ),
        }),
        None => Ok(outcomes),
    }
}

/// Two guests writing one output directory would leave only the last: refused before any
/// stage runs, naming both and where the directory was set.
fn refuse_shared_out_dirs(requests: &[Request]) -> Result<()> {
    let mut seen: Vec<(PathBuf, String, String)> = Vec::new();
    for request in requests {
        // A guest whose profile does not resolve fails on its own turn, after the others.
        let Ok(located) = crate::plan::locate(request) else { continue };
        let dir = output::real_path(&located.out_dir)?;
        let package = located.guest.package.name.to_string();
        if let Some((_, other, _)) = seen.iter().find(|(d, _, _)| *d == dir) {
            anyhow::bail!(
                "guests `{other}` and `{package}` would both write {}\n  --> {}\n  help: give each guest its own \
                 `out-dir`, or set it once in [workspace.metadata.wasmship], where each guest gets <dir>/<package>",
                dir.display(),
                located.profile.origin("out-dir")
            );
        }
        seen.push((dir, package, located.profile.origin("out-dir")));
    }
    Ok(())
}

/// The build, the plan it followed, and the output directory's lock, still held: a command
/// that goes on from a build (`report`) keeps the directory to itself until it is done.
pub fn build(request: &Request) -> Result<(Plan, Outcome, output::OutputLock), Failure> {
    let ui = Ui::new(request.quiet);
    let plan = plan(request, &ui).map_err(Failure::config)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(request.jobs.unwrap_or(0))
        .build()
        .context("starting the worker threads")
        .map_err(Failure::build)?;
    let (outcome, lock) = pool.install(|| execute(request, &plan, &ui)).map_err(Failure::build)?;
    Ok((plan, outcome, lock))
}

fn execute(request: &Request, plan: &Plan, ui: &Ui) -> Result<(Outcome, output::OutputLock)> {
    let guest = &plan.guest;
    let out_dir = output::real_path(&plan.out_dir)?;
    let lock = output::lock(&out_dir, request.lock_timeout, |path| {
        ui.status("Waiting", &format!("for another build of {} (lock {})", plan.out_dir.display(), path.display()))
    })?;
    output::prepare(&out_dir)?;

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
    crate::ui::emit(
        "build-started",
        json!({
            "schema_version": crate::ui::MESSAGES_SCHEMA_VERSION,
            "package": guest.package.name,
            "version": guest.package.version.to_string(),
            "profile": plan.profile_name,
            "out_dir": out_dir,
        }),
    );
    let cache_dir = request.cache.dir.clone().unwrap_or_else(|| guest.target_dir.join("wasmship").join("cache"));
    ui.detail("Output", &format!("{} (resolved {})", plan.out_dir.display(), out_dir.display()));
    let cache_key = cache_key(request, ui)?;
    ui.detail(
        "Cache",
        &match &cache_key {
            None => "off".to_string(),
            Some(secret) => {
                format!("{} (entries authenticated with the key in {})", cache_dir.display(), secret.origin)
            }
        },
    );
    ui.detail("Engine", &format!("preset `{}`, wasmtime {}", plan.engine.preset, plan.engine.wasmtime));
    for target in &plan.cwasm_targets {
        ui.detail(
            "Target",
            &format!("{} {} (compatibility id {})", target.triple, target.cpu_level, &target.compatibility_id[..16]),
        );
    }
    crate::ui::emit("stage-started", json!({ "unit": "build" }));
    let built = stages::build::run(guest, &build_config)?;
    ui.finish(crate::ui::Running::none(), &[&built.stage.report]);
    if plan.bindgen.is_none() {
        if let Some(warning) = stages::build::wasm_bindgen_warning(&built.stage.bytes, guest.package.name.as_str()) {
            ui.warn(&warning);
        }
    }

    let input = Product::input(built.stage.bytes.clone(), built.stage.report.sha256_out.clone());
    // `--no-cache`: no cache at all. After a corrupt blob: rebuild without reading it, but
    // store the results, which heals it.
    let mut read_cache = true;
    let outcome = loop {
        let cache = cache_key.as_ref().and_then(|secret| {
            Cache::open(&cache_dir, secret.key.clone(), request.cache.max_bytes, read_cache)
                .map_err(|error| ui.warn(&format!("{error:#}; building without the stage cache")))
                .ok()
        });
        let runner = Runner { cache: cache.as_ref(), ui };
        match produce(plan, &out_dir, &built, &input, &features, &runner) {
            Err(error) if read_cache && error.downcast_ref::<Corrupt>().is_some() => {
                ui.warn(&format!("{error}; rebuilding without reading the cache"));
                read_cache = false;
            }
            result => {
                let outcome = result?;
                if let Some(Err(error)) = cache.as_ref().map(Cache::evict) {
                    ui.warn(&format!("could not trim the stage cache at {}: {error:#}", cache_dir.display()));
                }
                break outcome;
            }
        }
    };

    ui.table(&outcome.reports);
    if let Err(error) = output::write_run_report(&out_dir, &run_report(&outcome)) {
        ui.warn(&format!("could not write the run report: {error:#}"));
    }
    for artifact in &outcome.manifest.artifacts {
        crate::ui::emit(
            "artifact",
            json!({
                "name": artifact.name, "file": outcome.out_dir.join(&artifact.file), "kind": artifact.kind,
                "bytes": artifact.bytes, "sha256": artifact.sha256, "public": artifact.public,
            }),
        );
    }
    crate::ui::emit(
        "build-finished",
        json!({
            "package": guest.package.name,
            "out_dir": outcome.out_dir,
            "manifest": outcome.out_dir.join(manifest::FILE_NAME),
            "fresh": outcome.fresh,
            "artifacts": outcome.manifest.artifacts.len(),
        }),
    );
    let verb = if outcome.fresh { "Fresh" } else { "Finished" };
    ui.status(verb, &format!("{} artifacts in {}", outcome.manifest.artifacts.len(), plan.out_dir.display()));
    Ok((outcome, lock))
}

/// The bindgen unit: the glue travels with its module in the stage cache (as `extra`).
/// `None` when the module links no `#[wasm_bindgen]` item (nothing for the CLI to do).
fn bindgen_unit(
    config: &stages::bindgen::BindgenConfig,
    plan: &Plan,
    built: &BuildOutput,
    input: &Product,
    runner: &Runner<'_>,
) -> Result<Option<(Done, Vec<stages::bindgen::Glue>)>> {
    let Some(version) = stages::bindgen::detect::version(&built.stage.bytes)? else {
        runner.ui.warn(&format!(
            "{} depends on wasm-bindgen but its module links no `#[wasm_bindgen]` item: no glue to make",
            plan.guest.package.name
        ));
        return Ok(None);
    };
    let locked = stages::bindgen::detect::locked_versions(plan.guest.metadata.workspace_root.as_std_path());
    if !locked.is_empty() && !locked.contains(&version) {
        anyhow::bail!(
            "the module was built with wasm-bindgen {version}, but Cargo.lock resolves {} (bindgen stage)\n  \
             help: build again (`cargo clean -p {}`), so module and lockfile agree",
            locked.join(", "),
            plan.guest.package.name
        );
    }
    let settings = stages::bindgen::settings(config, &version);
    let done = runner.unit(Stage::Bindgen, "bindgen", input, settings, |bytes| {
        let (output, glue) = stages::bindgen::run(bytes, &version, config, runner.ui)?;
        Ok((output.bytes, output.report, serde_json::to_value(glue)?))
    })?;
    // The glue comes back from the cache with the module; one that does not parse is a bad entry.
    let glue = serde_json::from_value(done.extra.clone()).map_err(|_| Corrupt { blob: "bindgen glue".into() })?;
    Ok(Some((done, glue)))
}

/// Every stage after cargo's build, through the cache, then the output directory.
fn produce(
    plan: &Plan,
    out_dir: &Path,
    built: &BuildOutput,
    input: &Product,
    features: &[String],
    runner: &Runner<'_>,
) -> Result<Outcome> {
    let guest = &plan.guest;
    let at = |error| at_file(&built.artifact, "from cargo")(error);
    let after = |error| at_file(&built.artifact, "from cargo, as the earlier stages left it")(error);
    // The manifest on disk, read once: it may hold a recommendation to keep, and it tells
    // whether there is anything to write.
    let existing = Manifest::read(&out_dir.join(manifest::FILE_NAME)).ok();
    let settings = publishable_settings(&plan.profile, &guest.package_dir(), &plan.name);
    let same_build =
        existing.as_ref().is_some_and(|m| m.input.sha256 == input.blob.sha256 && m.profile.settings == settings);
    // Every proposal a stage of this plan cannot handle, named before any stage runs; not
    // again for the module and settings the output directory already holds (a no-op). A
    // module that does not even parse is left to the preinit unit's check, which says where.
    if !same_build {
        if let Ok(facts) = crate::wasm::ModuleFacts::read(&built.stage.bytes) {
            stages::proposals::check(&built.stage.bytes, plan, stages::preinit::will_run(&facts, &plan.preinit))
                .map_err(|e| at_file(&built.artifact, "from cargo")(e))?;
        }
    }
    let preinit_settings = plan.preinit.cache_settings()?;
    let preinit =
        runner.unit_with(Stage::Preinit, "preinit", input, preinit_settings, plan.preinit.cacheable(), |bytes| {
            stages::build::check_module(bytes, &built.artifact, guest.package.name.as_str(), plan.profile.target)?;
            stages::preinit::run(bytes, &plan.preinit).map(|o| (o.bytes, o.report, Value::Null)).map_err(at)
        })?;
    // A wasm-bindgen guest: the CLI of its exact version, on the pre-initialized module.
    let bindgen = match &plan.bindgen {
        Some(config) => bindgen_unit(config, plan, built, &preinit.product, runner).map_err(after)?,
        None => None,
    };
    let before_optimize = bindgen.as_ref().map_or(&preinit.product, |(done, _)| &done.product);
    let optimized = runner
        .unit(Stage::Optimize, "optimize", before_optimize, plan.optimize.settings(), |bytes| {
            stages::optimize::run(bytes, &plan.optimize).map(|o| (o.bytes, o.report, Value::Null))
        })
        .map_err(after)?;
    let stripped = runner
        .unit(Stage::Strip, "strip", &optimized.product, plan.strip.settings(), |bytes| {
            stages::strip::run(bytes, &plan.strip).map(|o| (o.bytes, o.report, Value::Null))
        })
        .map_err(after)?;

    // Everything after strip only reads the final module: run it side by side (bounded by -j).
    let finals: Vec<Final> = plan
        .cwasm_targets
        .iter()
        .map(Final::Precompile)
        .chain(plan.package.compress.iter().map(|e| Final::Compress(*e)))
        .collect();
    let mut finished: Vec<Done> = finals
        .par_iter()
        .map(|job| match job {
            Final::Precompile(target) => {
                let unit =
                    format!("precompile {}", stages::precompile::target_label(&target.triple, &target.cpu_level));
                runner.unit(
                    Stage::Precompile,
                    &unit,
                    &stripped.product,
                    stages::precompile::settings(target),
                    |bytes| {
                        let compiled = stages::precompile::run(bytes, target, &plan.engine)?;
                        Ok((compiled.bytes, compiled.report, serde_json::to_value(compiled.info)?))
                    },
                )
            }
            Final::Compress(encoding) => {
                let unit = format!("compress {}", encoding.extension());
                let settings = stages::package::compress_settings(*encoding, &plan.package);
                runner.unit(Stage::Compress, &unit, &stripped.product, settings, |bytes| {
                    stages::package::compress(bytes, *encoding, &plan.package)
                        .map(|(out, report)| (out, report, Value::Null))
                })
            }
        })
        .collect::<Result<_>>()
        .map_err(after)?;

    // A compressed copy no smaller than the module (a tiny guest) is not shipped: servers fall
    // back to the .wasm, and a client would only download more.
    let shipped_bytes = stripped.product.blob.bytes;
    for (job, done) in finals.iter().zip(finished.iter_mut()) {
        if matches!(job, Final::Compress(_)) && done.product.blob.bytes >= shipped_bytes {
            done.report.notes.push(format!(
                "not shipped: {} is no smaller than the {} .wasm",
                crate::ui::human_bytes(done.product.blob.bytes),
                crate::ui::human_bytes(shipped_bytes)
            ));
        }
    }
    // Precompile facts travel in the cache entry; one that does not parse is a bad entry.
    let mut infos = Vec::new();
    for (job, done) in finals.iter().zip(&finished) {
        if let Final::Precompile(target) = job {
            // The info names files: it must describe exactly the target this plan compiles.
            let info: PrecompiledInfo = serde_json::from_value(done.extra.clone())
                .ok()
                .filter(|info: &PrecompiledInfo| {
                    info.triple == target.triple
                        && info.cpu_level == target.cpu_level
                        && info.compatibility_id == target.compatibility_id
                })
                .ok_or_else(|| Corrupt { blob: format!("precompile info for {}", target.triple) })?;
            if let Some(image) = info.memory_image.as_ref().filter(|i| !i.copy_on_write) {
                runner.ui.warn(&format!(
                    "{}: the {} initial memory is not one copy-on-write image, so every instantiation copies \
                     it (the engine's `memory-init-cow` is off, or a data segment is not at a constant offset)",
                    target.triple,
                    crate::ui::human_bytes(image.span)
                ));
            }
            infos.push((info, &done.product));
        }
    }
    // Artifacts in a fixed order: the shipped module, its compressed copies, the debug
    // module, then each .cwasm. Each piece is named from its product's digests.
    let mut named: Vec<(Piece, &Product)> = vec![(Piece::Wasm(&stripped.product.blob), &stripped.product)];
    for (job, done) in finals.iter().zip(&finished) {
        if let Final::Compress(encoding) = job {
            if done.product.blob.bytes < shipped_bytes {
                named.push((Piece::Compressed(*encoding, &done.product.blob), &done.product));
            }
        }
    }
    named.push((Piece::Debug(&optimized.product.blob), &optimized.product));
    named.extend(infos.iter().map(|(info, product)| (Piece::Cwasm(info, &product.blob), *product)));
    let (pieces, products): (Vec<Piece>, Vec<&Product>) = named.into_iter().unzip();
    let (artifacts, package_report) = stages::package::run(&pieces, &plan.package);
    let mut sources: Vec<Source> = products.into_iter().map(Source::Product).collect();

    let mut reports = vec![built.stage.report.clone(), preinit.report];
    let glue = bindgen.map(|(done, glue)| {
        reports.push(done.report);
        glue
    });
    reports.extend([optimized.report, stripped.report]);
    reports.extend(finished.iter().map(|done| done.report.clone()));
    reports.push(package_report);
    let mut manifest = Manifest {
        schema_version: manifest::SCHEMA_VERSION,
        tool: Tool { name: env!("CARGO_PKG_NAME").into(), version: env!("CARGO_PKG_VERSION").into() },
        toolchain: Toolchain {
            rustc: stages::build::rustc_version(&guest.target_dir, &guest.package_dir()),
            wasmtime: stages::precompile::wasmtime_version().into(),
            binaryen: plan.optimize.binaryen_version(),
        },
        package: PackageInfo {
            name: guest.package.name.to_string(),
            version: guest.package.version.to_string(),
            target: plan.profile.target.triple().into(),
            cargo_profile: plan.profile.cargo_profile.clone(),
            features: features.to_vec(),
        },
        profile: ProfileInfo { name: plan.profile_name.clone(), settings },
        input: InputInfo {
            file: built.artifact.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            bytes: input.blob.bytes,
            sha256: input.blob.sha256.clone(),
        },
        stages: reports.iter().map(StageReport::record).collect(),
        engine: plan.engine.clone(),
        limits: Limits { memory_cap: plan.profile.memory_cap, recommended: None },
        artifacts,
    };
    // Generated from the named artifacts: host bindings, the browser loader, then the deploy
    // files, which describe the loader too.
    let mut generated = stages::package::bindings::generate(&manifest, &plan.bindings)?;
    match (&glue, &plan.bindgen) {
        // The glue, pointed at the hashed module; the browser loader goes through it.
        (Some(glue), Some(config)) => {
            generated.extend(stages::package::web::bindgen_glue(&manifest, glue, &config.out_name)?);
            if config.target == crate::config::BindgenTarget::Web {
                generated.push(stages::package::web::bindgen_loader(&manifest, &plan.name)?);
            }
        }
        // Browsers run core modules, not components: a component gets no browser loader.
        _ if !plan.package.component => generated.push(stages::package::web::loader(&manifest, &plan.name)?),
        _ => {}
    }
    for file in generated {
        manifest.artifacts.push(file.artifact);
        sources.push(Source::Bytes(file.bytes));
    }
    for file in stages::package::web::deploy_files(&manifest, &plan.profile.deploy, &plan.profile.web_path) {
        manifest.artifacts.push(file.artifact);
        sources.push(Source::Bytes(file.bytes));
    }

    // The package stage names every file it wrote, the generated ones too, as `Finished` does.
    let count = format!("{} artifacts", manifest.artifacts.len());
    reports.last_mut().expect("the package report").notes = vec![count.clone()];
    manifest.stages.last_mut().expect("the package record").notes = vec![count];

    keep_recommendation(existing.as_ref(), &mut manifest);
    if up_to_date(out_dir, existing.as_ref(), &manifest) {
        return Ok(Outcome {
            out_dir: out_dir.to_path_buf(),
            manifest,
            reports,
            raw: built.artifact.clone(),
            fresh: true,
        });
    }
    // Every reader applies one rule to artifact names; what the build writes must pass it.
    for artifact in &manifest.artifacts {
        if let Err(why) = wasmship_manifest::check_file_name(&artifact.file) {
            anyhow::bail!("artifact `{}` would get an unsafe file name: {why} (package stage)", artifact.name);
        }
    }
    let staging = Staging::begin(out_dir)?;
    for (i, (artifact, source)) in manifest.artifacts.iter().zip(&sources).enumerate() {
        match source {
            Source::Product(product) => staging.write(&artifact.file, &runner.bytes(product)?)?,
            Source::Bytes(bytes) => staging.write(&artifact.file, bytes)?,
        }
        if i == 0 {
            hold_for_kill_test(staging.path());
        }
    }
    staging.write(manifest::FILE_NAME, manifest.to_json().as_bytes())?;
    let committed = staging.commit().with_context(|| format!("replacing {}", out_dir.display()))?;
    if !committed.kept_foreign.is_empty() {
        runner.ui.warn(&format!(
            "{} holds files cargo-wasmship did not write; they were kept, and the output was replaced file by \
             file: {}",
            out_dir.display(),
            committed.kept_foreign.join(", ")
        ));
    }
    if !committed.kept_changed.is_empty() {
        runner.ui.warn(&format!(
            "files of the previous build were changed since it wrote them, so they were kept: {}",
            committed.kept_changed.join(", ")
        ));
    }
    Ok(Outcome { out_dir: out_dir.to_path_buf(), manifest, reports, raw: built.artifact.clone(), fresh: false })
}

/// The stage cache's key, or `None` when the cache is off: `--no-cache`, or no key can be had
/// (said once). A key given in the environment that cannot be used is an error.
fn cache_key(request: &Request, ui: &Ui) -> Result<Option<crate::cache::secret::Secret>> {
    if request.cache.disabled {
        return Ok(None);
    }
    match crate::cache::secret::load() {
        Ok(secret) => Ok(Some(secret)),
        Err(error) if std::env::var_os(crate::cache::secret::ENV).is_some() => Err(error),
        Err(error) => {
            ui.warn(&format!("{error:#}; building without the stage cache"));
            Ok(None)
        }
    }
}

/// A memory recommendation `report` measured stays while the shipped module is the same
/// bytes; any other module needs measuring again.
fn keep_recommendation(existing: Option<&Manifest>, manifest: &mut Manifest) {
    let Some(existing) = existing else { return };
    let shipped = manifest.shipped_wasm().map(|a| a.sha256.clone());
    if let Some(recommended) = existing.limits.recommended.clone() {
        if Some(&recommended.module_sha256) == shipped.as_ref() {
            manifest.limits.recommended = Some(recommended);
        }
    }
}

/// Where an artifact's bytes come from: a pipeline product, or generated here.
enum Source<'a> {
    Product(&'a Product),
    Bytes(Vec<u8>),
}

/// The facts of this run that the manifest leaves out: cache status and timings per stage.
fn run_report(outcome: &Outcome) -> Value {
    serde_json::json!({
        "tool": env!("CARGO_PKG_VERSION"),
        "manifest_sha256": crate::digest::sha256_hex(outcome.manifest.to_json().as_bytes()),
        "fresh": outcome.fresh,
        "stages": outcome.reports,
    })
}

/// Work after strip that reads only the final module.
enum Final<'a> {
    Precompile(&'a CwasmTarget),
    Compress(Encoding),
}

/// True when `out_dir` already holds exactly this build: the same manifest (it has no
/// timings or cache facts, so equal inputs give an equal manifest) and every file present at
/// its recorded size. Checking contents is `verify`'s job; a no-op rebuild only needs to
/// know nothing would change.
fn up_to_date(out_dir: &Path, existing: Option<&Manifest>, manifest: &Manifest) -> bool {
    existing == Some(manifest)
        && manifest.artifacts.iter().all(|a| std::fs::metadata(out_dir.join(&a.file)).is_ok_and(|m| m.len() == a.bytes))
}

/// Test hook, in debug builds only (the ones `cargo test` runs; release builds, as `cargo
/// install` makes them, do not have it): with `CARGO_WASMSHIP_TEST_HOLD_STAGED=1` the build
/// stops after staging its first artifact, says so on stderr, and waits to be killed, so a
/// test can show that a kill mid-write leaves the previous output intact.
#[cfg(debug_assertions)]
fn hold_for_kill_test(staging: &Path) {
    if std::env::var_os("CARGO_WASMSHIP_TEST_HOLD_STAGED").is_some() {
        eprintln!("wasmship-test: staged first artifact in {}", staging.display());
        std::thread::sleep(std::time::Duration::from_secs(120));
    }
}

#[cfg(not(debug_assertions))]
fn hold_for_kill_test(_staging: &Path) {}

/// Adds `--> <file> (<how>)` under an error's first line: the guest module, and whether the
/// failing stage saw it as cargo wrote it or as earlier stages left it.
fn at_file<'a>(file: &'a Path, how: &'a str) -> impl FnOnce(anyhow::Error) -> anyhow::Error + 'a {
    move |error| located(error, "", &format!("{} ({how})", file.display()))
}

/// The resolved profile as published in the manifest: no env values (they may be secrets),
/// no absolute paths (they would differ between checkouts).
fn publishable_settings(profile: &Profile, package_dir: &Path, name: &str) -> Value {
    let mut settings = serde_json::to_value(profile).expect("profile serializes");
    settings["name"] = Value::String(name.to_string());
    settings["env"] = serde_json::json!(profile.env.keys().collect::<Vec<_>>());
    let relative = |p: &Path| p.strip_prefix(package_dir).map(|r| r.display().to_string()).ok();
    settings["out-dir"] = serde_json::json!(profile.out_dir.as_deref().and_then(relative));
    // A program's path as the profile wrote it where that is relative, else its file name.
    let program = |p: Option<&Path>| {
        serde_json::json!(p.map(|p| relative(p)
            .unwrap_or_else(|| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())))
    };
    settings["wasm-opt-path"] = program(profile.wasm_opt_path.as_deref());
    settings["wasm-bindgen-path"] = program(profile.wasm_bindgen_path.as_deref());
    settings["dirs"] = serde_json::json!(profile
        .dirs
        .iter()
        .map(|d| serde_json::json!({ "host": relative(&d.host), "guest": d.guest, "writable": d.writable }))
        .collect::<Vec<_>>());
    settings
}
