//! Stage 2: Wizer pre-initialization, in process with `wasmtime-wizer`. The guest's init
//! export runs once, here, inside [`sandbox`]; its memory and globals become the new
//! module's data, so no instance pays for init again.
pub mod checks;
pub mod component;
pub mod explain;
pub mod sandbox;
pub mod stdio;
mod wasi_view;

use super::{Stage, StageOutput, StageReport};
use crate::wasm::ModuleFacts;
use anyhow::{bail, Context, Result};
use sandbox::Sandbox;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;

/// Init export names tried, in order, when the profile names none: the classic Wizer name and
/// the one newer `wasmtime wizer` defaults to.
pub const DEFAULT_INIT_FUNCS: &[&str] = &["wizer.initialize", "wizer-initialize"];

pub struct PreinitConfig {
    /// `None`: run when the module exports an init function, skip (with a note) when not.
    pub enabled: Option<bool>,
    pub init_func: Option<String>,
    pub keep_init_func: bool,
    pub rename_funcs: BTreeMap<String, String>,
    pub sandbox: Sandbox,
}

impl PreinitConfig {
    /// Everything that decides the snapshot, for the cache key: the settings plus what init
    /// can read (env values and the contents of granted directories, hashed). The bounds are
    /// left out: they stop a failing init but do not change a successful one's output.
    pub fn cache_settings(&self) -> Result<serde_json::Value> {
        let wasi = match &self.sandbox.wasi {
            None => serde_json::Value::Null,
            Some(wasi) => {
                let mut dirs = Vec::new();
                for dir in &wasi.dirs {
                    dirs.push(
                        json!({ "guest": dir.guest, "writable": dir.writable, "contents": dir_digest(&dir.host)? }),
                    );
                }
                let env: Vec<String> =
                    wasi.env.iter().map(|(k, v)| format!("{k}={}", crate::digest::sha256_hex(v.as_bytes()))).collect();
                // The fixed clock init reads comes from SOURCE_DATE_EPOCH.
                let clock = wasi.deterministic.then(|| sandbox::source_date_epoch().as_secs());
                json!({ "env": env, "dirs": dirs, "deterministic": wasi.deterministic, "clock": clock })
            }
        };
        Ok(json!({
            "enabled": self.enabled,
            "init-func": self.init_func,
            "keep-init-func": self.keep_init_func,
            "rename-funcs": self.rename_funcs,
            "relaxed-simd-deterministic": sandbox::RELAXED_SIMD_DETERMINISTIC,
            "wasi": wasi,
        }))
    }
}

impl PreinitConfig {
    /// With `deterministic-init = false` under WASI, init is meant to see fresh randomness and
    /// the real clock on every build; with a writable directory, what init writes there is an
    /// effect of the build. Either way its snapshot is never reused from the cache.
    pub fn cacheable(&self) -> bool {
        self.sandbox.wasi.as_ref().is_none_or(|wasi| wasi.deterministic && !wasi.dirs.iter().any(|d| d.writable))
    }
}

