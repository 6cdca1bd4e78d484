//! Start-up, engines and memory, measured in this process with wasmtime: each timing is a
//! warm-up run and then `reps` runs, reported as median, minimum and maximum.
use crate::call::CallSpec;
use crate::stages::preinit::sandbox::{self, InitState, Sandbox};
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::time::Instant;
use wasmship_manifest::EngineProfile;
use wasmtime::{Config, Engine, Instance, InstancePre, Linker, Module, ResourceLimiter, Store, Strategy};
use wasmtime_wasi::p1::WasiP1Ctx;

/// Median, min and max of one timing, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stats {
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

/// Runs `work` once to warm up, then `reps` times; `work` returns the milliseconds to count.
pub fn timed(reps: usize, mut work: impl FnMut() -> Result<f64>) -> Result<Stats> {
    work()?;
    let mut samples: Vec<f64> = (0..reps.max(1)).map(|_| work()).collect::<Result<_>>()?;
    samples.sort_by(f64::total_cmp);
    Ok(Stats { median_ms: samples[samples.len() / 2], min_ms: samples[0], max_ms: samples[samples.len() - 1] })
}

pub(super) fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

/// What is measured.
pub struct Subject<'a> {
    pub raw: &'a [u8],
    pub shipped: &'a [u8],
    /// The `.cwasm` this machine would load, if any, checked against the manifest.
    pub cwasm: Option<&'a [u8]>,
    /// Opens that `.cwasm` and checks it through the opened handle, for the mapped load.
    pub open_cwasm: Option<&'a dyn Fn() -> Result<std::fs::File>>,
    pub engine: &'a EngineProfile,
    /// The init export the raw module needs called (none when pre-init did not run).
    pub init_func: Option<String>,
    /// The box pre-init ran init in: the raw module's init runs in it too (deadline, memory
    /// cap, the same grants, deterministic clocks and randomness).
    pub sandbox: &'a Sandbox,
    pub call: Option<&'a CallSpec>,
    pub reps: usize,
}

#[derive(Debug, Serialize)]
pub struct Startup {
    pub compile_raw: Stats,
    pub compile_shipped: Stats,
    /// `Module::deserialize` of the checked bytes.
    pub deserialize_cwasm: Option<Stats>,
    /// `Module::deserialize_open_file` of the checked, opened file: a mapped, copy-on-write
    /// image instead of a copy (what `wasmship-host` does by default).
    pub deserialize_cwasm_file: Option<Stats>,
    pub instantiate_raw: Stats,
    pub instantiate_shipped: Stats,
    /// Running the init export on a fresh raw instance: what pre-init saves every instance.
    pub init_raw: Option<Stats>,
    pub first_call_raw: Option<Stats>,
    pub first_call_shipped: Option<Stats>,
    pub answer: Option<String>,
    /// Compile + instantiate + init + first call of the raw module.
    pub cold_raw_ms: f64,
    /// Deserialize (or compile, without a `.cwasm`) + instantiate + first call of the shipped one.
    pub cold_shipped_ms: f64,
    pub speedup: f64,
}

#[derive(Debug, Serialize)]
pub struct EngineRow {
    pub name: &'static str,
    /// Why there is no measurement (not built in, or the engine refused the module).
    pub unavailable: Option<String>,
    pub note: Option<String>,
    pub compile: Option<Stats>,
    pub first_call: Option<Stats>,
}

#[derive(Debug, Serialize)]
pub struct Memory {
    pub after_preinit: u64,
    pub peak: u64,
}

/// The store's data: WASI when the module imports it, and the largest memory size asked for.
struct Host {
    wasi: Option<WasiP1Ctx>,
    peak: u64,
}

