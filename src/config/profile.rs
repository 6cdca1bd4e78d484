//! The typed, fully resolved profile a build runs with, and how one key's value is parsed
//! into it. Values arrive as JSON (cargo metadata turns Cargo.toml tables into JSON; `--set`
//! values are TOML converted the same way).
use super::engine::EngineKeys;
use super::keys;
use super::values::{byte_size, describe, duration, int_in, list_or_false, string, string_list, string_table};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_PASSES: &[&str] = &["--converge", "-Oz", "--gufa"];
pub const GIB: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GuestTarget {
    #[serde(rename = "wasm32-unknown-unknown")]
    Unknown,
    #[serde(rename = "wasm32-wasip1")]
    Wasip1,
    /// A component (WASI 0.2): its own path through the stages.
    #[serde(rename = "wasm32-wasip2")]
    Wasip2,
}

impl GuestTarget {
    pub fn triple(self) -> &'static str {
        match self {
            GuestTarget::Unknown => "wasm32-unknown-unknown",
            GuestTarget::Wasip1 => "wasm32-wasip1",
            GuestTarget::Wasip2 => "wasm32-wasip2",
        }
    }

    /// Whether cargo builds a component for this target rather than a core module.
    pub fn is_component(self) -> bool {
        self == GuestTarget::Wasip2
    }

    /// Whether the guest can import WASI (and so may be given it during init).
    pub fn has_wasi(self) -> bool {
        self != GuestTarget::Unknown
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitStdio {
    Capture,
    Inherit,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum Encoding {
    #[serde(rename = "br")]
    Brotli,
    #[serde(rename = "gz")]
    Gzip,
    #[serde(rename = "zst")]
    Zstd,
}

impl Encoding {
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gz",
            Encoding::Zstd => "zst",
        }
    }
}

/// Host-side code generated next to the artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostBinding {
    /// `wasmship_embed.go`: `//go:embed` of the shipped module and its sha256.
    Go,
    /// `<name>.node.mjs`: loads the shipped module once per Node.js process, sha256-checked.
    Node,
}

/// The JS glue wasm-bindgen makes for a wasm-bindgen guest (its `--target`), or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BindgenTarget {
    /// An ES module for browsers, loaded by the generated `loader.js` (the default).
    Web,
    Bundler,
    Nodejs,
    NoModules,
    Deno,
    /// Ship the module without glue (its `#[wasm_bindgen]` exports unusable).
    None,
}

impl BindgenTarget {
    /// The name `wasm-bindgen --target` takes; `None` for no glue.
    pub fn cli_name(self) -> Option<&'static str> {
        Some(match self {
            BindgenTarget::Web => "web",
            BindgenTarget::Bundler => "bundler",
            BindgenTarget::Nodejs => "nodejs",
            BindgenTarget::NoModules => "no-modules",
            BindgenTarget::Deno => "deno",
            BindgenTarget::None => return None,
        })
    }
}

/// Server and CDN configurations generated from the web files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployTarget {
    /// `deploy/nginx.conf`: `location` blocks for a server whose root is the published `web/`.
    Nginx,
    /// `deploy/Caddyfile`: a site with `file_server { precompressed br gzip }`.
    Caddy,
    /// `web/_headers`: Netlify and Cloudflare Pages headers.
    Headers,
    /// `deploy/s3-objects.json`: per-object metadata for S3/CloudFront uploads.
    S3,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirGrant {
    /// Host path; relative paths are resolved against the guest's package directory.
    pub host: PathBuf,
    pub guest: String,
    pub writable: bool,
}

