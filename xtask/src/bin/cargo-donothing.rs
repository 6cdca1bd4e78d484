//! The benchmark's floor for a no-op: a cargo subcommand that does nothing but run the cargo
//! build `cargo wasmship build` runs (same arguments, same rustc beside `$CARGO`), so the
//! no-op's ratio to it is what the tool itself adds.
//!
//!     cargo-donothing --manifest-path GUEST/Cargo.toml --target TRIPLE [cargo args...]
use std::process::{Command, ExitCode, Stdio};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(&cargo);
    command.args(["build", "--lib", "--profile", "release", "--message-format=json-render-diagnostics", "--quiet"]);
    command.args(&args);
    let rustc = std::path::Path::new(&cargo).with_file_name("rustc");
    if rustc.is_file() {
        command.env("RUSTC", rustc);
    }
    // Read cargo's messages to the end, as the tool does.
    let output = command.stdout(Stdio::piped()).output();
    match output {
        Ok(output) if output.status.success() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
