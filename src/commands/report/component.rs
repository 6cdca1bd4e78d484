//! `report` on a component (wasm32-wasip2): the figures `measure` makes for a core module,
//! made with `wasmtime::component`. The raw component runs in pre-init's box (its grants,
//! deadline and memory cap); the shipped one the way `examples/component-host` runs it (WASI
//! with nothing granted). The call is written as `wasmtime run --invoke` takes it (WAVE).
use super::measure::{engine, ms, timed, wt, EngineRow, Memory, Startup, Stats, Subject};
use crate::stages::preinit::component::{define_missing_imports, State};
use crate::stages::preinit::sandbox;
use anyhow::{bail, Context, Result};
use std::time::Instant;
use wasmship_host::component_call::{answer_text, invoke, ComponentCall};
use wasmtime::component::{Component, Instance, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// A shipped instance's data: WASI with nothing granted, and the largest memory asked for.
struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    peak: u64,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
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

/// Instances of the shipped component, made as a host makes them.
struct Factory {
    engine: Engine,
    pre: InstancePre<Host>,
}

impl Factory {
    fn new(engine: &Engine, component: &Component) -> Result<Factory> {
        let mut linker: Linker<Host> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(wt)?;
        define_missing_imports(&mut linker, engine, component, true).map_err(wt)?;
        let pre = linker.instantiate_pre(component).map_err(wt)?;
        Ok(Factory { engine: engine.clone(), pre })
    }

    fn instance(&self) -> Result<(Store<Host>, Instance, f64)> {
        let host = Host { wasi: WasiCtxBuilder::new().build(), table: ResourceTable::new(), peak: 0 };
        let mut store = Store::new(&self.engine, host);
        store.limiter(|host| host);
        if self.engine.get_epoch_interruption() {
            store.set_epoch_deadline(u64::MAX / 2);
        }
        if self.engine.get_consume_fuel() {
            store.set_fuel(u64::MAX).map_err(wt)?;
        }
        let started = Instant::now();
        let instance = self.pre.instantiate(&mut store).map_err(wt)?;
        Ok((store, instance, ms(started)))
    }
}

/// Instances of the raw component in pre-init's box.
struct Boxed<'a> {
    engine: Engine,
    component: Component,
    sandbox: &'a sandbox::Sandbox,
}

impl<'a> Boxed<'a> {
    fn new(subject: &Subject<'a>) -> Result<Boxed<'a>> {
        let used = crate::wasm::features::used_beyond_baseline(subject.raw)?;
        let engine = engine(subject.engine, |config| {
            config
                .epoch_interruption(true)
                .wasm_features(used, true)
                .relaxed_simd_deterministic(sandbox::RELAXED_SIMD_DETERMINISTIC);
            Ok(())
        })?;
        let component = Component::new(&engine, subject.raw).map_err(wt)?;
        Ok(Boxed { engine, component, sandbox: subject.sandbox })
    }

    fn instance(&self) -> Result<(Store<State>, Instance, f64)> {
        let capture = crate::stages::preinit::stdio::TailPipe::new(64 * 1024);
        let wasi = self.sandbox.wasi.as_ref().map(|grant| sandbox::wasi_builder(grant, &capture)).transpose()?;
        let mut linker: Linker<State> = Linker::new(&self.engine);
        if wasi.is_some() {
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(wt)?;
        }
        define_missing_imports(&mut linker, &self.engine, &self.component, wasi.is_some()).map_err(wt)?;
        let mut store = Store::new(&self.engine, State::new(wasi.map(|mut b| b.build()), self.sandbox.max_memory));
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(1);
        store.epoch_deadline_trap();
        let started = Instant::now();
        let instance = linker.instantiate(&mut store, &self.component).map_err(wt)?;
        Ok((store, instance, ms(started)))
    }

    /// Runs the init export within the box's deadline; returns the milliseconds.
    fn init(&self, store: &mut Store<State>, instance: &Instance, init_func: &str) -> Result<f64> {
        let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let _deadline = sandbox::start_deadline(&self.engine, self.sandbox.timeout, timed_out);
        let init = instance.get_typed_func::<(), ()>(&mut *store, init_func).map_err(wt)?;
        let started = Instant::now();
        init.call(&mut *store, ())
            .map_err(wt)
            .with_context(|| format!("running `{init_func}` on the raw component in the pre-init sandbox"))?;
        Ok(ms(started))
    }
}

/// Makes the call; returns its answer and the milliseconds it took.
fn call<T: 'static>(store: &mut Store<T>, instance: &Instance, spec: &ComponentCall) -> Result<(String, f64)> {
    let (results, elapsed) = invoke(store, instance, spec)?;
    Ok((answer_text(&results), elapsed.as_secs_f64() * 1e3))
}

