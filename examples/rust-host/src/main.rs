//! A host the way servers that ship precompiled guests build one: wasmtime without a
//! compiler. It opens a cargo-wasmship output directory, builds its engine from the
//! manifest, loads the best `.cwasm` for this CPU once, and then serves each request with a
//! fresh instance from an `InstancePre`, with the recorded memory cap and, when the profile
//! turns epoch interruption on, a per-request deadline.
//!
//! ```text
//! rust-host DIR [--public-key KEY | --manifest-sha256 HEX] [--from-bytes] [--engine manifest|default]
//!           [--epoch] [--hide-cpu-feature F]... [--requests N] CALL...
//! rust-host --describe-default-engine
//! ```
//! A CALL is `export(arg, ...)` (`wasmship_host::call`): numbers, typed as the export's
//! parameters (i32, i64, f32, f64), or "strings" copied into guest memory through the guest's
//! `alloc` export and passed as (pointer, length). Prints one JSON object: where the
//! module came from, what was skipped and why, timings, and each call's answer.
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use wasmship_host::call::{invoke, CallSpec};
use wasmship_host::{LoadOptions, Shipped, Source};
use wasmtime::{Config, Engine, Linker, Store, StoreLimits, Val};

/// With epoch interruption on, a request may run for this many ticks of `EPOCH_TICK`.
const REQUEST_DEADLINE_TICKS: u64 = 100;
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// CPU features to report as missing (to show a level this CPU lacks being skipped).
static HIDDEN: OnceLock<Vec<String>> = OnceLock::new();

fn cpu_has(feature: &str) -> Option<bool> {
    if HIDDEN.get().is_some_and(|hidden| hidden.iter().any(|h| h == feature)) {
        return Some(false);
    }
    wasmship_host::cpu::detect(feature)
}

struct Args {
    dir: String,
    engine_from_manifest: bool,
    epoch: bool,
    compile_wasm: bool,
    requests: usize,
    public_key: Option<String>,
    manifest_sha256: Option<String>,
    from_bytes: bool,
    /// (as written, parsed)
    calls: Vec<(String, CallSpec)>,
}

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut raw = std::env::args().skip(1).peekable();
    if raw.peek().map(String::as_str) == Some("--describe-default-engine") {
        // What `Config::new()` gives in this runtime-only build, for comparing with a profile.
        let engine = Engine::new(&Config::new()).map_err(wt)?;
        println!("{}", serde_json::to_string(&wasmship_host::engine::describe(&engine))?);
        return Ok(());
    }
    let args = parse(raw.collect())?;
    // The manifest is read through a trust root: a signature, a pinned digest, or (without
    // either) the directory itself.
    let shipped = match (&args.public_key, &args.manifest_sha256) {
        (Some(key), _) => Shipped::open_signed(&args.dir, key)?,
        (None, Some(sha256)) => Shipped::open_pinned(&args.dir, sha256)?,
        (None, None) => Shipped::open(&args.dir)?,
    };

    let mut config = if args.engine_from_manifest { shipped.engine_config()? } else { Config::new() };
    if args.epoch {
        config.epoch_interruption(true);
    }
    // SAFETY: `cpu_has` only hides features the CPU has; it never claims one it lacks.
    unsafe {
        config.detect_host_feature(cpu_has);
    }
    let engine = Engine::new(&config).map_err(wt)?;
    shipped.check_engine(&engine)?;

    let mut loaded = shipped.load_with(&engine, &LoadOptions { cpu_has, from_bytes: args.from_bytes })?;
    if args.compile_wasm {
        compile_instead(&shipped, &engine, &mut loaded)?;
    }
    if engine.get_epoch_interruption() {
        // The usual epoch setup: a ticker thread, and a per-request deadline in ticks.
        let ticker = engine.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            ticker.increment_epoch();
        });
    }
    let mut linker: Linker<StoreLimits> = Linker::new(&engine);
    // WASI guests import WASI; their exports answer from the snapshot without calling it.
    linker.define_unknown_imports_as_traps(&loaded.module).map_err(wt)?;
    let pre = linker.instantiate_pre(&loaded.module).map_err(wt)?; // once per process

    let mut answers = Vec::new();
    let mut instantiate_times = Vec::new();
    for (text, call) in &args.calls {
        for request in 0..args.requests {
            let mut store = Store::new(&engine, shipped.store_limits());
            store.limiter(|limits| limits);
            store.set_epoch_deadline(REQUEST_DEADLINE_TICKS);
            let started = Instant::now();
            let instance = pre.instantiate(&mut store).map_err(wt)?; // per request
            instantiate_times.push(started.elapsed());
            let (results, _) = invoke(&mut store, &instance, call)?;
            if request == 0 {
                let answer = match results.first() {
                    Some(Val::I32(v)) => json!(v),
                    Some(Val::I64(v)) => json!(v),
                    Some(Val::F32(bits)) => json!(f32::from_bits(*bits)),
                    Some(Val::F64(bits)) => json!(f64::from_bits(*bits)),
                    _ => json!(null),
                };
                answers.push(json!([text, answer]));
            }
        }
    }
    let source = match &loaded.source {
        Source::Precompiled { file, cpu_level } => json!({ "precompiled": file, "cpu_level": cpu_level }),
        Source::Compiled { file } => json!({ "compiled": file }),
    };
    let skipped: Vec<_> = loaded.skipped.iter().map(|s| json!([s.file, s.why])).collect();
    let report = json!({
        "trusted_on": shipped.trusted_on(),
        "loaded_from": if args.from_bytes { "bytes" } else { "file" },
        "source": source,
        "skipped": skipped,
        "verify_ms": ms(loaded.verify_time),
        "load_ms": ms(loaded.load_time),
        "instantiate_us_median": median_us(&mut instantiate_times),
        "answers": answers,
    });
    println!("{report}");
    Ok(())
}

