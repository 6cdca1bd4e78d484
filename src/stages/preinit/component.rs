//! Pre-init of a component (wasm32-wasip2) with wasmtime-wizer's component support, in the
//! same box as a core module: the deadline, one memory budget, WASI (p2) only when granted and
//! then with the same grants and fixed clocks and randomness; every other import traps with a
//! message naming it.
//!
//! Wizer 48 cannot remove a component's init export: it removes the inner core module's export
//! and leaves the component referring to it, which makes the snapshot invalid. So Wizer keeps
//! it here, and the caller removes the component's export entry itself.
use super::sandbox::{self, Bound, Event, InitRun, MemoryCap};
use anyhow::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The WIT-legal default name of a component's init export (`wizer.initialize` is not one).
pub const DEFAULT_INIT_FUNC: &str = "wizer-initialize";

/// A store's data in the box: WASI (nothing granted unless the profile grants it) and the
/// memory cap. `report` runs the raw component in the same box.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryCap,
}

impl State {
    pub(crate) fn new(wasi: Option<WasiCtx>, max_memory: u64) -> State {
        let wasi = wasi.unwrap_or_else(|| WasiCtxBuilder::new().build());
        State { wasi, table: ResourceTable::new(), memory: MemoryCap::new(max_memory) }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Runs `init_func` of the component `wasm` once in the sandbox and snapshots it.
pub fn run(wizer: &wasmtime_wizer::Wizer, wasm: &[u8], init_func: &str, config: &sandbox::Sandbox) -> Result<InitRun> {
    let engine = sandbox::init_engine(|c| {
        c.wasm_component_model(true).concurrency_support(false);
    })?;
    let capture = super::stdio::TailPipe::new(64 * 1024);
    let wasi = config.wasi.as_ref().map(|grant| sandbox::wasi_builder(grant, &capture).map(|mut b| b.build()));
    let job = Job {
        engine,
        wizer: wizer.clone(),
        wasm: wasm.to_vec(),
        init_func: init_func.to_string(),
        max_memory: config.max_memory,
        wasi: wasi.transpose()?,
        timeout: config.timeout,
    };
    sandbox::supervise(config.timeout, &capture, move |events| job.run(events))
}

struct Job {
    engine: Engine,
    wizer: wasmtime_wizer::Wizer,
    wasm: Vec<u8>,
    init_func: String,
    max_memory: u64,
    wasi: Option<WasiCtx>,
    timeout: std::time::Duration,
}

impl Job {
    fn run(self, events: mpsc::Sender<Event>) {
        let Job { engine, wizer, wasm, init_func, max_memory, wasi, timeout } = self;
        let granted = wasi.is_some();
        let mut store = Store::new(&engine, State::new(wasi, max_memory));
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(1);
        store.epoch_deadline_trap();
        let timed_out = Arc::new(AtomicBool::new(false));
        let mut started = None;
        let mut deadline = None;
        let result = (|| -> wasmtime::Result<Vec<u8>> {
            let (context, instrumented) = wizer.instrument_component(&wasm)?;
            let component = Component::new(&engine, &instrumented).context("compiling the component for pre-init")?;
            let mut linker: Linker<State> = Linker::new(&engine);
            if granted {
                wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
            }
            define_missing_imports(&mut linker, &engine, &component, granted)?;
            // WASI p2's host side is async: a current-thread runtime drives it here.
            let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
            deadline = Some(sandbox::start_deadline(&engine, timeout, timed_out.clone()));
            let now = std::time::Instant::now();
            started = Some(now);
            let _ = events.send(Event::Started(now));
            runtime.block_on(async {
                let instance = linker.instantiate_async(&mut store, &component).await?;
                let init = instance.get_typed_func::<(), ()>(&mut store, init_func.as_str()).with_context(|| {
                    format!("the component's init export `{init_func}` must take no parameters and return nothing")
                })?;
                init.call_async(&mut store, ()).await.with_context(|| format!("the `{init_func}` function trapped"))?;
                let mut state = wasmtime_wizer::WasmtimeWizerComponent { store: &mut store, instance };
                wizer.snapshot_component(&context, &mut state).await
            })
        })();
        drop(deadline);
        let bound_hit = if let Some(requested) = store.data().memory.exceeded {
            Some(Bound::Memory { requested })
        } else if timed_out.load(Ordering::SeqCst) && result.is_err() {
            Some(Bound::Timeout)
        } else {
            None
        };
        let init_millis = started.map_or(0.0, crate::stages::elapsed_ms);
        let _ = events.send(Event::Done(InitRun { result, bound_hit, captured_output: String::new(), init_millis }));
    }
}

/// Every import the linker does not provide (all WASI unless granted, and every other
/// interface) becomes functions that trap naming the import and the way out. Not wasmtime's
/// `define_unknown_imports_as_traps`: it defines a trap under the exact version a guest
/// imports (`wasi:cli/environment@0.2.6`) that then shadows the semver-compatible WASI
/// the linker already has (`@0.2.12`).
pub(crate) fn define_missing_imports<T: 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &Component,
    wasi_linked: bool,
) -> wasmtime::Result<()> {
    use wasmtime::component::types::ComponentItem;
    for (name, import) in component.component_type().imports(engine) {
        let is_wasi = name.starts_with("wasi:");
        if is_wasi && wasi_linked {
            continue;
        }
        let advice = if is_wasi {
            "WASI is not allowed during init; set `allow-wasi = true` in the profile"
        } else {
            "the build machine provides no host functions during init; move this call out of the init function"
        };
        match import.ty {
            ComponentItem::ComponentFunc(_) => {
                let message = format!("init called the import `{name}`: {advice}");
                linker.root().func_new(name, move |_, _, _, _| Err(wasmtime::Error::msg(message.clone())))?;
            }
            ComponentItem::ComponentInstance(instance) => {
                let mut stubs = linker.instance(name)?;
                for (item, export) in instance.exports(engine) {
                    match export.ty {
                        ComponentItem::ComponentFunc(_) => {
                            let message = format!("init called the import `{name}#{item}`: {advice}");
                            stubs.func_new(item, move |_, _, _, _| Err(wasmtime::Error::msg(message.clone())))?;
                        }
                        ComponentItem::Resource(_) => {
                            stubs.resource(item, wasmtime::component::ResourceType::host::<()>(), |_, _| Ok(()))?;
                        }
                        _ => {}
                    }
                }
            }
            ComponentItem::Resource(_) => {
                linker.root().resource(name, wasmtime::component::ResourceType::host::<()>(), |_, _| Ok(()))?;
            }
            _ => {}
        }
    }
    Ok(())
}