/// One profile with every key resolved: the single source the pipeline plans from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Profile {
    pub cargo_profile: String,
    pub target: GuestTarget,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub name: Option<String>,
    /// `None` = run pre-init when the module exports an init function.
    pub preinit: Option<bool>,
    pub init_func: Option<String>,
    pub keep_init_func: bool,
    pub rename_funcs: BTreeMap<String, String>,
    pub allow_wasi: bool,
    pub env: BTreeMap<String, String>,
    pub inherit_env: Vec<String>,
    pub dirs: Vec<DirGrant>,
    pub init_stdio: InitStdio,
    #[serde(serialize_with = "as_secs")]
    pub init_timeout: Duration,
    pub init_max_memory: u64,
    pub deterministic_init: bool,
    /// `None` = the optimize stage is off.
    pub wasm_opt: Option<Vec<String>>,
    /// A wasm-opt to run instead of the built-in binaryen: a path (relative to the Cargo.toml
    /// that sets it) or a program name looked up on PATH.
    pub wasm_opt_path: Option<PathBuf>,
    /// The glue wasm-bindgen makes for a wasm-bindgen guest.
    pub bindgen_target: BindgenTarget,
    /// A wasm-bindgen CLI to use (its version must be the guest's): a path (relative to the
    /// Cargo.toml that sets it) or a program name looked up on PATH.
    pub wasm_bindgen_path: Option<PathBuf>,
    pub wasm_features: Vec<String>,
    pub strip: bool,
    pub keep_sections: Vec<String>,
    pub precompile: Vec<String>,
    /// Extra `.cwasm` files for newer CPUs (`x86-64-v3`, `neoverse-n1`...).
    pub cpu_levels: Vec<String>,
    /// The wasmtime engine of the host that loads the `.cwasm` files.
    pub engine: EngineKeys,
    /// Linear-memory cap recorded in the manifest for hosts.
    pub memory_cap: Option<u64>,
    pub host_bindings: Vec<HostBinding>,
    /// Go package name of `wasmship_embed.go` (default: the artifact name as an identifier).
    pub go_package: Option<String>,
    /// The minisign public key (`RW...`) the outputs are signed with: the generated hosts
    /// refuse what it did not sign, and `ci` adds a signing step.
    pub public_key: Option<String>,
    pub deploy: Vec<DeployTarget>,
    /// The URL path `web/` is published at, `/`-terminated.
    pub web_path: String,
    pub compress: Vec<Encoding>,
    pub brotli_quality: u32,
    pub brotli_window: u32,
    pub gzip_level: u32,
    pub gzip_zopfli: bool,
    pub zstd_level: u32,
    pub brotli_parts: u32,
    pub hash_names: bool,
    pub out_dir: Option<PathBuf>,
    /// Where each key that is not a default was set, for errors about its value.
    #[serde(skip)]
    pub origins: BTreeMap<String, String>,
}

impl Profile {
    /// `` `key` set in <table> of <file> `` or `` `key` (default) ``.
    pub fn origin(&self, key: &str) -> String {
        match self.origins.get(key) {
            Some(origin) => format!("`{key}` set in {origin}"),
            None => format!("`{key}` (default)"),
        }
    }
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            cargo_profile: "release".into(),
            target: GuestTarget::Unknown,
            features: vec![],
            all_features: false,
            no_default_features: false,
            name: None,
            preinit: None,
            init_func: None,
            keep_init_func: false,
            rename_funcs: BTreeMap::new(),
            allow_wasi: false,
            env: BTreeMap::new(),
            inherit_env: vec![],
            dirs: vec![],
            init_stdio: InitStdio::Capture,
            init_timeout: Duration::from_secs(10),
            // wasm32 memory tops out at 4 GiB, so 4 GiB would be no bound; a guest whose init
            // really needs more than 1 GiB would ship a snapshot of that size.
            init_max_memory: GIB,
            deterministic_init: true,
            wasm_opt: Some(DEFAULT_PASSES.iter().map(|s| s.to_string()).collect()),
            wasm_opt_path: None,
            bindgen_target: BindgenTarget::Web,
            wasm_bindgen_path: None,
            wasm_features: vec![],
            strip: true,
            keep_sections: vec![],
            precompile: vec!["host".into()],
            cpu_levels: vec![],
            engine: EngineKeys::default(),
            memory_cap: None,
            host_bindings: vec![],
            go_package: None,
            public_key: None,
            deploy: vec![],
            web_path: "/".into(),
            compress: vec![Encoding::Brotli, Encoding::Gzip],
            brotli_quality: 11,
            brotli_window: 24,
            gzip_level: 9,
            gzip_zopfli: false,
            zstd_level: 19,
            brotli_parts: 1,
            hash_names: true,
            out_dir: None,
            origins: BTreeMap::new(),
        }
    }
}

/// What was wrong with a value: the key's expected type and a short rendering of what came.
#[derive(Debug)]
pub struct TypeMismatch {
    pub expected: String,
    pub got: String,
    /// The nested key at fault (`engine.collector`), when not the key itself.
    pub key: Option<String>,
}

