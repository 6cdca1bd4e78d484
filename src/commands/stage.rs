//! `cargo wasmship stage <STAGE> <INPUT> -o <OUTPUT>` (hidden): one stage on one file, with
//! the settings the guest's profile gives it. For the benchmark (each stage's own time and
//! peak memory) and for debugging a single stage.
use crate::plan::{self, Request};
use crate::stages::{self, StageReport};
use crate::ui::Ui;
use anyhow::{bail, Context, Result};
use std::path::Path;

pub fn run(request: &Request, stage: &str, input: &Path, output: &Path) -> Result<()> {
    let ui = Ui::new(request.quiet);
    let plan = plan::plan(request, &ui)?;
    let wasm = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let (bytes, report): (Vec<u8>, StageReport) = match stage {
        "preinit" => {
            let out = stages::preinit::run(&wasm, &plan.preinit)?;
            (out.bytes, out.report)
        }
        "bindgen" => {
            let Some(config) = &plan.bindgen else { bail!("the guest is not a wasm-bindgen guest") };
            let version = stages::bindgen::detect::version(&wasm)?.context("the module has no wasm-bindgen section")?;
            let (out, glue) = stages::bindgen::run(&wasm, &version, config, &ui)?;
            // The glue goes beside the output, as the CLI names it: the module needs it.
            let dir = output.parent().unwrap_or(Path::new("."));
            for file in &glue {
                wasmship_manifest::check_file_name(&file.file).map_err(|why| anyhow::anyhow!("{why}"))?;
                let path = dir.join(&file.file);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                }
                std::fs::write(&path, &file.text).with_context(|| format!("writing {}", path.display()))?;
            }
            (out.bytes, out.report)
        }
        "optimize" => {
            let out = stages::optimize::run(&wasm, &plan.optimize)?;
            (out.bytes, out.report)
        }
        "strip" => {
            let out = stages::strip::run(&wasm, &plan.strip)?;
            (out.bytes, out.report)
        }
        "precompile" => {
            let Some(target) = plan.cwasm_targets.first() else { bail!("the profile precompiles for no target") };
            let out = stages::precompile::run(&wasm, target, &plan.engine)?;
            (out.bytes, out.report)
        }
        "compress" => {
            let Some(encoding) = plan.package.compress.first() else { bail!("the profile compresses with nothing") };
            stages::package::compress(&wasm, *encoding, &plan.package)?
        }
        other => bail!("unknown stage `{other}`; one of preinit, bindgen, optimize, strip, precompile, compress"),
    };
    std::fs::write(output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    ui.finish(crate::ui::Running::none(), &[&report]);
    Ok(())
}
