//! `cargo wasmship report`: what the build bought, measured. Builds (through the stage
//! cache), then in this process: the bytes at every stage and on the wire, cold start of the
//! raw module against the shipped `.cwasm`, each wasmtime engine, and the memory a call needs.
//! Writes `report.json` and a self-contained `report.html` next to the manifest, prints a
//! table, and records the recommended memory cap in `manifest.json` for hosts.
mod component;
mod measure;
mod render;

use crate::call::CallSpec;
use crate::exit::Failure;
use crate::manifest::{Manifest, MemoryRecommendation};
use crate::plan::Request;
use crate::stages::Stage;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

pub use measure::Stats;

pub struct ReportOptions {
    /// As written: `export(args)` for a core module, WAVE (`wasmtime run --invoke`) for a
    /// component.
    pub call: Option<String>,
    pub reps: usize,
    /// Headroom over the measured memory peak for the recommended cap, in percent.
    pub headroom_percent: u32,
}

pub const JSON_FILE: &str = "report.json";
pub const HTML_FILE: &str = "report.html";
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub package: String,
    pub version: String,
    pub profile: String,
    pub call: Option<String>,
    pub reps: usize,
    pub bytes: Bytes,
    pub startup: measure::Startup,
    pub engines: Vec<measure::EngineRow>,
    pub memory: MemoryReport,
    /// One line for people: the cold-start ratio, and what pre-init did to the bytes.
    pub headline: Vec<String>,
}

/// The bytes of the module at each step, and on the wire.
#[derive(Debug, Serialize)]
pub struct Bytes {
    pub raw: u64,
    /// The raw module compressed as the shipped one is (brotli at the profile's quality).
    pub raw_br: u64,
    pub preinit: u64,
    pub optimize: u64,
    pub strip: u64,
    pub br: Option<u64>,
    pub gz: Option<u64>,
    /// (triple and CPU level, bytes) for each `.cwasm`.
    pub cwasm: Vec<(String, u64)>,
}

#[derive(Debug, Serialize)]
pub struct MemoryReport {
    pub after_preinit: u64,
    pub peak: u64,
    pub headroom_percent: u32,
    pub recommended_cap: u64,
    /// How the loaded `.cwasm` lays out the initial memory (copy-on-write image or not).
    pub image: Option<crate::manifest::MemoryImage>,
}

pub fn run(request: &Request, options: &ReportOptions) -> Result<Report, Failure> {
    // The lock the build took stays held until the report is written: no other build can
    // replace the directory between what is measured and what is recorded.
    let (plan, outcome, lock) = super::build::build(request)?;
    hold_for_race_test();
    let ui = crate::ui::Ui::new(request.quiet);
    ui.status("Measuring", &format!("{} reps each, after one warm-up", options.reps));
    let call = GuestCall::parse(options.call.as_deref(), outcome.manifest.is_component()).map_err(Failure::config)?;
    let report = measure(&plan, &outcome, options, &call).map_err(Failure::build)?;
    let write = || -> Result<()> {
        let dir = &outcome.out_dir;
        let mut json = serde_json::to_string_pretty(&report)?;
        json.push('\n');
        crate::output::write_atomically(&dir.join(JSON_FILE), json.as_bytes())?;
        crate::output::write_atomically(&dir.join(HTML_FILE), render::html(&report).as_bytes())?;
        record_recommendation(dir, &report, &outcome.manifest)
    };
    write().context("writing the report").map_err(Failure::build)?;
    drop(lock);
    render::table(&report);
    crate::ui::emit(
        "report-finished",
        serde_json::json!({
            "schema_version": crate::ui::MESSAGES_SCHEMA_VERSION,
            "report_json": outcome.out_dir.join(JSON_FILE),
            "report_html": outcome.out_dir.join(HTML_FILE),
            "headline": report.headline,
            "speedup": report.startup.speedup,
            "recommended_memory_cap": report.memory.recommended_cap,
        }),
    );
    ui.status("Reported", &format!("{} and {} in {}", HTML_FILE, JSON_FILE, outcome.out_dir.display()));
    Ok(report)
}