impl Profile {
    /// Sets `key` from `value`. The caller has checked that `key` is a known key.
    pub fn apply(&mut self, key: &str, value: &Value) -> Result<(), TypeMismatch> {
        let expects = keys::lookup(key).map_or("", |k| k.expects);
        let bad = || TypeMismatch { expected: expects.to_string(), got: describe(value), key: None };
        match key {
            "cargo-profile" => self.cargo_profile = string(value).ok_or_else(bad)?,
            "target" => {
                self.target = match value.as_str() {
                    Some("wasm32-unknown-unknown") => GuestTarget::Unknown,
                    Some("wasm32-wasip1") => GuestTarget::Wasip1,
                    Some("wasm32-wasip2") => GuestTarget::Wasip2,
                    _ => return Err(bad()),
                }
            }
            "features" => self.features = string_list(value).ok_or_else(bad)?,
            "all-features" => self.all_features = value.as_bool().ok_or_else(bad)?,
            "no-default-features" => self.no_default_features = value.as_bool().ok_or_else(bad)?,
            "name" => self.name = Some(string(value).filter(|n| is_file_stem(n)).ok_or_else(bad)?),
            "preinit" => self.preinit = Some(value.as_bool().ok_or_else(bad)?),
            "init-func" => self.init_func = Some(string(value).ok_or_else(bad)?),
            "keep-init-func" => self.keep_init_func = value.as_bool().ok_or_else(bad)?,
            "rename-funcs" => self.rename_funcs = string_table(value).ok_or_else(bad)?,
            "allow-wasi" => self.allow_wasi = value.as_bool().ok_or_else(bad)?,
            "env" => self.env = string_table(value).ok_or_else(bad)?,
            "inherit-env" => self.inherit_env = string_list(value).ok_or_else(bad)?,
            "dirs" => self.dirs = dir_list(value).ok_or_else(bad)?,
            "init-stdio" => {
                self.init_stdio = match value.as_str() {
                    Some("capture") => InitStdio::Capture,
                    Some("inherit") => InitStdio::Inherit,
                    Some("null") => InitStdio::Null,
                    _ => return Err(bad()),
                }
            }
            "init-timeout" => self.init_timeout = duration(value).ok_or_else(bad)?,
            "init-max-memory" => self.init_max_memory = byte_size(value).ok_or_else(bad)?,
            "deterministic-init" => self.deterministic_init = value.as_bool().ok_or_else(bad)?,
            "wasm-opt" => self.wasm_opt = list_or_false(value).ok_or_else(bad)?,
            "wasm-features" => self.wasm_features = string_list(value).ok_or_else(bad)?,
            "wasm-opt-path" => {
                self.wasm_opt_path = Some(string(value).filter(|p| !p.is_empty()).ok_or_else(bad)?.into())
            }
            "bindgen-target" => {
                let name = string(value).ok_or_else(bad)?;
                let targets = [
                    ("web", BindgenTarget::Web),
                    ("bundler", BindgenTarget::Bundler),
                    ("nodejs", BindgenTarget::Nodejs),
                    ("no-modules", BindgenTarget::NoModules),
                    ("deno", BindgenTarget::Deno),
                    ("none", BindgenTarget::None),
                ];
                self.bindgen_target = targets.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).ok_or_else(bad)?;
            }
            "wasm-bindgen-path" => {
                self.wasm_bindgen_path = Some(string(value).filter(|p| !p.is_empty()).ok_or_else(bad)?.into())
            }
            "strip" => self.strip = value.as_bool().ok_or_else(bad)?,
            "keep-sections" => self.keep_sections = string_list(value).ok_or_else(bad)?,
            "precompile" => self.precompile = list_or_false(value).ok_or_else(bad)?.unwrap_or_default(),
            "cpu-levels" => self.cpu_levels = string_list(value).ok_or_else(bad)?,
            "engine" => {
                self.engine.merge(value).map_err(|(key, expected)| {
                    let got = value.get(key.trim_start_matches("engine.")).map_or_else(|| describe(value), describe);
                    TypeMismatch { expected, got, key: Some(key) }
                })?;
            }
            "memory-cap" => self.memory_cap = Some(byte_size(value).ok_or_else(bad)?),
            "host-bindings" => {
                let names = string_list(value).ok_or_else(bad)?;
                self.host_bindings =
                    named_list(names, &[("go", HostBinding::Go), ("node", HostBinding::Node)], expects)?;
            }
            "deploy" => {
                let table = [
                    ("nginx", DeployTarget::Nginx),
                    ("caddy", DeployTarget::Caddy),
                    ("headers", DeployTarget::Headers),
                    ("s3", DeployTarget::S3),
                ];
                self.deploy = named_list(string_list(value).ok_or_else(bad)?, &table, expects)?;
            }
            "web-path" => {
                let path = string(value).filter(|p| wasmship_manifest::check_web_path(p).is_ok());
                self.web_path = path.ok_or_else(bad)?;
            }
            "public-key" => {
                let key = string(value).map(|k| k.trim().to_string());
                let valid = key.filter(|k| wasmship_manifest::trust::TrustRoot::public_key(k).is_ok());
                self.public_key = Some(valid.ok_or_else(bad)?);
            }
            "go-package" => {
                let name = string(value).filter(|n| is_go_identifier(n));
                self.go_package = Some(name.ok_or_else(bad)?);
            }
            "compress" => {
                let names = list_or_false(value).ok_or_else(bad)?.unwrap_or_default();
                let table = [
                    ("br", Encoding::Brotli),
                    ("brotli", Encoding::Brotli),
                    ("gz", Encoding::Gzip),
                    ("gzip", Encoding::Gzip),
                    ("zst", Encoding::Zstd),
                    ("zstd", Encoding::Zstd),
                ];
                self.compress = named_list(names, &table, expects)?;
            }
            "brotli-quality" => self.brotli_quality = int_in(value, 0, 11).ok_or_else(bad)?,
            "brotli-window" => self.brotli_window = int_in(value, 10, 24).ok_or_else(bad)?,
            "gzip-level" => self.gzip_level = int_in(value, 0, 9).ok_or_else(bad)?,
            "gzip-zopfli" => self.gzip_zopfli = value.as_bool().ok_or_else(bad)?,
            "zstd-level" => self.zstd_level = int_in(value, 1, 22).ok_or_else(bad)?,
            "brotli-parts" => self.brotli_parts = int_in(value, 1, 64).ok_or_else(bad)?,
            "hash-names" => self.hash_names = value.as_bool().ok_or_else(bad)?,
            "out-dir" => self.out_dir = Some(PathBuf::from(string(value).ok_or_else(bad)?)),
            _ => unreachable!("unknown key `{key}` reached Profile::apply"),
        }
        Ok(())
    }
}

