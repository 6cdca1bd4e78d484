//! `cargo wasmship verify [DIR|MANIFEST]`: recompute every artifact's size, sha256 and
//! integrity against the manifest, check that pre-compressed variants decode to their module,
//! and report missing and extra files. The last step of a release job, the first of a deploy.
use crate::digest::{sha256_hex, sri_sha384};
use crate::manifest::{self, Artifact, Manifest};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One thing wrong with an output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.what)
    }
}

/// Accepts the output directory or its manifest.json.
pub fn manifest_path(target: &Path) -> PathBuf {
    if target.is_dir() {
        target.join(manifest::FILE_NAME)
    } else {
        target.to_path_buf()
    }
}

/// Checks the directory holding `manifest_file`; returns the manifest and every problem found.
pub fn check(manifest_file: &Path) -> Result<(Manifest, Vec<Problem>)> {
    let manifest = Manifest::read(manifest_file)?;
    let dir = match manifest_file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    listed.insert(manifest_file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    // `cargo wasmship report` writes these beside the manifest: measurements, not artifacts.
    for report in [crate::commands::report::JSON_FILE, crate::commands::report::HTML_FILE] {
        listed.insert(report.to_string());
    }

    for artifact in &manifest.artifacts {
        listed.insert(artifact.file.clone());
        if !stays_inside(&artifact.file) {
            problems.push(problem(artifact, "file name leaves the output directory; refusing to read it"));
            continue;
        }
        let path = dir.join(&artifact.file);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(problem(artifact, "missing"));
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        problems.extend(check_bytes(artifact, &bytes));
        problems.extend(check_hashed_name(&manifest, artifact));
        if let Some(decoded_name) = &artifact.decoded {
            problems.extend(check_decoding(&manifest, artifact, decoded_name, &bytes));
        }
    }

    for name in files_under(dir)? {
        if !listed.contains(&name) {
            problems.push(Problem { file: name, what: "extra file, not in the manifest".into() });
        }
    }
    Ok((manifest, problems))
}

/// A relative path of plain names (`web/app.wasm`): no `..`, no leading `/` or `.`, no `\`.
fn stays_inside(file: &str) -> bool {
    !file.is_empty() && !file.contains('\\') && file.split('/').all(|part| !part.is_empty() && !part.starts_with('.'))
}

/// Every file below `dir`, as `/`-separated paths relative to it.
fn files_under(dir: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((current, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&current).with_context(|| format!("listing {}", current.display()))? {
            let entry = entry?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type()?.is_dir() {
                pending.push((entry.path(), format!("{name}/")));
            } else {
                files.push(name);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn problem(artifact: &Artifact, what: impl Into<String>) -> Problem {
    Problem { file: artifact.file.clone(), what: what.into() }
}

fn check_bytes(artifact: &Artifact, bytes: &[u8]) -> Vec<Problem> {
    let mut problems = Vec::new();
    if bytes.len() as u64 != artifact.bytes {
        problems.push(problem(artifact, format!("size is {} bytes, manifest says {}", bytes.len(), artifact.bytes)));
    }
    let sha256 = sha256_hex(bytes);
    if sha256 != artifact.sha256 {
        problems.push(problem(artifact, format!("sha256 is {sha256}, manifest says {}", artifact.sha256)));
    }
    let integrity = sri_sha384(bytes);
    if integrity != artifact.integrity {
        problems.push(problem(artifact, format!("integrity is {integrity}, manifest says {}", artifact.integrity)));
    }
    problems
}

/// An immutable file's name carries the hash of its content (or, for a `.br`/`.gz`, of the
/// module it decodes to): a consistent edit of a file and the manifest still shows here.
fn check_hashed_name(manifest: &Manifest, artifact: &Artifact) -> Option<Problem> {
    if !artifact.immutable {
        return None;
    }
    let named_after = match &artifact.decoded {
        Some(decoded) => manifest.artifact(decoded)?,
        None => artifact,
    };
    let prefix = named_after.sha256.get(..crate::stages::package::HASH_CHARS)?;
    (!artifact.file.contains(prefix))
        .then(|| problem(artifact, format!("marked immutable but its name lacks its content hash `{prefix}`")))
}

fn check_decoding(manifest: &Manifest, artifact: &Artifact, decoded_name: &str, bytes: &[u8]) -> Option<Problem> {
    let Some(decoded) = manifest.artifact(decoded_name) else {
        return Some(problem(artifact, format!("decodes to `{decoded_name}`, which the manifest does not list")));
    };
    // Read at most one byte more than the module: a crafted file cannot exhaust memory.
    let limit = decoded.bytes + 1;
    let mut out = Vec::new();
    let result = match artifact.content_encoding.as_deref() {
        Some("br") => brotli::Decompressor::new(bytes, 64 * 1024).take(limit).read_to_end(&mut out),
        Some("gzip") => flate2::read::GzDecoder::new(bytes).take(limit).read_to_end(&mut out),
        other => return Some(problem(artifact, format!("unknown content_encoding {other:?}"))),
    };
    match result {
        Err(e) => Some(problem(artifact, format!("does not decompress: {e}"))),
        Ok(_) if sha256_hex(&out) != decoded.sha256 => {
            Some(problem(artifact, format!("decompresses to bytes that differ from {}", decoded.file)))
        }
        Ok(_) => None,
    }
}

/// The command: prints each problem and fails when there is any.
pub fn run(target: &Path, ui: &crate::ui::Ui) -> Result<()> {
    let path = manifest_path(target);
    if !path.is_file() {
        bail!(
            "no manifest.json at {}\n  help: pass a cargo-wasmship output directory, or run `cargo wasmship build` \
             (with the same --profile) first",
            path.display()
        );
    }
    let (manifest, problems) = check(&path).with_context(|| format!("verifying {}", target.display()))?;
    for p in &problems {
        crate::ui::emit("problem", serde_json::json!({ "file": p.file, "what": p.what }));
    }
    crate::ui::emit(
        "verify-finished",
        serde_json::json!({
            "schema_version": crate::ui::MESSAGES_SCHEMA_VERSION,
            "manifest": path, "artifacts": manifest.artifacts.len(), "problems": problems.len(),
        }),
    );
    if problems.is_empty() {
        ui.status("Verified", &format!("{} artifacts against {}", manifest.artifacts.len(), path.display()));
        return Ok(());
    }
    let mut message =
        format!("{} problem(s) in {}:", problems.len(), path.parent().unwrap_or(Path::new(".")).display());
    for p in &problems {
        message.push_str(&format!("\n  {p}"));
    }
    message.push_str("\n  help: do not deploy this directory; rebuild it with `cargo wasmship build`");
    Err(ProblemsFound(message).into())
}

/// The directory was read and is wrong (its own exit code, apart from unreadable input).
#[derive(Debug)]
pub struct ProblemsFound(pub String);

impl std::fmt::Display for ProblemsFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProblemsFound {}
