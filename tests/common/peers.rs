//! The programs some tests compare against (Chromium, Node.js, Go, nginx, Caddy...), and what a
//! test does when one is missing. A check that cannot run is never a silent pass:
//! - under `CI=true`, a peer that `.ci/run` installs must be there, or the test fails;
//! - elsewhere (and for peers no registry here serves) the test says why it skips, and the
//!   skip goes to `$WASMSHIP_SKIP_LOG`, which `cargo xtask test` counts at the end of the run.
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

/// Where a missing peer comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `.ci/run` installs it: missing under CI is a failure.
    CiInstalls,
    /// No registry this project's machines reach serves it (say so, then skip).
    Unavailable,
}

/// Records that `check` did not run, and why; panics under CI when `.ci/run` should have
/// provided what is missing.
pub fn skip(check: &str, reason: &str, source: Source) {
    if source == Source::CiInstalls && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{check}: {reason}\n  under CI=true this peer must be present: .ci/run installs it, so its install failed"
        );
    }
    eprintln!("skipping {check}: {reason}");
    if let Some(log) = std::env::var_os("WASMSHIP_SKIP_LOG") {
        // One write of the whole line: parallel tests append to the same file (O_APPEND).
        let line = format!("{check}\t{}\n", reason.replace(['\n', '\t'], " "));
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// `name` if running it with `version_arg` succeeds; else records the skip of `check`.
pub fn program(name: &str, version_arg: &str, check: &str) -> Option<PathBuf> {
    match Command::new(name).arg(version_arg).output() {
        Ok(output) if output.status.success() => Some(PathBuf::from(name)),
        Ok(output) => {
            let why = String::from_utf8_lossy(&output.stderr).lines().next().unwrap_or_default().to_string();
            skip(check, &format!("`{name} {version_arg}` failed: {why}"), Source::CiInstalls);
            None
        }
        Err(error) => {
            skip(check, &format!("`{name}` is not installed ({error}); .ci/run installs it"), Source::CiInstalls);
            None
        }
    }
}

/// Debian's Chromium and the playwright-core that drives it (`npm ci` in tests/browser).
pub fn chromium(check: &str) -> Option<PathBuf> {
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if !chromium.exists() {
        skip(check, &format!("no Chromium at {} (.ci/run installs Debian's)", chromium.display()), Source::CiInstalls);
        return None;
    }
    let playwright =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/node_modules/playwright-core");
    if !playwright.exists() {
        skip(check, "playwright-core is not installed (.ci/run runs `npm ci` in tests/browser)", Source::CiInstalls);
        return None;
    }
    Some(chromium)
}

/// Opens the demo page at `url` in `chromium` with `tests/browser/check.mjs` (load, reload,
/// a wrong integrity), saves a screenshot as `browser/<name>.png` in the test target dir, and
/// returns what the page showed.
pub fn check_demo_page(chromium: &std::path::Path, url: &str, name: &str) -> serde_json::Value {
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("browser/{name}.png"));
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    let output = std::process::Command::new("node")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/check.mjs"))
        .arg(url)
        .arg(&screenshot)
        .env("CHROMIUM", chromium)
        .output()
        .expect("node runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}
