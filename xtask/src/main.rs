//! `cargo xtask bench`: measures cargo-wasmship on real guests, in one run, with repetitions
//! and medians, and compares it with cargo's own no-op and with the same pipeline done by hand
//! with the upstream CLIs when they are on PATH. Prints a Markdown table; writes JSON.
//!
//! Targets it checks: no-op rebuild <= 1.1x a do-nothing cargo subcommand running the same
//! cargo build; cold full build <= 0.5x the by-hand pipeline; peak memory <= 2x the largest
//! single stage's peak; brotli <= 0.6x the `brotli` CLI's time at <= 1.01x its size;
//! instantiating the shipped big snapshot < 100 us.
mod measure;
mod test;

use anyhow::{bail, Context, Result};
use measure::{median, run_measured, Sample};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const USAGE: &str =
    "usage: cargo xtask bench [--guest <Cargo.toml or dir>[:FEATURES]]... [--reps N] [--json FILE] [--release]
         cargo xtask test [ARGS FOR cargo test...]
  bench: without --guest, the example guest, the test fixtures and the big-snapshot guest
         (tests/fixtures/big-guest with its `huge` feature: a 32 MiB snapshot). --reps defaults to 5.
  test: cargo test --workspace --locked --no-fail-fast, then one line counting passed, failed
        and skipped checks (a check skips when a peer it compares against is missing).";

/// A guest to measure, and the cargo features to build it with.
#[derive(Clone)]
struct Guest {
    manifest: PathBuf,
    features: Option<String>,
}

struct Options {
    guests: Vec<Guest>,
    reps: usize,
    json: PathBuf,
    release: bool,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench(parse(&args[1..])?),
        Some("test") => std::process::exit(test::run(&root(), &args[1..])?),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2)
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_path_buf()
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options { guests: vec![], reps: 5, json: root().join("target/bench/bench.json"), release: false };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--guest" => {
                let text = value()?;
                let (path, features) = match text.split_once(':') {
                    Some((path, features)) => (PathBuf::from(path), Some(features.to_string())),
                    None => (PathBuf::from(text), None),
                };
                let path = if path.is_dir() { path.join("Cargo.toml") } else { path };
                // cargo metadata reports absolute paths; match them.
                let manifest = path.canonicalize().with_context(|| format!("no guest at {}", path.display()))?;
                options.guests.push(Guest { manifest, features });
            }
            "--reps" => options.reps = value()?.parse().context("--reps takes a number")?,
            "--json" => options.json = PathBuf::from(value()?),
            "--release" => options.release = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if options.reps == 0 {
        bail!("--reps must be at least 1");
    }
    if options.guests.is_empty() {
        let root = root();
        let plain = |path: &str| Guest { manifest: root.join(path), features: None };
        options.guests = vec![
            plain("examples/url-filter/Cargo.toml"),
            plain("tests/fixtures/regex-guest/Cargo.toml"),
            plain("tests/fixtures/wasi-guest/Cargo.toml"),
            Guest { manifest: root.join("tests/fixtures/big-guest/Cargo.toml"), features: Some("huge".into()) },
        ];
    }
    Ok(options)
}

/// Builds the tool under test and the do-nothing subcommand; returns their paths.
fn build_tool(release: bool) -> Result<(PathBuf, PathBuf)> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args(["build", "--quiet", "-p", "cargo-wasmship", "-p", "xtask", "--bin", "cargo-wasmship"])
        .args(["--bin", "cargo-donothing"])
        .current_dir(root());
    if release {
        command.arg("--release");
    }
    if !command.status()?.success() {
        bail!("building cargo-wasmship failed");
    }
    let dir = root().join("target").join(if release { "release" } else { "debug" });
    Ok((dir.join("cargo-wasmship"), dir.join("cargo-donothing")))
}

