//! Command-line parsing only: turns arguments into requests for `commands::*`.
use crate::commands;
use crate::exit::Failure;
use crate::guest::CargoArgs;
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "cargo-wasmship", bin_name = "cargo wasmship", version, about)]
#[command(long_version = concat!(env!("CARGO_PKG_VERSION"), " (build ", env!("WASMSHIP_BUILD_ID"), ", wasmtime ", env!("WASMSHIP_WASMTIME_VERSION"), ", binaryen ", env!("WASMSHIP_BINARYEN_VERSION"), ")"))]
#[command(long_about = "Build a Rust guest crate into production WebAssembly: cargo build, Wizer pre-init, \
wasm-opt, strip, wasmtime precompile, then hashed, compressed artifacts and a manifest.")]
#[command(after_help = "Examples:
  cargo wasmship new bot-check                       a guest crate that builds as is
  cargo wasmship build                               the guest in this directory, profile `release`
  cargo wasmship build --profile dev -p bot-check    one guest of a workspace, fast
  cargo wasmship build --workspace --out-dir dist    every guest with a wasmship profile
  cargo wasmship verify dist/bot-check               before deploying a directory
  cargo wasmship report --call 'score(\"free cash\")'  what pre-init and precompile bought
  cargo wasmship serve --call 'score(\"free cash\")'   the web files and a demo page
  cargo wasmship ci                                  a GitHub release workflow")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalFlags,
}

