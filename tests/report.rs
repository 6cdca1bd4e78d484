//! `cargo wasmship report` on a real guest: the numbers agree with the artifacts, the raw and
//! shipped modules give the same answer, the recommendation reaches manifest.json and stays
//! while the module does, and report.html renders in headless Chromium with its charts.
mod common;

use cargo_wasmship::manifest::Manifest;
use common::{expected_answers, Fixture};
use std::path::Path;
use std::process::Command;

fn report(out: &Path, extra: &[&str]) -> std::process::Output {
    common::wasmship()
        .args(["report", "--reps", "2", "--manifest-path"])
        .arg(Fixture::Regex.manifest())
        .arg("--out-dir")
        .arg(out)
        .args(["--precompile", "host,aarch64-unknown-linux-gnu"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn the_report_agrees_with_the_artifacts_and_the_raw_guest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = report(&out, &["--call", "classify_sample:1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let manifest = Manifest::read(&out.join("manifest.json")).unwrap();

    // The waterfall is the artifacts' sizes.
    let bytes = &json["bytes"];
    let stage_out = |name: &str| manifest.stages.iter().find(|s| s.stage.name() == name).unwrap().bytes_out;
    assert_eq!(bytes["raw"], manifest.input.bytes);
    assert_eq!(bytes["preinit"], stage_out("preinit"));
    assert_eq!(bytes["optimize"], stage_out("optimize"));
    assert_eq!(bytes["strip"], manifest.shipped_wasm().unwrap().bytes);
    assert_eq!(bytes["br"], manifest.artifact("regex_guest.wasm.br").unwrap().bytes);
    assert_eq!(bytes["gz"], manifest.artifact("regex_guest.wasm.gz").unwrap().bytes);
    let cwasm: Vec<u64> = manifest.cwasms().map(|(a, _)| a.bytes).collect();
    let reported: Vec<u64> = bytes["cwasm"].as_array().unwrap().iter().map(|p| p[1].as_u64().unwrap()).collect();
    assert_eq!(reported, cwasm);
    assert!(bytes["raw_br"].as_u64().unwrap() < manifest.input.bytes, "the raw module, compressed");

    // The same answer as the raw guest after its init, on both forms.
    let expected = expected_answers(Fixture::Regex).into_iter().find(|(n, _)| n == "classify_sample(1)").unwrap().1;
    assert_eq!(json["startup"]["answer"], expected.to_string());
    assert_eq!(json["call"], "classify_sample(1)");
    assert!(stderr.contains(&format!("classify_sample(1) answered {expected} on both")), "{stderr}");
    let startup = &json["startup"];
    for key in
        ["compile_raw", "compile_shipped", "deserialize_cwasm", "instantiate_shipped", "init_raw", "first_call_shipped"]
    {
        let stats = &startup[key];
        assert!(stats["min_ms"].as_f64().unwrap() <= stats["median_ms"].as_f64().unwrap(), "{key}: {stats}");
        assert!(stats["median_ms"].as_f64().unwrap() <= stats["max_ms"].as_f64().unwrap(), "{key}: {stats}");
    }
    let cold = startup["cold_raw_ms"].as_f64().unwrap() / startup["cold_shipped_ms"].as_f64().unwrap();
    assert!((cold - startup["speedup"].as_f64().unwrap()).abs() < 1e-6);
    assert!(json["headline"][0]
        .as_str()
        .unwrap()
        .starts_with("cold start, raw .wasm compiled at load vs shipped .cwasm"));

    // Every engine has a row, measured or saying why not.
    let engines: Vec<&str> = json["engines"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(engines, ["Cranelift", "Winch", "Pulley"]);
    for engine in json["engines"].as_array().unwrap() {
        assert!(engine["compile"].is_object() || engine["unavailable"].is_string(), "{engine}");
    }

    // The recommended cap reaches manifest.json, for exactly this module.
    let memory = &json["memory"];
    let recommended = manifest.limits.recommended.clone().expect("recorded in manifest.json");
    assert_eq!(recommended.memory_cap, memory["recommended_cap"].as_u64().unwrap());
    assert!(recommended.memory_cap >= recommended.peak && recommended.peak >= recommended.after_preinit);
    assert_eq!(recommended.module_sha256, manifest.shipped_wasm().unwrap().sha256);
    let (_, problems) = cargo_wasmship::commands::verify::check(&out.join("manifest.json")).unwrap();
    assert!(problems.is_empty(), "report files are not artifacts: {problems:?}");

    // A rebuild of the same module keeps it; a changed module drops it.
    let rebuild = |extra: &[&str]| {
        let status = common::wasmship()
            .args(["build", "-q", "--precompile", "host,aarch64-unknown-linux-gnu", "--manifest-path"])
            .arg(Fixture::Regex.manifest())
            .arg("--out-dir")
            .arg(&out)
            .args(extra)
            .status()
            .unwrap();
        assert!(status.success());
        Manifest::read(&out.join("manifest.json")).unwrap()
    };
    assert_eq!(rebuild(&[]).limits.recommended, Some(recommended));
    assert_eq!(rebuild(&["--wasm-opt", "-O1"]).limits.recommended, None, "measured on other bytes");
}

#[test]
fn report_html_renders_with_its_charts_in_chromium() {
    let Some(chromium) = common::peers::chromium("report.html in Chromium") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = report(&out, &["--call", "crc_table_at(7)"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser/report.png");
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    let rendered = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/render.mjs"))
        .arg(out.join("report.html"))
        .arg(&screenshot)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&rendered.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    // One bar per waterfall row: raw, raw br, preinit, optimize, shipped, br, gz, two .cwasm.
    assert_eq!(seen["charts"]["waterfall"]["bars"], 9, "{seen}");
    assert!(seen["charts"]["startup"]["bars"].as_u64().unwrap() >= 6, "{seen}");
    assert!(seen["charts"]["waterfall"]["height"].as_f64().unwrap() > 100.0);
    assert_eq!(seen["tables"], 3);
    assert_eq!(seen["requests"].as_array().unwrap().len(), 1, "self-contained: nothing but the page is fetched");
    assert!(std::fs::read(&screenshot).unwrap().starts_with(b"\x89PNG"));
    assert!(json["engines"].is_array());
    println!("screenshot: {}", screenshot.display());
}
