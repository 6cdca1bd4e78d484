//! `cargo wasmship serve [DIR]`: a local server for a build's `web/` files, on 127.0.0.1,
//! answering exactly as the deploy files say (`stages::package::web::served`): the media
//! type, `Cache-Control`, `br` > `gzip` > identity by `Accept-Encoding`, `Vary`, an ETag per
//! representation and 304 on `If-None-Match`. At the web path's root, a demo page loads the
//! guest with the generated loader and shows one call's result.
mod negotiate;

use crate::manifest::{ArtifactKind, Manifest};
use crate::stages::package::web::{self, Served, REVALIDATE};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;
use tiny_http::{Header, Method, Request, Response, Server};

const DEMO_TEMPLATE: &str = include_str!("../../templates/web/demo.html");
/// A wasm-bindgen guest's demo page: the loader initializes the glue, the page calls it.
const BINDGEN_DEMO_TEMPLATE: &str = include_str!("../../templates/web/demo-bindgen.html");
/// The page of a guest a browser page cannot call here (a component, glue for Node or a
/// bundler): what it is, and where its files are.
const FILES_TEMPLATE: &str = include_str!("../../templates/web/files.html");

pub struct ServeOptions {
    pub port: u16,
    /// `export(args)` the demo page calls, e.g. `verdict("https://example.com/")`.
    pub call: Option<String>,
}

/// What the server answers: every URL's representations, in memory.
struct Site {
    /// URL path -> what to send.
    files: HashMap<String, Entry>,
    demo_paths: [String; 2],
    demo: Body,
}

struct Entry {
    served: Served,
    /// Content-Encoding token (or "" for identity) -> what is sent.
    bodies: HashMap<String, Body>,
}

/// One representation's bytes and its ETag, computed once at start-up. Each representation
/// has its own tag: the br and gzip bytes are different entities.
struct Body {
    bytes: Vec<u8>,
    etag: String,
}

impl Body {
    fn new(bytes: Vec<u8>) -> Body {
        let etag = format!("\"{}\"", crate::digest::sha256_hex(&bytes));
        Body { bytes, etag }
    }
}

/// Serves `dir` (an output directory or its manifest.json) until the process is stopped.
/// Prints the URL on stdout, one request per line on stderr.
pub fn run(dir: &Path, options: &ServeOptions) -> Result<()> {
    let manifest_path = super::verify::manifest_path(dir);
    let (manifest, problems) = super::verify::check(&manifest_path)?;
    if let Some(problem) = problems.first() {
        bail!(
            "{} has {} problem(s), first: {problem}; not serving it\n  help: run `cargo wasmship verify {}`",
            manifest_path.display(),
            problems.len(),
            dir.display()
        );
    }
    let root = manifest_path.parent().unwrap_or(Path::new("."));
    let site = load(&manifest, root, options)?;
    let server = Server::http(("127.0.0.1", options.port))
        .map_err(|e| anyhow::anyhow!("listening on 127.0.0.1:{}: {e}", options.port))?;
    let address = server.server_addr().to_ip().context("the server has no IP address")?;
    println!("http://{address}{}", site.demo_paths[0]);
    eprintln!("     Serving {}/web at http://{address}{} (Ctrl-C stops)", root.display(), site.demo_paths[0]);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while let Ok(request) = server.recv() {
                    answer(&site, request);
                }
            });
        }
    });
    Ok(())
}

