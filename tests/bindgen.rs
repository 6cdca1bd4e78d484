//! wasm-bindgen guests (issue 21): pre-initialized, then the wasm-bindgen CLI of exactly the
//! guest's version makes the glue. Answers through the shipped glue (Node.js, Chromium) are
//! compared with the raw guest's through glue the same CLI makes from cargo's module.
mod common;

use cargo_wasmship::manifest::{ArtifactKind, Manifest, Stage};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const VERSION_FILE: &str = "tests/fixtures/wbg-guest/Cargo.lock";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wbg-guest")
}

/// The wasm-bindgen version the fixture locks, read the way a user would: from Cargo.lock.
fn locked_version() -> String {
    let lock: toml::Table =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(VERSION_FILE)).unwrap().parse().unwrap();
    let packages = lock["package"].as_array().unwrap();
    let package = packages.iter().find(|p| p["name"].as_str() == Some("wasm-bindgen")).unwrap();
    package["version"].as_str().unwrap().to_string()
}

/// PATH without any directory holding a `wasm-bindgen`: the tool must find or install its own.
fn path_without_wasm_bindgen() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path).filter(|dir| !dir.join("wasm-bindgen").exists()).collect();
    std::env::join_paths(kept).unwrap()
}

/// A tool home shared by this test binary's runs, kept across runs: the CLI the tool installs
/// into it is built once (several minutes), by the tool's own install path.
fn shared_home() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-bindgen-home")
}

/// A build of the fixture with the shared home and no wasm-bindgen on PATH; its stderr.
fn build_in_shared_home(extra: &[&str]) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let output = common::wasmship()
        .env("CARGO_WASMSHIP_HOME", shared_home())
        .env("PATH", path_without_wasm_bindgen())
        .args(["build", "--manifest-path"])
        .arg(fixture().join("Cargo.toml"))
        .arg("--out-dir")
        .arg(scratch.path().join("out"))
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// The matching CLI, installed by the tool itself into the shared home on first use. Returns
/// it and whether this call installed it.
fn cli() -> &'static (PathBuf, bool) {
    static CLI: OnceLock<(PathBuf, bool)> = OnceLock::new();
    CLI.get_or_init(|| {
        let stderr = build_in_shared_home(&[]);
        let cli = shared_home().join(format!("tools/wasm-bindgen-{}/bin/wasm-bindgen", locked_version()));
        assert!(cli.is_file(), "the tool installed {}:\n{stderr}", cli.display());
        (cli, stderr.contains("Installing wasm-bindgen-cli"))
    })
}

fn tool(out: &Path, extra: &[&str]) -> Output {
    common::wasmship()
        .env("CARGO_WASMSHIP_WASM_BINDGEN", &cli().0)
        .args(["build", "-q", "--manifest-path"])
        .arg(fixture().join("Cargo.toml"))
        .arg("--out-dir")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn build(out: &Path, extra: &[&str]) -> Manifest {
    let output = tool(out, extra);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    Manifest::read(&out.join("manifest.json")).unwrap()
}

fn node(args: &[&Path], extra: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts/bindgen.mjs");
    let output = Command::new("node").arg(script).args(args).args(extra).output().expect("node runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The glue's entry file, `web/wbg_guest.js`.
fn glue_file(manifest: &Manifest) -> &str {
    let glue = manifest.artifacts.iter().find(|a| a.kind == ArtifactKind::BindgenGlue && a.name == "wbg_guest.js");
    &glue.expect("the glue is an artifact").file
}

#[test]
fn the_shipped_glue_answers_from_the_snapshot_as_the_raw_guest_does_after_init() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let manifest = build(&out, &[]);

    let bindgen = manifest.stages.iter().find(|s| s.stage == Stage::Bindgen).expect("a bindgen stage");
    assert!(bindgen.ran);
    assert_eq!(bindgen.settings["wasm-bindgen"], locked_version());
    assert!(manifest.cwasms().next().is_none(), "no .cwasm for a JS guest unless asked");
    let shipped = manifest.shipped_wasm().unwrap();
    let glue = manifest.artifacts.iter().find(|a| a.file == glue_file(&manifest)).unwrap();
    assert!(glue.integrity.starts_with("sha384-") && glue.public);
    let glue_text = std::fs::read_to_string(out.join(&glue.file)).unwrap();
    let hashed = shipped.file.trim_start_matches("web/");
    assert!(glue_text.contains(&format!("'{hashed}'")), "the glue loads the hashed module by default");
    assert!(!glue_text.contains("_bg.wasm"), "no reference to the CLI's own module name is left");

    // The raw guest through glue the same CLI makes from cargo's module.
    let raw_dir = scratch.path().join("raw");
    let raw = fixture().join("target/wasm32-unknown-unknown/release/wbg_guest.wasm");
    let status = Command::new(&cli().0)
        .arg(&raw)
        .arg("--out-dir")
        .arg(&raw_dir)
        .args(["--out-name", "wbg_guest", "--target", "web"])
        .status()
        .unwrap();
    assert!(status.success());
    let before = node(&[&raw_dir.join("wbg_guest.js"), &raw_dir.join("wbg_guest_bg.wasm")], &["node", "init"]);
    assert_eq!(before["first"], "hi node, 0 words", "raw: no state before init");
    assert_eq!(before["afterInit"], "hi node, 1000 words");

    let after = node(&[&out.join(&glue.file), &out.join(&shipped.file)], &["node"]);
    assert_eq!(after["first"], before["afterInit"], "shipped: the state is there at the first call");
    assert_eq!(after["initExported"], false, "init cannot run again");
    assert_eq!(after["wordCount"], 1000);
    assert_eq!(after["doubled"], 2000, "the guest's inline JS shipped as a snippet beside the glue");
    assert!(manifest
        .artifacts
        .iter()
        .any(|a| a.kind == ArtifactKind::BindgenGlue && a.file.starts_with("web/snippets/")));
}

#[test]
fn nodejs_glue_loads_the_hashed_module_by_itself() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let manifest = build(&out, &["--set", "bindgen-target=\"nodejs\""]);
    assert!(!manifest.artifacts.iter().any(|a| a.kind == ArtifactKind::WebLoader), "no browser loader for Node glue");
    let glue = out.join(glue_file(&manifest));
    let output = Command::new("node")
        .arg("-e")
        .arg("console.log(require(process.argv[1]).greet('cjs'))")
        .arg(&glue)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "hi cjs, 1000 words");
}