impl ResourceLimiter for Host {
    fn memory_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        self.peak = self.peak.max(desired as u64);
        Ok(true)
    }
    fn table_growing(&mut self, _current: usize, _desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

pub(super) fn wt(error: wasmtime::Error) -> anyhow::Error {
    anyhow!("{error:#}")
}

/// The engine profile's `Config`, with `tweak` applied (a compiler strategy or target).
pub(super) fn engine(profile: &EngineProfile, tweak: impl FnOnce(&mut Config) -> Result<()>) -> Result<Engine> {
    let mut config = Config::new();
    wasmship_host::engine::apply(profile, &mut config)?;
    tweak(&mut config)?;
    Engine::new(&config).map_err(wt)
}

/// Instances of the shipped module, made the way a host makes them: WASI with nothing
/// granted (the snapshot holds what init read).
struct Factory {
    engine: Engine,
    pre: InstancePre<Host>,
    imports_wasi: bool,
}

impl Factory {
    fn new(engine: &Engine, module: &Module) -> Result<Factory> {
        let imports_wasi = module.imports().any(|i| i.module().starts_with("wasi"));
        let mut linker: Linker<Host> = Linker::new(engine);
        if imports_wasi {
            wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |h: &mut Host| h.wasi.as_mut().expect("WASI linked"))
                .map_err(wt)?;
        }
        linker.define_unknown_imports_as_traps(module).map_err(wt)?;
        let pre = linker.instantiate_pre(module).map_err(wt)?;
        Ok(Factory { engine: engine.clone(), pre, imports_wasi })
    }

    fn store(&self) -> Result<Store<Host>> {
        let wasi = self.imports_wasi.then(|| wasmtime_wasi::WasiCtxBuilder::new().build_p1());
        let mut store = Store::new(&self.engine, Host { wasi, peak: 0 });
        store.limiter(|host| host);
        if self.engine.get_epoch_interruption() {
            store.set_epoch_deadline(u64::MAX / 2);
        }
        if self.engine.get_consume_fuel() {
            store.set_fuel(u64::MAX).map_err(wt)?;
        }
        Ok(store)
    }

    /// A fresh instance, and the milliseconds instantiation took.
    fn instance(&self) -> Result<(Store<Host>, Instance, f64)> {
        let mut store = self.store()?;
        let started = Instant::now();
        let instance = self.pre.instantiate(&mut store).map_err(wt)?;
        Ok((store, instance, ms(started)))
    }
}

/// Instances of the raw module in pre-init's sandbox, as pre-init made its own: its engine is
/// the host's with epoch interruption (the deadline), each store gets a fresh deterministic
/// WASI context under the same grants and the same memory cap.
struct Boxed<'a> {
    engine: Engine,
    module: Module,
    sandbox: &'a Sandbox,
}

