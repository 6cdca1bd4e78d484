//! `cargo wasmship verify [DIR|MANIFEST]`: recompute every artifact's size, sha256 and
//! integrity against the manifest, check that pre-compressed variants decode to their module,
//! and report missing and extra files. The last step of a release job, the first of a deploy.
use crate::digest::Digests;
use crate::manifest::{self, Artifact, Manifest};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use wasmship_manifest::trust::{TrustRoot, SIGNATURE_FILE};

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

/// What a file in the directory that the manifest does not list is.
pub const EXTRA: &str = "extra file, not in the manifest";

/// Accepts the output directory or its manifest.json.
pub fn manifest_path(target: &Path) -> PathBuf {
    if target.is_dir() {
        target.join(manifest::FILE_NAME)
    } else {
        target.to_path_buf()
    }
}

/// Checks the directory holding `manifest_file`; returns the manifest and every problem found.
/// Files are streamed through the digests (nothing is held whole), and a compressed variant
/// is decompressed no further than the module it names holds on disk: the manifest says what
/// to expect, never how much work to do.
pub fn check(manifest_file: &Path) -> Result<(Manifest, Vec<Problem>)> {
    let (manifest, _) = wasmship_manifest::trust::read(manifest_file, &TrustRoot::Directory)?;
    check_manifest(manifest_file, manifest)
}

