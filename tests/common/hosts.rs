//! The hosts of `tests/hosts.rs`, `tests/signing.rs` and `tests/components.rs`: the runtime-only
//! example hosts, built once, and how to ask it (and the generated hosts) the fixtures' questions.
use super::{expected_answers, Answers, Fixture};
use cargo_wasmship::manifest::Manifest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Builds the example host once per test run, in its own target directory: its wasmtime
/// must not share features with the tool's.
pub fn rust_host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| example_host("rust-host"))
}

/// The runtime-only component host (wasmtime's component model, no compiler), built once.
pub fn component_host() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| example_host("component-host"))
}

/// Builds `examples/<name>` as its users build it, and proves it has no compiler.
fn example_host(name: &str) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let cargo = || Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let status = cargo()
        .args(["build", "--locked", "--quiet", "--manifest-path"])
        .arg(example.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "examples/{name} builds");
    // The host really is runtime-only: no compiler in its dependency graph.
    let tree = cargo()
        .args(["tree", "--locked", "--edges", "normal", "--manifest-path"])
        .arg(example.join("Cargo.toml"))
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8_lossy(&tree.stdout);
    assert!(tree.contains("wasmtime v48"), "{tree}");
    for compiler in ["cranelift-codegen", "winch-codegen", "wasmtime-internal-cranelift"] {
        assert!(!tree.contains(compiler), "examples/{name} has a compiler ({compiler}):\n{tree}");
    }
    target_dir.join("debug").join(name)
}

pub fn build(fixture: Fixture, out: &Path, extra: &[&str]) -> Manifest {
    let output = super::wasmship()
        .args(["build", "-q", "--manifest-path"])
        .arg(fixture.manifest())
        .arg("--out-dir")
        .arg(out)
        .arg("--cache-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("hosts-cache"))
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    Manifest::read(&out.join("manifest.json")).unwrap()
}

/// (name in `expected_answers`, call as the hosts take it) for every question of a fixture.
pub fn calls(fixture: Fixture) -> Vec<(String, String)> {
    expected_answers(fixture)
        .into_iter()
        .map(|(name, _)| {
            let call = match name.split_once('(') {
                // `word_count(the)`: the fixture names the word without quotes.
                Some(("word_count", word)) => format!("word_count(\"{}", word.replacen(')', "\")", 1)),
                Some(_) => name.clone(),
                None => format!("{name}()"),
            };
            (name, call)
        })
        .collect()
}

pub fn run(program: &Path, args: &[String]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

/// The answers a host printed, renamed to the fixture's names, in the fixture's order.
pub fn answers_from(stdout: &[u8], fixture: Fixture) -> Answers {
    let report: serde_json::Value = serde_json::from_slice(stdout).expect("host prints JSON");
    let printed: Vec<(String, i64)> = report["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (pair[0].as_str().unwrap().to_string(), pair[1].as_i64().unwrap()))
        .collect();
    calls(fixture)
        .into_iter()
        .map(|(name, call)| {
            let value = printed.iter().find(|(c, _)| *c == call).unwrap_or_else(|| panic!("no answer to {call}")).1;
            (name, value)
        })
        .collect()
}

pub fn host_args(dir: &Path, fixture: Fixture, extra: &[&str]) -> Vec<String> {
    let mut args = vec![dir.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(calls(fixture).into_iter().map(|(_, call)| call));
    args
}

pub fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "host failed:\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}
