//! A host the way servers that run precompiled components build one: wasmtime's runtime with
//! the component model and no compiler, WASI 0.2 with nothing granted. It opens a
//! cargo-wasmship output directory of a wasm32-wasip2 guest, builds its engine from the
//! manifest, loads the best `.cwasm` for this CPU once (sha256-checked, through a trust root),
//! and serves each request with a fresh instance from an `InstancePre`.
//!
//! ```text
//! component-host DIR [--public-key KEY | --manifest-sha256 HEX] [--requests N] CALL...
//! ```
//! A CALL is written as `wasmtime run --invoke` takes it for components (WAVE), e.g.
//! `lookup("fox")`. Prints one JSON object: where the component came from, timings, and each
//! call's answer as WAVE text.
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::time::{Duration, Instant};
use wasmship_host::component_call::{answer_text, invoke, ComponentCall};
use wasmship_host::{Shipped, Source};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// One request's state: WASI with nothing granted, and the recorded memory cap.
struct Request {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for Request {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

struct Args {
    dir: String,
    public_key: Option<String>,
    manifest_sha256: Option<String>,
    requests: usize,
    calls: Vec<ComponentCall>,
}

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = parse(std::env::args().skip(1).collect())?;
    let shipped = match (&args.public_key, &args.manifest_sha256) {
        (Some(key), _) => Shipped::open_signed(&args.dir, key)?,
        (None, Some(sha256)) => Shipped::open_pinned(&args.dir, sha256)?,
        (None, None) => Shipped::open(&args.dir)?,
    };
    let engine = Engine::new(&shipped.engine_config()?).map_err(wt)?;
    shipped.check_engine(&engine)?;
    let loaded = shipped.load_component(&engine)?; // once per process

    let mut linker: Linker<Request> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(wt)?;
    let pre = linker.instantiate_pre(&loaded.module).map_err(wt)?;

    let mut answers = Vec::new();
    let mut instantiate_times = Vec::new();
    for call in &args.calls {
        for request in 0..args.requests {
            let state = Request {
                wasi: WasiCtxBuilder::new().build(),
                table: ResourceTable::new(),
                limits: shipped.store_limits(),
            };
            let mut store = Store::new(&engine, state);
            store.limiter(|state| &mut state.limits);
            let started = Instant::now();
            let instance = pre.instantiate(&mut store).map_err(wt)?; // per request
            instantiate_times.push(started.elapsed());
            let (results, _) = invoke(&mut store, &instance, call)?;
            if request == 0 {
                answers.push(json!([call.to_string(), answer_text(&results)]));
            }
        }
    }
    let source = match &loaded.source {
        Source::Precompiled { file, cpu_level } => json!({ "precompiled": file, "cpu_level": cpu_level }),
        Source::Compiled { file } => json!({ "compiled": file }),
    };
    let report = json!({
        "trusted_on": shipped.trusted_on(),
        "source": source,
        "skipped": loaded.skipped.iter().map(|s| json!([s.file, s.why])).collect::<Vec<_>>(),
        "verify_ms": ms(loaded.verify_time),
        "load_ms": ms(loaded.load_time),
        "instantiate_us_median": median_us(&mut instantiate_times),
        "answers": answers,
    });
    println!("{report}");
    Ok(())
}

fn parse(raw: Vec<String>) -> Result<Args> {
    let mut args = Args { dir: String::new(), public_key: None, manifest_sha256: None, requests: 1, calls: vec![] };
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--public-key" => args.public_key = Some(it.next().context("--public-key needs a key")?),
            "--manifest-sha256" => args.manifest_sha256 = Some(it.next().context("--manifest-sha256 needs a sha256")?),
            "--requests" => args.requests = it.next().context("--requests needs N")?.parse()?,
            _ if args.dir.is_empty() => args.dir = arg,
            _ => args.calls.push(ComponentCall::parse(&arg)?),
        }
    }
    if args.dir.is_empty() {
        bail!("usage: component-host DIR [--public-key KEY | --manifest-sha256 HEX] [--requests N] CALL...");
    }
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
