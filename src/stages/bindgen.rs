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
    collect_glue(&out_dir, "", &module_file, &mut glue)?;
    let mut report = StageReport::new(Stage::Bindgen, wasm, &bytes, started, settings(config, version));
    report.notes = vec![format!(
        "wasm-bindgen {version} --target {target}: {}",
        glue.iter().map(|g| g.file.as_str()).collect::<Vec<_>>().join(", ")
    )];
    Ok((StageOutput { bytes, report }, glue))
}

/// Every text file the CLI wrote under `dir`, by `/`-separated path from the output
/// directory: the glue, its `.d.ts`, and `snippets/<crate>-<hash>/*.js` (`inline_js`, `module =
/// "..."`). The module travels as bytes; its own `.d.ts` describes raw exports nobody calls.
fn collect_glue(dir: &std::path::Path, prefix: &str, module_file: &str, glue: &mut Vec<Glue>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing wasm-bindgen's output in {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let file = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type()?.is_dir() {
            collect_glue(&entry.path(), &format!("{file}/"), module_file, glue)?;
        } else if file != module_file && file != format!("{module_file}.d.ts") {
            let text =
                std::fs::read_to_string(entry.path()).with_context(|| format!("reading wasm-bindgen's {file}"))?;
            glue.push(Glue { file, text });
        }
    }
    Ok(())
}

/// The glue with every reference to the CLI's module name (`<name>_bg.wasm`) pointed at
/// `shipped_file`, the content-hashed name the package stage gave the module. Fails if a
/// reference it does not know is left: that glue would fetch a file nobody ships.
pub fn point_glue_at(glue: &Glue, out_name: &str, shipped_file: &str) -> Result<String> {
    let cli_name = cli_wasm_name(out_name);
    // `no-modules` derives the name from its own script's URL.
    let derived = r#"script_src.replace(/\.js$/, "_bg.wasm")"#;
    let mut text = glue.text.replace(derived, &format!("new URL({:?}, script_src).href", shipped_file));
    for quote in ['\'', '"', '`'] {
        text = text.replace(&format!("{cli_name}{quote}"), &format!("{shipped_file}{quote}"));
    }
    if glue.file.ends_with(".js") && (text.contains(&cli_name) || text.contains("_bg.wasm\"")) {
        bail!(
            "{}: wasm-bindgen's glue names its module in a way this tool does not rewrite (bindgen stage)",
            glue.file
        );
    }
    Ok(text)
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
            let pointed = point_glue_at(&glue, "app", "app.0123.wasm").unwrap();
            assert!(pointed.contains(want), "{pointed}");
        }
        let no_modules =
            Glue { file: "app.js".into(), text: r#"module_or_path = script_src.replace(/\.js$/, "_bg.wasm");"#.into() };
        let pointed = point_glue_at(&no_modules, "app", "app.0123.wasm").unwrap();
        assert!(pointed.contains(r#"new URL("app.0123.wasm", script_src).href"#), "{pointed}");
        // Not a reference to the file: left alone.
        let types = Glue { file: "app.d.ts".into(), text: "see app_bg.wasm.d.ts".into() };
        assert_eq!(point_glue_at(&types, "app", "app.0123.wasm").unwrap(), types.text);
        // A form it does not know fails rather than ship glue that fetches nothing.
        let unknown = Glue { file: "app.js".into(), text: "load(base + 'app_bg.wasm'.trim())".replace('\'', "") };
        assert!(point_glue_at(&unknown, "app", "app.0123.wasm").is_err());
    }
}
