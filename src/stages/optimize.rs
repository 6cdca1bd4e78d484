//! Stage 3: wasm-opt, in process (binaryen is compiled into this binary; nothing is
//! downloaded). The ordered pass list is parsed and checked by [`passes`] before binaryen
//! sees it. Features come from the module's `target_features` section, which is why this
//! stage runs before strip, plus any explicit `--enable-*`/`--disable-*`.
mod detect;
pub mod external;
pub mod passes;

use super::{Stage, StageOutput, StageReport};
use anyhow::{anyhow, bail, Context, Result};
use passes::{PassPlan, Step};
use serde_json::json;
use std::path::Path;
use std::time::Instant;
use wasm_opt::base::{
    pass_registry, validate_wasm, Feature, FeatureSet, InliningOptions, Module, ModuleReader, ModuleWriter,
    PassOptions, PassRunner,
};

pub struct OptimizeConfig {
    /// wasm-opt arguments in order; `None` turns the stage off.
    pub passes: Option<Vec<String>>,
    /// Extra feature toggles from the profile's `wasm-features`: `simd`, `-bulk-memory`.
    pub wasm_features: Vec<String>,
    /// Run binaryen in a child process of this executable (the tool passes itself), so a fatal
    /// error inside binaryen cannot take the build down with it; `None` runs it in process.
    pub isolate_in: Option<std::path::PathBuf>,
    /// A wasm-opt of the user's to run instead of the binaryen compiled in.
    pub external: Option<external::ExternalWasmOpt>,
}

impl OptimizeConfig {
    /// Whether the stage runs the binaryen compiled in (on, and no external wasm-opt).
    pub fn runs_builtin(&self) -> bool {
        self.passes.is_some() && self.external.is_none()
    }

    /// The binaryen that optimizes: `116` (built in), or the external wasm-opt's `--version`.
    pub fn binaryen_version(&self) -> String {
        match &self.external {
            Some(external) => external.version.clone(),
            None => binaryen_version().to_string(),
        }
    }

    /// The settings that decide the output (its cache key and report), including the contents
    /// of files the pass list makes binaryen read (`--pass-arg=KEY@@FILE`).
    pub fn settings(&self) -> serde_json::Value {
        let files: std::collections::BTreeMap<&str, String> = self
            .passes
            .iter()
            .flatten()
            .flat_map(|arg| arg.split_whitespace())
            .filter_map(response_file)
            .map(|path| {
                let digest = std::fs::read(path).map_or_else(|_| "missing".into(), |b| crate::digest::sha256_hex(&b));
                (path, digest)
            })
            .collect();
        let mut settings =
            json!({ "passes": self.passes, "wasm-features": self.wasm_features, "binaryen": self.binaryen_version() });
        if !files.is_empty() {
            settings["files-read"] = json!(files);
        }
        settings
    }
}

/// The file a wasm-opt argument makes binaryen read, if any: binaryen reads `@path` pass
/// argument values (e.g. `--pass-arg=asyncify-imports@@list.txt`) from that file.
fn response_file(arg: &str) -> Option<&str> {
    arg.split_once("@@").map(|(_, path)| path).or_else(|| arg.split_once("=@").map(|(_, path)| path))
}

/// Checks the profile's `wasm-features` entries (`simd`, `-bulk-memory`) by name.
pub fn check_features(features: &[String]) -> Result<()> {
    for entry in features {
        let name = entry.strip_prefix('-').unwrap_or(entry);
        if !passes::FEATURES.contains(&name) {
            let mut message = format!("unknown wasm feature `{entry}` in `wasm-features`");
            match crate::config::keys::nearest_of(name, passes::FEATURES.iter().copied()) {
                Some(near) => {
                    message.push_str(&format!("\n  help: did you mean `{}{near}`?", &entry[..entry.len() - name.len()]))
                }
                None => message.push_str(&format!("\n  known features: {}", passes::FEATURES.join(", "))),
            }
            bail!(message);
        }
    }
    Ok(())
}

