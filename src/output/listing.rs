//! What an output directory holds, and whose it is. A file is this tool's only when the
//! directory's own manifest lists it (or it is the manifest, or a `report` file): everything
//! else is the user's, stays where it is, and is never deleted. The manifest is input too: a
//! name it lists is used only when it follows [`wasmship_manifest::check_file_name`].
use std::collections::BTreeSet;
use std::path::Path;

/// Files beside the artifacts that this tool writes: the manifest, and `report`'s output.
pub const OWN_FILES: &[&str] =
    &[crate::manifest::FILE_NAME, "report.json", "report.html", wasmship_manifest::trust::SIGNATURE_FILE];

/// The files (relative, `/`-separated) the manifest at `dir` lists, with their sha256. A
/// manifest of another schema version counts by its `artifacts[].file` and `sha256` fields.
pub fn listed(dir: &Path) -> Vec<(String, String)> {
    let Ok(bytes) = read_small(&dir.join(crate::manifest::FILE_NAME)) else { return vec![] };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return vec![] };
    let artifacts = json["artifacts"].as_array().cloned().unwrap_or_default();
    artifacts
        .iter()
        .filter_map(|a| Some((a["file"].as_str()?.to_string(), a["sha256"].as_str()?.to_string())))
        .filter(|(file, _)| wasmship_manifest::check_file_name(file).is_ok())
        .collect()
}

/// Entries under `dir` that are not this tool's, top-most first (`.git`, not each file in it):
/// what a replacement of the directory must keep. Links are entries, never followed.
pub fn foreign(dir: &Path, ours: &BTreeSet<String>) -> std::io::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(prefix) = pending.pop() {
        let here = if prefix.is_empty() { dir.to_path_buf() } else { dir.join(&prefix) };
        for entry in std::fs::read_dir(&here)? {
            let entry = entry?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type()?;
            if kind.is_dir() && ours.iter().any(|file| file.starts_with(&format!("{name}/"))) {
                pending.push(format!("{name}/"));
            } else if !(kind.is_file()
                && (ours.contains(&name) || (prefix.is_empty() && OWN_FILES.contains(&name.as_str()))))
            {
                found.push(name);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Reads a manifest-sized regular file that anyone may have replaced with anything.
pub fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    wasmship_manifest::files::read_regular(path, wasmship_manifest::MAX_MANIFEST_BYTES)
}
