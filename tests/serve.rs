//! `cargo wasmship serve` at the HTTP level: the Accept-Encoding matrix, ETags and 304s,
//! and the same answers from nginx and Caddy running the generated deploy files (each peer
//! test runs where the server is installed, `.ci/run` installs Debian's, and says when not).
mod common;

use common::Fixture;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The regex fixture built once with every deploy file.
fn output() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-output");
        let status = common::wasmship()
            .args(["build", "-q", "--no-precompile", "--set", "deploy=[\"nginx\", \"caddy\", \"headers\", \"s3\"]"])
            .arg("--manifest-path")
            .arg(Fixture::Regex.manifest())
            .arg("--out-dir")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        out
    })
}

fn manifest() -> cargo_wasmship::manifest::Manifest {
    cargo_wasmship::manifest::Manifest::read(&output().join("manifest.json")).unwrap()
}

fn wasm_path() -> String {
    format!("/{}", manifest().shipped_wasm().unwrap().file.trim_start_matches("web/"))
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cargo wasmship serve` on a free port, and its address.
fn serve() -> (common::Serving, String) {
    let server = common::Serving::start(output(), &[]);
    let address = server.address();
    (server, address)
}

struct HttpResponse {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// One HTTP/1.1 request with `Connection: close` (nginx compresses only for 1.1), raw.
fn request(address: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut stream = TcpStream::connect(address).unwrap();
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpResponse { status, headers, body: raw[split + 4..].to_vec() }
}

fn decoded(response: &HttpResponse) -> Vec<u8> {
    let mut out = Vec::new();
    match response.headers.get("content-encoding").map(String::as_str) {
        Some("br") => brotli::Decompressor::new(&response.body[..], 4096).read_to_end(&mut out).unwrap(),
        Some("gzip") => flate2::read::GzDecoder::new(&response.body[..]).read_to_end(&mut out).unwrap(),
        None => return response.body.clone(),
        Some(other) => panic!("unexpected encoding {other}"),
    };
    out
}

/// (Accept-Encoding, the coding a server must send) where RFC 9110 leaves no choice.
const CLEAR_CASES: &[(Option<&str>, Option<&str>)] = &[
    (None, None),
    (Some("gzip, deflate, br, zstd"), Some("br")),
    (Some("gzip"), Some("gzip")),
    (Some("br"), Some("br")),
    (Some("br;q=0, gzip"), Some("gzip")),
    (Some("deflate"), None),
    (Some("identity"), None),
];

#[test]
fn serve_negotiates_every_case_and_sends_the_module_it_names() {
    let (_server, address) = serve();
    let path = wasm_path();
    let wasm = std::fs::read(output().join(&manifest().shipped_wasm().unwrap().file)).unwrap();
    let extra: &[(Option<&str>, Option<&str>)] =
        &[(Some("gzip;q=0.5, br;q=0.4"), Some("gzip")), (Some("*"), Some("br")), (Some(""), None)];
    for (accept, expected) in CLEAR_CASES.iter().chain(extra) {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
        let response = request(&address, "GET", &path, &headers);
        assert_eq!(response.status, 200, "{accept:?}");
        assert_eq!(response.headers.get("content-encoding").map(String::as_str), *expected, "{accept:?}");
        assert_eq!(response.headers["content-type"], "application/wasm");
        assert_eq!(response.headers["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(response.headers["vary"], "Accept-Encoding");
        assert_eq!(response.headers["etag"], format!("\"{}\"", cargo_wasmship::digest::sha256_hex(&response.body)));
        assert!(decoded(&response) == wasm, "{accept:?}: the body decodes to the shipped module");
    }
    let refused = request(&address, "GET", &path, &[("Accept-Encoding", "identity;q=0")]);
    assert_eq!(refused.status, 406);
}

#[test]
fn serve_answers_304_head_404_and_no_cache_where_the_deploy_files_say() {
    let (_server, address) = serve();
    let path = wasm_path();
    let first = request(&address, "GET", &path, &[("Accept-Encoding", "br")]);
    let etag = first.headers["etag"].clone();
    let again = request(&address, "GET", &path, &[("Accept-Encoding", "br"), ("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.headers["etag"], etag);
    // Another representation's tag does not match: the gzip body is a different entity.
    let other = request(&address, "GET", &path, &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)]);
    assert_eq!(other.status, 200);
    let head = request(&address, "HEAD", &path, &[("Accept-Encoding", "br")]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.headers["content-length"], first.body.len().to_string());
    let loader = request(&address, "GET", "/regex_guest.loader.js", &[]);
    assert_eq!((loader.status, loader.headers["cache-control"].as_str()), (200, "no-cache"));
    let page = request(&address, "GET", "/", &[]);
    assert_eq!((page.status, page.headers["cache-control"].as_str()), (200, "no-cache"));
    assert!(String::from_utf8_lossy(&page.body).contains("regex_guest.loader.js"));
    for hidden in ["/manifest.json", "/regex_guest.debug.wasm", "/_headers", "/../manifest.json"] {
        assert_eq!(request(&address, "GET", hidden, &[]).status, 404, "{hidden} is not on the web");
    }
    assert_eq!(request(&address, "POST", &path, &[]).status, 405);
}

/// The headers a peer server and `serve` must agree on for one request.
fn agreed(response: &HttpResponse) -> (u16, Option<String>, String, String, bool) {
    (
        response.status,
        response.headers.get("content-encoding").cloned(),
        response.headers.get("content-type").cloned().unwrap_or_default(),
        response.headers.get("cache-control").cloned().unwrap_or_default(),
        response.headers.get("vary").is_some_and(|v| v.contains("Accept-Encoding")),
    )
}

/// Runs the clear cases and the loader against `peer` and `serve`; they must answer alike.
fn compare_with_serve(peer: &str) {
    let (_server, ours) = serve();
    let path = wasm_path();
    for (accept, expected) in CLEAR_CASES {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
        let theirs = request(peer, "GET", &path, &headers);
        let mine = request(&ours, "GET", &path, &headers);
        assert_eq!(theirs.headers.get("content-encoding").map(String::as_str), *expected, "peer, {accept:?}");
        let (t, m) = (agreed(&theirs), agreed(&mine));
        // Vary is only required when a coding was chosen; nginx leaves it off for identity.
        assert_eq!((t.0, t.1, t.2, t.3), (m.0, m.1, m.2, m.3), "{accept:?}");
        if expected.is_some() {
            assert!(t.4 && m.4, "{accept:?}: Vary");
        }
    }
    let (theirs, mine) =
        (request(peer, "GET", "/regex_guest.loader.js", &[]), request(&ours, "GET", "/regex_guest.loader.js", &[]));
    assert_eq!(agreed(&theirs).3, agreed(&mine).3, "the loader's Cache-Control");
}

/// Starts a peer server on a port it binds itself. A port found free can be taken by another
/// process before the server binds it: a server that exits (its bind failed) is started again
/// on another port, and whatever answers must name itself `server` in its `Server` header.
fn start_peer(server: &str, spawn: impl Fn(u16) -> Child) -> (Running, String) {
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut running = Running(spawn(port));
        let address = format!("127.0.0.1:{port}");
        if listening(&address, &mut running.0) {
            let head = request(&address, "HEAD", "/", &[]);
            let name = head.headers.get("server").cloned().unwrap_or_default();
            assert!(name.to_ascii_lowercase().contains(server), "{address} is not {server}: Server: {name:?}");
            return (running, address);
        }
    }
    panic!("{server} exited on start five times (see its log)");
}

/// True once `address` accepts connections; false when `child` exited first.
fn listening(address: &str, child: &mut Child) -> bool {
    for _ in 0..200 {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if TcpStream::connect(address).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nothing listens on {address} after 10 s");
}

#[test]
fn nginx_with_the_generated_snippet_answers_like_serve() {
    // `NGINX` names another nginx binary, as `CHROMIUM` does for the browser tests.
    let nginx = std::path::PathBuf::from(std::env::var("NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into()));
    let brotli = Path::new("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so");
    if !nginx.exists() || !brotli.exists() {
        let why = "nginx with ngx_brotli is not installed (.ci/run installs Debian's nginx and libnginx-mod-http-brotli-static)";
        common::peers::skip("nginx on deploy/nginx.conf", why, common::peers::Source::CiInstalls);
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let config = |port: u16| {
        format!(
        "load_module {};\ndaemon off;\nmaster_process off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\nevents {{}}\n\
         http {{\n  access_log off;\n  client_body_temp_path {dir};\n  proxy_temp_path {dir};\n  fastcgi_temp_path {dir};\n  \
         uwsgi_temp_path {dir};\n  scgi_temp_path {dir};\n  server {{\n    listen 127.0.0.1:{port};\n    root {web};\n    \
         include {snippet};\n  }}\n}}\n",
        brotli.display(),
        dir = scratch.path().display(),
        web = output().join("web").display(),
        snippet = output().join("deploy/nginx.conf").display(),
    )
    };
    let conf = scratch.path().join("nginx.conf");
    std::fs::write(&conf, config(1)).unwrap();
    let tested = Command::new(&nginx).arg("-t").arg("-c").arg(&conf).arg("-p").arg(scratch.path()).output().unwrap();
    assert!(tested.status.success(), "nginx -t: {}", String::from_utf8_lossy(&tested.stderr));
    let (_nginx, address) = start_peer("nginx", |port| {
        std::fs::write(&conf, config(port)).unwrap();
        Command::new(&nginx).arg("-c").arg(&conf).arg("-p").arg(scratch.path()).stderr(Stdio::null()).spawn().unwrap()
    });
    compare_with_serve(&address);
}

#[test]
fn caddy_with_the_generated_caddyfile_answers_like_serve() {
    if common::peers::program("caddy", "version", "Caddy on deploy/Caddyfile").is_none() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let (_caddy, address) = start_peer("caddy", |port| {
        // The admin endpoint needs a port too; it is given `port + 1` and, taken, fails the
        // start like the site port would, and another pair is tried.
        let admin = port.wrapping_add(1);
        let address = format!("127.0.0.1:{port}");
        Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(output().join("deploy/Caddyfile"))
            .env("SITE_ADDRESS", format!("http://{address}"))
            .env("WEB_ROOT", output().join("web"))
            .env("CADDY_ADMIN", format!("127.0.0.1:{admin}"))
            .env("HOME", scratch.path())
            .env("XDG_DATA_HOME", scratch.path())
            .env("XDG_CONFIG_HOME", scratch.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    });
    compare_with_serve(&address);
}