/// The binaryen release compiled in (the wasm-opt crate's major version tracks it).
pub fn binaryen_version() -> &'static str {
    env!("WASMSHIP_BINARYEN_VERSION")
}

/// Parses the profile's list against binaryen's registered passes; safe to call early so a
/// bad list fails before any stage runs.
pub fn plan(config: &OptimizeConfig) -> Result<Option<PassPlan>> {
    let Some(args) = &config.passes else {
        return Ok(None);
    };
    if config.external.is_some() {
        // Its own release decides which passes exist: only what the tool owns is checked.
        external::check_args(args)?;
        return Ok(Some(PassPlan::default()));
    }
    let mut args = args.clone();
    for feature in &config.wasm_features {
        match feature.strip_prefix('-') {
            Some(off) => args.push(format!("--disable-{off}")),
            None => args.push(format!("--enable-{feature}")),
        }
    }
    let registered = pass_registry::get_registered_names();
    passes::parse(&args, &registered).map(Some)
}

pub fn run(wasm: &[u8], config: &OptimizeConfig) -> Result<StageOutput> {
    let started = Instant::now();
    let settings = config.settings();
    let Some(mut plan) = plan(config)? else {
        return Ok(StageOutput::skipped(Stage::Optimize, wasm, settings, "wasm-opt = false"));
    };
    if crate::wasm::component::is_component(wasm) {
        return run_component(wasm, config, started);
    }
    if let Some(external) = &config.external {
        return run_external(wasm, config, external, started);
    }
    let mut notes = Vec::new();
    if !crate::wasm::has_custom_section(wasm, "target_features") {
        // Explicit `--disable-*` still wins: it is applied after these.
        let used: Vec<&str> = detect::used_features(wasm)
            .into_iter()
            .filter(|f| passes::FEATURES.contains(f) && !plan.disable_features.iter().any(|d| d == f))
            .collect();
        notes.push(format!("no target_features section; told binaryen the features it uses: {}", used.join(", ")));
        plan.enable_features.extend(used.iter().map(|f| f.to_string()));
    }

    // Binaryen reads and writes files; DWARF cannot survive these passes, names can.
    let input = super::strip::remove_custom_sections(wasm, |name| name.starts_with(".debug_"))?;
    let work = tempfile::Builder::new()
        .prefix("wasmship-opt-")
        .tempdir()
        .context("creating a scratch directory for wasm-opt")?;
    let in_path = work.path().join("in.wasm");
    let out_path = work.path().join("out.wasm");
    std::fs::write(&in_path, &input).with_context(|| format!("writing {}", in_path.display()))?;

    let rounds = match &config.isolate_in {
        Some(exe) => optimize_in_child(exe, &plan, &in_path, &out_path, work.path())?,
        None => optimize_file(&plan, &in_path, &out_path)?,
    };
    let output = std::fs::read(&out_path).with_context(|| format!("reading {}", out_path.display()))?;
    let mut report = StageReport::new(Stage::Optimize, wasm, &output, started, settings);
    report.notes = notes;
    if plan.converge {
        report = report.note(format!("converged after {rounds} rounds"));
    }
    Ok(StageOutput { bytes: output, report })
}

/// A component: the pass list on each core module inside it, then the component put back
/// together with the optimized modules and validated.
fn run_component(wasm: &[u8], config: &OptimizeConfig, started: Instant) -> Result<StageOutput> {
    let mut notes = Vec::new();
    let rebuilt = crate::wasm::component::rebuild(
        wasm,
        |index, module| {
            let out = run(module, config)?;
            notes.push(format!(
                "core module {index}: {} -> {}",
                crate::ui::human_bytes(out.report.bytes_in),
                crate::ui::human_bytes(out.report.bytes_out)
            ));
            Ok(out.bytes)
        },
        |_| true,
    )?;
    crate::wasm::component::validate(&rebuilt)
        .map_err(|e| anyhow!("the component with its modules optimized does not validate: {e} (optimize stage)"))?;
    let mut report = StageReport::new(Stage::Optimize, wasm, &rebuilt, started, config.settings());
    report.notes = notes;
    Ok(StageOutput { bytes: rebuilt, report })
}