/// [`check`], with the manifest already read (through a trust root) from `manifest_file`.
pub fn check_manifest(manifest_file: &Path, manifest: Manifest) -> Result<(Manifest, Vec<Problem>)> {
    let dir = match manifest_file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    listed.insert(manifest_file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    // Beside the manifest: `report`'s measurements and `sign`'s signature, not artifacts.
    for own in [crate::commands::report::JSON_FILE, crate::commands::report::HTML_FILE, SIGNATURE_FILE] {
        listed.insert(own.to_string());
    }

    for artifact in &manifest.artifacts {
        listed.insert(artifact.file.clone());
        if let Err(why) = wasmship_manifest::check_file_name(&artifact.file) {
            problems.push(problem(artifact, format!("{why}; refusing to read it")));
            continue;
        }
        let path = dir.join(&artifact.file);
        let digests = match Digests::of_file(&path) {
            Ok(digests) => digests,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(problem(artifact, "missing"));
                continue;
            }
            Err(e) => {
                problems.push(problem(artifact, format!("cannot be read: {e}")));
                continue;
            }
        };
        problems.extend(check_digests(artifact, &digests));
        problems.extend(check_hashed_name(&manifest, artifact));
        if let Some(decoded_name) = &artifact.decoded {
            problems.extend(check_decoding(&manifest, dir, artifact, decoded_name, &path));
        }
    }

    for name in files_under(dir)? {
        if !listed.contains(&name) {
            problems.push(Problem { file: name, what: EXTRA.into() });
        }
    }
    Ok((manifest, problems))
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

fn check_digests(artifact: &Artifact, found: &Digests) -> Vec<Problem> {
    let mut problems = Vec::new();
    if found.bytes != artifact.bytes {
        problems.push(problem(artifact, format!("size is {} bytes, manifest says {}", found.bytes, artifact.bytes)));
    }
    if found.sha256 != artifact.sha256 {
        problems.push(problem(artifact, format!("sha256 is {}, manifest says {}", found.sha256, artifact.sha256)));
    }
    if found.integrity != artifact.integrity {
        problems
            .push(problem(artifact, format!("integrity is {}, manifest says {}", found.integrity, artifact.integrity)));
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

/// A compressed variant must decode to exactly the module it names. It is decompressed
/// straight into the digest, and no further than that module's size on disk (at most
/// [`wasmship_manifest::MAX_ARTIFACT_BYTES`]) plus one byte: a crafted file cannot make
/// verify work for longer than reading the module would.
fn check_decoding(
    manifest: &Manifest,
    dir: &Path,
    artifact: &Artifact,
    decoded_name: &str,
    path: &Path,
) -> Option<Problem> {
    let Some(decoded) = manifest.artifact(decoded_name) else {
        return Some(problem(artifact, format!("decodes to `{decoded_name}`, which the manifest does not list")));
    };
    wasmship_manifest::check_file_name(&decoded.file).ok()?;
    let on_disk = std::fs::symlink_metadata(dir.join(&decoded.file)).ok().filter(|m| m.is_file())?.len();
    let limit = on_disk.min(wasmship_manifest::MAX_ARTIFACT_BYTES) + 1;
    let file = match wasmship_manifest::files::open_regular(path, wasmship_manifest::MAX_ARTIFACT_BYTES) {
        Ok((file, _)) => std::io::BufReader::new(file),
        Err(e) => return Some(problem(artifact, format!("cannot be read: {e}"))),
    };
    let digests = match artifact.content_encoding.as_deref() {
        Some("br") => Digests::of_reader(brotli::Decompressor::new(file, 64 * 1024).take(limit)),
        Some("gzip") => Digests::of_reader(flate2::read::MultiGzDecoder::new(file).take(limit)),
        Some("zstd") => match zstd::stream::read::Decoder::with_buffer(file) {
            Ok(decoder) => Digests::of_reader(decoder.take(limit)),
            Err(e) => Err(e),
        },
        other => return Some(problem(artifact, format!("unknown content_encoding {other:?}"))),
    };
    match digests {
        Err(e) => Some(problem(artifact, format!("does not decompress: {e}"))),
        Ok(found) if found.bytes >= limit => {
            Some(problem(artifact, format!("decompresses to more than the {on_disk} bytes of {}", decoded.file)))
        }
        Ok(found) if found.sha256 != decoded.sha256 => {
            Some(problem(artifact, format!("decompresses to bytes that differ from {}", decoded.file)))
        }
        Ok(_) => None,
    }
}

/// What `verify` is asked to do beyond checking the directory against its manifest.
pub struct VerifyOptions {
    /// What the manifest must be trusted on (checked first).
    pub root: TrustRoot,
    /// Files the manifest does not list (ones you added beside the artifacts) are named, not
    /// problems.
    pub allow_extra: bool,
}

/// The command: checks the manifest against the trust root first, then prints each problem
/// and fails when there is any.
pub fn run(target: &Path, ui: &crate::ui::Ui, options: &VerifyOptions) -> Result<()> {
    let path = manifest_path(target);
    if !path.is_file() {
        bail!(
            "no manifest.json at {}\n  help: pass a cargo-wasmship output directory, or run `cargo wasmship build` \
             (with the same --profile) first",
            path.display()
        );
    }
    // The signature or pin first, on the exact bytes then checked: an untrusted manifest's
    // artifacts are not even looked at.
    let manifest = match wasmship_manifest::trust::read(&path, &options.root) {
        Ok((manifest, _)) => manifest,
        Err(error @ wasmship_manifest::trust::TrustError::Read(_)) => {
            return Err(error).with_context(|| format!("verifying {}", target.display()))
        }
        Err(error) => {
            let message = format!(
                "{}: {error}\n  help: do not deploy this directory; rebuild and sign it (`cargo wasmship sign`), \
                 or check the key or digest you gave",
                path.display()
            );
            return Err(crate::exit::ProblemsFound(message).into());
        }
    };
    if !matches!(options.root, TrustRoot::Directory) {
        ui.status("Trusted", &format!("{} ({})", path.display(), options.root.describe()));
    }
    let (manifest, mut problems) =
        check_manifest(&path, manifest).with_context(|| format!("verifying {}", target.display()))?;
    if options.allow_extra {
        let (extra, rest): (Vec<Problem>, Vec<Problem>) = problems.into_iter().partition(|p| p.what == EXTRA);
        problems = rest;
        if !extra.is_empty() {
            let names: Vec<&str> = extra.iter().map(|p| p.file.as_str()).collect();
            ui.status(
                "Unchecked",
                &format!("{} file(s) the manifest does not list: {}", names.len(), names.join(", ")),
            );
        }
    }
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
    Err(crate::exit::ProblemsFound(message).into())
}
