//! Bad input, one test per case: a non-zero exit, one screen that names the file or stage
//! and the fix, and the previous output directory byte for byte as it was.
mod common;

use snapbox::cmd::Command;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A separate target dir per case, so builds with different features or flags do not
/// overwrite each other's artifact while another test reads it.
fn target_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("errors").join(case)
}

/// A good output directory, built once, copied into each case as "the last good output".
fn good_output() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("errors-good-output");
        let _ = std::fs::remove_dir_all(&dir);
        Command::from_std(common::wasmship())
            .args(["build", "-q", "--no-precompile", "--manifest-path"])
            .arg(fixture("bad-init/Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir("good"))
            .arg("--out-dir")
            .arg(&dir)
            .assert()
            .success();
        dir
    })
}

struct Case<'a> {
    args: Vec<String>,
    env: Vec<(&'a str, String)>,
    /// What the `error:` line must say.
    first_line: &'a str,
    /// What else the error must say (the file, the fix...).
    mentions: Vec<&'a str>,
    /// The exit code: 2 for configuration found wrong before any stage, 1 for a build that
    /// ran and failed (see `exit::Kind`).
    exit: i32,
}

impl<'a> Case<'a> {
    fn new(args: &[&str], first_line: &'a str) -> Self {
        Case { args: args.iter().map(|s| s.to_string()).collect(), env: vec![], first_line, mentions: vec![], exit: 1 }
    }

    fn manifest(mut self, path: impl AsRef<Path>) -> Self {
        self.args.extend(["--manifest-path".into(), path.as_ref().display().to_string()]);
        self
    }

    fn target_dir(mut self, case: &str) -> Self {
        self.args.extend(["--target-dir".into(), target_dir(case).display().to_string()]);
        self
    }

    fn env(mut self, key: &'a str, value: impl Into<String>) -> Self {
        self.env.push((key, value.into()));
        self
    }

    /// A configuration error: found before any stage ran.
    fn config_error(mut self) -> Self {
        self.exit = 2;
        self
    }

