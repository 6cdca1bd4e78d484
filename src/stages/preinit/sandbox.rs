//! The box the guest's init code runs in on the build machine: a wall-time deadline (epoch
//! interruption), a linear-memory cap (resource limiter), and WASI only when the profile
//! allows it, with nothing inherited: env vars and directories are granted one by one.
//! Under WASI, random bytes and clocks are deterministic unless the profile opts out, so
//! the same inputs give the same snapshot (and the same content-hashed names).
use crate::config::{DirGrant, InitStdio};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, Linker, Module, ResourceLimiter, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Bounds and grants for one init run.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub timeout: Duration,
    pub max_memory: u64,
    /// `Some` when the profile allows WASI.
    pub wasi: Option<WasiGrant>,
}

#[derive(Debug, Clone)]
pub struct WasiGrant {
    pub env: Vec<(String, String)>,
    pub dirs: Vec<DirGrant>,
    pub stdio: InitStdio,
    pub deterministic: bool,
}

/// Why init stopped, when the sandbox stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Timeout,
    /// The deadline passed while init was blocked in a host call; it was abandoned.
    BlockedInHostCall,
    Memory {
        requested: u64,
    },
}

pub struct InitRun {
    pub result: Result<Vec<u8>, wasmtime::Error>,
    pub bound_hit: Option<Bound>,
    /// What init wrote to stdout/stderr when stdio is captured.
    pub captured_output: String,
    /// Wall time from instantiation to the finished snapshot (compilation excluded).
    pub init_millis: f64,
}

pub(crate) struct InitState {
    wasi: Option<WasiP1Ctx>,
    memory: MemoryCap,
    /// The instance `wasi_view` calls WASI through, once made.
    pub(super) shim: Option<wasmtime::Instance>,
}

/// One budget for everything init can make the build machine allocate: the bytes of every
/// linear memory of the instance together (a module may declare several), and every table
/// element, counted at the size of the reference wasmtime stores for it.
pub(crate) struct MemoryCap {
    pub(crate) max: u64,
    /// Bytes of memories and tables the instance holds now.
    pub(crate) used: u64,
    pub(crate) exceeded: Option<u64>,
}

/// What one table element costs the host: a pointer-sized reference.
const TABLE_ELEMENT_BYTES: u64 = std::mem::size_of::<usize>() as u64;

impl MemoryCap {
    pub(crate) fn new(max: u64) -> MemoryCap {
        MemoryCap { max, used: 0, exceeded: None }
    }

    fn grow(&mut self, more: u64, what: &str) -> wasmtime::Result<bool> {
        let total = self.used.saturating_add(more);
        if total > self.max {
            self.exceeded = Some(total);
            wasmtime::bail!(
                "init tried to grow its {what} to {total} bytes in all (memories and tables together), over the \
                 cap of {} bytes",
                self.max
            );
        }
        self.used = total;
        Ok(true)
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(desired.saturating_sub(current) as u64, "linear memory")
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.grow((desired.saturating_sub(current) as u64).saturating_mul(TABLE_ELEMENT_BYTES), "tables")
    }
}

/// Pre-init computes relaxed SIMD the same way on every machine (recorded in the manifest).
pub const RELAXED_SIMD_DETERMINISTIC: bool = true;

/// The last this many bytes of init's output are kept, to show if init fails.
const CAPTURE_LIMIT: usize = 64 * 1024;

/// Runs `wizer` on `wasm` inside the sandbox. `init_func` must exist with type `[] -> []`;
/// `stack` is where the module keeps its shadow stack, if known.
pub fn run(
    wizer: &wasmtime_wizer::Wizer,
    wasm: &[u8],
    init_func: &str,
    stack: Option<crate::wasm::ShadowStack>,
    sandbox: &Sandbox,
) -> Result<InitRun> {
    // The proposals the module uses beyond wasm 2.0 (the proposals check found wasmtime reads
    // them all).
    let used = crate::wasm::features::used_beyond_baseline(wasm)?;
    let engine = init_engine(|config| {
        config.wasm_features(used, true);
    })?;
    let capture = super::stdio::TailPipe::new(CAPTURE_LIMIT);
    let wasi = match &sandbox.wasi {
        Some(grant) => Some(wasi_builder(grant, &capture)?.build_p1()),
        None => None,
    };
    let job = Job {
        engine,
        wizer: wizer.clone(),
        wasm: wasm.to_vec(),
        init_func: init_func.to_string(),
        stack,
        max_memory: sandbox.max_memory,
        neutral_files: sandbox.wasi.as_ref().is_some_and(|w| w.deterministic),
        wasi,
        timeout: sandbox.timeout,
    };
    supervise(sandbox.timeout, &capture, move |events| job.run(events))
}

