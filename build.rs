//! Records what this binary is built from: the exact wasmtime and binaryen versions (from
//! Cargo.lock) for the manifest, so they are read, not hard-coded; and the build identity
//! (a digest of the tool's own sources) that keys the stage cache.
#[allow(dead_code)]
#[path = "src/build_identity.rs"]
mod build_identity;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = std::path::Path::new(&dir);
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let wasmtime = locked_version(&lock, "wasmtime").unwrap_or_else(|| "unknown".into());
    // The wasm-opt crate's minor version is the binaryen release it bundles (0.116.x = 116).
    let binaryen = locked_version(&lock, "wasm-opt")
        .and_then(|v| v.split('.').nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=WASMSHIP_WASMTIME_VERSION={wasmtime}");
    println!("cargo:rustc-env=WASMSHIP_BINARYEN_VERSION={binaryen}");
    let host = std::env::var("TARGET").expect("cargo sets TARGET for build scripts");
    println!("cargo:rustc-env=WASMSHIP_HOST_TRIPLE={host}");

    let id = build_identity::compute(root).expect("reading the tool's sources");
    println!("cargo:rustc-env=WASMSHIP_BUILD_ID={id}");
    // Directories are watched recursively: any edit under them re-runs this script.
    for input in build_identity::INPUTS {
        println!("cargo:rerun-if-changed={input}");
    }
}

fn locked_version(lock: &str, name: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{name}\"") {
            let version = lines.next()?.trim().strip_prefix("version = \"")?.strip_suffix('"')?;
            return Some(version.to_string());
        }
    }
    None
}