#[derive(Args)]
#[command(next_help_heading = "Output")]
struct GlobalFlags {
    /// `human` (on stderr) or `json`: one JSON object per line on stdout, human output
    /// still on stderr (see README, "Messages").
    #[arg(long, global = true, value_name = "FMT", default_value = "human", value_parser = ["human", "json"])]
    message_format: String,
    /// When to colour: auto (a terminal, unless NO_COLOR), always, never [default: CARGO_TERM_COLOR, else auto].
    #[arg(long, global = true, value_name = "WHEN", value_parser = ["auto", "always", "never"])]
    color: Option<String>,
    /// More detail: resolved paths, the cache, the engine and each precompile target.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline for a guest crate.
    Build(BuildArgs),
    /// Check an output directory against its manifest.json: sizes, sha256, integrity, that
    /// .br/.gz decode to their module, and no missing or extra files.
    Verify(VerifyArgs),
    /// Write manifest.json.minisig: a minisign signature of the manifest (and so of every
    /// artifact it names) that `verify --public-key` and hosts check.
    Sign(SignArgs),
    /// Build, then measure what the build bought: bytes at every stage and on the wire, cold
    /// start raw vs shipped, each wasmtime engine, memory; writes report.html and report.json.
    Report(ReportArgs),
    /// Serve an output directory's web files on 127.0.0.1 the way the deploy files say, with a
    /// demo page that loads the guest in a browser.
    Serve(ServeArgs),
    /// Create a guest crate that `cargo wasmship build` ships as is.
    New {
        /// Directory to create; its name is the package name.
        path: PathBuf,
    },
    /// Make an existing crate a guest: cdylib crate type and a wasmship profile, comments kept.
    Init {
        /// The crate's Cargo.toml [default: ./Cargo.toml].
        #[arg(long, value_name = "PATH")]
        manifest_path: Option<PathBuf>,
    },
    /// Write .github/workflows/wasmship-release.yml: build, verify and attach on a version tag.
    Ci {
        /// Write nothing; fail with a diff when the workflow on disk differs.
        #[arg(long)]
        check: bool,
        /// The guest's or workspace's Cargo.toml [default: ./Cargo.toml].
        #[arg(long, value_name = "PATH")]
        manifest_path: Option<PathBuf>,
    },
    /// Run one stage on one file with the guest profile's settings (for benchmarks).
    #[command(hide = true)]
    Stage(StageArgs),
    /// Internal: run binaryen for the optimize stage, isolated in its own process.
    #[command(hide = true, name = "__binaryen")]
    Binaryen { plan: PathBuf, input: PathBuf, output: PathBuf },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every visible subcommand and flag says what it does, and the README names every flag.
    #[test]
    fn every_flag_has_help_and_is_in_the_readme() {
        let readme = include_str!("../README.md");
        let cli = super::Cli::command();
        let mut missing = Vec::new();
        for command in std::iter::once(&cli).chain(cli.get_subcommands().filter(|c| !c.is_hide_set())) {
            for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
                let name = arg.get_long().map(|l| format!("--{l}")).unwrap_or_else(|| arg.get_id().to_string());
                if ["help", "version"].contains(&arg.get_id().as_str()) {
                    continue;
                }
                if arg.get_help().is_none() {
                    missing.push(format!("{} {name}: no help text", command.get_name()));
                }
                if arg.get_long().is_some() && !readme.contains(&name) {
                    missing.push(format!("{} {name}: not in README.md", command.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}

#[derive(Args)]
struct StageArgs {
    /// preinit, optimize, strip, precompile or compress.
    stage: String,
    input: PathBuf,
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Args)]
struct ReportArgs {
    /// The call to time on the raw and the shipped module: EXPORT, EXPORT:ARGS or EXPORT(ARGS),
    /// integers or "strings" (strings go through the guest's `alloc`).
    #[arg(long, value_name = "CALL")]
    call: Option<String>,
    /// Timed runs of each measurement, after one warm-up.
    #[arg(long, default_value_t = 5, value_name = "N")]
    reps: usize,
    /// Headroom over the measured memory peak for the recommended cap, in percent.
    #[arg(long, default_value_t = 50, value_name = "PERCENT")]
    memory_headroom: u32,
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Args)]
struct ServeArgs {
    /// The output directory or its manifest.json [default: the guest profile's output directory].
    #[arg(value_name = "DIR|MANIFEST")]
    path: Option<PathBuf>,
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// What the demo page calls: `export(args)` with integers or "strings", e.g. 'verdict("https://a.b/")'.
    #[arg(long, value_name = "CALL")]
    call: Option<String>,
    /// Without a path: which guest and profile to serve the output of, as for `build`.
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Args)]
struct VerifyArgs {
    /// The output directory or its manifest.json [default: the guest profile's output directory].
    #[arg(value_name = "DIR|MANIFEST")]
    path: Option<PathBuf>,
    /// Files the manifest does not list (ones you added beside the artifacts) are named, not
    /// problems.
    #[arg(long)]
    allow_extra: bool,
    /// Trust the manifest only with a good minisign signature (manifest.json.minisig) by this
    /// key: a .pub file or its `RW...` line. Checked first; bad or missing exits 3.
    #[arg(long, value_name = "FILE|KEY", conflicts_with = "manifest_sha256")]
    public_key: Option<String>,
    /// Trust the manifest only when its sha256 is HEX (a pinned manifest). Checked first.
    #[arg(long, value_name = "HEX")]
    manifest_sha256: Option<String>,
    /// Without a path: which guest and profile to find the output of, as for `build`.
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Args)]
struct SignArgs {
    /// The output directory or its manifest.json [default: the guest profile's output directory].
    #[arg(value_name = "DIR|MANIFEST")]
    path: Option<PathBuf>,
    /// A minisign secret key file (`minisign -G` or `rsign generate` makes one); its password,
    /// if any, from CARGO_WASMSHIP_SECRET_KEY_PASSWORD, or asked for on a terminal.
    #[arg(long, value_name = "FILE")]
    secret_key: PathBuf,
    /// The comment the signature covers [default: the time, the file, the package and its version].
    #[arg(long, value_name = "TEXT")]
    trusted_comment: Option<String>,
    /// Without a path: which guest and profile to sign the output of, as for `build`.
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Args)]
struct BuildArgs {
    #[command(flatten)]
    cargo: CargoFlags,