/// The engine init runs in: epoch interruption (the deadline), relaxed SIMD with one answer on
/// every build machine (x86 and aarch64 differ where the proposal lets them, and a snapshot
/// must not), backtraces for errors, and quick compilation (init runs once).
pub(crate) fn init_engine(more: impl FnOnce(&mut Config)) -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.relaxed_simd_deterministic(RELAXED_SIMD_DETERMINISTIC);
    config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Enable);
    config.cranelift_opt_level(wasmtime::OptLevel::None);
    more(&mut config);
    Engine::new(&config).map_err(anyhow::Error::from).context("creating the pre-init engine")
}

/// Runs `work` (init and the snapshot) on its own thread and waits for it. The epoch deadline
/// stops wasm code; a guest blocked in a host call (a WASI sleep, a read of a pipe no one
/// writes) never gets back to wasm, so this thread stops waiting for it at the deadline and
/// abandons the worker.
pub(crate) fn supervise(
    timeout: Duration,
    capture: &super::stdio::TailPipe,
    work: impl FnOnce(mpsc::Sender<Event>) + Send + 'static,
) -> Result<InitRun> {
    let (events, received) = mpsc::channel::<Event>();
    std::thread::Builder::new()
        .name("wasmship-preinit".into())
        .spawn(move || work(events))
        .map_err(|e| anyhow::anyhow!("starting the pre-init thread: {e}"))?;
    let started = match received.recv() {
        Ok(Event::Started(at)) => at,
        Ok(Event::Done(run)) => return Ok(run.with_output(capture)),
        Err(_) => anyhow::bail!("the pre-init thread ended without a result (preinit stage)"),
    };
    match received.recv_timeout(timeout + HOST_CALL_GRACE) {
        Ok(Event::Done(run)) => Ok(run.with_output(capture)),
        Ok(Event::Started(_)) | Err(_) => Ok(InitRun {
            result: Err(wasmtime::Error::msg("init was blocked in a host call when its time ran out")),
            bound_hit: Some(Bound::BlockedInHostCall),
            captured_output: capture.contents(),
            init_millis: crate::stages::elapsed_ms(started),
        }),
    }
}

/// How long past the deadline to wait for init to return on its own: the epoch trap stops
/// wasm code within microseconds, so a longer silence means a blocking host call.
const HOST_CALL_GRACE: Duration = Duration::from_millis(500);

pub(crate) enum Event {
    /// Compilation is done and the guest's code starts: the deadline runs from here.
    Started(std::time::Instant),
    Done(InitRun),
}

/// Everything the worker thread owns; nothing it holds outlives an abandoned init but the
/// thread itself (the process ends soon after a failed build).
struct Job {
    engine: Engine,
    wizer: wasmtime_wizer::Wizer,
    wasm: Vec<u8>,
    init_func: String,
    stack: Option<crate::wasm::ShadowStack>,
    max_memory: u64,
    /// Fixed file metadata and sorted listings (deterministic init).
    neutral_files: bool,
    wasi: Option<WasiP1Ctx>,
    timeout: Duration,
}

impl InitRun {
    fn with_output(mut self, capture: &super::stdio::TailPipe) -> InitRun {
        self.captured_output = capture.contents();
        self
    }
}

/// A store and linker for running guest code in the sandbox: the memory cap on every memory
/// and table, an epoch deadline armed by [`start_deadline`], WASI only when granted (with
/// fixed file metadata when `neutral_files`), and every other import trapping with advice.
/// `report` runs the raw module's init in exactly this box, as pre-init did.
pub(crate) fn boxed(
    engine: &Engine,
    module: &Module,
    wasi: Option<WasiP1Ctx>,
    max_memory: u64,
    neutral_files: bool,
) -> wasmtime::Result<(Store<InitState>, Linker<InitState>)> {
    let link_wasi = wasi.is_some();
    let mut store = Store::new(engine, InitState { wasi, memory: MemoryCap::new(max_memory), shim: None });
    store.limiter(|state| &mut state.memory);
    store.set_epoch_deadline(1);
    store.epoch_deadline_trap();
    let mut linker: Linker<InitState> = Linker::new(engine);
    if link_wasi {
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut InitState| {
            state.wasi.as_mut().expect("WASI context exists when WASI is linked")
        })?;
        if neutral_files {
            super::wasi_view::neutralize(&mut linker, &mut store, source_date_epoch().as_secs())?;
        }
    }
    define_missing_imports(&mut linker, &mut store, module)?;
    Ok((store, linker))
}

