//! The web delivery in a real browser: Debian's chromium, headless, driven by playwright-core
//! (`tests/browser/`, installed by `.ci/run`), opens the demo page `cargo wasmship serve`
//! gives and loads the guest with the generated loader.
mod common;

use common::{expected_answers, Fixture};
use std::path::Path;
use std::process::Command;

#[test]
fn the_demo_page_loads_the_guest_over_brotli_with_integrity_and_caches_it() {
    let Some(chromium) = common::peers::chromium("the demo page in Chromium") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let status = common::wasmship()
        .args(["build", "-q", "--no-precompile", "--manifest-path"])
        .arg(Fixture::Regex.manifest())
        .arg("--out-dir")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let server = common::Serving::start(&out, &["--call", "classify_sample(1)"]);

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser/demo.png");
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/check.mjs");
    let output = Command::new("node")
        .arg(&script)
        .arg(&server.url)
        .arg(&screenshot)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The log arrives through a pipe: wait (a bounded while) for the third page request.
    let mut log: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while log.iter().filter(|l| l.starts_with("GET / ")).count() < 3 && std::time::Instant::now() < deadline {
        if let Ok(line) = server.log.recv_timeout(std::time::Duration::from_millis(100)) {
            log.push(line);
        }
    }
    log.extend(server.log.try_iter());
    println!("browser saw: {seen:#}\nserver log:\n{}", log.join("\n"));

    // The guest answered as the raw guest does after init.
    let expected =
        expected_answers(Fixture::Regex).into_iter().find(|(name, _)| name == "classify_sample(1)").unwrap().1;
    assert_eq!(seen["first"]["state"], "ok", "{seen}");
    assert_eq!(seen["first"]["text"], expected.to_string());
    // Delivered pre-compressed, typed and immutable, and it passed the integrity check.
    let headers = &seen["wasm"]["headers"];
    assert_eq!(seen["wasm"]["status"], 200);
    assert_eq!(headers["content-encoding"], "br");
    assert_eq!(headers["content-type"], "application/wasm");
    assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(headers["vary"], "Accept-Encoding");
    // A reload reuses it: between the reload's page request and the next navigation's, no
    // download of the module (from the cache, or a 304). The first load may have fetched it
    // twice (the prefetch link and the loader), which is not what is checked here.
    assert_eq!(seen["reloaded"]["state"], "ok");
    let pages: Vec<usize> = log.iter().enumerate().filter(|(_, l)| l.starts_with("GET / ")).map(|(i, _)| i).collect();
    assert!(pages.len() >= 3, "load, reload, wrong integrity:\n{}", log.join("\n"));
    assert!(log[..pages[1]].iter().any(|l| l.contains(".wasm -> 200 br")), "{}", log.join("\n"));
    let on_reload = log[pages[1]..pages[2]].iter().filter(|l| l.contains(".wasm -> 200")).count();
    assert_eq!(on_reload, 0, "the module was downloaded again on reload:\n{}", log.join("\n"));
    // A wrong integrity makes the page report the failure.
    assert_eq!(seen["badIntegrity"]["state"], "error", "{seen}");
    assert!(seen["badIntegrity"]["text"].as_str().unwrap().contains("integrity"), "{seen}");
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a screenshot at {}", screenshot.display());
    println!("screenshot: {}", screenshot.display());
}

#[test]
fn the_demo_page_types_its_call_by_the_exports_parameters() {
    let Some(chromium) = common::peers::chromium("a typed call on the demo page") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reactor-guest");
    let status = common::wasmship()
        .args(["build", "-q", "--no-precompile", "--init-func", "_initialize", "--out-dir"])
        .arg(&out)
        .current_dir(&guest)
        .status()
        .unwrap();
    assert!(status.success());
    // An i64 beyond 2^53 must reach the guest exactly (a BigInt), the floats as floats.
    for (call, expected) in [
        ("run(5000000000)", (5_000_000_000i64.wrapping_mul(1_000_000_007) + 1).to_string()),
        ("mix(1, -2, 3.5, 0.25)", "-1".to_string()),
    ] {
        let server = common::Serving::start(&out, &["--call", call]);
        let seen = common::peers::check_demo_page(&chromium, &server.url, "typed");
        assert_eq!(seen["first"]["state"], "ok", "{call}: {seen}");
        assert_eq!(seen["first"]["text"], expected, "{call}");
    }
}
