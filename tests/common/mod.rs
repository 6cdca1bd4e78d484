//! Shared by the integration tests: build the fixture guests for real, and ask any form of a
//! guest (raw, pre-initialized, optimized, stripped, precompiled) the same questions.
#![allow(dead_code)]

pub mod hosts;
pub mod peers;

use cargo_wasmship::config::GuestTarget;
use cargo_wasmship::guest::{self, CargoArgs};
use cargo_wasmship::stages::build::{self, BuildConfig};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use wasmtime::{Engine, Instance, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixture {
    /// wasm32-unknown-unknown; `wizer.initialize` compiles a RegexSet and a CRC table.
    Regex,
    /// wasm32-wasip1; `wizer-initialize` reads $GREETING and /data/words.txt.
    Wasi,
}

pub const GREETING: &str = "hello from the build machine";

impl Fixture {
    pub fn dir(self) -> PathBuf {
        let name = match self {
            Fixture::Regex => "regex-guest",
            Fixture::Wasi => "wasi-guest",
        };
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    pub fn manifest(self) -> PathBuf {
        self.dir().join("Cargo.toml")
    }

    pub fn target(self) -> GuestTarget {
        match self {
            Fixture::Regex => GuestTarget::Unknown,
            Fixture::Wasi => GuestTarget::Wasip1,
        }
    }

    pub fn init_export(self) -> &'static str {
        match self {
            Fixture::Regex => "wizer.initialize",
            Fixture::Wasi => "wizer-initialize",
        }
    }
}

/// The stage cache key every test process uses: tests share cache directories to save time,
/// and entries written under one key authenticate under the same key only.
pub const TEST_CACHE_KEY: &str = "cargo-wasmship test suite key, not a secret";

/// The tool as users run it, with its home (cached metadata, the cache key) in a directory
/// of this test's own, never the developer's `~/.cache`, and none of the developer's
/// `CARGO_WASMSHIP_*` settings.
pub fn wasmship() -> std::process::Command {
    let mut command = std::process::Command::new(snapbox::cmd::cargo_bin!("cargo-wasmship"));
    isolate(&mut command);
    command
}

/// Gives a command of the tool its own test home and clears the environment it reads.
pub fn isolate(command: &mut std::process::Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CARGO_WASMSHIP_") {
            command.env_remove(&name);
        }
    }
    command.env("CARGO_WASMSHIP_HOME", test_home()).env("CARGO_WASMSHIP_CACHE_KEY", TEST_CACHE_KEY);
    command.env_remove("RUST_BACKTRACE");
}

/// `target/tmp/homes/<test binary>/<test name>`, emptied the first time this process uses it.
/// libtest names each test's thread after the test.
pub fn test_home() -> PathBuf {
    static FRESH: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "tests".into());
    let test = std::thread::current().name().unwrap_or("main").replace("::", "-");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("homes").join(binary).join(test);
    let mut fresh = FRESH.lock().unwrap_or_else(|e| e.into_inner());
    if !fresh.contains(&dir) {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the test home");
        fresh.push(dir.clone());
    }
    dir
}

/// In-process calls into the library (locating a guest caches `cargo metadata`) use a home
/// of this test binary's own.
pub fn isolate_process() {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "tests".into());
    cargo_wasmship::home::set_for_process(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("homes").join(binary).join("in-process"),
    );
}

/// The guest as cargo builds it, through the real build stage (built once per test binary).
pub fn raw_wasm(fixture: Fixture) -> Vec<u8> {
    static REGEX: OnceLock<Vec<u8>> = OnceLock::new();
    static WASI: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = match fixture {
        Fixture::Regex => &REGEX,
        Fixture::Wasi => &WASI,
    };
    cell.get_or_init(|| {
        isolate_process();
        let cargo = CargoArgs { manifest_path: Some(fixture.manifest()), ..Default::default() };
        let guest = guest::locate(&cargo).expect("fixture metadata");
        let config = BuildConfig {
            cargo: &cargo,
            cargo_profile: "release",
            target: fixture.target(),
            features: vec![],
            all_features: false,
            no_default_features: false,
            quiet: true,
        };
        build::run(&guest, &config).expect("fixture builds").stage.bytes
    })
    .clone()
}

/// Named answers a guest gives; equal answers mean equal behaviour for these tests.
pub type Answers = Vec<(String, i64)>;

/// How to load the module under test.
pub enum Form<'a> {
    /// A .wasm; `run_init` calls the init export (and `_initialize`) first, as a host of the
    /// raw module must.
    Wasm { bytes: &'a [u8], run_init: bool },
    /// A .cwasm file, loaded with `Module::deserialize_file` into an engine built from the
    /// engine profile it was compiled for.
    Cwasm(&'a Path, &'a wasmship_manifest::EngineProfile),
}

pub struct Loaded {
    pub store: Store<WasiP1Ctx>,
    pub instance: Instance,
    pub module: Module,
}