#[test]
fn the_demo_page_calls_the_glue_in_chromium() {
    let Some(chromium) = common::peers::chromium("a wasm-bindgen guest's demo page") else { return };
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    build(&out, &[]);
    let server = common::Serving::start(&out, &["--call", "greet(\"web\")"]);
    let seen = common::peers::check_demo_page(&chromium, &server.url, "bindgen-demo");
    println!("browser saw: {seen:#}");
    assert_eq!(seen["first"]["state"], "ok", "{seen}");
    assert_eq!(seen["first"]["text"], "hi web, 1000 words");
    assert_eq!(seen["wasm"]["headers"]["content-encoding"], "br");
    assert_eq!(seen["badIntegrity"]["state"], "error", "the glue gets only bytes that passed SRI: {seen}");
}

/// A program at `path` that answers `--version` as another release would; anything else it
/// is asked leaves `<path>.ran`.
fn fake_cli(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'wasm-bindgen 0.2.99'; exit 0; fi\ntouch \"$0.ran\"\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn a_cli_of_another_version_is_refused_and_never_run() {
    let scratch = tempfile::tempdir().unwrap();
    let fake = scratch.path().join("wasm-bindgen");
    fake_cli(&fake);
    let out = scratch.path().join("out");
    let setting = format!("wasm-bindgen-path={:?}", fake.display().to_string());
    // No stage cache: a cached bindgen result needs no CLI at all.
    let output = common::wasmship()
        .args(["build", "-q", "--no-cache", "--manifest-path"])
        .arg(fixture().join("Cargo.toml"))
        .arg("--out-dir")
        .arg(&out)
        .args(["--set", &setting])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    let version = locked_version();
    assert!(stderr.contains("wasm-bindgen 0.2.99") && stderr.contains(&format!("wasm-bindgen {version}")), "{stderr}");
    assert!(stderr.contains(&format!("cargo install wasm-bindgen-cli --version ={version} --locked")), "{stderr}");
    assert!(!scratch.path().join("wasm-bindgen.ran").exists(), "the mismatched CLI ran");
    assert!(!out.join("manifest.json").exists(), "a failed build writes nothing");

    // One planted where the tool keeps its own installs is neither run, nor replaced, nor deleted.
    let planted = common::test_home().join(format!("tools/wasm-bindgen-{version}/bin/wasm-bindgen"));
    fake_cli(&planted);
    let output = common::wasmship()
        .env("PATH", path_without_wasm_bindgen())
        .args(["build", "-q", "--no-cache", "--manifest-path"])
        .arg(fixture().join("Cargo.toml"))
        .arg("--out-dir")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("should hold the wasm-bindgen CLI") && stderr.contains("its CLI is 0.2.99"), "{stderr}");
    assert!(planted.exists() && !planted.with_extension("ran").exists(), "the planted CLI ran or went away");
}

#[test]
fn offline_with_no_matching_cli_names_the_install_command() {
    let scratch = tempfile::tempdir().unwrap();
    // No stage cache: a cached bindgen result needs no CLI at all.
    let output = common::wasmship()
        .env("PATH", path_without_wasm_bindgen())
        .args(["build", "-q", "--offline", "--no-cache", "--manifest-path"])
        .arg(fixture().join("Cargo.toml"))
        .arg("--out-dir")
        .arg(scratch.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    let version = locked_version();
    assert!(stderr.contains("--offline forbids fetching it"), "{stderr}");
    assert!(
        stderr.contains(&format!("cargo install wasm-bindgen-cli --version ={version} --locked --root")),
        "{stderr}"
    );
}

#[test]
fn an_init_that_calls_into_js_is_named() {
    let scratch = tempfile::tempdir().unwrap();
    let output = tool(&scratch.path().join("out"), &["--init-func", "init_alerts"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("init called the JS function `alert` through wasm-bindgen"), "{stderr}");
}

#[test]
fn the_cli_is_installed_once_per_version() {
    let (cli, _) = cli();
    let reported = Command::new(cli).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&reported.stdout).trim(), format!("wasm-bindgen {}", locked_version()));
    // A second build with the same home finds it: no second install.
    let stderr = build_in_shared_home(&["--no-cache"]);
    assert!(stderr.contains("bindgen") && !stderr.contains("Installing"), "{stderr}");
}