/// The WASI (p1) context the sandbox gives init under `grant`, capturing its output.
pub(crate) fn wasi_for(grant: &WasiGrant, capture: &super::stdio::TailPipe) -> Result<WasiP1Ctx> {
    Ok(wasi_builder(grant, capture)?.build_p1())
}

impl Job {
    fn run(self, events: mpsc::Sender<Event>) {
        let Job { engine, wizer, wasm, init_func, stack, max_memory, neutral_files, wasi, timeout } = self;
        let timed_out = Arc::new(AtomicBool::new(false));
        let mut init_started: Option<std::time::Instant> = None;
        let mut deadline: Option<mpsc::Sender<()>> = None;
        let mut memory_exceeded = None;
        let result = (|| -> wasmtime::Result<Vec<u8>> {
            // Wizer's `run`, in its public parts, so the dead stack can be cleared between
            // init and the snapshot.
            let (context, instrumented) = wizer.instrument(&wasm)?;
            let module = Module::new(&engine, &instrumented).context("compiling the module for pre-init")?;
            let (mut store, linker) = boxed(&engine, &module, wasi, max_memory, neutral_files)?;
            let result = (|| -> wasmtime::Result<Vec<u8>> {
                // The clock starts after compilation: the budget is for the guest's own code.
                deadline = Some(start_deadline(&engine, timeout, timed_out.clone()));
                let now = std::time::Instant::now();
                init_started = Some(now);
                let _ = events.send(Event::Started(now));
                let instance = linker.instantiate(&mut store, &module)?;
                for name in super::init_sequence(&init_func) {
                    if let Some(func) = instance.get_func(&mut store, name) {
                        let func = func.typed::<(), ()>(&store).with_context(|| {
                            format!("the init export `{name}` must take no parameters and return nothing")
                        })?;
                        func.call(&mut store, ()).with_context(|| format!("the `{name}` function trapped"))?;
                    }
                }
                if let Some(stack) = stack {
                    clear_dead_stack(&mut store, &instance, stack)?;
                }
                let mut state = wasmtime_wizer::WasmtimeWizer { store: &mut store, instance };
                pollster::block_on(wizer.snapshot(&context, &mut state))
            })();
            memory_exceeded = store.data().memory.exceeded;
            result
        })();
        drop(deadline);
        let bound_hit = if let Some(requested) = memory_exceeded {
            Some(Bound::Memory { requested })
        } else if timed_out.load(Ordering::SeqCst) && result.is_err() {
            Some(Bound::Timeout)
        } else {
            None
        };
        let init_millis = init_started.map_or(0.0, crate::stages::elapsed_ms);
        let _ = events.send(Event::Done(InitRun { result, bound_hit, captured_output: String::new(), init_millis }));
    }
}

/// Every import the linker does not provide becomes a function that traps with a message
/// naming the import and how to provide it, instead of wasmtime's generic "unknown import".
fn define_missing_imports(
    linker: &mut Linker<InitState>,
    store: &mut Store<InitState>,
    module: &Module,
) -> wasmtime::Result<()> {
    for import in module.imports() {
        if linker.get_by_import(&mut *store, &import).is_some() {
            continue;
        }
        let wasmtime::ExternType::Func(ty) = import.ty() else {
            continue;
        };
        let (module_name, name) = (import.module().to_string(), import.name().to_string());
        let message = if module_name.starts_with("__wbindgen") {
            format!(
                "init called {} through wasm-bindgen (the import `{module_name}::{name}`): no JS runs at build \
                 time; move this call out of the init function",
                js_function(&name).map_or("into JS".to_string(), |f| format!("the JS function `{f}`"))
            )
        } else if module_name.starts_with("wasi") {
            format!(
                "init called the import `{module_name}::{name}`: WASI is not allowed during init; set \
                 `allow-wasi = true` in the profile (WASI guests only)"
            )
        } else {
            format!(
                "init called the import `{module_name}::{name}`: the build machine provides no host functions \
                 during init; move this call out of the init function"
            )
        };
        linker.func_new(&module_name, &name, ty, move |_, _, _| Err(wasmtime::Error::msg(message.clone())))?;
    }
    Ok(())
}

/// The JS name behind a wasm-bindgen import: `__wbg_alert_2ed6719568fc7baa` -> `alert`.
fn js_function(import: &str) -> Option<&str> {
    let rest = import.strip_prefix("__wbg_")?;
    let (name, hash) = rest.rsplit_once('_')?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !name.is_empty()).then_some(name)
}