/// Instantiates `form`. The raw WASI guest gets the env var and directory its init reads; a
/// pre-initialized one gets neither, so its answers must come from the snapshot.
pub fn load(fixture: Fixture, form: &Form<'_>) -> Loaded {
    let engine = match form {
        Form::Wasm { .. } => Engine::default(),
        Form::Cwasm(_, profile) => {
            let mut config = wasmtime::Config::new();
            wasmship_host::engine::apply(profile, &mut config).expect("profile applies");
            Engine::new(&config).expect("engine from the profile")
        }
    };
    let module = match form {
        Form::Wasm { bytes, .. } => Module::new(&engine, bytes).expect("module compiles"),
        // SAFETY: the file was written by the tool under test for this wasmtime version.
        Form::Cwasm(path, _) => unsafe { Module::deserialize_file(&engine, path) }.expect("cwasm deserializes"),
    };
    let raw = matches!(form, Form::Wasm { run_init: true, .. });
    let mut wasi = WasiCtxBuilder::new();
    if raw && fixture == Fixture::Wasi {
        wasi.env("GREETING", GREETING);
        wasi.preopened_dir(fixture.dir().join("data"), "/data", FsPerms::ReadOnly).expect("preopen");
    }
    let mut store = Store::new(&engine, wasi.build_p1());
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx).expect("link WASI");
    let instance = linker.instantiate(&mut store, &module).expect("instantiates");
    if raw {
        for name in ["_initialize", fixture.init_export()] {
            if let Some(func) = instance.get_func(&mut store, name) {
                func.typed::<(), ()>(&store).unwrap().call(&mut store, ()).expect("init runs");
            }
        }
    }
    Loaded { store, instance, module }
}

impl Loaded {
    pub fn call(&mut self, name: &str, args: &[i32]) -> i64 {
        let func = self.instance.get_func(&mut self.store, name).unwrap_or_else(|| panic!("export `{name}`"));
        let params: Vec<wasmtime::Val> = args.iter().map(|a| wasmtime::Val::I32(*a)).collect();
        let mut results = [wasmtime::Val::I32(0)];
        func.call(&mut self.store, &params, &mut results).unwrap_or_else(|e| panic!("calling `{name}`: {e:?}"));
        results[0].unwrap_i32() as i64
    }

    /// Copies `text` into guest memory through the guest's own `alloc`.
    pub fn put_str(&mut self, text: &str) -> (i32, i32) {
        let ptr = self.call("alloc", &[text.len() as i32]) as i32;
        let memory = self.instance.get_memory(&mut self.store, "memory").expect("memory export");
        memory.write(&mut self.store, ptr as usize, text.as_bytes()).expect("write to guest memory");
        (ptr, text.len() as i32)
    }

    pub fn exports(&self) -> Vec<String> {
        self.module.exports().map(|e| e.name().to_string()).collect()
    }
}

/// Asks the fixture's questions twice (answers must not drift between calls) and returns
/// them with the init counter read last.
pub fn answers(fixture: Fixture, form: &Form<'_>) -> Answers {
    let mut guest = load(fixture, form);
    let first = ask(fixture, &mut guest);
    let second = ask(fixture, &mut guest);
    assert_eq!(first, second, "answers changed between two rounds of calls");
    let mut answers = first;
    answers.push(("init_count".into(), guest.call("init_count", &[])));
    answers
}

fn ask(fixture: Fixture, guest: &mut Loaded) -> Answers {
    let mut out = Answers::new();
    match fixture {
        Fixture::Regex => {
            let samples = guest.call("sample_count", &[]);
            for i in 0..samples as i32 {
                out.push((format!("classify_sample({i})"), guest.call("classify_sample", &[i])));
            }
            for i in [0, 1, 7, 128, 255] {
                out.push((format!("crc_table_at({i})"), guest.call("crc_table_at", &[i])));
            }
            for text in ["http://a.b/../c", "union all select 1 from t", "x@y.io 078-05-1120", ""] {
                let (ptr, len) = guest.put_str(text);
                out.push((format!("classify({text:?})"), guest.call("classify", &[ptr, len])));
            }
        }
        Fixture::Wasi => {
            let len = guest.call("greeting_len", &[]);
            out.push(("greeting_len".into(), len));
            for i in 0..len.max(0) as i32 {
                out.push((format!("greeting_byte({i})"), guest.call("greeting_byte", &[i])));
            }
            out.push(("distinct_words".into(), guest.call("distinct_words", &[])));
            for word in ["the", "fox", "dog", "cat"] {
                let (ptr, len) = guest.put_str(word);
                out.push((format!("word_count({word})"), guest.call("word_count", &[ptr, len])));
            }
        }
    }
    out
}

/// The raw guest's answers after running its init once: what every later form must give.
pub fn expected_answers(fixture: Fixture) -> Answers {
    let raw = raw_wasm(fixture);
    let answers = answers(fixture, &Form::Wasm { bytes: &raw, run_init: true });
    assert!(answers.iter().all(|(_, v)| *v != -1), "raw guest answered -1 (not initialized): {answers:?}");
    assert_eq!(answers.last().unwrap().1, 1, "init ran once in the raw guest");
    answers
}

/// Every file under `dir`, by `/`-separated path relative to it, with its bytes.
pub fn dir_contents(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((current, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                pending.push((entry.path(), format!("{name}/")));
            } else {
                files.insert(name, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

/// Copies every file under `from` into `to` (created), keeping subdirectories.
pub fn copy_dir(from: &Path, to: &Path) {
    for (name, bytes) in dir_contents(from) {
        let path = to.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// `cargo wasmship serve` on a free port, killed when dropped; its request log is kept.
pub struct Serving {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    /// One line per request, as serve logs them on stderr.
    pub log: std::sync::mpsc::Receiver<String>,
}

impl Serving {
    pub fn start(dir: &Path, extra: &[&str]) -> Serving {
        use std::io::BufRead;
        let mut child = wasmship()
            .args(["serve", "--port", "0"])
            .args(extra)
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut url = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).unwrap();
        let (send, log) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        Serving { child, url: url.trim().to_string(), log }
    }

    /// `127.0.0.1:PORT`
    pub fn address(&self) -> String {
        self.url.trim_start_matches("http://").trim_end_matches('/').to_string()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