/// The stage with the user's wasm-opt: the same preparation (DWARF out, names kept), every
/// feature the module uses that it knows passed as `--enable-*`.
fn run_external(
    wasm: &[u8],
    config: &OptimizeConfig,
    external: &external::ExternalWasmOpt,
    started: Instant,
) -> Result<StageOutput> {
    let args = config.passes.as_deref().unwrap_or_default();
    let input = super::strip::remove_custom_sections(wasm, |name| name.starts_with(".debug_"))?;
    let work = tempfile::Builder::new().prefix("wasmship-opt-").tempdir().context("creating a scratch directory")?;
    let (in_path, out_path) = (work.path().join("in.wasm"), work.path().join("out.wasm"));
    std::fs::write(&in_path, &input).with_context(|| format!("writing {}", in_path.display()))?;
    let mut features = detect::used_features(wasm);
    features.extend(config.wasm_features.iter().filter(|f| !f.starts_with('-')).map(String::as_str));
    external.run(args, &features, &in_path, &out_path)?;
    let output = std::fs::read(&out_path).with_context(|| format!("reading {}", out_path.display()))?;
    let report =
        StageReport::new(Stage::Optimize, wasm, &output, started, config.settings()).note(external.version.clone());
    Ok(StageOutput { bytes: output, report })
}

/// Reads `input`, runs the plan (to convergence if asked), writes `output`; returns the number
/// of rounds. Runs binaryen in this process: a fatal error inside binaryen aborts it.
pub fn optimize_file(plan: &PassPlan, input: &Path, output: &Path) -> Result<u32> {
    let mut module = Module::new();
    module.apply_features(default_features(plan), FeatureSet::new());
    let mut reader = ModuleReader::new();
    reader.set_debug_info(true);
    reader
        .read_binary(input, &mut module, None)
        .map_err(|e| anyhow!("binaryen could not read the module: {e} (optimize stage)"))?;
    // Explicit toggles win over the target_features section.
    let (enable, disable) = explicit_features(plan);
    module.apply_features(enable, disable);
    if !plan.no_validation && !validate_wasm(&mut module) {
        bail!(
            "binaryen 116 rejected the module as invalid (optimize stage)\n  \
             help: if the guest uses a feature binaryen needs told about, add it, e.g. `wasm-features = [\"simd\"]`; \
             or set `wasm-opt = false` to ship without this stage"
        );
    }

    run_steps(&mut module, plan);
    let mut rounds = 1;
    if plan.converge {
        let mut last = converge_size(&mut module, output)?;
        loop {
            run_steps(&mut module, plan);
            rounds += 1;
            let size = converge_size(&mut module, output)?;
            if size >= last {
                break;
            }
            last = size;
        }
    }
    if !plan.no_validation && !validate_wasm(&mut module) {
        bail!("binaryen produced an invalid module (optimize stage); please report this with the pass list");
    }
    write_module(&mut module, output)?;
    Ok(rounds)
}