/// The call to time, parsed for the kind of guest built.
enum GuestCall {
    None,
    Core(CallSpec),
    Component(wasmship_host::component_call::ComponentCall),
}

impl GuestCall {
    fn parse(text: Option<&str>, component: bool) -> Result<GuestCall> {
        Ok(match text {
            None => GuestCall::None,
            Some(text) if component => GuestCall::Component(wasmship_host::component_call::ComponentCall::parse(text)?),
            Some(text) => GuestCall::Core(CallSpec::parse(text)?),
        })
    }

    fn text(&self) -> Option<String> {
        match self {
            GuestCall::None => None,
            GuestCall::Core(spec) => Some(spec.to_string()),
            GuestCall::Component(call) => Some(call.to_string()),
        }
    }
}

fn measure(
    plan: &crate::plan::Plan,
    outcome: &super::build::Outcome,
    options: &ReportOptions,
    call: &GuestCall,
) -> Result<Report> {
    let manifest = &outcome.manifest;
    let raw = std::fs::read(&outcome.raw).with_context(|| format!("reading {}", outcome.raw.display()))?;
    let wasm = manifest.shipped_wasm().context("the manifest lists no shipped module")?;
    let shipped_dir = wasmship_host::Shipped::open(&outcome.out_dir)?;
    let shipped = shipped_dir.read_verified(wasm)?;
    // The bytes measured are the bytes checked: read once, against the manifest's sha256.
    let cwasm_artifact = {
        let engine = wasmtime::Engine::new(&shipped_dir.engine_config()?).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let source = if manifest.is_component() {
            shipped_dir.load_component(&engine)?.source
        } else {
            shipped_dir.load(&engine)?.source
        };
        match source {
            wasmship_host::Source::Precompiled { file, .. } => {
                Some(manifest.artifacts.iter().find(|a| a.file == file).context("the loaded .cwasm")?)
            }
            wasmship_host::Source::Compiled { .. } => None,
        }
    };
    let cwasm = cwasm_artifact.map(|artifact| shipped_dir.read_verified(artifact)).transpose()?;
    let open_cwasm = cwasm_artifact.map(|artifact| move || shipped_dir.open_verified(artifact));
    let preinit = manifest.stages.iter().find(|s| s.stage == Stage::Preinit);
    let init_func = preinit.filter(|s| s.ran).and_then(|s| s.settings["init-func"].as_str()).map(str::to_string);
    let subject = measure::Subject {
        raw: &raw,
        shipped: &shipped,
        cwasm: cwasm.as_deref(),
        open_cwasm: open_cwasm.as_ref().map(|open| open as &dyn Fn() -> Result<std::fs::File>),
        engine: &manifest.engine,
        init_func,
        sandbox: &plan.preinit.sandbox,
        call: match call {
            GuestCall::Core(spec) => Some(spec),
            _ => None,
        },
        reps: options.reps,
    };
    let (startup, engines, memory) = if manifest.is_component() {
        let spec = match call {
            GuestCall::Component(spec) => Some(spec),
            _ => None,
        };
        let startup = component::startup(&subject, spec)?;
        let engines = component::engines(&subject, &startup, spec);
        (startup, engines, component::memory(&subject, spec)?)
    } else {
        let startup = measure::startup(&subject)?;
        let engines = measure::engines(&subject, &startup);
        (startup, engines, measure::memory(&subject)?)
    };
    let recommended_cap = recommended_cap(memory.peak, options.headroom_percent);

    let bytes = bytes(manifest, &raw, &plan.package)?;
    let mut headline = vec![format!(
        "cold start, raw .wasm compiled at load vs shipped {}: {:.1}x ({} vs {})",
        if subject.cwasm.is_some() { ".cwasm" } else { ".wasm (no .cwasm for this machine)" },
        startup.speedup,
        crate::ui::human_ms(startup.cold_raw_ms),
        crate::ui::human_ms(startup.cold_shipped_ms),
    )];
    if bytes.preinit > bytes.raw {
        let grew = |a: u64, b: u64| crate::ui::growth(a, b, 0);
        let mut line = format!(
            "pre-init grew the module {} ({} -> {})",
            grew(bytes.raw, bytes.preinit),
            human(bytes.raw),
            human(bytes.preinit)
        );
        if let Some(br) = bytes.br {
            line.push_str(&format!(
                "; on the wire (br) {} -> {} ({})",
                human(bytes.raw_br),
                human(br),
                grew(bytes.raw_br, br)
            ));
        }
        headline.push(line);
    }
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        package: manifest.package.name.clone(),
        version: manifest.package.version.clone(),
        profile: manifest.profile.name.clone(),
        call: call.text(),
        reps: options.reps,
        bytes,
        startup,
        engines,
        memory: MemoryReport {
            after_preinit: memory.after_preinit,
            peak: memory.peak,
            headroom_percent: options.headroom_percent,
            recommended_cap,
            image: cwasm_artifact.and_then(|a| a.precompiled.as_ref()).and_then(|p| p.memory_image.clone()),
        },
        headline,
    })
}

