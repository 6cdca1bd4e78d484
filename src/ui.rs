//! What the user sees on stderr: cargo-style status lines, a spinner per running stage on a
//! terminal (plain lines otherwise), and the stage table at the end; with -q only warnings and errors.
use crate::stages::{StageReport, StageStatus};
use anstyle::{AnsiColor, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::IsTerminal;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const GREEN: Style = AnsiColor::Green.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
pub const RED: Style = AnsiColor::Red.on_default().bold();
const DIM: Style = Style::new().dimmed();

/// Chooses colour the way cargo does: `--color` (when given), else `CARGO_TERM_COLOR`
/// (`auto`, `always`, `never`), else auto: colour on a terminal unless `NO_COLOR` is set
/// (anstream also honours `CLICOLOR` and `CLICOLOR_FORCE`).
pub fn init_color(flag: Option<&str>) {
    let choice = flag.map(str::to_string).or_else(|| std::env::var("CARGO_TERM_COLOR").ok());
    let choice = match choice.as_deref().map(str::trim) {
        Some("always") => anstream::ColorChoice::Always,
        Some("never") => anstream::ColorChoice::Never,
        _ => anstream::ColorChoice::Auto,
    };
    choice.write_global();
}

/// `--message-format json`: machine-readable messages on stdout, one JSON object per line.
static JSON_MESSAGES: AtomicBool = AtomicBool::new(false);
/// `-v`: details (paths, settings) on stderr.
static VERBOSE: AtomicBool = AtomicBool::new(false);

/// The version of the JSON messages' shape (README, "Messages"); bump on a breaking change.
pub const MESSAGES_SCHEMA_VERSION: u32 = 1;

pub fn set_json_messages(on: bool) {
    JSON_MESSAGES.store(on, Ordering::Relaxed);
}

pub fn json_messages() -> bool {
    JSON_MESSAGES.load(Ordering::Relaxed)
}

pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// One JSON message on stdout (only with `--message-format json`): `reason` names its kind.
pub fn emit(reason: &str, mut fields: serde_json::Value) {
    if !json_messages() {
        return;
    }
    let mut message = serde_json::Map::new();
    message.insert("reason".into(), reason.into());
    if let Some(object) = fields.as_object_mut() {
        message.extend(std::mem::take(object));
    }
    let line = serde_json::Value::Object(message).to_string();
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let _ = writeln!(lock, "{line}");
    let _ = lock.flush();
}

pub struct Ui {
    spinners: bool,
    /// `-q`: only warnings and errors.
    quiet: bool,
    /// Parallel stages each get a spinner; lines printed meanwhile go above them.
    multi: MultiProgress,
}

pub struct Running {
    bar: Option<ProgressBar>,
}

impl Running {
    /// For work that shows its own progress (cargo).
    pub fn none() -> Running {
        Running { bar: None }
    }
}

impl Ui {
    pub fn new(quiet: bool) -> Ui {
        let terminal = std::io::stderr().is_terminal();
        Ui { spinners: terminal && !quiet, quiet, multi: MultiProgress::new() }
    }

    /// Through anstream: styles are dropped unless stderr takes them (see [`init_color`]).
    fn line(&self, text: &str) {
        self.multi.suspend(|| anstream::eprintln!("{text}"));
    }

    /// A cargo-style line: a right-aligned green verb, then the message.
    pub fn status(&self, verb: &str, message: &str) {
        if self.quiet {
            return;
        }
        self.line(&format!("{GREEN}{verb:>12}{GREEN:#} {message}"));
    }

    /// A detail for `-v`: a dim line under the status lines.
    pub fn detail(&self, what: &str, message: &str) {
        if VERBOSE.load(Ordering::Relaxed) && !self.quiet {
            self.line(&format!("{DIM}{what:>12} {message}{DIM:#}"));
        }
    }

    pub fn warn(&self, message: &str) {
        emit("warning", json!({ "message": message }));
        self.line(&format!("{YELLOW}warning{YELLOW:#}: {message}"));
    }

    /// Shows `label` as running until [`Ui::finish`] is called with its report(s).
    pub fn start(&self, label: &str) -> Running {
        emit("stage-started", json!({ "unit": label }));
        if !self.spinners {
            return Running { bar: None };
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}").expect("valid template"));
        bar.set_message(format!("{label:>12}"));
        bar.tick();
        bar.enable_steady_tick(Duration::from_millis(100));
        Running { bar: Some(bar) }
    }

    pub fn finish(&self, running: Running, reports: &[&StageReport]) {
        if let Some(bar) = running.bar {
            bar.finish_and_clear();
        }
        for report in reports {
            if report.status == StageStatus::Cached {
                emit("cache-hit", json!({ "unit": label(report), "sha256": report.sha256_out }));
            }
            emit(
                "stage-finished",
                json!({
                    "unit": label(report),
                    "stage": report.stage,
                    "status": report.status,
                    "bytes_in": report.bytes_in,
                    "bytes_out": report.bytes_out,
                    "millis": report.millis,
                    "notes": report.notes,
                }),
            );
            self.status(&label(report), &summary(report));
        }
    }

    /// One line per package of a workspace build.
    pub fn summary(&self, rows: &[(String, Result<String, String>)]) {
        if self.quiet {
            return;
        }
        eprintln!();
        for (package, result) in rows {
            match result {
                Ok(what) => self.status("Built", &format!("{package}: {what}")),
                Err(why) => self.line(&format!("{RED}{:>12}{RED:#} {package}: {why}", "Failed")),
            }
        }
    }

    /// The table printed at the end: stage, bytes, change, time.
    pub fn table(&self, reports: &[StageReport]) {
        if self.quiet {
            return;
        }
        eprintln!();
        eprintln!("  {:<12} {:>11} {:>9} {:>9}  {}", "stage", "bytes", "change", "time", "notes");
        for report in reports {
            let (change, time) = match report.status {
                StageStatus::Skipped => ("skipped".to_string(), "-".to_string()),
                StageStatus::Cached => (change(report), "cached".to_string()),
                StageStatus::Ran => (change(report), human_ms(report.millis)),
            };
            let notes = match report.init_millis {
                Some(ms) => format!("{}; init + snapshot {}", report.notes.join("; "), human_ms(ms)),
                None => report.notes.join("; "),
            };
            eprintln!(
                "  {:<12} {:>11} {:>9} {:>9}  {}",
                report.stage.name(),
                human_bytes(report.bytes_out),
                change,
                time,
                notes
            );
        }
    }
}

/// The stage name; precompile and compress rows add their target or encoding.
fn label(report: &StageReport) -> String {
    let detail = match report.stage {
        crate::stages::Stage::Precompile => report.settings["target"].as_str().map(|triple| {
            crate::stages::precompile::target_label(triple, report.settings["cpu-level"].as_str().unwrap_or("baseline"))
        }),
        crate::stages::Stage::Compress => report.settings["encoding"].as_str().map(str::to_string),
        _ => None,
    };
    match detail {
        Some(detail) => format!("{} {detail}", report.stage.name()),
        None => report.stage.name().to_string(),
    }
}

fn summary(report: &StageReport) -> String {
    match report.status {
        StageStatus::Skipped => format!("skipped: {}", report.notes.join("; ")),
        StageStatus::Cached => format!("cached: {} -> {}", human_bytes(report.bytes_in), human_bytes(report.bytes_out)),
        StageStatus::Ran => {
            let notes =
                if report.notes.is_empty() { String::new() } else { format!("  ({})", report.notes.join("; ")) };
            format!(
                "{} -> {} in {}{notes}",
                human_bytes(report.bytes_in),
                human_bytes(report.bytes_out),
                human_ms(report.millis)
            )
        }
    }
}

/// Size change relative to the stage's input; `-` for stages without one (build) or whose
/// output is a different kind of thing (precompile, package).
fn change(report: &StageReport) -> String {
    use crate::stages::Stage;
    if report.bytes_in == 0 || matches!(report.stage, Stage::Precompile | Stage::Package) {
        return "-".into();
    }
    growth(report.bytes_in, report.bytes_out, 1)
}

/// `after` against `before`: a signed percentage, or `Nx` once it is ten times or more
/// (pre-init of a data-heavy guest can grow a 23 KiB module to megabytes).
pub fn growth(before: u64, after: u64, decimals: usize) -> String {
    let ratio = after as f64 / before as f64;
    if ratio >= 10.0 {
        format!("{ratio:.0}x")
    } else {
        format!("{:+.decimals$}%", (ratio - 1.0) * 100.0)
    }
}

pub fn human_ms(millis: f64) -> String {
    if millis >= 1000.0 {
        format!("{:.2} s", millis / 1000.0)
    } else if millis >= 10.0 {
        format!("{millis:.0} ms")
    } else if millis >= 1.0 {
        format!("{millis:.2} ms")
    } else {
        format!("{:.0} µs", millis * 1000.0)
    }
}

pub fn human_bytes(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    use super::growth;

    #[test]
    fn growth_is_a_percentage_until_it_is_ten_times() {
        assert_eq!(growth(1000, 1650, 1), "+65.0%");
        assert_eq!(growth(1000, 500, 0), "-50%");
        assert_eq!(growth(1000, 9990, 0), "+899%");
        assert_eq!(growth(23, 6_900, 1), "300x");
    }
}
