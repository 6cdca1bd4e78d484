//! `cargo wasmship`: one command from a Rust guest crate to production WebAssembly.
use cargo_wasmship::cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Run as `cargo wasmship ...`, cargo passes `wasmship` as the first argument.
    if args.get(1).is_some_and(|a| a == "wasmship") {
        args.remove(1);
    }
    cargo_wasmship::ui::init_color(None);
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            report(&failure.error);
            let message = format!("{:#}", failure.error);
            cargo_wasmship::ui::emit("error", serde_json::json!({ "message": message, "exit_code": failure.code() }));
            ExitCode::from(failure.code())
        }
    }
}

/// Prints an error and its causes, one per line, the way cargo does.
fn report(error: &anyhow::Error) {
    let red = cargo_wasmship::ui::RED;
    anstream::eprintln!("{red}error{red:#}: {error}");
    for cause in error.chain().skip(1) {
        anstream::eprintln!("\nCaused by:\n  {}", cause.to_string().replace('\n', "\n  "));
    }
}