fn bench(options: Options) -> Result<()> {
    let (tool, donothing) = build_tool(options.release)?;
    let scratch = tempfile_dir()?;
    let mut results = Vec::new();
    for guest in &options.guests {
        eprintln!("bench: {} ({} repetitions)", guest.manifest.display(), options.reps);
        results.push(
            bench_guest(&tool, &donothing, guest, options.reps, &scratch)
                .with_context(|| format!("benchmarking {}", guest.manifest.display()))?,
        );
    }
    let report = json!({
        "tool": tool.display().to_string(),
        "profile": if options.release { "release" } else { "dev (dependencies at opt-level 2)" },
        "reps": options.reps,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "guests": results,
    });
    if let Some(dir) = options.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&options.json, serde_json::to_string_pretty(&report)? + "\n")?;
    print!("{}", markdown(&report));
    eprintln!("bench: JSON written to {}", options.json.display());
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("wasmship-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// One invocation of the tool for `guest` with `out` and `cache` directories.
fn tool_command(tool: &Path, guest: &Guest, out: &Path, cache: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(tool);
    command
        .args(["build", "-q", "--manifest-path"])
        .arg(&guest.manifest)
        .arg("--out-dir")
        .arg(out)
        .arg("--cache-dir")
        .arg(cache)
        .args(extra);
    if let Some(features) = &guest.features {
        command.args(["--features", features]);
    }
    command
}

fn bench_guest(tool: &Path, donothing: &Path, spec: &Guest, reps: usize, scratch: &Path) -> Result<Value> {
    let guest = spec.manifest.as_path();
    let work = scratch.join(format!(
        "guest-{}",
        guest.parent().and_then(|p| p.file_name()).map_or("x".into(), |n| n.to_string_lossy().into_owned())
    ));
    std::fs::create_dir_all(&work)?;
    // Warm cargo's own build so every measurement below starts from cargo's no-op.
    let warm = run_measured(&mut tool_command(tool, spec, &work.join("warm-out"), &work.join("warm-cache"), &[]))?;
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(work.join("warm-out/manifest.json"))?)?;
    let target = manifest["package"]["target"].as_str().unwrap_or("wasm32-unknown-unknown").to_string();
    let metadata = cargo_metadata(guest)?;
    let raw = raw_module(&metadata, &target, manifest["input"]["file"].as_str().unwrap_or_default())?;
    // What the by-hand pipeline needs that the manifest leaves out: env values, where `dirs` are.
    manifest["bench"] = json!({
        "env": guest_env(&metadata, guest),
        "package_dir": guest.parent().map(|p| p.display().to_string()),
    });
    let passes: Vec<String> = manifest["profile"]["settings"]["wasm-opt"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let _ = warm;

    // (a) cold full build: empty stage cache, new output directory.
    let mut cold = Vec::new();
    for rep in 0..reps {
        let dir = work.join(format!("cold-{rep}"));
        cold.push(run_measured(&mut tool_command(tool, spec, &dir.join("out"), &dir.join("cache"), &[]))?);
        let _ = std::fs::remove_dir_all(&dir);
    }

    // (b) no-op rebuild, alternating with cargo's own no-op of the same guest. Two views:
    // the tool as cargo runs a subcommand (with $CARGO, the real cargo, set), and the whole
    // `cargo wasmship build` a user types, which adds cargo's own subcommand dispatch.
    let (noop_out, noop_cache) = (work.join("noop-out"), work.join("noop-cache"));
    run_measured(&mut tool_command(tool, spec, &noop_out, &noop_cache, &[]))?;
    let real_cargo = real_cargo();
    let path =
        format!("{}:{}", tool.parent().unwrap_or(Path::new(".")).display(), std::env::var("PATH").unwrap_or_default());
    let (mut noop, mut through_cargo, mut cargo_noop, mut nothing) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        let mut direct = tool_command(tool, spec, &noop_out, &noop_cache, &[]);
        if let Some(real) = &real_cargo {
            direct.env("CARGO", real);
        }
        noop.push(run_measured(&mut direct)?);
        // The floor: a subcommand that runs the same cargo build and nothing else.
        let mut floor = Command::new(donothing);
        floor.arg("--manifest-path").arg(guest).args(["--target", &target]);
        if let Some(features) = &spec.features {
            floor.args(["--features", features]);
        }
        if let Some(real) = &real_cargo {
            floor.env("CARGO", real);
        }
        nothing.push(run_measured(&mut floor)?);
        let mut user = Command::new("cargo");
        user.args(["wasmship", "build", "-q", "--manifest-path"])
            .arg(guest)
            .args(spec.features.iter().flat_map(|f| ["--features", f.as_str()]))
            .arg("--out-dir")
            .arg(&noop_out)
            .arg("--cache-dir")
            .arg(&noop_cache)
            .env("PATH", &path)
            .env_remove("CARGO");
        through_cargo.push(run_measured(&mut user)?);
        let mut cargo = Command::new("cargo");
        cargo
            .args(["build", "--quiet", "--lib", "--profile", "release", "--target", &target, "--manifest-path"])
            .arg(guest)
            .args(spec.features.iter().flat_map(|f| ["--features", f.as_str()]))
            .env_remove("CARGO");
        cargo_noop.push(run_measured(&mut cargo)?);
    }

    // (c) only the compression settings changed: each repetition starts from a copy of the
    // warm cache (every stage cached at brotli quality 11) and builds with quality 10, so
    // brotli really reruns every time.
    let mut recompress = Vec::new();
    for rep in 0..reps {
        let dir = work.join(format!("recompress-{rep}"));
        copy_tree(&noop_cache, &dir.join("cache"))?;
        recompress.push(run_measured(&mut tool_command(
            tool,
            spec,
            &dir.join("out"),
            &dir.join("cache"),
            &["--set", "brotli-quality=10"],
        ))?);
        let _ = std::fs::remove_dir_all(&dir);
    }

    // Each stage alone, for the peak-memory target (inputs chained from the previous stage).
    let stages = stage_peaks(tool, spec, &raw, &work)?;

    // Brotli on the shipped module: ours (one stream; parts side by side) against the CLI.
    let shipped_file = work.join("warm-out").join(manifest_shipped(&work.join("warm-out/manifest.json"))?);
    let brotli = measure::brotli(tool, spec.manifest.as_path(), spec.features.as_deref(), &shipped_file, &work, reps)?;

    // Instantiating the shipped .cwasm, as `report` measures it.
    let instantiate_us = instantiate_us(tool, spec, &work, reps)?;

    // (d) the same pipeline by hand, when the upstream CLIs are installed.
    let by_hand = measure::by_hand(&raw, &passes, &manifest, &work, reps)?;

    let cold_ms = median(&cold, |s| s.millis);
    let cold_peak = cold.iter().map(|s| s.max_rss_kib).max().unwrap_or(0);
    let largest_stage_peak = stages.iter().map(|(_, s)| s.max_rss_kib).max().unwrap_or(0);
    let noop_ms = median(&noop, |s| s.millis);
    let through_cargo_ms = median(&through_cargo, |s| s.millis);
    let cargo_noop_ms = median(&cargo_noop, |s| s.millis);
    let nothing_ms = median(&nothing, |s| s.millis);
    Ok(json!({
        "guest": guest.display().to_string(),
        "target": target,
        "raw_bytes": std::fs::metadata(&raw)?.len(),
        "passes": passes,
        "cold_full_build_ms": cold_ms,
        "cold_peak_rss_kib": cold_peak,
        "noop_rebuild_ms": noop_ms,
        "cargo_noop_ms": cargo_noop_ms,
        "noop_ratio_to_cargo": noop_ms / cargo_noop_ms,
        "donothing_ms": nothing_ms,
        "noop_ratio_to_donothing": noop_ms / nothing_ms,
        "brotli": brotli,
        "instantiate_us": instantiate_us,
        "noop_through_cargo_ms": through_cargo_ms,
        "noop_through_cargo_ratio": through_cargo_ms / cargo_noop_ms,
        "recompress_rebuild_ms": median(&recompress, |s| s.millis),
        "stage_alone": stages.iter().map(|(name, s)| json!({"stage": name, "ms": s.millis, "peak_rss_kib": s.max_rss_kib})).collect::<Vec<_>>(),
        "largest_stage_peak_rss_kib": largest_stage_peak,
        "peak_ratio_to_largest_stage": cold_peak as f64 / largest_stage_peak.max(1) as f64,
        "by_hand": by_hand.clone(),
        "cold_ratio_to_by_hand": by_hand["total_ms"].as_f64().map(|total| cold_ms / total),
        "samples_ms": {
            "cold": cold.iter().map(|s| s.millis).collect::<Vec<_>>(),
            "noop": noop.iter().map(|s| s.millis).collect::<Vec<_>>(),
            "cargo_noop": cargo_noop.iter().map(|s| s.millis).collect::<Vec<_>>(),
            "donothing": nothing.iter().map(|s| s.millis).collect::<Vec<_>>(),
            "noop_through_cargo": through_cargo.iter().map(|s| s.millis).collect::<Vec<_>>(),
            "recompress": recompress.iter().map(|s| s.millis).collect::<Vec<_>>(),
        },
    }))
}