/// Test hook, in debug builds only: with `CARGO_WASMSHIP_TEST_HOLD_REPORT=1` the report waits
/// after its build, says so, and goes on only when the named file exists, so a test can show
/// that another build cannot take the directory meanwhile.
#[cfg(debug_assertions)]
fn hold_for_race_test() {
    if let Some(until) = std::env::var_os("CARGO_WASMSHIP_TEST_HOLD_REPORT") {
        eprintln!("wasmship-test: report holds the output lock");
        while !std::path::Path::new(&until).exists() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

#[cfg(not(debug_assertions))]
fn hold_for_race_test() {}

fn human(bytes: u64) -> String {
    crate::ui::human_bytes(bytes)
}

/// `peak` plus `headroom` percent, rounded up to whole MiB, at most wasm32's 4 GiB.
pub fn recommended_cap(peak: u64, headroom_percent: u32) -> u64 {
    const MIB: u64 = 1 << 20;
    let with_headroom = peak + peak * headroom_percent as u64 / 100;
    (with_headroom.div_ceil(MIB) * MIB).clamp(MIB, 4 << 30)
}

fn bytes(manifest: &Manifest, raw: &[u8], package: &crate::stages::package::PackageConfig) -> Result<Bytes> {
    let out = |stage: Stage| manifest.stages.iter().find(|s| s.stage == stage).map_or(0, |s| s.bytes_out);
    let variant = |encoding: &str| {
        manifest.artifacts.iter().find(|a| a.public && a.content_encoding.as_deref() == Some(encoding)).map(|a| a.bytes)
    };
    let (raw_br, _) = crate::stages::package::compress(raw, crate::config::Encoding::Brotli, package)?;
    Ok(Bytes {
        raw: manifest.input.bytes,
        raw_br: raw_br.len() as u64,
        preinit: out(Stage::Preinit),
        optimize: out(Stage::Optimize),
        strip: out(Stage::Strip),
        br: variant("br"),
        gz: variant("gzip"),
        cwasm: manifest
            .cwasms()
            .map(|(a, info)| (crate::stages::precompile::target_label(&info.triple, &info.cpu_level), a.bytes))
            .collect(),
    })
}

/// Writes the recommendation into manifest.json (the same bytes otherwise), atomically.
fn record_recommendation(dir: &Path, report: &Report, manifest: &Manifest) -> Result<()> {
    let mut manifest = manifest.clone();
    manifest.limits.recommended = Some(MemoryRecommendation {
        memory_cap: report.memory.recommended_cap,
        after_preinit: report.memory.after_preinit,
        peak: report.memory.peak,
        headroom_percent: report.memory.headroom_percent,
        call: report.call.clone(),
        module_sha256: manifest.shipped_wasm().map(|a| a.sha256.clone()).unwrap_or_default(),
    });
    crate::output::write_atomically(&dir.join(crate::manifest::FILE_NAME), manifest.to_json().as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cap_is_peak_plus_headroom_in_whole_mib() {
        assert_eq!(super::recommended_cap(3 << 20, 50), 5 << 20, "4.5 MiB rounds up");
        assert_eq!(super::recommended_cap(2 << 20, 0), 2 << 20);
        assert_eq!(super::recommended_cap(4 << 30, 50), 4 << 30, "wasm32 tops out at 4 GiB");
    }
}
