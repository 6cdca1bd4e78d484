//! Stage 1: `cargo build` of the guest to wasm32. The artifact is found from cargo's own
//! `compiler-artifact` messages, never by guessing paths; cargo's diagnostics stream to the
//! user as cargo renders them.
use super::{Stage, StageOutput, StageReport};
use crate::config::GuestTarget;
use crate::guest::{CargoArgs, Guest};
use anyhow::{anyhow, bail, Context, Result};
use cargo_metadata::{Message, TargetKind};
use serde_json::json;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

pub struct BuildConfig<'a> {
    pub cargo: &'a CargoArgs,
    pub cargo_profile: &'a str,
    pub target: GuestTarget,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub quiet: bool,
}

pub struct BuildOutput {
    pub stage: StageOutput,
    /// Where cargo wrote the .wasm.
    pub artifact: PathBuf,
}

pub fn run(guest: &Guest, config: &BuildConfig<'_>) -> Result<BuildOutput> {
    let started = Instant::now();
    let triple = config.target.triple();

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    // The rustc beside the cargo that runs us: cargo then skips rustup's proxy on each of
    // its rustc probes (a few ms of every no-op build).
    command.env("RUSTC", rustc());
    command
        .arg("build")
        .arg("--lib")
        .arg("--manifest-path")
        .arg(guest.package.manifest_path.as_std_path())
        .args(["--package", guest.package.name.as_str()])
        .args(["--target", triple])
        .args(["--profile", config.cargo_profile])
        .arg("--message-format=json-render-diagnostics")
        .args(config.cargo.lock_flags());
    if !config.features.is_empty() {
        command.args(["--features", &config.features.join(",")]);
    }
    if config.all_features {
        command.arg("--all-features");
    }
    if config.no_default_features {
        command.arg("--no-default-features");
    }
    if let Some(dir) = &config.cargo.target_dir {
        command.arg("--target-dir").arg(dir);
    }
    if config.quiet {
        command.arg("--quiet");
    }
    command.stdout(Stdio::piped()).stderr(Stdio::inherit()).stdin(Stdio::null());

    let mut child = command.spawn().with_context(|| format!("could not run `{}`", cargo.to_string_lossy()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut wasm_files = Vec::new();
    for message in Message::parse_stream(BufReader::new(stdout)) {
        let message = message.context("reading cargo's JSON messages")?;
        if let Message::CompilerArtifact(artifact) = message {
            let ours = artifact.package_id == guest.package.id && artifact.target.kind.contains(&TargetKind::CDyLib);
            if ours {
                wasm_files.extend(
                    artifact.filenames.into_iter().filter(|f| f.extension() == Some("wasm")).map(PathBuf::from),
                );
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        // Checked only now, to keep rustc out of the no-op path: say what cargo's own error
        // means when the target's standard library is missing.
        ensure_target_installed(&guest.package_dir(), triple)?;
        bail!(
            "cargo build of `{}` for {triple} failed ({status}); cargo's diagnostics are above\n  --> {}",
            guest.package.name,
            guest.package.manifest_path
        );
    }
    let artifact = wasm_files.pop().ok_or_else(|| {
        anyhow!(
            "cargo built `{}` but reported no .wasm artifact for its cdylib target\n  --> {}",
            guest.package.name,
            guest.package.manifest_path
        )
    })?;
    let bytes = std::fs::read(&artifact).with_context(|| format!("reading {}", artifact.display()))?;
    let settings = json!({
        "cargo-profile": config.cargo_profile,
        "target": triple,
        "features": config.features,
        "all-features": config.all_features,
        "no-default-features": config.no_default_features,
        "artifact": artifact.file_name().map(|n| n.to_string_lossy().into_owned()),
    });
    let report = StageReport::new(Stage::Build, &[], &bytes, started, settings);
    Ok(BuildOutput { stage: StageOutput { bytes, report }, artifact })
}

/// Checks that cargo's module is valid WebAssembly. Called by the first stage that reads it,
/// so an input whose digest the stage cache already knows (and so was checked) is not
/// validated again on every rebuild.
pub fn check_module(bytes: &[u8], artifact: &Path, package: &str, target: GuestTarget) -> Result<()> {
    // The plan chose the guest's path from its target; every stage after must see that kind.
    let component = crate::wasm::component::is_component(bytes);
    if component != target.is_component() {
        let (made, expected) =
            if component { ("a component", "a core module") } else { ("a core module", "a component") };
        bail!(
            "cargo built {made} for {}, where the plan expects {expected} (build stage)\n  --> {}\n  \
             help: a component comes from `target = \"wasm32-wasip2\"`; a post-link step (wasm-tools component new, \
             a custom linker) must not change what cargo makes",
            target.triple(),
            artifact.display(),
        );
    }
    if let Err(invalid) = crate::wasm::validate(bytes) {
        bail!(
            "{invalid} (build stage)\n  --> {}\n  \
             help: cargo's linker wrote this file; a post-link step (custom linker, RUSTFLAGS, a tool \
             run on target/) may have damaged it. Run `cargo clean -p {package}` and build again",
            artifact.display(),
        );
    }
    Ok(())
}

/// The rustc of the toolchain cargo runs: `$RUSTC`, else the one beside `$CARGO` (the cargo
/// that started this subcommand, already resolved by rustup), else `rustc` from PATH.
fn rustc() -> std::ffi::OsString {
    if let Some(rustc) = std::env::var_os("RUSTC") {
        return rustc;
    }
    std::env::var_os("CARGO")
        .map(|cargo| Path::new(&cargo).with_file_name(format!("rustc{}", std::env::consts::EXE_SUFFIX)))
        .filter(|rustc| rustc.is_file())
        .map_or_else(|| "rustc".into(), |rustc| rustc.into_os_string())
}

/// Fails, with the `rustup` line that fixes it, when the toolchain that builds the guest
/// (see [`rustc`]; without either variable rustup resolves it from the guest's directory)
/// has no standard library for `triple`.
fn ensure_target_installed(package_dir: &Path, triple: &str) -> Result<()> {
    let rustc = rustc();
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(package_dir)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not run `{} --print sysroot`", rustc.to_string_lossy()))?;
    if !output.status.success() {
        bail!("`rustc --print sysroot` failed in {}", package_dir.display());
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if sysroot.join("lib/rustlib").join(triple).join("lib").is_dir() {
        return Ok(());
    }
    bail!(
        "the Rust target `{triple}` is not installed for the toolchain at {} (build stage)\n  \
         help: install it with:\n      rustup target add {triple}",
        sysroot.display()
    )
}

/// `rustc -V` of the toolchain cargo just used: cargo records `rustc -vV` in the target
/// directory's `.rustc_info.json`; running rustc again would add its start-up to every build.
pub fn rustc_version(target_dir: &Path, package_dir: &Path) -> String {
    let recorded = std::fs::read(target_dir.join(".rustc_info.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|info| {
            info["outputs"].as_object()?.values().find_map(|output| {
                let stdout = output["stdout"].as_str()?;
                (stdout.starts_with("rustc ") && stdout.contains("\nrelease: "))
                    .then(|| stdout.lines().next().unwrap_or("").to_string())
            })
        });
    recorded.unwrap_or_else(|| {
        Command::new(rustc())
            .arg("-V")
            .current_dir(package_dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    })
}

/// A warning for a module with wasm-bindgen items that gets no glue (`bindgen-target =
/// "none"`, or wasm-bindgen only reached through another crate): its `#[wasm_bindgen]`
/// exports need the glue the wasm-bindgen CLI makes, and strip removes the section it reads.
pub fn wasm_bindgen_warning(wasm: &[u8], package: &str) -> Option<String> {
    crate::wasm::has_custom_section(wasm, crate::stages::bindgen::detect::SECTION).then(|| {
        format!(
            "`{package}` links wasm-bindgen items but gets no JS glue, so its `#[wasm_bindgen]` exports are \
             unusable; the shipped module is for hosts that call its plain `extern \"C\"` exports (for glue: \
             depend on `wasm-bindgen` directly and leave `bindgen-target` unset or set it to `web`, `bundler`, \
             `nodejs`, `no-modules` or `deno`)"
        )
    })
}