/// Runs [`optimize_file`] in a child process (`exe __binaryen ...`), so a pass that hits a
/// fatal error inside binaryen (a missing or malformed pass argument, say) ends the child, not
/// the build, and its message reaches the user.
fn optimize_in_child(exe: &Path, plan: &PassPlan, input: &Path, output: &Path, scratch: &Path) -> Result<u32> {
    let plan_path = scratch.join("plan.json");
    std::fs::write(&plan_path, serde_json::to_vec(plan)?)
        .with_context(|| format!("writing {}", plan_path.display()))?;
    let result = std::process::Command::new(exe)
        .arg("__binaryen")
        .arg(&plan_path)
        .arg(input)
        .arg(output)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running binaryen in {}", exe.display()))?;
    let stderr = String::from_utf8_lossy(&result.stderr);
    if result.status.success() {
        return String::from_utf8_lossy(&result.stdout).trim().parse().context("reading binaryen's round count");
    }
    // Our own errors (invalid module...) come back as the child's `error:` line; what binaryen
    // printed before it (the validator's findings) is the evidence, so it comes along.
    let ours = stderr
        .find("error: ")
        .filter(|at| *at == 0 || stderr[..*at].ends_with('\n'))
        .map(|at| stderr[at + "error: ".len()..].trim_end().to_string());
    let printed = binaryen_said(&stderr);
    if let Some(ours) = ours {
        let (headline, rest) = ours.split_once('\n').map_or((ours.as_str(), ""), |(h, r)| (h, r));
        let mut message = headline.to_string();
        if !printed.is_empty() {
            message.push_str(&format!("\n  binaryen said:\n{printed}"));
        }
        if !rest.is_empty() {
            message.push('\n');
            message.push_str(rest);
        }
        bail!(message);
    }
    bail!(
        "binaryen stopped with a fatal error while optimizing ({}) (optimize stage)\n  binaryen said:\n{printed}\n  \
         help: check the arguments of the passes in `wasm-opt` (some passes need `--pass-arg=NAME@VALUE`; \
         `wasm-opt --help` describes them), or set `wasm-opt = false`",
        result.status
    )
}

/// What binaryen printed, without our own `error:` lines, bounded to one screen: each
/// validator finding's headline (binaryen prints the whole offending expression under it),
/// the first finding's expression in part, or else the first and last lines.
pub(crate) fn binaryen_said(stderr: &str) -> String {
    let lines: Vec<&str> =
        stderr.lines().take_while(|l| !l.starts_with("error: ")).filter(|l| !l.trim().is_empty()).collect();
    let findings: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| l.contains("[wasm-validator error")).map(|(i, _)| i).collect();
    let mut shown: Vec<String> = Vec::new();
    let show = |line: &str| {
        let cut: String = line.chars().take(SAID_WIDTH).collect();
        let more = if cut.len() < line.len() { " ..." } else { "" };
        format!("    | {cut}{more}")
    };
    if let Some(&first) = findings.first() {
        let context_end = findings.get(1).copied().unwrap_or(lines.len()).min(first + 6);
        shown.extend(lines[first..context_end].iter().map(|l| show(l)));
        for &at in findings.iter().skip(1).take(SAID_LINES / 3) {
            shown.push(show(lines[at]));
        }
        let hidden = findings.len().saturating_sub(1 + SAID_LINES / 3);
        if hidden > 0 {
            shown.push(format!("    | ... and {hidden} more findings"));
        }
    } else if lines.len() <= SAID_LINES {
        shown.extend(lines.iter().map(|l| show(l)));
    } else {
        shown.extend(lines[..SAID_LINES / 2].iter().map(|l| show(l)));
        shown.push(format!("    | ... {} lines ...", lines.len() - SAID_LINES));
        shown.extend(lines[lines.len() - SAID_LINES / 2..].iter().map(|l| show(l)));
    }
    shown.join("\n")
}

const SAID_LINES: usize = 24;
const SAID_WIDTH: usize = 160;

/// Runs the steps once, the way wasm-opt does: named passes queue up; each `-O` flushes the
/// queue, then runs the default pipeline at its own levels.
fn run_steps(module: &mut Module, plan: &PassPlan) {
    let mut queued: Vec<&str> = Vec::new();
    for step in &plan.steps {
        match step {
            Step::Pass { name } => queued.push(name),
            Step::Optimize { optimize_level, shrink_level, .. } => {
                flush(module, plan, &mut queued);
                let mut runner =
                    PassRunner::new_with_options(module, pass_options(plan, *optimize_level, *shrink_level));
                runner.add_default_optimization_passes();
                runner.run();
            }
        }
    }
    flush(module, plan, &mut queued);
}

fn flush(module: &mut Module, plan: &PassPlan, queued: &mut Vec<&str>) {
    if queued.is_empty() {
        return;
    }
    let mut runner = PassRunner::new_with_options(module, pass_options(plan, plan.optimize_level, plan.shrink_level));
    for name in queued.drain(..) {
        runner.add(name);
    }
    runner.run();
}