fn load(manifest: &Manifest, root: &Path, options: &ServeOptions) -> Result<Site> {
    // A manifest is input: its web path goes into URLs and the page's script, so it must
    // be a plain path on this server (never `//other.host/`).
    let web_path = manifest.profile.settings["web-path"].as_str().unwrap_or("/").to_string();
    wasmship_manifest::check_web_path(&web_path).map_err(|why| anyhow::anyhow!("the manifest's web-path: {why}"))?;
    let mut files = HashMap::new();
    for served in web::served(manifest, &web_path) {
        sendable(&served)?;
        let read = |file: &str| {
            wasmship_manifest::files::read_regular(&root.join(file), wasmship_manifest::MAX_ARTIFACT_BYTES)
                .map(Body::new)
                .with_context(|| format!("reading {file}"))
        };
        let mut bodies = HashMap::from([(String::new(), read(&served.file)?)]);
        for (encoding, file, _) in &served.variants {
            bodies.insert(encoding.clone(), read(file)?);
        }
        files.insert(served.path.clone(), Entry { served, bodies });
    }
    let wasm = manifest.shipped_wasm().context("the manifest lists no shipped .wasm")?;
    let path_of = |file: &str| web::url_path(&web_path, file);
    // Text from the manifest goes into HTML escaped: a manifest is input.
    let common = [
        ("crate", html_escape(&manifest.package.name)),
        ("crate_version", html_escape(&manifest.package.version)),
        ("wasm_path", html_escape(&path_of(&wasm.file))),
        ("wasm_bytes", wasm.bytes.to_string()),
        ("integrity", html_escape(&wasm.integrity)),
    ];
    // The glue's entry file: `<name>.js` beside the module (snippets sit in a directory).
    let glue = manifest
        .artifacts
        .iter()
        .find(|a| a.kind == ArtifactKind::BindgenGlue && a.name.ends_with(".js") && !a.name.contains('/'));
    let loader = manifest.artifacts.iter().find(|a| a.kind == ArtifactKind::WebLoader);
    let about = if manifest.is_component() {
        Some(
            "A WebAssembly component (wasm32-wasip2). Browsers do not run components directly, so this page has \
             no demo call: hosts load the <code>.cwasm</code> with <code>wasmship-host</code> \
             (<code>Shipped::load_component</code>), and <code>cargo wasmship report --call</code> times a call."
                .to_string(),
        )
    } else if let (Some(glue), None) = (glue, loader) {
        Some(format!(
            "A wasm-bindgen guest whose glue (<code>{}</code>) was made for a bundler, Node.js or Deno, not for \
             this page: import the glue there. <code>bindgen-target = \"web\"</code> makes glue this page runs.",
            html_escape(&path_of(&glue.file))
        ))
    } else {
        None
    };
    let demo = match about {
        Some(about) => {
            if let Some(call) = &options.call {
                anyhow::bail!(
                    "--call {call}: {} cannot be called from this page (see the page for why)\n  \
                     help: time the call with `cargo wasmship report --call '{call}'`",
                    manifest.package.name
                );
            }
            let mut values = common.to_vec();
            values.push(("about", about));
            crate::stages::package::bindings::render(FILES_TEMPLATE, &values)
        }
        None => demo_page(manifest, root, options, &common, &path_of, glue.is_some())?,
    };
    Ok(Site {
        files,
        demo_paths: [web_path.clone(), format!("{web_path}index.html")],
        demo: Body::new(demo.into_bytes()),
    })
}

