//! The pre-compressed copies as their readers take them: a brotli stream made in parts side by
//! side, decoded by the `brotli` CLI and by Chromium; a zstd copy negotiated by `serve` and
//! Caddy alike; a zopfli gzip decoded as gzip.
mod common;

use cargo_wasmship::manifest::Manifest;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn big_guest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/big-guest/Cargo.toml")
}

/// The big guest (a 6 MiB snapshot) with brotli in 3 parts (at a quick quality: the parts
/// are what is tested), zstd, zopfli gzip, and every deploy file.
fn output() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compress-output");
        let status = common::wasmship()
            .args(["build", "-q", "--no-precompile", "--manifest-path"])
            .arg(big_guest())
            .arg("--out-dir")
            .arg(&out)
            .args([
                "--set",
                "brotli-parts=3",
                "--set",
                "brotli-quality=5",
                "--set",
                "compress=[\"br\", \"zst\", \"gz\"]",
            ])
            .args(["--set", "gzip-zopfli=true", "--set", "deploy=[\"caddy\", \"headers\", \"s3\", \"nginx\"]"])
            .status()
            .unwrap();
        assert!(status.success());
        out
    })
}

fn manifest() -> Manifest {
    Manifest::read(&output().join("manifest.json")).unwrap()
}

fn variant(encoding: &str) -> PathBuf {
    let manifest = manifest();
    let artifact = manifest.artifacts.iter().find(|a| a.content_encoding.as_deref() == Some(encoding)).unwrap();
    output().join(&artifact.file)
}

#[test]
fn the_brotli_cli_decodes_the_stream_made_in_parts() {
    let manifest = manifest();
    let compress = manifest.stages.iter().find(|s| s.notes.iter().any(|n| n.contains("in 3 parts"))).expect("3 parts");
    assert!(compress.bytes_in >= 3 << 20, "{compress:?}");
    let Some(brotli) = common::peers::program("brotli", "--version", "the brotli CLI on a stream made in parts") else {
        return;
    };
    let decoded = Command::new(brotli).arg("-d").arg("-c").arg(variant("br")).output().unwrap();
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let wasm = std::fs::read(output().join(&manifest.shipped_wasm().unwrap().file)).unwrap();
    assert!(decoded.stdout == wasm, "brotli -d gives the shipped module");
    assert!(
        common::wasmship().arg("verify").arg(output()).status().unwrap().success(),
        "verify decodes .br, .zst, .gz"
    );
}

#[test]
fn chromium_loads_the_module_from_the_stream_made_in_parts() {
    let Some(chromium) = common::peers::chromium("Chromium on a brotli stream made in parts") else { return };
    let server = common::Serving::start(output(), &["--call", "lookup(5)"]);
    let seen = common::peers::check_demo_page(&chromium, &server.url, "parts");
    assert_eq!(seen["wasm"]["headers"]["content-encoding"], "br", "{seen}");
    // lookup(5) as the guest computes it: record (5 * 2654435761 >> 7) % 4093, and so on.
    let record = (5u64.wrapping_mul(2654435761) >> 7) % 4093;
    let expected = (record << 40) | ((record * 31 % 97) << 20) | 5;
    assert_eq!(seen["first"]["state"], "ok", "{seen}");
    assert_eq!(seen["first"]["text"], expected.to_string());
}

#[test]
fn zstd_is_negotiated_by_serve_as_by_caddy_and_named_in_every_deploy_file() {
    let manifest = manifest();
    let wasm = manifest.shipped_wasm().unwrap();
    let path = format!("/{}", wasm.file.trim_start_matches("web/"));
    for (file, expected) in [
        ("deploy/Caddyfile", "precompressed br zstd gzip"),
        ("web/_headers", "Content-Encoding: zstd"),
        ("deploy/s3-objects.json", "\"content_encoding\": \"zstd\""),
        ("deploy/nginx.conf", "# zstd_static on;"),
    ] {
        let text = std::fs::read_to_string(output().join(file)).unwrap();
        assert!(text.contains(expected), "{file} lacks {expected:?}:\n{text}");
    }
    let cases = [("zstd", "zstd"), ("gzip, zstd", "zstd"), ("br, zstd, gzip", "br"), ("gzip", "gzip")];
    let server = common::Serving::start(output(), &[]);
    let ours = server.address();
    for (accept, expected) in cases {
        assert_eq!(encoding_of(&ours, &path, accept), expected, "serve, Accept-Encoding: {accept}");
    }
    let Some(_caddy) = common::peers::program("caddy", "version", "Caddy on a zstd variant") else { return };
    let scratch = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let mut caddy = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(output().join("deploy/Caddyfile"))
        .env("SITE_ADDRESS", format!("http://{address}"))
        .env("WEB_ROOT", output().join("web"))
        .env("CADDY_ADMIN", "off")
        .env("HOME", scratch.path())
        .env("XDG_DATA_HOME", scratch.path())
        .env("XDG_CONFIG_HOME", scratch.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(&address).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if up {
        for (accept, expected) in cases {
            assert_eq!(encoding_of(&address, &path, accept), expected, "Caddy, Accept-Encoding: {accept}");
        }
    }
    let _ = caddy.kill();
    let _ = caddy.wait();
    assert!(up, "caddy listened on {address}");
}

/// The `Content-Encoding` of a GET of `path` with `accept` (`identity` when none).
fn encoding_of(address: &str, path: &str, accept: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "HEAD {path} HTTP/1.1\r\nHost: {address}\r\nAccept-Encoding: {accept}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    raw.lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-encoding:").map(|v| v.trim().to_string()))
        .unwrap_or_else(|| "identity".into())
}
