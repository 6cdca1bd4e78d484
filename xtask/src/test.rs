//! `cargo xtask test`: the whole test suite, every test binary even after a failure, then one
//! line that counts what passed, failed and was skipped. A test whose peer (Chromium, Go,
//! nginx...) is missing writes why to `$WASMSHIP_SKIP_LOG` (see `tests/common/peers.rs`);
//! libtest alone would show it only with `--nocapture`.
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// Runs `cargo test --workspace --locked --no-fail-fast [extra...]` and returns its exit code.
pub fn run(root: &std::path::Path, extra: &[String]) -> Result<i32> {
    let log = root.join("target/tmp/skipped-checks.tsv");
    std::fs::create_dir_all(log.parent().expect("a parent"))?;
    std::fs::write(&log, "").with_context(|| format!("clearing {}", log.display()))?;
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--workspace", "--locked", "--no-fail-fast"])
        .args(extra)
        .current_dir(root)
        .env("WASMSHIP_SKIP_LOG", &log)
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    // libtest's results go to stdout: pass them through and add up each binary's summary.
    let mut totals = Totals::default();
    let stdout = std::io::stdout();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line?;
        totals.add(&line);
        let mut out = stdout.lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    let status = child.wait()?;
    let skipped: Vec<String> = std::fs::read_to_string(&log)?.lines().map(str::to_string).collect();
    for line in &skipped {
        let (check, why) = line.split_once('\t').unwrap_or((line, ""));
        println!("skipped: {check}: {why}");
    }
    println!(
        "cargo xtask test: {} passed, {} failed, {} ignored, {} checks skipped{}",
        totals.passed,
        totals.failed,
        totals.ignored,
        skipped.len(),
        if status.success() { "" } else { " (the run failed: see above)" }
    );
    Ok(status.code().unwrap_or(1))
}

#[derive(Default)]
struct Totals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Totals {
    /// Adds `test result: ok. 12 passed; 0 failed; 1 ignored; ...`.
    fn add(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else { return };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(count)) = (words.next(), words.next()) else { continue };
            let Ok(count) = count.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn adds_libtest_summaries() {
        let mut totals = super::Totals::default();
        totals.add("test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 3 filtered out; finished in 1.20s");
        totals.add("test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out");
        totals.add("running 3 tests");
        assert_eq!((totals.passed, totals.failed, totals.ignored), (14, 1, 1));
    }
}