fn pass_options(plan: &PassPlan, optimize_level: i32, shrink_level: i32) -> PassOptions {
    let mut options = PassOptions::new();
    options.set_validate(false);
    options.set_optimize_level(optimize_level);
    options.set_shrink_level(shrink_level);
    options.set_traps_never_happen(plan.traps_never_happen);
    options.set_low_memory_unused(plan.low_memory_unused);
    options.set_fast_math(plan.fast_math);
    options.set_zero_filled_memory(plan.zero_filled_memory);
    options.set_debug_info(true);
    for (key, value) in &plan.pass_args {
        options.set_arguments(key, value);
    }
    let mut inlining = InliningOptions::new();
    let wanted = &plan.inlining;
    if let Some(size) = wanted.always_inline_max_function_size {
        inlining.set_always_inline_max_size(size);
    }
    if let Some(size) = wanted.flexible_inline_max_function_size {
        inlining.set_flexible_inline_max_size(size);
    }
    if let Some(size) = wanted.one_caller_inline_max_function_size {
        inlining.set_one_caller_inline_max_size(size);
    }
    if wanted.inline_functions_with_loops {
        inlining.set_allow_functions_with_loops(true);
    }
    if let Some(ifs) = wanted.partial_inlining_ifs {
        inlining.set_partial_inlining_ifs(ifs);
    }
    options.set_inlining_options(inlining);
    options
}

fn default_features(plan: &PassPlan) -> FeatureSet {
    let mut set = FeatureSet::new();
    if plan.all_features {
        set.set_all();
    } else if plan.mvp_features {
        set.set_mvp();
    } else {
        set.set(Feature::Default, true);
    }
    set
}

fn explicit_features(plan: &PassPlan) -> (FeatureSet, FeatureSet) {
    let mut enable = FeatureSet::new();
    let mut disable = FeatureSet::new();
    for name in &plan.enable_features {
        enable.set(feature(name), true);
    }
    for name in &plan.disable_features {
        disable.set(feature(name), true);
    }
    (enable, disable)
}

/// Maps a name from [`passes::FEATURES`] (already checked) to binaryen's flag.
fn feature(name: &str) -> Feature {
    match name {
        "threads" => Feature::Atomics,
        "mutable-globals" => Feature::MutableGlobals,
        "nontrapping-float-to-int" => Feature::TruncSat,
        "simd" => Feature::Simd,
        "bulk-memory" => Feature::BulkMemory,
        "sign-ext" => Feature::SignExt,
        "exception-handling" => Feature::ExceptionHandling,
        "tail-call" => Feature::TailCall,
        "reference-types" => Feature::ReferenceTypes,
        "multivalue" => Feature::Multivalue,
        "gc" => Feature::Gc,
        "memory64" => Feature::Memory64,
        "relaxed-simd" => Feature::RelaxedSimd,
        "extended-const" => Feature::ExtendedConst,
        "strings" => Feature::Strings,
        "multimemory" => Feature::MultiMemory,
        other => unreachable!("feature `{other}` passed validation in passes::parse"),
    }
}

fn write_module(module: &mut Module, path: &Path) -> Result<()> {
    write_module_with(module, path, true)
}

fn write_module_with(module: &mut Module, path: &Path, debug_info: bool) -> Result<()> {
    let mut writer = ModuleWriter::new();
    writer.set_debug_info(debug_info);
    writer
        .write_binary(module, path)
        .map_err(|e| anyhow!("binaryen could not write the module to {}: {e} (optimize stage)", path.display()))
}

/// The size `--converge` compares, measured as wasm-opt measures it: the module written
/// without debug info (no name section), so names, which the passes keep, do not count.
pub fn converge_size(module: &mut Module, scratch: &Path) -> Result<u64> {
    write_module_with(module, scratch, false)?;
    Ok(std::fs::metadata(scratch).with_context(|| format!("reading {}", scratch.display()))?.len())
}