/// The cargo binary behind rustup's proxy, which cargo itself passes to subcommands as $CARGO.
fn real_cargo() -> Option<String> {
    if let Ok(cargo) = std::env::var("CARGO") {
        return Some(cargo);
    }
    let output = Command::new("rustup").args(["which", "cargo"]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn cargo_metadata(guest: &Path) -> Result<Value> {
    let output = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(guest)
        .output()?;
    serde_json::from_slice(&output.stdout).context("cargo metadata output")
}

/// The `env` table of the guest's `release` profile (top level, then `profile.release`).
fn guest_env(metadata: &Value, guest: &Path) -> Value {
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(guest))
        .cloned()
        .unwrap_or(Value::Null);
    let table = &package["metadata"]["wasmship"];
    let mut env = table["env"].as_object().cloned().unwrap_or_default();
    env.extend(table["profile"]["release"]["env"].as_object().cloned().unwrap_or_default());
    Value::Object(env)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

/// cargo's own module for the guest, in `cargo metadata`'s target directory.
fn raw_module(metadata: &Value, target: &str, file: &str) -> Result<PathBuf> {
    let dir = metadata["target_directory"].as_str().context("target_directory")?;
    let path = Path::new(dir).join(target).join("release").join(file);
    if !path.is_file() {
        bail!("cargo's module is not at {}", path.display());
    }
    Ok(path)
}

/// The shipped module's file, from a manifest.
fn manifest_shipped(manifest: &Path) -> Result<String> {
    let json: Value = serde_json::from_slice(&std::fs::read(manifest)?)?;
    json["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["kind"] == "wasm" && a["content_encoding"].is_null())
        .and_then(|a| a["file"].as_str().map(String::from))
        .context("the manifest lists no shipped module")
}

/// Median microseconds to instantiate the shipped `.cwasm`, from `report`'s own measurement.
fn instantiate_us(tool: &Path, spec: &Guest, work: &Path, reps: usize) -> Result<f64> {
    let out = work.join("report-out");
    let mut command = Command::new(tool);
    command
        .args(["report", "-q", "--no-compress", "--reps", &reps.to_string(), "--manifest-path"])
        .arg(&spec.manifest)
        .arg("--out-dir")
        .arg(&out);
    if let Some(features) = &spec.features {
        command.args(["--features", features]);
    }
    run_measured(&mut command)?;
    let report: Value = serde_json::from_slice(&std::fs::read(out.join("report.json"))?)?;
    report["startup"]["instantiate_shipped"]["median_ms"].as_f64().map(|ms| ms * 1000.0).context("report.json")
}

fn stage_peaks(tool: &Path, spec: &Guest, raw: &Path, work: &Path) -> Result<Vec<(String, Sample)>> {
    let guest = spec.manifest.as_path();
    let mut samples = Vec::new();
    let mut input = raw.to_path_buf();
    for stage in ["preinit", "optimize", "strip", "precompile", "compress"] {
        let output = work.join(format!("stage-{stage}.out"));
        let mut command = Command::new(tool);
        command.args(["stage", stage]).arg(&input).arg("-o").arg(&output).args(["-q", "--manifest-path"]).arg(guest);
        if let Some(features) = &spec.features {
            command.args(["--features", features]);
        }
        samples.push((stage.to_string(), run_measured(&mut command)?));
        // Later stages read the module, not the .cwasm or the .br.
        if !matches!(stage, "precompile" | "compress") {
            input = output;
        }
    }
    Ok(samples)
}

fn markdown(report: &Value) -> String {
    let mut out = format!(
        "cargo xtask bench: {} repetitions, medians; tool built in the {} profile; {} cores\n\n",
        report["reps"],
        report["profile"].as_str().unwrap_or(""),
        report["cores"]
    );
    out.push_str("| guest | raw | cold build | by hand | cold / by hand | no-op | cargo no-op | no-op / cargo | `cargo wasmship` no-op / cargo | recompress only | peak RSS | largest stage peak | peak ratio |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for guest in report["guests"].as_array().into_iter().flatten() {
        let name = Path::new(guest["guest"].as_str().unwrap_or(""))
            .parent()
            .and_then(|p| p.file_name())
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let by_hand = guest["by_hand"]["total_ms"].as_f64().map_or("n/a".into(), ms);
        let by_hand_ratio = guest["cold_ratio_to_by_hand"].as_f64().map_or("n/a".into(), |r| format!("{r:.2}x"));
        out.push_str(&format!(
            "| {name} | {} | {} | {by_hand} | {by_hand_ratio} | {} | {} | {:.2}x | {:.2}x | {} | {} | {} | {:.2}x |\n",
            kib(guest["raw_bytes"].as_f64().unwrap_or(0.0) / 1024.0),
            ms(guest["cold_full_build_ms"].as_f64().unwrap_or(0.0)),
            ms(guest["noop_rebuild_ms"].as_f64().unwrap_or(0.0)),
            ms(guest["cargo_noop_ms"].as_f64().unwrap_or(0.0)),
            guest["noop_ratio_to_cargo"].as_f64().unwrap_or(0.0),
            guest["noop_through_cargo_ratio"].as_f64().unwrap_or(0.0),
            ms(guest["recompress_rebuild_ms"].as_f64().unwrap_or(0.0)),
            kib(guest["cold_peak_rss_kib"].as_f64().unwrap_or(0.0)),
            kib(guest["largest_stage_peak_rss_kib"].as_f64().unwrap_or(0.0)),
            guest["peak_ratio_to_largest_stage"].as_f64().unwrap_or(0.0),
        ));
    }
    out.push_str(
        "\n- cold build: empty stage cache, new output directory (cargo's own build already done).\n\
         - no-op: `cargo-wasmship build` started the way cargo starts a subcommand ($CARGO set); \
         `cargo wasmship` adds cargo's own subcommand dispatch (rustup proxy, cargo start-up), \
         which every cargo subcommand pays before it runs.\n\
         - recompress only: consecutive builds that differ only in brotli quality.\n\
         - by hand: wasmtime wizer, wasm-opt (same pass list, then the strip passes), wasmtime compile \
         per target, brotli, gzip, sha256sum, one after the other.\n\
         - peak ratio: the tool's peak RSS over the largest peak of any stage run alone.\n",
    );
    out.push_str("\n| guest | no-op | do-nothing subcommand | no-op / do-nothing | shipped .wasm | brotli, one stream | brotli, in parts | `brotli` CLI | one stream / CLI (time, size) | parts / CLI (time, size) | instantiate .cwasm |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for guest in report["guests"].as_array().into_iter().flatten() {
        let name = Path::new(guest["guest"].as_str().unwrap_or(""))
            .parent()
            .and_then(|p| p.file_name())
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let b = &guest["brotli"];
        let sized = |ms_key: &str, bytes_key: &str| {
            format!(
                "{} ({})",
                ms(b[ms_key].as_f64().unwrap_or(0.0)),
                kib(b[bytes_key].as_f64().unwrap_or(0.0) / 1024.0)
            )
        };
        let cli = match b["cli"].as_object() {
            Some(cli) => format!(
                "{} ({})",
                ms(cli["ms"].as_f64().unwrap_or(0.0)),
                kib(cli["bytes"].as_f64().unwrap_or(0.0) / 1024.0)
            ),
            None => "n/a".into(),
        };
        let ratios = |time: &str, size: &str| match (b[time].as_f64(), b[size].as_f64()) {
            (Some(t), Some(s)) => format!("{t:.2}x, {s:.3}x"),
            _ => "n/a".into(),
        };
        out.push_str(&format!(
            "| {name} | {} | {} | {:.2}x | {} | {} | {} | {cli} | {} | {} | {:.0} µs |\n",
            ms(guest["noop_rebuild_ms"].as_f64().unwrap_or(0.0)),
            ms(guest["donothing_ms"].as_f64().unwrap_or(0.0)),
            guest["noop_ratio_to_donothing"].as_f64().unwrap_or(0.0),
            kib(b["input_bytes"].as_f64().unwrap_or(0.0) / 1024.0),
            sized("one_stream_ms", "one_stream_bytes"),
            format!("{} parts: {}", b["parts"], sized("parts_ms", "parts_bytes")),
            ratios("one_stream_time_ratio", "one_stream_size_ratio"),
            ratios("parts_time_ratio", "parts_size_ratio"),
            guest["instantiate_us"].as_f64().unwrap_or(0.0),
        ));
    }
    out.push_str(
        "\n- do-nothing subcommand: `cargo-donothing` (xtask), which runs the same cargo build the tool runs and nothing else.\n\
         - brotli: q11, window 24, on the shipped module; in parts: `brotli-parts` = cores.\n\
         - instantiate .cwasm: `report`'s median of instantiating the deserialized .cwasm.\n",
    );
    for guest in report["guests"].as_array().into_iter().flatten() {
        if let Some(note) = guest["by_hand"]["note"].as_str() {
            out.push_str(&format!("\nby hand: {note}\n"));
            break;
        }
    }
    out
}

fn ms(millis: f64) -> String {
    if millis >= 1000.0 {
        format!("{:.2} s", millis / 1000.0)
    } else {
        format!("{millis:.0} ms")
    }
}

fn kib(kib: f64) -> String {
    if kib >= 1024.0 {
        format!("{:.1} MiB", kib / 1024.0)
    } else {
        format!("{kib:.0} KiB")
    }
}