/// A Go package name: a letter or `_`, then letters, digits or `_` (ASCII only here).
pub fn is_go_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Artifact names become file names: one component under the rule every reader applies
/// (`wasmship_manifest::check_file_name`), so what the build writes every host accepts.
fn is_file_stem(name: &str) -> bool {
    !name.contains('/') && wasmship_manifest::check_file_name(name).is_ok()
}

/// `names` looked up in `table`, in order and without repeats; a name not in it is the error.
fn named_list<T: Copy + PartialEq>(
    names: Vec<String>,
    table: &[(&str, T)],
    expects: &str,
) -> Result<Vec<T>, TypeMismatch> {
    let mut items = Vec::new();
    for name in names {
        let Some(&(_, item)) = table.iter().find(|(known, _)| *known == name) else {
            return Err(TypeMismatch { expected: expects.into(), got: format!("{name:?} in the list"), key: None });
        };
        if !items.contains(&item) {
            items.push(item);
        }
    }
    Ok(items)
}

fn dir_list(value: &Value) -> Option<Vec<DirGrant>> {
    value.as_array()?.iter().map(dir_grant).collect()
}

/// `"data"`, `"data:/data"`, `"data:/data:rw"` or `{ host = "data", guest = "/data", writable = true }`.
pub fn dir_grant(value: &Value) -> Option<DirGrant> {
    if let Some(spec) = value.as_str() {
        let mut parts = spec.splitn(3, ':');
        let host = parts.next().filter(|h| !h.is_empty())?;
        let guest = parts.next().map_or_else(|| host.to_string(), str::to_string);
        let writable = match parts.next() {
            None | Some("ro") => false,
            Some("rw") => true,
            Some(_) => return None,
        };
        return Some(DirGrant { host: host.into(), guest, writable });
    }
    let table = value.as_object()?;
    if table.keys().any(|k| !matches!(k.as_str(), "host" | "guest" | "writable")) {
        return None;
    }
    let host = table.get("host")?.as_str()?;
    let guest = match table.get("guest") {
        Some(g) => g.as_str()?.to_string(),
        None => host.to_string(),
    };
    let writable = match table.get("writable") {
        Some(w) => w.as_bool()?,
        None => false,
    };
    Some(DirGrant { host: host.into(), guest, writable })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dir_grant_forms() {
        let short = dir_grant(&json!("data:/srv:rw")).unwrap();
        assert_eq!((short.host, short.guest.as_str(), short.writable), ("data".into(), "/srv", true));
        let table = dir_grant(&json!({"host": "d"})).unwrap();
        assert_eq!((table.guest.as_str(), table.writable), ("d", false));
        assert!(dir_grant(&json!({"host": "d", "mode": "rw"})).is_none());
    }

    #[test]
    fn wrong_type_names_expected_and_got() {
        let mut profile = Profile::default();
        let err = profile.apply("wasm-opt", &json!(3)).unwrap_err();
        assert_eq!(err.expected, "a list of wasm-opt arguments or false");
        assert_eq!(err.got, "an integer (3)");
        assert!(profile.apply("wasm-opt", &json!(false)).is_ok());
        assert_eq!(profile.wasm_opt, None);
    }
}