    /// Profile from [package.metadata.wasmship.profile.<NAME>] (built-in: release, dev).
    #[arg(long, default_value = "release", value_name = "NAME")]
    profile: String,

    /// Output directory [default: <target-dir>/wasmship/<package>/<profile>/].
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,

    #[command(flatten)]
    overrides: Overrides,

    /// Run parallel work (compression, precompile targets) on at most N threads [default: cores].
    #[arg(short = 'j', long, value_name = "N")]
    jobs: Option<usize>,

    /// Seconds to wait for another build of the same output directory.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    lock_timeout: u64,

    /// Print nothing but warnings and errors (no spinners, no stage table, cargo's own
    /// output quiet too).
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    cache: CacheFlags,
}

#[derive(Args)]
#[command(next_help_heading = "Stage cache")]
struct CacheFlags {
    /// Run every stage, and neither read nor write the stage cache.
    #[arg(long)]
    no_cache: bool,
    /// Stage cache directory [default: <target-dir>/wasmship/cache].
    #[arg(long, env = "CARGO_WASMSHIP_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Size bound of the stage cache; least recently used entries go first.
    #[arg(long, env = "CARGO_WASMSHIP_CACHE_MAX_SIZE", default_value = "2GiB", value_name = "SIZE", value_parser = parse_size)]
    cache_max_size: u64,
}

fn parse_size(text: &str) -> Result<u64, String> {
    crate::config::values::byte_size(&Value::String(text.into()))
        .ok_or_else(|| format!("`{text}` is not a size; use e.g. 500MiB or 2GiB"))
}

#[derive(Args)]
#[command(next_help_heading = "Cargo options")]
struct CargoFlags {
    /// Path to the guest's Cargo.toml.
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Guest package to build.
    #[arg(short = 'p', long, value_name = "SPEC", conflicts_with = "workspace")]
    package: Option<String>,
    /// Every package of the workspace that has [package.metadata.wasmship] (the default in a
    /// virtual workspace).
    #[arg(long)]
    workspace: bool,
    /// Cargo features of the guest (comma or space separated).
    #[arg(short = 'F', long, value_delimiter = ',', value_name = "FEATURES")]
    features: Vec<String>,
    /// Every feature of the guest, as cargo's `--all-features`.
    #[arg(long)]
    all_features: bool,
    /// Not the guest's default features, as cargo's `--no-default-features`.
    #[arg(long)]
    no_default_features: bool,
    /// Fail if Cargo.lock would change, as cargo's `--locked` (passed to cargo build and metadata).
    #[arg(long)]
    locked: bool,
    /// No network for cargo, as cargo's `--offline`.
    #[arg(long)]
    offline: bool,
    /// `--locked` and `--offline` together, as cargo's `--frozen`.
    #[arg(long)]
    frozen: bool,
    /// cargo's target directory [default: cargo's: CARGO_TARGET_DIR, build.target-dir, or <workspace>/target].
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
}

