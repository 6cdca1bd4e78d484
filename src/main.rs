//! `cargo wasmship`: one command from a Rust guest crate to production WebAssembly.
use cargo_wasmship::cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Run as `cargo wasmship ...`, cargo passes `wasmship` as the first argument.
    if args.get(1).is_some_and(|a| a == "wasmship") {
        args.remove(1);
    }
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::FAILURE
        }
    }
}

/// Prints an error and its causes, one per line, the way cargo does.
fn report(error: &anyhow::Error) {
    use std::io::IsTerminal;
    let red = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let label = if red { "\x1b[1;31merror\x1b[0m" } else { "error" };
    eprintln!("{label}: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("\nCaused by:\n  {}", cause.to_string().replace('\n', "\n  "));
    }
}