impl<'a> Boxed<'a> {
    fn new(profile: &EngineProfile, raw: &[u8], sandbox: &'a Sandbox) -> Result<Boxed<'a>> {
        // As pre-init's engine: the module's proposals on, relaxed SIMD deterministic.
        let used = crate::wasm::features::used_beyond_baseline(raw)?;
        let engine = engine(profile, |config| {
            config
                .epoch_interruption(true)
                .wasm_features(used, true)
                .relaxed_simd_deterministic(sandbox::RELAXED_SIMD_DETERMINISTIC);
            Ok(())
        })?;
        let module = Module::new(&engine, raw).map_err(wt)?;
        Ok(Boxed { engine, module, sandbox })
    }

    /// A fresh instance, and the milliseconds instantiation took.
    fn instance(&self) -> Result<(Store<InitState>, Instance, f64)> {
        let capture = crate::stages::preinit::stdio::TailPipe::new(64 * 1024);
        let wasi = self.sandbox.wasi.as_ref().map(|grant| sandbox::wasi_for(grant, &capture)).transpose()?;
        let neutral = self.sandbox.wasi.as_ref().is_some_and(|w| w.deterministic);
        let (mut store, linker) =
            sandbox::boxed(&self.engine, &self.module, wasi, self.sandbox.max_memory, neutral).map_err(wt)?;
        let started = Instant::now();
        let instance = linker.instantiate(&mut store, &self.module).map_err(wt)?;
        Ok((store, instance, ms(started)))
    }

    /// Runs the init export (after a WASI reactor's `_initialize`, as pre-init does) within the
    /// sandbox's deadline; returns the milliseconds.
    fn init(&self, store: &mut Store<InitState>, instance: &Instance, init_func: &str) -> Result<f64> {
        let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let _deadline = sandbox::start_deadline(&self.engine, self.sandbox.timeout, timed_out.clone());
        let started = Instant::now();
        for name in crate::stages::preinit::init_sequence(init_func) {
            if let Some(func) = instance.get_func(&mut *store, name) {
                func.typed::<(), ()>(&*store)
                    .map_err(wt)?
                    .call(&mut *store, ())
                    .map_err(wt)
                    .with_context(|| format!("running `{name}` on the raw module in the pre-init sandbox"))?;
            }
        }
        Ok(ms(started))
    }
}

/// Makes the call; returns its answer and the milliseconds it took (argument copying excluded).
fn call<T>(store: &mut Store<T>, instance: &Instance, spec: &CallSpec) -> Result<(String, f64)> {
    let (results, elapsed) = crate::call::invoke(store, instance, spec)?;
    Ok((crate::call::answer_text(&results), elapsed.as_secs_f64() * 1e3))
}

pub fn startup(subject: &Subject<'_>) -> Result<Startup> {
    let engine = engine(subject.engine, |_| Ok(()))?;
    let reps = subject.reps;
    let compile_raw = timed(reps, || {
        let started = Instant::now();
        Module::new(&engine, subject.raw).map_err(wt)?;
        Ok(ms(started))
    })?;
    let compile_shipped = timed(reps, || {
        let started = Instant::now();
        Module::new(&engine, subject.shipped).map_err(wt)?;
        Ok(ms(started))
    })?;
    let deserialize_cwasm = subject
        .cwasm
        .map(|cwasm| {
            timed(reps, || {
                let started = Instant::now();
                // SAFETY: the bytes are the build's own .cwasm, checked against the manifest.
                unsafe { Module::deserialize(&engine, cwasm) }.map_err(wt)?;
                Ok(ms(started))
            })
        })
        .transpose()?;
    let deserialize_cwasm_file = subject
        .open_cwasm
        .map(|open| {
            timed(reps, || {
                let file = open()?;
                let started = Instant::now();
                // SAFETY: the file was checked against the manifest through this very handle.
                unsafe { Module::deserialize_open_file(&engine, file) }.map_err(wt)?;
                Ok(ms(started))
            })
        })
        .transpose()?;
    let raw = Boxed::new(subject.engine, subject.raw, subject.sandbox)?;
    // Instances of what a host loads: the .cwasm (its memory image laid out as the precompile
    // stage chose), else the compiled .wasm.
    let shipped_module = match subject.cwasm {
        // SAFETY: the build's own .cwasm, checked against the manifest.
        Some(cwasm) => unsafe { Module::deserialize(&engine, cwasm) }.map_err(wt)?,
        None => Module::new(&engine, subject.shipped).map_err(wt)?,
    };
    let shipped = Factory::new(&engine, &shipped_module)?;
    let instantiate_raw = timed(reps, || raw.instance().map(|(_, _, t)| t))?;
    let instantiate_shipped = timed(reps, || shipped.instance().map(|(_, _, t)| t))?;
    let init_raw = subject
        .init_func
        .as_deref()
        .map(|name| {
            timed(reps, || {
                let (mut store, instance, _) = raw.instance()?;
                raw.init(&mut store, &instance, name)
            })
        })
        .transpose()
        .context("running init on the raw module")?;

    let (mut first_call_raw, mut first_call_shipped, mut answer) = (None, None, None);
    if let Some(spec) = subject.call {
        let mut answers = (String::new(), String::new());
        first_call_raw = Some(timed(reps, || {
            let (mut store, instance, _) = raw.instance()?;
            if let Some(name) = &subject.init_func {
                raw.init(&mut store, &instance, name)?;
            }
            let (value, elapsed) = call(&mut store, &instance, spec)?;
            answers.0 = value;
            Ok(elapsed)
        })?);
        first_call_shipped = Some(timed(reps, || {
            let (mut store, instance, _) = shipped.instance()?;
            let (value, elapsed) = call(&mut store, &instance, spec)?;
            answers.1 = value;
            Ok(elapsed)
        })?);
        if answers.0 != answers.1 {
            bail!("{spec} answers {} on the raw module (after init) but {} on the shipped one", answers.0, answers.1);
        }
        answer = Some(answers.0);
    }
    let median = |s: Option<Stats>| s.map_or(0.0, |s| s.median_ms);
    let cold_raw_ms = compile_raw.median_ms + instantiate_raw.median_ms + median(init_raw) + median(first_call_raw);
    let load = deserialize_cwasm.unwrap_or(compile_shipped).median_ms;
    let cold_shipped_ms = load + instantiate_shipped.median_ms + median(first_call_shipped);
    Ok(Startup {
        compile_raw,
        compile_shipped,
        deserialize_cwasm,
        deserialize_cwasm_file,
        instantiate_raw,
        instantiate_shipped,
        init_raw,
        first_call_raw,
        first_call_shipped,
        answer,
        cold_raw_ms,
        cold_shipped_ms,
        speedup: cold_raw_ms / cold_shipped_ms.max(1e-6),
    })
}

/// Compile and first-call time of the shipped module under each of wasmtime's engines.
/// Cranelift with the profile's engine is what `startup` measured already: its row reuses that.
pub fn engines(subject: &Subject<'_>, startup: &Startup) -> Vec<EngineRow> {
    engines_with(subject.engine, startup, |engine| measure_engine(engine, subject))
}

/// The engine rows, each engine measured by `measure` (compile, first call).
pub(super) fn engines_with(
    profile: &EngineProfile,
    startup: &Startup,
    measure: impl Fn(&Engine) -> Result<(Stats, Option<Stats>)>,
) -> Vec<EngineRow> {
    let cranelift = EngineRow {
        name: "Cranelift",
        unavailable: None,
        note: None,
        compile: Some(startup.compile_shipped),
        first_call: startup.first_call_shipped,
    };
    let candidates: [(&'static str, Option<&'static str>, fn(&mut Config) -> Result<()>); 2] = [
        ("Winch", None, |config| {
            config.strategy(Strategy::Winch);
            Ok(())
        }),
        ("Pulley", Some("wasmtime's interpreter: portable, no native code"), |config| {
            config.target("pulley64").map_err(wt)?;
            config.signals_based_traps(false).memory_guard_size(0).memory_reservation(0);
            Ok(())
        }),
    ];
    let others = candidates.into_iter().map(|(name, note, tweak)| {
        let unavailable =
            |why: String| EngineRow { name, unavailable: Some(why), note: None, compile: None, first_call: None };
        let (engine, turned_off) = match engine_without_unsupported(profile, tweak) {
            Ok(found) => found,
            Err(error) => return unavailable(format!("not built in or not available here: {}", first_line(&error))),
        };
        let note = match (note, turned_off.is_empty()) {
            (note, true) => note.map(str::to_string),
            (_, false) => Some(format!("without {}, which it does not support", turned_off.join(", "))),
        };
        match measure(&engine) {
            Ok((compile, first_call)) => {
                EngineRow { name, unavailable: None, note, compile: Some(compile), first_call }
            }
            Err(error) => unavailable(format!("refused the module: {}", first_line(&error))),
        }
    });
    std::iter::once(cranelift).chain(others).collect()
}

/// An engine with `tweak`, turning off each wasm feature the compiler says it lacks (Winch
/// lacks several the profile's preset turns on; the guest rarely uses them): the engine and
/// the features turned off.
fn engine_without_unsupported(
    profile: &EngineProfile,
    tweak: fn(&mut Config) -> Result<()>,
) -> Result<(Engine, Vec<String>)> {
    let mut off: Vec<String> = Vec::new();
    loop {
        let result = engine(profile, |config| {
            tweak(config)?;
            let flags = wasmship_host::engine::features_from_names(&off)?;
            config.wasm_features(flags, false);
            Ok(())
        });
        let error = match result {
            Ok(engine) => return Ok((engine, off)),
            Err(error) => error,
        };
        let text = format!("{error:#}");
        let lacking = text
            .split("the wasm_")
            .nth(1)
            .and_then(|rest| rest.split(" feature is not supported").next())
            .filter(|name| !off.iter().any(|o| o == name) && off.len() < 16);
        match lacking {
            Some(name) => off.push(name.to_string()),
            None => return Err(error),
        }
    }
}

fn first_line(error: &anyhow::Error) -> String {
    format!("{error:#}").lines().next().unwrap_or_default().to_string()
}

fn measure_engine(engine: &Engine, subject: &Subject<'_>) -> Result<(Stats, Option<Stats>)> {
    let compile = timed(subject.reps, || {
        let started = Instant::now();
        Module::new(engine, subject.shipped).map_err(wt)?;
        Ok(ms(started))
    })?;
    let factory = Factory::new(engine, &Module::new(engine, subject.shipped).map_err(wt)?)?;
    let first_call = subject
        .call
        .map(|spec| {
            timed(subject.reps, || {
                let (mut store, instance, _) = factory.instance()?;
                call(&mut store, &instance, spec).map(|(_, t)| t)
            })
        })
        .transpose()?;
    Ok((compile, first_call))
}

/// Linear memory of the shipped module after pre-init, and the largest it grew to during the
/// measured call (or after instantiation, without one).
pub fn memory(subject: &Subject<'_>) -> Result<Memory> {
    let engine = engine(subject.engine, |_| Ok(()))?;
    let module = Module::new(&engine, subject.shipped).map_err(wt)?;
    let factory = Factory::new(&engine, &module)?;
    let (mut store, instance, _) = factory.instance()?;
    let size = |store: &mut Store<Host>| -> u64 {
        instance.get_memory(&mut *store, "memory").map_or(0, |m| m.data_size(&*store) as u64)
    };
    let after_preinit = size(&mut store);
    if let Some(spec) = subject.call {
        call(&mut store, &instance, spec)?;
    }
    let peak = store.data().peak.max(size(&mut store)).max(after_preinit);
    Ok(Memory { after_preinit, peak })
}