/// One-off overrides of profile keys. `--set KEY=VALUE` reaches every key; the rest are
/// shorthands for the common ones.
#[derive(Args)]
#[command(next_help_heading = "Profile overrides")]
struct Overrides {
    /// Set any profile key; VALUE is TOML, e.g. --set wasm-opt='["-O3"]' --set init-timeout=30s.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// wasm32-unknown-unknown or wasm32-wasip1.
    #[arg(long, value_name = "TRIPLE")]
    target: Option<String>,
    /// cargo profile for the guest build (the `cargo-profile` key) [default: release].
    #[arg(long, value_name = "NAME")]
    cargo_profile: Option<String>,
    /// Init export to run during pre-init.
    #[arg(long, value_name = "NAME")]
    init_func: Option<String>,
    /// Skip pre-init: ship the module as cargo and wasm-opt leave it (`preinit = false`).
    #[arg(long, conflicts_with = "preinit")]
    no_preinit: bool,
    /// Require pre-init (fail when there is no init export).
    #[arg(long)]
    preinit: bool,
    /// Give init WASI (wasm32-wasip1 and wasm32-wasip2 guests): only the env vars and directories granted (`allow-wasi = true`).
    #[arg(long)]
    allow_wasi: bool,
    /// Env var for init under WASI (repeatable); adds to the profile's `env`.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Directory for init under WASI (repeatable); adds to the profile's `dirs`.
    #[arg(long = "dir", value_name = "HOST[:GUEST[:rw]]")]
    dirs: Vec<String>,
    /// wasm-opt arguments in order, e.g. --wasm-opt="--converge -O3 --gufa".
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true, conflicts_with = "no_wasm_opt")]
    wasm_opt: Option<String>,
    /// Skip the optimize stage (`wasm-opt = false`).
    #[arg(long)]
    no_wasm_opt: bool,
    /// Keep every custom section in the shipped module (`strip = false`).
    #[arg(long)]
    no_strip: bool,
    /// Precompile targets (comma separated): host, native or triples.
    #[arg(long, value_delimiter = ',', value_name = "TRIPLES", conflicts_with = "no_precompile")]
    precompile: Vec<String>,
    /// No .cwasm files (`precompile = false`).
    #[arg(long)]
    no_precompile: bool,
    /// Encodings (comma separated): br, gz.
    #[arg(long, value_delimiter = ',', value_name = "ENCODINGS", conflicts_with = "no_compress")]
    compress: Vec<String>,
    /// No pre-compressed copies (`compress = false`).
    #[arg(long)]
    no_compress: bool,
    /// Plain file names, without the content hash (`hash-names = false`).
    #[arg(long)]
    no_hash_names: bool,
}

impl Overrides {
    /// The overrides as profile keys, in the order they apply (`--set` last wins).
    fn into_keys(self) -> Result<Vec<(String, Value)>> {
        let mut keys: Vec<(String, Value)> = Vec::new();
        let mut put = |key: &str, value: Value| keys.push((key.to_string(), value));
        if let Some(target) = self.target {
            put("target", json!(target));
        }
        if let Some(profile) = self.cargo_profile {
            put("cargo-profile", json!(profile));
        }
        if let Some(name) = self.init_func {
            put("init-func", json!(name));
        }
        if self.no_preinit {
            put("preinit", json!(false));
        }
        if self.preinit {
            put("preinit", json!(true));
        }
        if self.allow_wasi {
            put("allow-wasi", json!(true));
        }
        if let Some(args) = self.wasm_opt {
            put("wasm-opt", json!(args.split_whitespace().collect::<Vec<_>>()));
        }
        if self.no_wasm_opt {
            put("wasm-opt", json!(false));
        }
        if self.no_strip {
            put("strip", json!(false));
        }
        if !self.precompile.is_empty() {
            put("precompile", json!(self.precompile));
        }
        if self.no_precompile {
            put("precompile", json!(false));
        }
        if !self.compress.is_empty() {
            put("compress", json!(self.compress));
        }
        if self.no_compress {
            put("compress", json!(false));
        }
        if self.no_hash_names {
            put("hash-names", json!(false));
        }
        for arg in &self.set {
            keys.push(crate::config::parse_set(arg)?);
        }
        Ok(keys)
    }
}

pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<(), Failure> {
    let cli = Cli::parse_from(args);
    crate::ui::init_color(cli.global.color.as_deref());
    crate::ui::set_json_messages(cli.global.message_format == "json");
    crate::ui::set_verbose(cli.global.verbose);
    match cli.command {
        Command::Build(args) => {
            let workspace = args.cargo.workspace;
            let request = request(args).map_err(Failure::config)?;
            match workspace_guests(&request, workspace)? {
                Some(packages) => commands::build::run_workspace(&request, &packages).map(|_| ()),
                None => commands::build::run(&request).map(|_| ()),
            }
        }
        Command::New { path } => {
            let files = commands::new::run(&path).map_err(Failure::config)?;
            let ui = crate::ui::Ui::new(false);
            ui.status("Created", &format!("guest `{}` ({})", path.display(), files.join(", ")));
            ui.status("Next", &format!("cargo wasmship build --manifest-path {}", path.join("Cargo.toml").display()));
            Ok(())
        }
        Command::Init { manifest_path } => {
            let manifest = manifest_path.unwrap_or_else(|| PathBuf::from("Cargo.toml"));
            let changes = commands::init::run(&manifest).map_err(Failure::config)?;
            let ui = crate::ui::Ui::new(false);
            if changes.made.is_empty() {
                ui.status("Unchanged", &format!("{} is already a guest; nothing to change", manifest.display()));
            }
            for change in &changes.made {
                ui.status("Changed", &format!("{}: {change}", manifest.display()));
            }
            if changes.needs_init_export {
                eprintln!(
                    "\n  No init export yet. To pre-initialize at build time, add to src/lib.rs:\n\n{}\n",
                    commands::init::INIT_SNIPPET.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
                );
            }
            Ok(())
        }
        Command::Ci { check, manifest_path } => {
            let cargo = CargoArgs { manifest_path, ..Default::default() };
            let (root, scope) = commands::ci::scope(&cargo).map_err(Failure::config)?;
            let key = commands::ci::public_key(&cargo, &scope).map_err(Failure::config)?;
            let ui = crate::ui::Ui::new(false);
            match commands::ci::run(&root, &scope, key.as_deref(), check).map_err(Failure::verify)? {
                commands::ci::Outcome::Written(path) => ui.status("Wrote", &path.display().to_string()),
                commands::ci::Outcome::Unchanged(path) => {
                    ui.status("Fresh", &format!("{} is up to date", path.display()))
                }
            }
            // The workflow builds with --locked, which fails on a checkout without a lock file.
            let lock = root.join("Cargo.lock");
            if !lock.exists() {
                ui.warn(&format!(
                    "the workflow builds with --locked and {} does not exist yet: run `cargo generate-lockfile` and commit it",
                    lock.display()
                ));
            }
            Ok(())
        }
        Command::Verify(args) => {
            let ui = crate::ui::Ui::new(false);
            let root = trust_root(args.public_key.as_deref(), args.manifest_sha256.as_deref())?;
            let options = commands::verify::VerifyOptions { root, allow_extra: args.allow_extra };
            let path = out_dir_or(args.path, args.build)?;
            commands::verify::run(&path, &ui, &options).map_err(Failure::verify)
        }
        Command::Sign(args) => {
            let options =
                commands::sign::SignOptions { secret_key: args.secret_key, trusted_comment: args.trusted_comment };
            let path = out_dir_or(args.path, args.build)?;
            let written = commands::sign::run(&path, &options).map_err(Failure::build)?;
            crate::ui::Ui::new(false).status("Signed", &written.display().to_string());
            Ok(())
        }
        Command::Report(args) => {
            // Parsed once the build says what the guest is: a component's call is WAVE.
            let options = commands::report::ReportOptions {
                call: args.call,
                reps: args.reps,
                headroom_percent: args.memory_headroom,
            };
            commands::report::run(&request(args.build).map_err(Failure::config)?, &options).map(|_| ())
        }
        Command::Serve(args) => {
            let path = out_dir_or(args.path, args.build)?;
            let call = parse_call(args.call.as_deref())?;
            let options = commands::serve::ServeOptions { port: args.port, call: call.map(|c| c.to_string()) };
            commands::serve::run(&path, &options).map_err(Failure::config)
        }
        Command::Binaryen { plan, input, output } => binaryen(&plan, &input, &output).map_err(Failure::build),
        Command::Stage(args) => {
            let request = request(args.build).map_err(Failure::config)?;
            commands::stage::run(&request, &args.stage, &args.input, &args.output).map_err(Failure::build)
        }
    }
}