/// Replaces the loaded module with one compiled from the shipped .wasm (timed the same way).
#[cfg(feature = "compiler")]
fn compile_instead(shipped: &Shipped, engine: &Engine, loaded: &mut wasmship_host::Loaded) -> Result<()> {
    let wasm = shipped.manifest().shipped_wasm().context("no shipped .wasm")?;
    let bytes = shipped.read_verified(wasm)?;
    let started = Instant::now();
    loaded.module = wasmtime::Module::new(engine, &bytes).map_err(wt)?;
    loaded.load_time = started.elapsed();
    loaded.source = Source::Compiled { file: wasm.file.clone() };
    Ok(())
}

#[cfg(not(feature = "compiler"))]
fn compile_instead(_: &Shipped, _: &Engine, _: &mut wasmship_host::Loaded) -> Result<()> {
    bail!("--compile-wasm needs the `compiler` feature (this host is runtime-only)")
}

fn parse(raw: Vec<String>) -> Result<Args> {
    let mut args = Args {
        dir: String::new(),
        engine_from_manifest: true,
        epoch: false,
        compile_wasm: false,
        requests: 1,
        public_key: None,
        manifest_sha256: None,
        from_bytes: false,
        calls: vec![],
    };
    let mut hidden = Vec::new();
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--engine" => args.engine_from_manifest = it.next().as_deref() == Some("manifest"),
            "--epoch" => args.epoch = true,
            "--compile-wasm" => args.compile_wasm = true,
            "--hide-cpu-feature" => hidden.push(it.next().context("--hide-cpu-feature needs a feature")?),
            "--requests" => args.requests = it.next().context("--requests needs N")?.parse()?,
            "--public-key" => args.public_key = Some(it.next().context("--public-key needs a key")?),
            "--manifest-sha256" => args.manifest_sha256 = Some(it.next().context("--manifest-sha256 needs a sha256")?),
            "--from-bytes" => args.from_bytes = true,
            _ if args.dir.is_empty() => args.dir = arg,
            _ => args.calls.push((arg.clone(), CallSpec::parse(&arg)?)),
        }
    }
    if args.dir.is_empty() {
        bail!(
            "usage: rust-host DIR [--public-key KEY | --manifest-sha256 HEX] [--from-bytes] [--engine manifest|default] \
             [--epoch] [--hide-cpu-feature F]... [--requests N] CALL..."
        );
    }
    let _ = HIDDEN.set(hidden);
    Ok(args)
}

/// wasmtime built without its `anyhow` feature has its own error type.
fn wt(error: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{error:#}")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median_us(times: &mut [Duration]) -> f64 {
    if times.is_empty() {
        return 0.0;
    }
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e6
}
