//! Error messages for a failed pre-init: which bound stopped it and how to raise it, the
//! trap and the guest's wasm backtrace, or the exports that look like init.
use super::sandbox::Bound;
use super::PreinitConfig;
use crate::ui::human_bytes;
use crate::wasm::ModuleFacts;
use std::fmt::Write as _;

pub fn explain_failure(
    init_func: &str,
    error: wasmtime::Error,
    bound: Option<Bound>,
    captured: &str,
    config: &PreinitConfig,
) -> String {
    let mut message = match bound {
        Some(Bound::Timeout) => format!(
            "init `{init_func}` did not finish within {:?} and was stopped (preinit stage)\n  \
             help: if init is just slow, raise the bound: `init-timeout = \"{}s\"` (or --set init-timeout=...)",
            config.sandbox.timeout,
            (config.sandbox.timeout.as_secs() * 4).max(1)
        ),
        Some(Bound::BlockedInHostCall) => format!(
            "init `{init_func}` did not finish within {:?} and was stopped: it was blocked in a host call \
             (a WASI sleep, or a read that never returns) (preinit stage)\n  \
             help: init must not wait on pipes, sockets or timers; if it is just slow, raise \
             `init-timeout`",
            config.sandbox.timeout
        ),
        Some(Bound::Memory { requested }) => {
            let (mut wanted, mut cap) = (human_bytes(requested), human_bytes(config.sandbox.max_memory));
            if wanted == cap {
                // One page over the cap rounds to the same figure: show the bytes.
                (wanted, cap) = (format!("{requested} bytes"), format!("{} bytes", config.sandbox.max_memory));
            }
            let suggested = (requested.next_power_of_two()).max(config.sandbox.max_memory * 2);
            format!(
                "init `{init_func}` tried to grow linear memory to {wanted} but the cap is {cap} (all its memories \
                 and tables together) (preinit stage)\n  \
                 help: if init really needs that much, raise the bound: `init-max-memory = \"{}\"`",
                human_bytes(suggested).replace(' ', "")
            )
        }
        None => {
            // A trap names itself; a refused host call carries our message naming the import.
            let headline = match error.downcast_ref::<wasmtime::Trap>() {
                Some(_) if rust_panic(captured).is_some() => {
                    let (message, location) = rust_panic(captured).expect("checked");
                    format!("init `{init_func}` panicked: {message} (preinit stage)\n  at {location} in the guest")
                }
                Some(trap) => {
                    let trap = trap.to_string();
                    format!("init `{init_func}` trapped: {} (preinit stage)", trap.trim_start_matches("wasm trap: "))
                }
                None => format!("{} (preinit stage)", error.root_cause()),
            };
            let mut text = format!("{headline}\n{}", describe_trap(&error));
            if config.sandbox.wasi.is_none() && captured.trim().is_empty() && panicked(&error) {
                // Without WASI a Rust panic prints nothing, and the usual cause is std I/O,
                // which wasm32-unknown-unknown compiles but fails at run time.
                text.push_str(
                    "\n  help: without WASI the panic message is lost, and std::fs, std::env and the clocks \
                     fail at run time; if init reads files, env vars or the time, build for WASI and grant \
                     them: `target = \"wasm32-wasip1\"`, `allow-wasi = true`, `dirs = [\"data\"]`, `env = { .. }`",
                );
            }
            text
        }
    };
    let captured = captured.trim_end();
    if !captured.is_empty() {
        let tail: Vec<&str> = captured.lines().rev().take(15).collect();
        message.push_str("\n  init's output (last lines):");
        for line in tail.iter().rev() {
            let _ = write!(message, "\n    | {line}");
        }
    }
    message
}

/// The error's own messages and the guest's wasm backtrace, without the host's Rust stack.
fn describe_trap(error: &wasmtime::Error) -> String {
    let mut text = String::new();
    let Some(backtrace) = error.downcast_ref::<wasmtime::WasmBacktrace>() else {
        return text;
    };
    if panicked(error) {
        text.push_str(
            "  the guest panicked (a Rust panic in wasm ends in an `unreachable` trap); \
             the frames below show where",
        );
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str("  wasm backtrace:");
    for (i, frame) in backtrace.frames().iter().take(16).enumerate() {
        let name = frame.func_name().map(|n| format!("{:#}", rustc_demangle::demangle(n)));
        let shown: String = name.as_deref().unwrap_or("<unnamed>").chars().take(110).collect();
        let offset = frame.module_offset().map(|o| format!("{o:#x}")).unwrap_or_default();
        let _ = write!(text, "\n    {i:>2}: {offset:>9} {shown}");
    }
    if backtrace.frames().len() > 16 {
        let _ = write!(text, "\n    ... {} more frames", backtrace.frames().len() - 16);
    }
    text
}

/// Whether the guest's backtrace runs through Rust's panic machinery.
fn panicked(error: &wasmtime::Error) -> bool {
    error.downcast_ref::<wasmtime::WasmBacktrace>().is_some_and(|backtrace| {
        backtrace
            .frames()
            .iter()
            .filter_map(|f| f.func_name())
            .any(|n| n.contains("rust_panic") || n.contains("__rust_start_panic"))
    })
}

/// The error for a missing init export, listing the exports that look like init.
pub fn missing_init(facts: &ModuleFacts, headline: &str) -> String {
    let looks_like_init: Vec<&str> = facts
        .func_exports()
        .filter(|name| {
            let lower = name.to_ascii_lowercase();
            ["init", "setup", "start", "wizer", "boot", "load"].iter().any(|w| lower.contains(w))
        })
        .collect();
    let mut message = format!("{headline} (preinit stage)");
    if looks_like_init.is_empty() {
        let all: Vec<&str> = facts.func_exports().take(12).collect();
        let _ = write!(message, "\n  no export looks like init; function exports: {}", all.join(", "));
    } else {
        let _ = write!(message, "\n  exports that look like init: {}", looks_like_init.join(", "));
    }
    message.push_str(
        "\n  help: export one from the guest, e.g.\n      #[export_name = \"wizer.initialize\"]\n      \
         pub extern \"C\" fn init() { ... }\n    or name yours with `init-func = \"...\"`, or set `preinit = false`",
    );
    message
}

/// The message and source location of a Rust panic report in init's output:
/// `thread '<name>' (1) panicked at src/lib.rs:25:9:` followed by the message line.
fn rust_panic(output: &str) -> Option<(String, String)> {
    let mut lines = output.lines();
    let report = lines.by_ref().rev().find(|line| line.starts_with("thread '") && line.contains(" panicked at "))?;
    let location = report.split(" panicked at ").nth(1)?.trim_end_matches(':').to_string();
    let message = output.lines().skip_while(|l| *l != report).nth(1)?.trim().to_string();
    Some((message, location))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_last_panic_report() {
        let output = "log\nthread '<unnamed>' (1) panicked at src/lib.rs:25:9:\nconfig missing\nnote: run with ...\n";
        assert_eq!(super::rust_panic(output), Some(("config missing".into(), "src/lib.rs:25:9".into())));
        assert_eq!(super::rust_panic("no panic here"), None);
    }
}