/// The packages a workspace build makes: with `--workspace`, or by default in a virtual
/// workspace that has packages with a wasmship profile; `None` for a single-guest build.
fn workspace_guests(request: &crate::plan::Request, asked: bool) -> Result<Option<Vec<String>>, Failure> {
    if !asked && !crate::guest::is_virtual_workspace(&request.cargo).map_err(Failure::config)? {
        return Ok(None);
    }
    let (root, packages) = crate::guest::guests_with_profiles(&request.cargo).map_err(Failure::config)?;
    match packages.len() {
        0 if asked => Err(Failure::config(anyhow::anyhow!(
            "no package of the workspace at {} has a [package.metadata.wasmship] table\n  \
             help: run `cargo wasmship init --manifest-path <guest>/Cargo.toml` in each guest, or pick one with -p",
            root.display()
        ))),
        // A virtual workspace without profiles: the single-guest rules pick (or say why not).
        0 => Ok(None),
        _ => Ok(Some(packages)),
    }
}

fn binaryen(plan: &std::path::Path, input: &std::path::Path, output: &std::path::Path) -> Result<()> {
    let plan = serde_json::from_slice(&std::fs::read(plan)?)?;
    let rounds = crate::stages::optimize::optimize_file(&plan, input, output)?;
    println!("{rounds}");
    Ok(())
}

/// The output directory given, else the one the build arguments point at (found only: no
/// stage runs, so a deploy machine can use it).
fn out_dir_or(path: Option<PathBuf>, build: BuildArgs) -> Result<PathBuf, Failure> {
    match path {
        Some(path) => Ok(path),
        None => {
            let request = request(build).map_err(Failure::config)?;
            Ok(crate::plan::locate(&request).map_err(Failure::config)?.out_dir)
        }
    }
}

/// What `verify` trusts a manifest on: a public key (a file or the key itself), a pinned
/// sha256, or the directory.
fn trust_root(
    public_key: Option<&str>,
    manifest_sha256: Option<&str>,
) -> Result<wasmship_manifest::trust::TrustRoot, Failure> {
    use wasmship_manifest::trust::TrustRoot;
    let root = match (public_key, manifest_sha256) {
        (Some(key), _) => {
            let text = match std::path::Path::new(key).is_file() {
                true => std::fs::read_to_string(key).map_err(|e| anyhow::anyhow!("reading {key}: {e}")),
                false => Ok(key.to_string()),
            };
            text.and_then(|text| TrustRoot::public_key(&text).map_err(anyhow::Error::from))
        }
        (None, Some(sha256)) => TrustRoot::sha256(sha256).map_err(anyhow::Error::from),
        (None, None) => Ok(TrustRoot::Directory),
    };
    root.map_err(|e| Failure::config(e.context("--public-key / --manifest-sha256")))
}

fn parse_call(call: Option<&str>) -> Result<Option<crate::call::CallSpec>, Failure> {
    call.map(crate::call::CallSpec::parse).transpose().map_err(Failure::config)
}

fn request(args: BuildArgs) -> Result<crate::plan::Request> {
    let c = args.cargo;
    Ok(crate::plan::Request {
        cargo: CargoArgs {
            manifest_path: c.manifest_path,
            package: c.package,
            features: c.features.iter().flat_map(|f| f.split_whitespace()).map(String::from).collect(),
            all_features: c.all_features,
            no_default_features: c.no_default_features,
            locked: c.locked,
            offline: c.offline,
            frozen: c.frozen,
            target_dir: c.target_dir,
        },
        profile: args.profile,
        out_dir: args.out_dir,
        extra_env: args.overrides.env.clone(),
        extra_dirs: args.overrides.dirs.clone(),
        overrides: args.overrides.into_keys()?,
        jobs: args.jobs,
        lock_timeout: Duration::from_secs(args.lock_timeout),
        quiet: args.quiet,
        cache: crate::plan::CacheOptions {
            disabled: args.cache.no_cache,
            dir: args.cache.cache_dir,
            max_bytes: args.cache.cache_max_size,
        },
    })
}
