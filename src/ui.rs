//! What the user sees on stderr: cargo-style status lines, a spinner per running stage on a
//! terminal (plain lines otherwise), and the stage table at the end; with -q only warnings and errors.
use crate::stages::{StageReport, StageStatus};
use anstyle::{AnsiColor, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

const GREEN: Style = AnsiColor::Green.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
pub const RED: Style = AnsiColor::Red.on_default().bold();

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

    pub fn warn(&self, message: &str) {
        self.line(&format!("{YELLOW}warning{YELLOW:#}: {message}"));
    }

    /// Shows `label` as running until [`Ui::finish`] is called with its report(s).
    pub fn start(&self, label: &str) -> Running {
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
            self.status(&label(report), &summary(report));
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
        crate::stages::Stage::Precompile => {
            report.settings["target"].as_str().map(|triple| match report.settings["cpu-level"].as_str() {
                Some(level) if level != "baseline" => format!("{triple} {level}"),
                _ => triple.to_string(),
            })
        }
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
    let ratio = report.bytes_out as f64 / report.bytes_in as f64 - 1.0;
    format!("{:+.1}%", ratio * 100.0)
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