pub fn startup(subject: &Subject<'_>, spec: Option<&ComponentCall>) -> Result<Startup> {
    let engine = engine(subject.engine, |_| Ok(()))?;
    let reps = subject.reps;
    let compile = |bytes: &[u8]| {
        timed(reps, || {
            let started = Instant::now();
            Component::new(&engine, bytes).map_err(wt)?;
            Ok(ms(started))
        })
    };
    let compile_raw = compile(subject.raw)?;
    let compile_shipped = compile(subject.shipped)?;
    let deserialize_cwasm = subject
        .cwasm
        .map(|cwasm| {
            timed(reps, || {
                let started = Instant::now();
                // SAFETY: the bytes are the build's own .cwasm, checked against the manifest.
                unsafe { Component::deserialize(&engine, cwasm) }.map_err(wt)?;
                Ok(ms(started))
            })
        })
        .transpose()?;
    let raw = Boxed::new(subject)?;
    let shipped_component = match subject.cwasm {
        // SAFETY: the build's own .cwasm, checked against the manifest.
        Some(cwasm) => unsafe { Component::deserialize(&engine, cwasm) }.map_err(wt)?,
        None => Component::new(&engine, subject.shipped).map_err(wt)?,
    };
    let shipped = Factory::new(&engine, &shipped_component)?;
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
        .transpose()?;

    let (mut first_call_raw, mut first_call_shipped, mut answer) = (None, None, None);
    if let Some(spec) = spec {
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
            bail!(
                "{spec} answers {} on the raw component (after init) but {} on the shipped one",
                answers.0,
                answers.1
            );
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
        // wasmtime 48 maps no component file: hosts deserialize checked bytes.
        deserialize_cwasm_file: None,
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

/// Compile and first-call time of the shipped component under each of wasmtime's engines.
pub fn engines(subject: &Subject<'_>, startup: &Startup, spec: Option<&ComponentCall>) -> Vec<EngineRow> {
    super::measure::engines_with(subject.engine, startup, |engine| {
        let compile = timed(subject.reps, || {
            let started = Instant::now();
            Component::new(engine, subject.shipped).map_err(wt)?;
            Ok(ms(started))
        })?;
        let factory = Factory::new(engine, &Component::new(engine, subject.shipped).map_err(wt)?)?;
        let first_call = spec
            .map(|spec| {
                timed(subject.reps, || {
                    let (mut store, instance, _) = factory.instance()?;
                    call(&mut store, &instance, spec).map(|(_, t)| t)
                })
            })
            .transpose()?;
        Ok((compile, first_call))
    })
}

/// The largest linear memory of the shipped component after instantiation (its snapshot),
/// and the largest it grew to during the call.
pub fn memory(subject: &Subject<'_>, spec: Option<&ComponentCall>) -> Result<Memory> {
    let engine = engine(subject.engine, |_| Ok(()))?;
    let factory = Factory::new(&engine, &Component::new(&engine, subject.shipped).map_err(wt)?)?;
    let (mut store, instance, _) = factory.instance()?;
    let after_preinit = store.data().peak;
    if let Some(spec) = spec {
        call(&mut store, &instance, spec)?;
    }
    Ok(Memory { after_preinit, peak: store.data().peak.max(after_preinit) })
}