    fn mentions(mut self, texts: &[&'a str]) -> Self {
        self.mentions.extend(texts);
        self
    }

    /// Runs the case against a copy of the good output; returns all of stderr and our error.
    fn fails(self) -> Failure {
        let scratch = tempfile::tempdir().unwrap();
        let out = scratch.path().join("out");
        std::fs::create_dir(&out).unwrap();
        common::copy_dir(good_output(), &out);
        let before = common::dir_contents(&out);

        let mut command = Command::from_std(common::wasmship())
            .arg("wasmship")
            .arg("build")
            .args(&self.args)
            .arg("--out-dir")
            .arg(&out)
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUSTFLAGS");
        for (key, value) in &self.env {
            command = command.env(key, value);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(self.exit), "exit code; stderr:\n{stderr}");

        let start = stderr.find("error: ").unwrap_or_else(|| panic!("no `error:` line in:\n{stderr}"));
        // Our error comes after cargo's own diagnostics, if any: ours is the last `error:`.
        let ours = &stderr[stderr[start..].rfind("\nerror: ").map_or(start, |i| start + i + 1)..];
        let first = ours.lines().next().unwrap();
        // Shown with --nocapture: the first line of each error, for reports.
        println!("first line: {first}");
        assert!(first.contains(self.first_line), "first line {first:?} lacks {:?}\n{stderr}", self.first_line);
        for text in &self.mentions {
            assert!(ours.contains(text), "error lacks {text:?}:\n{ours}");
        }
        assert!(ours.lines().count() <= 30, "error is longer than one screen:\n{ours}");

        assert!(common::dir_contents(&out) == before, "the previous output changed");
        let mut beside: Vec<String> = std::fs::read_dir(scratch.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        beside.retain(|n| !n.ends_with("wasmship-lock"));
        assert_eq!(beside, ["out"], "no staging directories left beside the output");
        Failure { error: ours.to_string(), stderr }
    }
}

struct Failure {
    /// Our `error:` and what follows it.
    error: String,
    stderr: String,
}

#[test]
fn target_not_installed() {
    // A toolchain whose sysroot has no wasm32 standard library, as on a fresh machine: rustc
    // really compiles, against an empty sysroot, so cargo fails the way it does there.
    let scratch = tempfile::tempdir().unwrap();
    let rustc = scratch.path().join("rustc");
    let sysroot = scratch.path().join("sysroot");
    std::fs::create_dir(&sysroot).unwrap();
    let script = format!(
        "#!/bin/sh\nif [ \"$1 $2\" = \"--print sysroot\" ]; then echo {0}; exit 0; fi\nexec rustc --sysroot {0} \"$@\"\n",
        sysroot.display()
    );
    std::fs::write(&rustc, script).unwrap();
    std::fs::set_permissions(&rustc, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Case::new(&[], "the Rust target `wasm32-unknown-unknown` is not installed")
        .manifest(fixture("bad-init/Cargo.toml"))
        .target_dir("no-target")
        .env("RUSTC", rustc.display().to_string())
        .mentions(&["rustup target add wasm32-unknown-unknown", "build stage"])
        .fails();
}

#[test]
fn guest_is_not_a_cdylib() {
    Case::new(&[], "package `not-cdylib` is not a cdylib")
        .manifest(fixture("not-cdylib/Cargo.toml"))
        .mentions(&["not-cdylib/Cargo.toml", "crate-type = [\"cdylib\"]"])
        .config_error()
        .fails();
}

#[test]
fn package_ambiguous_in_workspace() {
    Case::new(&[], "has several cdylib packages; pick one with -p/--package")
        .manifest(fixture("two-guests/Cargo.toml"))
        .mentions(&["alpha (cdylib), beta (cdylib)"])
        .config_error()
        .fails();
}

#[test]
fn package_not_found_in_workspace() {
    Case::new(&["-p", "gamma"], "package `gamma` is not in the workspace")
        .manifest(fixture("two-guests/Cargo.toml"))
        .mentions(&["alpha (cdylib), beta (cdylib)"])
        .config_error()
        .fails();
}

/// A guest crate written for the test, with `metadata` appended to its Cargo.toml.
fn guest_with_metadata(metadata: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "#[no_mangle] pub extern \"C\" fn answer() -> i32 { 42 }\n").unwrap();
    let manifest = format!(
        "[package]\nname = \"configured\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n\n{metadata}"
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    dir
}

#[test]
fn unknown_key_names_key_file_and_nearest() {
    let guest = guest_with_metadata("[package.metadata.wasmship.profile.release]\nprecompiel = [\"host\"]\n");
    Case::new(&[], "unknown key `precompiel` in [package.metadata.wasmship.profile.release]")
        .manifest(guest.path().join("Cargo.toml"))
        .mentions(&["Cargo.toml", "did you mean `precompile`?"])
        .config_error()
        .fails();
}

#[test]
fn wrong_type_names_key_expected_and_got() {
    let guest = guest_with_metadata("[package.metadata.wasmship]\nwasm-opt = \"-Oz\"\n");
    Case::new(&[], "wrong type for key `wasm-opt` in [package.metadata.wasmship]")
        .manifest(guest.path().join("Cargo.toml"))
        .mentions(&["Cargo.toml", "expected a list of wasm-opt arguments or false, got a string (\"-Oz\")"])
        .config_error()
        .fails();
}

#[test]
fn unknown_pass_is_refused_before_binaryen_runs() {
    let guest = guest_with_metadata(
        "[package.metadata.wasmship]\nwasm-opt = [\"--converge\", \"-Oz\", \"--gufa-optimising\"]\n",
    );
    let failure =
        Case::new(&[], "unknown wasm-opt pass or flag `--gufa-optimising` (optimize stage; binaryen did not run)")
            .manifest(guest.path().join("Cargo.toml"))
            .mentions(&["`wasm-opt` set in [package.metadata.wasmship]", "`--gufa-optimizing`"])
            .config_error()
            .fails();
    assert!(!failure.stderr.contains("Building"), "no stage ran before the pass list was checked:\n{}", failure.stderr);
}

#[test]
fn unknown_wasm_feature_names_its_own_key() {
    let guest = guest_with_metadata("[package.metadata.wasmship]\nwasm-features = [\"simdd\"]\n");
    Case::new(&[], "unknown wasm feature `simdd` in `wasm-features` (optimize stage; binaryen did not run)")
        .manifest(guest.path().join("Cargo.toml"))
        .mentions(&["`wasm-features` set in [package.metadata.wasmship]", "did you mean `simd`?"])
        .config_error()
        .fails();
}

#[test]
fn malformed_pass_list() {
    Case::new(&["--wasm-opt", "Oz"], "`Oz` is not a wasm-opt argument")
        .manifest(fixture("bad-init/Cargo.toml"))
        .target_dir("good")
        .mentions(&["did you mean `-Oz`?"])
        .config_error()
        .fails();
}

#[test]
fn binaryen_fatal_error_is_reported_not_a_crash() {
    // `--extract-function` needs `--pass-arg=extract-function@NAME`: binaryen aborts on it,
    // which must end binaryen's process, not the build.
    Case::new(&["--wasm-opt", "-O1 --extract-function"], "binaryen stopped with a fatal error while optimizing")
        .manifest(fixture("bad-init/Cargo.toml"))
        .target_dir("good")
        .mentions(&["(optimize stage)", "binaryen said:", "extract-function", "--pass-arg"])
        .fails();
}

#[test]
fn init_export_missing_lists_lookalikes() {
    Case::new(&["--init-func", "init"], "the init export `init` (init-func) is not in the module (preinit stage)")
        .manifest(fixture("bad-init/Cargo.toml"))
        .target_dir("good")
        .mentions(&["exports that look like init: setup_tables, wizer.initialize", "bad_init.wasm"])
        .fails();
}

#[test]
fn module_wizer_cannot_snapshot() {
    // A real Rust guest linked to import its memory, as threads builds do.
    Case::new(&[], "the module uses features Wizer cannot snapshot (preinit stage)")
        .manifest(fixture("bad-init/Cargo.toml"))
        .target_dir("import-memory")
        .env("RUSTFLAGS", "-C link-arg=--import-memory")
        .mentions(&["an imported memory in `env::memory`", "--import-memory"])
        .fails();
}

#[test]
fn init_traps_with_backtrace() {
    Case::new(&["--features", "trap"], "init `wizer.initialize` trapped: wasm `unreachable` instruction executed")
        .manifest(fixture("bad-init/Cargo.toml"))
        .target_dir("trap")
        .mentions(&[
            "the guest panicked",
            "wasm backtrace:",
            "core::panicking::panic_bounds_check",
            "wizer.initialize",
            "allow-wasi = true",
        ])
        .fails();
}

#[test]
fn init_loops_forever_until_the_deadline() {
    Case::new(&["--features", "spin", "--set", "init-timeout=1s"], "did not finish within 1s and was stopped")
        .manifest(fixture("bad-init/Cargo.toml"))
        .target_dir("spin")
        .mentions(&["init-timeout"])
        .fails();
}

#[test]
fn init_allocates_until_the_memory_cap() {
    Case::new(&["--features", "hog", "--set", "init-max-memory=\"64MiB\""], "but the cap is 64.0 MiB")
        .manifest(fixture("bad-init/Cargo.toml"))
        .target_dir("hog")
        .mentions(&["init-max-memory"])
        .fails();
}

#[test]
fn init_calls_wasi_when_not_allowed() {
    Case::new(
        &["--set", "allow-wasi=false"],
        "init called the import `wasi_snapshot_preview1::environ_sizes_get`: WASI is not allowed during init",
    )
    .manifest(fixture("wasi-guest/Cargo.toml"))
    .target_dir("wasi")
    .mentions(&["allow-wasi = true"])
    .fails();
}

#[test]
fn init_panic_shows_the_guest_output() {
    Case::new(&["--features", "panic"], "init `wizer-initialize` panicked: config value missing: GREETING_STYLE")
        .manifest(fixture("wasi-guest/Cargo.toml"))
        .target_dir("wasi-panic")
        .mentions(&["at src/lib.rs:", "init's output (last lines):", "| about to read the config"])
        .fails();
}

#[test]
fn input_is_not_valid_wasm() {
    let linker = fixture("tools/corrupting-linker");
    Case::new(&[], "invalid WebAssembly at byte offset 0x")
        .manifest(fixture("bad-init/Cargo.toml"))
        .target_dir("corrupt")
        .env("RUSTFLAGS", format!("-C linker={}", linker.display()))
        .mentions(&["(build stage)", "bad_init.wasm", "cargo clean -p bad-init"])
        .fails();
}

#[test]
fn unsupported_precompile_triple_lists_supported_ones() {
    for triple in ["riscv64gc-unknown-linux-gnu", "x86_64-unknown-nonsense", "not-a-triple"] {
        Case::new(&["--precompile", triple], &format!("cannot precompile for `{triple}`"))
            .manifest(fixture("bad-init/Cargo.toml"))
            .mentions(&["supported: architectures x86_64, aarch64, s390x", "(precompile stage)"])
            .config_error()
            .fails();
    }
}

#[test]
fn compile_error_shows_cargo_diagnostics_then_a_summary() {
    let failure = Case::new(&[], "cargo build of `broken-guest` for wasm32-unknown-unknown failed")
        .manifest(fixture("broken-guest/Cargo.toml"))
        .mentions(&["cargo's diagnostics are above", "broken-guest/Cargo.toml"])
        .fails();
    assert_eq!(failure.error.lines().count(), 2, "a one-line summary and the file:\n{}", failure.error);
    assert!(failure.stderr.contains("error[E0308]: mismatched types"), "cargo's own diagnostic reached the user");
}

#[test]
fn undefined_profile_lists_defined_ones() {
    Case::new(&["--profile", "fsat"], "profile `fsat` is not defined")
        .manifest(fixture("regex-guest/Cargo.toml"))
        .mentions(&["release, dev, fast", "did you mean `--profile fast`?"])
        .config_error()
        .fails();
}

#[test]
fn init_sleeping_in_a_wasi_call_is_stopped_at_the_deadline() {
    // A ten-minute sleep in poll_oneoff never returns to wasm code, where epochs stop it.
    let started = std::time::Instant::now();
    Case::new(&["--features", "sleep", "--set", "init-timeout=1s", "--no-precompile"], "did not finish within 1s")
        .manifest(fixture("wasi-guest/Cargo.toml"))
        .target_dir("sleep")
        .mentions(&["blocked in a host call", "init-timeout"])
        .fails();
    // A bound, not a speed target: without it the build takes the whole ten minutes.
    assert!(started.elapsed() < std::time::Duration::from_secs(300), "{:?}", started.elapsed());
}

#[test]
fn init_blocked_on_a_pipe_is_stopped_at_the_deadline() {
    let granted = tempfile::tempdir().unwrap();
    let fifo = granted.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let dir = format!("{}:/block", granted.path().display());
    Case::new(
        &["--features", "block", "--set", "init-timeout=1s", "--no-precompile", "--dir", &dir],
        "did not finish within 1s",
    )
    .manifest(fixture("wasi-guest/Cargo.toml"))
    .target_dir("block")
    .mentions(&["blocked in a host call"])
    .fails();
}

#[test]
fn the_default_memory_cap_is_a_real_bound() {
    // No `init-max-memory` set: a runaway init stops at 1 GiB, not at wasm32's 4 GiB limit.
    Case::new(&["--features", "hog"], "but the cap is 1073741824 bytes")
        .manifest(fixture("bad-init/Cargo.toml"))
        .target_dir("hog")
        .mentions(&["init-max-memory"])
        .fails();
}
