//! The wasm-bindgen CLI of exactly the guest's version: the one named by `wasm-bindgen-path`
//! (or `CARGO_WASMSHIP_WASM_BINDGEN`), else one on PATH, else the one this tool installed
//! before, else installed now from crates.io with cargo (the registry cargo already uses)
//! into the tool's home. A CLI of another version is never run beyond `--version`.
use crate::ui::Ui;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable naming a wasm-bindgen CLI, like the profile's `wasm-bindgen-path`.
pub const ENV: &str = "CARGO_WASMSHIP_WASM_BINDGEN";

/// Where to look, and whether installing is allowed.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// `wasm-bindgen-path`, or the environment variable.
    pub configured: Option<PathBuf>,
    /// `--offline` or `--frozen`: no download, so no install.
    pub offline: bool,
}

/// The path of a wasm-bindgen CLI whose version is `version`, installing it when allowed.
pub fn resolve(version: &str, lookup: &Lookup, ui: &Ui) -> Result<PathBuf> {
    debug_assert!(super::detect::is_version(version));
    if let Some(path) = &lookup.configured {
        let found = version_of(path)?;
        if found != version {
            bail!(mismatch(path, &found, version));
        }
        return Ok(path.clone());
    }
    let mut passed_over = Vec::new();
    if let Some(path) = on_path() {
        match version_of(&path) {
            Ok(found) if found == version => return Ok(path),
            Ok(found) => passed_over.push(format!("{} is {found}", path.display())),
            Err(error) => passed_over.push(format!("{}: {error:#}", path.display())),
        }
    }
    let root = install_root(version)?;
    let installed = installed_cli(&root);
    if root.exists() {
        // Ours from an earlier build; anything else there is not run, and not deleted.
        return match version_of(&installed) {
            Ok(found) if found == version => Ok(installed),
            found => bail!(
                "{} should hold the wasm-bindgen CLI {version} this tool installed, but {} (bindgen stage)\n  \
                 help: remove that directory and build again, or point `wasm-bindgen-path` at a {version} CLI",
                root.display(),
                match found {
                    Ok(other) => format!("its CLI is {other}"),
                    Err(error) => format!("{error:#}"),
                }
            ),
        };
    }
    if lookup.offline {
        let mut message = format!(
            "this guest needs the wasm-bindgen CLI {version} and none is installed, and --offline forbids \
             fetching it (bindgen stage)\n  help: install it once: {}",
            install_command(version, &root, true)
        );
        for note in &passed_over {
            message.push_str(&format!("\n  note: {note}, not {version}"));
        }
        bail!(message);
    }
    install(version, &root, ui, &passed_over)?;
    Ok(installed)
}

/// The refusal of a CLI of the wrong version: both versions, and the command that fixes it.
fn mismatch(path: &Path, found: &str, wanted: &str) -> String {
    let root = install_root(wanted).map(|r| r.display().to_string()).unwrap_or_else(|_| "<dir>".into());
    format!(
        "{} is wasm-bindgen {found}, but the guest was built with wasm-bindgen {wanted}: a CLI must match the \
         guest's version exactly (bindgen stage)\n  help: point `wasm-bindgen-path` at a {wanted} CLI, unset it to \
         let cargo-wasmship install one, or install it yourself: cargo install wasm-bindgen-cli --version ={wanted} \
         --locked --root {root}",
        path.display()
    )
}

/// `cargo install` of exactly `version`, as a line a user can paste.
pub fn install_command(version: &str, root: &Path, locked: bool) -> String {
    let locked = if locked { " --locked" } else { "" };
    format!("cargo install wasm-bindgen-cli --version ={version}{locked} --root {}", root.display())
}

/// `<home>/tools/wasm-bindgen-<version>`: one install per version, shared by every project.
pub fn install_root(version: &str) -> Result<PathBuf> {
    let home = crate::home::dir()
        .context("no home directory to install the wasm-bindgen CLI into (set CARGO_WASMSHIP_HOME)")?;
    Ok(home.join("tools").join(format!("wasm-bindgen-{version}")))
}

fn installed_cli(root: &Path) -> PathBuf {
    root.join("bin").join(format!("wasm-bindgen{}", std::env::consts::EXE_SUFFIX))
}

/// The version a wasm-bindgen CLI reports (`wasm-bindgen 0.2.130` -> `0.2.130`).
pub fn version_of(path: &Path) -> Result<String> {
    let output = Command::new(path)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", path.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.trim().strip_prefix("wasm-bindgen ").map(|rest| rest.split_whitespace().next().unwrap_or(""));
    match version {
        Some(v) if output.status.success() && super::detect::is_version(v) => Ok(v.to_string()),
        _ => bail!(
            "{} --version said {:?}, not `wasm-bindgen X.Y.Z`: is it the wasm-bindgen CLI?",
            path.display(),
            text.trim()
        ),
    }
}

fn on_path() -> Option<PathBuf> {
    let name = format!("wasm-bindgen{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(&name)).find(|p| p.is_file())
}

/// Installs into a fresh directory beside `root`, then renames it into place, so a build that
/// is stopped halfway or runs beside another never leaves a half-installed CLI at `root`.
fn install(version: &str, root: &Path, ui: &Ui, passed_over: &[String]) -> Result<()> {
    let tools = root.parent().expect("the root is under tools/");
    std::fs::create_dir_all(tools).with_context(|| format!("creating {}", tools.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".installing-")
        .tempdir_in(tools)
        .with_context(|| format!("creating a directory in {}", tools.display()))?;
    for note in passed_over {
        ui.warn(&format!("{note}, not the guest's {version}: installing {version}"));
    }
    ui.status(
        "Installing",
        &format!("wasm-bindgen-cli {version} (once per version, a few minutes) into {}", root.display()),
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let run = |locked: bool| {
        let mut command = Command::new(&cargo);
        command.args(["install", "wasm-bindgen-cli", "--version", &format!("={version}")]);
        if locked {
            command.arg("--locked");
        }
        command.arg("--root").arg(staging.path()).arg("--no-track");
        command.output().with_context(|| format!("running {}", install_command(version, root, locked)))
    };
    let mut output = run(true)?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() && stderr.contains("failed to select a version") {
        // The CLI's own lockfile names a version the registry no longer offers (yanked):
        // resolve afresh, as users do, and say so.
        ui.warn(&format!("wasm-bindgen-cli {version}'s Cargo.lock does not resolve against this registry; installing without --locked"));
        output = run(false)?;
    }
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
        bail!(
            "installing wasm-bindgen-cli {version} failed (bindgen stage):\n{}\n  help: install it yourself: {}, \
             or point `wasm-bindgen-path` at a {version} CLI",
            tail.join("\n"),
            install_command(version, root, true)
        );
    }
    let staged = staging.keep();
    let moved = std::fs::rename(&staged, root);
    if moved.is_err() {
        // Ours, just made: nothing else is in it.
        let _ = std::fs::remove_dir_all(&staged);
    }
    // Another build may have installed it meanwhile: theirs is used only if it is `version`.
    match version_of(&installed_cli(root)) {
        Ok(found) if found == version => Ok(()),
        _ => Err(moved.err().map_or_else(|| anyhow::anyhow!("no CLI after installing"), anyhow::Error::from))
            .with_context(|| format!("putting the wasm-bindgen CLI {version} in {}", root.display())),
    }
}