/// The demo page of a core module: the loader fetches it and the page makes one call.
fn demo_page(
    manifest: &Manifest,
    root: &Path,
    options: &ServeOptions,
    common: &[(&str, String)],
    path_of: &dyn Fn(&str) -> String,
    bindgen: bool,
) -> Result<String> {
    let wasm = manifest.shipped_wasm().context("the manifest lists no shipped .wasm")?;
    let loader = manifest.artifacts.iter().find(|a| a.kind == ArtifactKind::WebLoader).context("no loader")?;
    // The page converts each number to the type of the export's parameter it lands on (the
    // glue of a wasm-bindgen guest converts JS values itself).
    let param_types = match &options.call {
        Some(call) if !bindgen => {
            let bytes =
                wasmship_manifest::files::read_regular(&root.join(&wasm.file), wasmship_manifest::MAX_ARTIFACT_BYTES)
                    .with_context(|| format!("reading {}", wasm.file))?;
            let export = crate::call::CallSpec::parse(call)?.export;
            crate::wasm::export_params(&bytes, &export)?
                .with_context(|| format!("--call {call}: the module exports no function `{export}`"))?
        }
        _ => Vec::new(),
    };
    let mut values = common.to_vec();
    values.extend([
        ("loader_path", html_escape(&path_of(&loader.file))),
        // In a <script>: `</` must not end it.
        ("call_json", serde_json::to_string(&options.call).expect("JSON").replace("</", "<\\/")),
        ("param_types_json", serde_json::to_string(&param_types).expect("JSON")),
    ]);
    let template = if bindgen { BINDGEN_DEMO_TEMPLATE } else { DEMO_TEMPLATE };
    Ok(crate::stages::package::bindings::render(template, &values))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Every value `served` puts in a header or a URL must be one HTTP can carry: a manifest is
/// input, and a CR/LF in one would split the response, a non-ASCII byte would not send.
fn sendable(served: &Served) -> Result<()> {
    let fields = [("URL path", served.path.as_str()), ("media_type", served.media_type.as_str())]
        .into_iter()
        .chain(served.variants.iter().map(|(encoding, _, _)| ("content_encoding", encoding.as_str())));
    for (what, value) in fields {
        if value.is_empty() || !value.bytes().all(|b| (0x21..=0x7e).contains(&b) || b == b' ') {
            bail!(
                "{}: its {what} {value:?} cannot be sent in an HTTP header (only visible ASCII); not serving it\n  \
                 help: rebuild the directory with `cargo wasmship build`",
                served.file
            );
        }
    }
    Ok(())
}

fn answer(site: &Site, request: Request) {
    let path = request.url().split('?').next().unwrap_or("/").to_string();
    let header = |name: &'static str| {
        request.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str().to_string())
    };
    let (accept, if_none_match) = (header("Accept-Encoding"), header("If-None-Match"));
    let method = request.method().clone();
    let reply = if !matches!(method, Method::Get | Method::Head) {
        Reply::text(405, "only GET and HEAD").with("Allow", "GET, HEAD")
    } else if site.demo_paths.contains(&path) {
        representation(&site.demo, "text/html; charset=utf-8", REVALIDATE, None, false, if_none_match.as_deref())
    } else if let Some(entry) = site.files.get(&path) {
        let available: Vec<&str> = entry.served.variants.iter().map(|(e, _, _)| e.as_str()).collect();
        match negotiate::encoding(accept.as_deref(), &available) {
            Ok(encoding) => representation(
                &entry.bodies[encoding.unwrap_or("")],
                &entry.served.media_type,
                entry.served.cache_control,
                encoding,
                !available.is_empty(),
                if_none_match.as_deref(),
            ),
            Err(negotiate::NotAcceptable) => {
                Reply::text(406, "no acceptable Content-Encoding").with("Vary", "Accept-Encoding")
            }
        }
    } else {
        Reply::text(404, "not found")
    };
    eprintln!(
        "{method} {path} -> {} {}{}",
        reply.status,
        reply.encoding.as_deref().unwrap_or("identity"),
        if_none_match.map(|tag| format!(" (If-None-Match {tag})")).unwrap_or_default()
    );
    // A Content-Length on every response, not chunks: caches and progress bars want it.
    let mut response =
        Response::from_data(reply.body).with_status_code(reply.status).with_chunked_threshold(usize::MAX);
    for (name, value) in reply.headers {
        // Every value was checked at start-up (`sendable`); one that still fails is left out.
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response = response.with_header(header);
        }
    }
    let _ = request.respond(response);
}

/// One representation, or 304 when the client has it.
fn representation(
    body: &Body,
    media_type: &str,
    cache_control: &str,
    encoding: Option<&str>,
    vary: bool,
    if_none_match: Option<&str>,
) -> Reply {
    let fresh = if_none_match.is_some_and(|tags| negotiate::none_match(tags, &body.etag));
    let mut reply = if fresh { Reply::new(304, Vec::new()) } else { Reply::new(200, body.bytes.clone()) };
    reply = reply.with("Content-Type", media_type).with("Cache-Control", cache_control).with("ETag", &body.etag);
    if vary {
        reply = reply.with("Vary", "Accept-Encoding");
    }
    if let Some(encoding) = encoding {
        reply = reply.with("Content-Encoding", encoding);
        reply.encoding = Some(encoding.to_string());
    }
    reply
}

struct Reply {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    encoding: Option<String>,
}

impl Reply {
    fn new(status: u16, body: Vec<u8>) -> Reply {
        Reply { status, body, headers: vec![], encoding: None }
    }

    fn text(status: u16, text: &str) -> Reply {
        Reply::new(status, format!("{text}\n").into_bytes()).with("Content-Type", "text/plain; charset=utf-8")
    }

    fn with(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}