/// Zeroes linear memory from the stack's floor up to the stack pointer: after init returned,
/// nothing there is live, but it still holds init's temporaries (file metadata, buffers), which
/// the snapshot would otherwise keep, and which differ from one checkout to the next.
fn clear_dead_stack(
    store: &mut Store<InitState>,
    instance: &wasmtime::Instance,
    stack: crate::wasm::ShadowStack,
) -> wasmtime::Result<()> {
    let pointer = instance
        .get_global(&mut *store, &format!("__wizer_global_{}", stack.pointer_global))
        .and_then(|g| g.get(&mut *store).i32())
        .map(|p| p as u32 as usize);
    let memory = instance.get_memory(&mut *store, "__wizer_memory_0");
    if let (Some(pointer), Some(memory)) = (pointer, memory) {
        if let Some(dead) = memory.data_mut(&mut *store).get_mut(stack.floor as usize..pointer) {
            dead.fill(0);
        }
    }
    Ok(())
}

/// Bumps the engine's epoch once `timeout` passes, which traps the running init. Dropping the
/// returned sender cancels it.
pub(crate) fn start_deadline(engine: &Engine, timeout: Duration, timed_out: Arc<AtomicBool>) -> mpsc::Sender<()> {
    let (cancel, cancelled) = mpsc::channel::<()>();
    let engine = engine.clone();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(timeout) {
            timed_out.store(true, Ordering::SeqCst);
            engine.increment_epoch();
        }
    });
    cancel
}

/// The WASI context init gets under `grant` (p1 or p2): only what is granted, output captured
/// unless asked otherwise, clocks and randomness fixed when deterministic.
pub(crate) fn wasi_builder(grant: &WasiGrant, capture: &super::stdio::TailPipe) -> Result<WasiCtxBuilder> {
    let mut builder = WasiCtxBuilder::new();
    // File reads happen inline: pre-init runs on our thread, not in an async runtime.
    builder.allow_blocking_current_thread(true);
    for (key, value) in &grant.env {
        builder.env(key, value);
    }
    for dir in &grant.dirs {
        let perms = if dir.writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
        builder
            .preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("granting directory {} to init as {}", dir.host.display(), dir.guest))?;
    }
    match grant.stdio {
        InitStdio::Capture => {
            builder.stdout(capture.clone()).stderr(capture.clone());
        }
        InitStdio::Inherit => {
            builder.inherit_stdout().inherit_stderr();
        }
        InitStdio::Null => {}
    }
    if grant.deterministic {
        let seed = deterministic_seed(grant);
        builder
            .secure_random(SeededStream::new(seed, b"secure"))
            .insecure_random(SeededStream::new(seed, b"insecure"))
            .insecure_random_seed(u128::from_le_bytes(seed[..16].try_into().expect("32-byte seed")))
            .wall_clock(FixedWallClock(source_date_epoch()))
            .monotonic_clock(SteppingMonotonicClock(AtomicU64::new(0)));
    }
    Ok(builder)
}

/// The seed depends only on what init is given, so equal inputs give equal snapshots.
/// Each string is length-prefixed, so no two env lists feed the same bytes.
fn deterministic_seed(grant: &WasiGrant) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"cargo-wasmship deterministic init v2");
    for (key, value) in &grant.env {
        for part in [key, value] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hasher.finalize().into()
}

/// Seconds since the epoch from `SOURCE_DATE_EPOCH` (the reproducible-builds convention), or 0.
pub(crate) fn source_date_epoch() -> Duration {
    let secs = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
    Duration::from_secs(secs)
}

/// A byte stream of sha256(seed || label || counter) blocks: fixed for a seed, stable
/// across releases (unlike a library RNG whose algorithm may change).
struct SeededStream {
    seed: [u8; 32],
    label: &'static [u8],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeededStream {
    fn new(seed: [u8; 32], label: &'static [u8]) -> Self {
        SeededStream { seed, label, counter: 0, block: [0; 32], used: 32 }
    }

    fn fill(&mut self, dst: &mut [u8]) {
        for byte in dst {
            if self.used == 32 {
                let mut hasher = Sha256::new();
                hasher.update(self.seed);
                hasher.update(self.label);
                hasher.update(self.counter.to_le_bytes());
                self.block = hasher.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }
}

impl rand_core::TryRng for SeededStream {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0; 4];
        self.fill(&mut bytes);
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0; 8];
        self.fill(&mut bytes);
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

struct FixedWallClock(Duration);

impl wasmtime_wasi::HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// Advances 1 µs per reading, so timing loops in init end while staying deterministic.
struct SteppingMonotonicClock(AtomicU64);

impl wasmtime_wasi::HostMonotonicClock for SteppingMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.0.fetch_add(1_000, Ordering::Relaxed)
    }
}
