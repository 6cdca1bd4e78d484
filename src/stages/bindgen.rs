//! The bindgen stage, for wasm-bindgen guests only (`preinit -> bindgen -> optimize`): the
//! wasm-bindgen CLI of exactly the guest's version runs on the pre-initialized module, still
//! holding its `__wasm_bindgen_unstable` section. It gives the module the optimize stage
//! takes and the JS glue (and `.d.ts`) the package stage ships. It runs before wasm-opt,
//! which would rename or drop the describe functions the CLI interprets.
pub mod cli;
pub mod detect;

use super::{Stage, StageOutput, StageReport};
use crate::config::BindgenTarget;
use crate::ui::Ui;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BindgenConfig {
    pub target: BindgenTarget,
    /// `--out-name`: the stem of the glue files (`<name>.js`).
    pub out_name: String,
    pub lookup: cli::Lookup,
}

/// One file of glue the CLI wrote: `<name>.js`, `<name>.d.ts`, and for `bundler` `<name>_bg.js`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Glue {
    pub file: String,
    pub text: String,
}

/// The stage's settings for a module made with wasm-bindgen `version` (they key its cache
/// entry, with the input's sha256).
pub fn settings(config: &BindgenConfig, version: &str) -> Value {
    json!({ "wasm-bindgen": version, "target": config.target.cli_name(), "out-name": config.out_name })
}

/// The file the glue loads the module from, as the CLI names it.
pub fn cli_wasm_name(out_name: &str) -> String {
    format!("{out_name}_bg.wasm")
}

/// Runs the matching CLI on `wasm`; returns its module, the report and the glue.
pub fn run(wasm: &[u8], version: &str, config: &BindgenConfig, ui: &Ui) -> Result<(StageOutput, Vec<Glue>)> {
    let started = Instant::now();
    let Some(target) = config.target.cli_name() else { bail!("bindgen-target = \"none\" runs no bindgen stage") };
    let cli = cli::resolve(version, &config.lookup, ui)?;
    let scratch = tempfile::tempdir().context("creating a directory for wasm-bindgen")?;
    let input = scratch.path().join("input.wasm");
    let out_dir = scratch.path().join("out");
    std::fs::write(&input, wasm).with_context(|| format!("writing {}", input.display()))?;
    let output = std::process::Command::new(&cli)
        .arg(&input)
        .arg("--out-dir")
        .arg(&out_dir)
        .args(["--out-name", &config.out_name, "--target", target])
        .output()
        .with_context(|| format!("running {}", cli.display()))?;
    if !output.status.success() {
        bail!(
            "wasm-bindgen {version} failed on the pre-initialized module (bindgen stage):\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    let module_file = cli_wasm_name(&config.out_name);
    let bytes =
        std::fs::read(out_dir.join(&module_file)).with_context(|| format!("reading wasm-bindgen's {module_file}"))?;
    let mut glue = Vec::new();
    let mut entries: Vec<_> =
        std::fs::read_dir(&out_dir).context("listing wasm-bindgen's output")?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let file = entry.file_name().to_string_lossy().into_owned();
        // The module travels as bytes; its own `.d.ts` describes raw exports nobody calls.
        if file == module_file || file == format!("{module_file}.d.ts") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).with_context(|| format!("reading wasm-bindgen's {file}"))?;
        glue.push(Glue { file, text });
    }
    let mut report = StageReport::new(Stage::Bindgen, wasm, &bytes, started, settings(config, version));
    report.notes = vec![format!(
        "wasm-bindgen {version} --target {target}: {}",
        glue.iter().map(|g| g.file.as_str()).collect::<Vec<_>>().join(", ")
    )];
    Ok((StageOutput { bytes, report }, glue))
}

/// The glue with every quoted reference to the CLI's module name (`<name>_bg.wasm`) pointed
/// at `shipped_file`, the content-hashed name the package stage gave the module.
pub fn point_glue_at(glue: &Glue, out_name: &str, shipped_file: &str) -> String {
    let cli_name = cli_wasm_name(out_name);
    let mut text = String::with_capacity(glue.text.len());
    let mut rest = glue.text.as_str();
    while let Some(at) = rest.find(&cli_name) {
        let after = &rest[at + cli_name.len()..];
        let quoted = after.starts_with(['\'', '"', '`']);
        text.push_str(&rest[..at]);
        text.push_str(if quoted { shipped_file } else { &cli_name });
        rest = after;
    }
    text.push_str(rest);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_glue_loads_the_hashed_name_in_every_targets_form() {
        let forms = [
            ("module_or_path = new URL('app_bg.wasm', import.meta.url);", "new URL('app.0123.wasm', import.meta.url)"),
            ("import * as wasm from \"./app_bg.wasm\";", "from \"./app.0123.wasm\""),
            ("const wasmPath = `${__dirname}/app_bg.wasm`;", "`${__dirname}/app.0123.wasm`"),
        ];
        for (line, want) in forms {
            let glue = Glue { file: "app.js".into(), text: line.into() };
            let pointed = point_glue_at(&glue, "app", "app.0123.wasm");
            assert!(pointed.contains(want), "{pointed}");
        }
        // Not a reference to the file: left alone.
        let types = Glue { file: "app.d.ts".into(), text: "see app_bg.wasm.d.ts".into() };
        assert_eq!(point_glue_at(&types, "app", "app.0123.wasm"), types.text);
    }
}