/// sha256 over everything under `dir` that init can see, in a fixed order. Each entry is
/// framed with its kind and the lengths of its parts, so no two trees give the same bytes.
/// Nothing outside `dir` is read: links are hashed as their text and never followed (the
/// sandbox resolves them inside the grant, where their targets are hashed in turn), only
/// regular files are opened, and their contents are streamed, not held.
fn dir_digest(dir: &std::path::Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut entries = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in
            std::fs::read_dir(&current).with_context(|| format!("reading granted directory {}", current.display()))?
        {
            let path = entry?.path();
            let kind = std::fs::symlink_metadata(&path)?.file_type();
            if kind.is_dir() {
                pending.push(path.clone());
            }
            entries.push((path, kind));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    let mut frame = |tag: &[u8], part: &[u8]| {
        hasher.update(tag);
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    };
    for (path, kind) in entries {
        let relative = path.strip_prefix(dir).unwrap_or(&path);
        frame(b"path", relative.as_os_str().as_encoded_bytes());
        if kind.is_symlink() {
            frame(b"link", std::fs::read_link(&path)?.as_os_str().as_encoded_bytes());
        } else if kind.is_dir() {
            frame(b"dir", b"");
        } else if kind.is_file() {
            let (file, len) = wasmship_manifest::files::open_regular(&path, u64::MAX)
                .with_context(|| format!("reading {}", path.display()))?;
            let digest = wasmship_manifest::digest::Digests::of_reader(std::io::Read::take(file, len))
                .with_context(|| format!("reading {}", path.display()))?;
            let mut content = digest.bytes.to_le_bytes().to_vec();
            content.extend_from_slice(digest.sha256.as_bytes());
            frame(b"file", &content);
        } else {
            // A FIFO, socket or device: its existence counts, it is never opened.
            frame(b"special", b"");
        }
    }
    Ok(crate::digest::hex(&hasher.finalize()))
}

pub fn run(wasm: &[u8], config: &PreinitConfig) -> Result<StageOutput> {
    let started = Instant::now();
    let facts = ModuleFacts::read(wasm)?;
    let mut settings = json!({
        "enabled": config.enabled,
        "init-func": config.init_func,
        "keep-init-func": config.keep_init_func,
        "rename-funcs": config.rename_funcs,
        "relaxed-simd-deterministic": sandbox::RELAXED_SIMD_DETERMINISTIC,
        "wasi": config.sandbox.wasi.as_ref().map(|w| json!({
            // Names only: values may be secrets and the manifest is published.
            "env": w.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            "dirs": w.dirs.iter().map(|d| json!({"guest": d.guest, "writable": d.writable})).collect::<Vec<_>>(),
            "deterministic": w.deterministic,
        })),
    });

    let Some(init_func) = choose_init_func(&facts, config)? else {
        let why = if config.enabled == Some(false) {
            "preinit = false".to_string()
        } else {
            format!(
                "no {} export, so nothing to pre-initialize (set `preinit = true` to require one)",
                DEFAULT_INIT_FUNCS.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or ")
            )
        };
        return Ok(StageOutput::skipped(Stage::Preinit, wasm, settings, why));
    };
    settings["init-func"] = json!(init_func);
    if crate::wasm::component::is_component(wasm) {
        return run_component(wasm, config, &init_func, settings, started);
    }

    // Structure first: a shared memory would make Wizer panic rather than refuse.
    let blockers = checks::unsnapshottable(wasm, false)?;
    if !blockers.is_empty() {
        bail!(checks::explain_blockers(&blockers));
    }
    if config.sandbox.wasi.is_some() && !facts.imports_wasi() {
        // Harmless, but worth saying: the grant does nothing for this guest.
        settings["wasi-note"] = json!("allow-wasi is set but the module imports no WASI functions");
    }

    let mut wizer = wasmtime_wizer::Wizer::new();
    wizer.init_func(init_func.clone()).keep_init_func(config.keep_init_func);
    for (new, old) in &config.rename_funcs {
        wizer.func_rename(new, old);
    }
    let stack = crate::wasm::shadow_stack(wasm)?;
    let run = sandbox::run(&wizer, wasm, &init_func, stack, &config.sandbox)?;
    let snapshot = match run.result {
        Ok(bytes) => bytes,
        Err(error) if error.to_string().starts_with("unsupported `") => {
            // Wizer refused an instruction: find every place it occurs, with advice.
            let blockers = checks::unsnapshottable(wasm, true)?;
            if blockers.is_empty() {
                bail!("Wizer refused the module: {error} (preinit stage)");
            }
            bail!(checks::explain_blockers(&blockers))
        }
        Err(error) => bail!(explain::explain_failure(&init_func, error, run.bound_hit, &run.captured_output, config)),
    };
    let mut report =
        StageReport::new(Stage::Preinit, wasm, &snapshot, started, settings).note(format!("ran `{init_func}`"));
    if stack.is_none() && config.sandbox.wasi.as_ref().is_some_and(|w| w.deterministic) {
        // Said loudly: the snapshot may keep init's temporaries (file metadata...) and differ
        // from one checkout to the next, which `deterministic-init` promises it will not.
        report = report.note(
            "warning: no shadow stack found, so init's dead stack is kept in the snapshot and may differ \
             between checkouts",
        );
    }
    report.init_millis = Some(run.init_millis);
    Ok(StageOutput { bytes: snapshot, report })
}

/// The exports init runs, in order: a WASI reactor's `_initialize` first (its constructors),
/// then the init function, each once, whatever the init function is called.
pub fn init_sequence(init_func: &str) -> Vec<&str> {
    if init_func == "_initialize" {
        vec!["_initialize"]
    } else {
        vec!["_initialize", init_func]
    }
}

/// Pre-init of a component: its own path through Wizer (see [`component`]), then the snapshot
/// validated as a component before any later stage sees it.
fn run_component(
    wasm: &[u8],
    config: &PreinitConfig,
    init_func: &str,
    settings: serde_json::Value,
    started: Instant,
) -> Result<StageOutput> {
    if !config.rename_funcs.is_empty() {
        bail!("`rename-funcs` does not apply to components: Wizer renames core module exports only (preinit stage)");
    }
    // Wizer 48 removes a component's init export from the inner module only, which breaks
    // the component; it keeps it, and the component's own export entry goes here instead.
    let mut wizer = wasmtime_wizer::Wizer::new();
    wizer.init_func(init_func).keep_init_func(true);
    let run = component::run(&wizer, wasm, init_func, &config.sandbox)?;
    let mut snapshot = match run.result {
        Ok(bytes) => bytes,
        Err(error) => bail!(explain::explain_failure(init_func, error, run.bound_hit, &run.captured_output, config)),
    };
    crate::wasm::component::validate(&snapshot)
        .map_err(|e| anyhow::anyhow!("Wizer produced a component that does not validate: {e} (preinit stage)"))?;
    let mut notes = vec![format!("ran `{init_func}`")];
    if !config.keep_init_func {
        let removed = crate::wasm::component::without_export(&snapshot, init_func)?
            .filter(|without| crate::wasm::component::validate(without).is_ok());
        match removed {
            Some(without) => snapshot = without,
            None => notes.push(format!("kept the export `{init_func}`: later definitions refer to it")),
        }
    }
    let mut report = StageReport::new(Stage::Preinit, wasm, &snapshot, started, settings);
    report.notes = notes;
    report.init_millis = Some(run.init_millis);
    Ok(StageOutput { bytes: snapshot, report })
}

/// Whether pre-init runs on a module with these facts under `config` (an init function is
/// asked for, or one of the default names is exported).
pub fn will_run(facts: &ModuleFacts, config: &PreinitConfig) -> bool {
    matches!(choose_init_func(facts, config), Ok(Some(_)))
}

fn choose_init_func(facts: &ModuleFacts, config: &PreinitConfig) -> Result<Option<String>> {
    if config.enabled == Some(false) {
        return Ok(None);
    }
    if let Some(name) = &config.init_func {
        if facts.exports_func(name) {
            return Ok(Some(name.clone()));
        }
        bail!(explain::missing_init(facts, &format!("the init export `{name}` (init-func) is not in the module")));
    }
    if let Some(name) = DEFAULT_INIT_FUNCS.iter().find(|n| facts.exports_func(n)) {
        return Ok(Some(name.to_string()));
    }
    if config.enabled == Some(true) {
        bail!(explain::missing_init(
            facts,
            "preinit = true, but the module exports neither `wizer.initialize` nor `wizer-initialize`"
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_memory: u64) -> PreinitConfig {
        PreinitConfig {
            enabled: Some(true),
            init_func: None,
            keep_init_func: false,
            rename_funcs: BTreeMap::new(),
            sandbox: Sandbox { timeout: std::time::Duration::from_secs(10), max_memory, wasi: None },
        }
    }

    fn module(memories_and_tables: &str) -> Vec<u8> {
        wat::parse_str(format!(
            "(module {memories_and_tables} (export \"memory\" (memory 0)) (func (export \"wizer.initialize\")))"
        ))
        .unwrap()
    }

    #[test]
    fn the_memory_cap_counts_every_memory_and_table_of_the_instance() {
        const PAGE: u64 = 64 << 10;
        let cap = 64 * PAGE;
        // Each memory alone fits; together they do not.
        if let Err(error) = run(&module("(memory 40)"), &config(cap)) {
            panic!("one memory under the cap: {error:#}");
        }
        let two = run(&module("(memory 40) (memory 40)"), &config(cap)).err().expect("over the cap").to_string();
        assert!(two.contains("but the cap is") && two.contains("memories and tables together"), "{two}");
        // A table's elements cost the host memory too.
        let table = run(&module("(memory 1) (table 10000000 funcref)"), &config(cap)).err().expect("over").to_string();
        assert!(table.contains("but the cap is"), "{table}");
    }

    #[test]
    fn directory_digests_never_follow_links_out_of_the_grant() {
        let grant = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("big"), "outside").unwrap();
        std::os::unix::fs::symlink(outside.path().join("big"), grant.path().join("link")).unwrap();
        let before = dir_digest(grant.path()).unwrap();
        std::fs::write(outside.path().join("big"), "changed outside the grant").unwrap();
        assert_eq!(dir_digest(grant.path()).unwrap(), before, "the link's target outside was not read");
        std::fs::remove_file(grant.path().join("link")).unwrap();
        std::os::unix::fs::symlink("elsewhere", grant.path().join("link")).unwrap();
        assert_ne!(dir_digest(grant.path()).unwrap(), before, "the link's text counts");
        // A FIFO is seen, never opened (opening one for reading would wait for a writer).
        rustix::fs::mknodat(rustix::fs::CWD, &grant.path().join("fifo"), rustix::fs::FileType::Fifo, 0o600.into(), 0)
            .unwrap();
        dir_digest(grant.path()).unwrap();
    }

    #[test]
    fn directory_digests_frame_each_entry() {
        // The same bytes in a different split: one file `ab` holding `c`, or `a` holding `bc`.
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(one.path().join("ab"), "c").unwrap();
        std::fs::write(two.path().join("a"), "bc").unwrap();
        assert_ne!(dir_digest(one.path()).unwrap(), dir_digest(two.path()).unwrap());
    }

    #[test]
    fn directory_digests_see_empty_dirs_and_survive_symlink_loops() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        let before = super::dir_digest(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        let with_dir = super::dir_digest(dir.path()).unwrap();
        assert_ne!(before, with_dir, "an empty directory is something init can see");
        std::os::unix::fs::symlink(dir.path(), dir.path().join("empty/loop")).unwrap();
        assert_ne!(super::dir_digest(dir.path()).unwrap(), with_dir);
    }
}
