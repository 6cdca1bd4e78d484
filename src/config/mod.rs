//! Profiles from `[workspace.metadata.wasmship]` and `[package.metadata.wasmship]`.
//!
//! Each table may hold keys for every profile at its top level and per-profile keys under
//! `profile.<name>`. Layers apply in this order, later ones winning:
//! built-in defaults, the built-in preset of that name (if any), workspace top level,
//! workspace `profile.<name>`, package top level, package `profile.<name>`, command line.
pub mod cargo_config;
pub mod engine;
pub mod keys;
pub mod profile;
pub mod values;

pub use profile::{BindgenTarget, DeployTarget, DirGrant, Encoding, GuestTarget, InitStdio, Profile};

use anyhow::{bail, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Profiles that exist without any configuration.
pub const BUILTIN_PROFILES: &[&str] = &["release", "dev"];

/// One table of keys and where it came from, for error messages and relative paths.
pub struct Layer {
    /// e.g. `[package.metadata.wasmship.profile.release]`, or `--set` for the command line.
    pub table: String,
    /// The file the table is in; `None` for the command line.
    pub file: Option<PathBuf>,
    /// Relative paths (`out-dir`, `dirs`) resolve against this directory.
    pub base_dir: PathBuf,
    pub keys: Map<String, Value>,
}

/// Where a `wasmship` metadata table lives.
pub struct MetadataSource<'a> {
    /// `workspace` or `package`.
    pub scope: &'static str,
    pub manifest: &'a Path,
    /// The value of `metadata` in that manifest (may be null).
    pub metadata: &'a Value,
}

/// Resolves profile `name` from the metadata sources (workspace first, then package) and the
/// command-line overrides.
pub fn resolve(name: &str, sources: &[MetadataSource<'_>], cli: Layer) -> Result<Profile> {
    let mut layers = builtin_preset(name);
    let mut defined: Vec<String> = BUILTIN_PROFILES.iter().map(|s| s.to_string()).collect();
    for source in sources {
        let (top, profiles) = split_tables(source)?;
        layers.extend(top);
        for (profile_name, layer) in profiles {
            if !defined.contains(&profile_name) {
                defined.push(profile_name.clone());
            }
            if profile_name == name {
                layers.push(layer);
            }
        }
    }
    if !defined.iter().any(|d| d == name) {
        let files: Vec<String> = sources.iter().map(|s| s.manifest.display().to_string()).collect();
        let mut message = format!(
            "profile `{name}` is not defined\n  profiles defined: {}\n  looked in: {}",
            defined.join(", "),
            files.join(", ")
        );
        if let Some(near) = keys::nearest_of(name, defined.iter().map(String::as_str)) {
            message.push_str(&format!("\n  help: did you mean `--profile {near}`?"));
        } else {
            message.push_str(&format!(
                "\n  help: add a [package.metadata.wasmship.profile.{name}] table to the guest's Cargo.toml"
            ));
        }
        bail!(message);
    }
    layers.push(cli);

    let mut profile = Profile::default();
    for layer in &layers {
        apply_layer(&mut profile, layer)?;
    }
    Ok(profile)
}

fn builtin_preset(name: &str) -> Vec<Layer> {
    let keys = match name {
        // Fast inner loop: cargo's dev profile, no wasm-opt, no compression; pre-init and
        // precompile still run so behaviour matches release.
        "dev" => serde_json::json!({ "cargo-profile": "dev", "wasm-opt": false, "compress": false }),
        _ => return vec![],
    };
    vec![Layer {
        table: format!("built-in profile `{name}`"),
        file: None,
        base_dir: PathBuf::from("."),
        keys: keys.as_object().cloned().unwrap_or_default(),
    }]
}

/// Splits one source's `wasmship` table into its top-level layer and its `profile.*` layers.
fn split_tables(source: &MetadataSource<'_>) -> Result<(Option<Layer>, Vec<(String, Layer)>)> {
    let base_dir = source.manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
    let prefix = format!("[{}.metadata.wasmship", source.scope);
    let Some(table) = source.metadata.get("wasmship") else {
        return Ok((None, vec![]));
    };
    let Some(table) = table.as_object() else {
        bail!(
            "`{}` must be a table, got {}\n  --> {}",
            &prefix[1..],
            values::describe(table),
            source.manifest.display()
        );
    };
    let mut top = table.clone();
    let mut profiles = Vec::new();
    if let Some(profile_tables) = top.remove("profile") {
        let Some(profile_tables) = profile_tables.as_object() else {
            bail!(
                "`{}.profile` must be a table of profiles, got {}\n  --> {}",
                &prefix[1..],
                values::describe(&profile_tables),
                source.manifest.display()
            );
        };
        for (name, keys) in profile_tables {
            let Some(keys) = keys.as_object() else {
                bail!(
                    "`{}.profile.{name}` must be a table, got {}\n  --> {}",
                    &prefix[1..],
                    values::describe(keys),
                    source.manifest.display()
                );
            };
            profiles.push((
                name.clone(),
                Layer {
                    table: format!("{prefix}.profile.{name}]"),
                    file: Some(source.manifest.to_path_buf()),
                    base_dir: base_dir.clone(),
                    keys: keys.clone(),
                },
            ));
        }
    }
    let top = (!top.is_empty()).then(|| Layer {
        table: format!("{prefix}]"),
        file: Some(source.manifest.to_path_buf()),
        base_dir,
        keys: top,
    });
    Ok((top, profiles))
}

fn apply_layer(profile: &mut Profile, layer: &Layer) -> Result<()> {
    let location = match &layer.file {
        Some(file) => format!("{}\n  --> {}", layer.table, file.display()),
        None => layer.table.clone(),
    };
    for (key, value) in &layer.keys {
        if keys::lookup(key).is_none() {
            let mut message = format!("unknown key `{key}` in {location}");
            match keys::nearest(key) {
                Some(near) => {
                    let doc = keys::lookup(near).map_or("", |k| k.doc);
                    message.push_str(&format!("\n  help: did you mean `{near}`? ({doc})"));
                }
                None => message.push_str("\n  help: see the key table in cargo-wasmship's README"),
            }
            bail!(message);
        }
        if let Err(mismatch) = profile.apply(key, value) {
            let key = mismatch.key.as_deref().unwrap_or(key);
            bail!("wrong type for key `{key}` in {location}\n  expected {}, got {}", mismatch.expected, mismatch.got);
        }
        let origin = match &layer.file {
            Some(file) => format!("{} of {}", layer.table, file.display()),
            None => layer.table.clone(),
        };
        profile.origins.insert(key.clone(), origin);
        // Paths are relative to the file that wrote them, not to wherever cargo runs.
        match key.as_str() {
            "out-dir" => profile.out_dir = profile.out_dir.take().map(|p| layer.base_dir.join(p)),
            // A bare program name is looked up on PATH; anything with a separator is a path.
            "wasm-opt-path" => {
                profile.wasm_opt_path = profile.wasm_opt_path.take().map(|p| program(&layer.base_dir, p))
            }
            "wasm-bindgen-path" => {
                profile.wasm_bindgen_path = profile.wasm_bindgen_path.take().map(|p| program(&layer.base_dir, p))
            }
            "dirs" => profile.dirs.iter_mut().for_each(|d| d.host = layer.base_dir.join(&d.host)),
            _ => {}
        }
    }
    Ok(())
}

/// A bare program name is looked up on PATH; anything with a separator is a path, relative
/// to the file that wrote it.
fn program(base_dir: &Path, program: PathBuf) -> PathBuf {
    if program.components().count() > 1 {
        base_dir.join(program)
    } else {
        program
    }
}

/// Parses a `--set KEY=VALUE` argument; VALUE is TOML (`false`, `["-O3"]`, `"30s"`) and falls
/// back to a plain string when it is not valid TOML.
pub fn parse_set(arg: &str) -> Result<(String, Value)> {
    let Some((key, raw)) = arg.split_once('=') else {
        bail!("`--set {arg}`: expected KEY=VALUE, e.g. `--set wasm-opt=false`");
    };
    let key = key.trim().to_string();
    let raw = raw.trim();
    let value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut table) => serde_json::to_value(table.remove("v").expect("parsed key v"))?,
        Err(_) => Value::String(raw.to_string()),
    };
    // `engine.epoch-interruption=true` sets one key of a table key.
    if let Some((table, inner)) = key.split_once('.') {
        return Ok((table.to_string(), serde_json::json!({ inner: value })));
    }
    Ok((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source<'a>(metadata: &'a Value) -> MetadataSource<'a> {
        MetadataSource { scope: "package", manifest: Path::new("/g/Cargo.toml"), metadata }
    }

    fn cli(pairs: &[(&str, Value)]) -> Layer {
        Layer {
            table: "--set".into(),
            file: None,
            base_dir: PathBuf::from("/cwd"),
            keys: pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        }
    }

    #[test]
    fn layers_apply_in_order() {
        let workspace = json!({"wasmship": {"gzip-level": 6, "profile": {"release": {"gzip-level": 7}}}});
        let package = json!({"wasmship": {"brotli-quality": 9, "profile": {"release": {"out-dir": "dist"}}}});
        let sources = [
            MetadataSource { scope: "workspace", manifest: Path::new("/w/Cargo.toml"), metadata: &workspace },
            MetadataSource { scope: "package", manifest: Path::new("/w/g/Cargo.toml"), metadata: &package },
        ];
        let profile = resolve("release", &sources, cli(&[("brotli-quality", json!(5))])).unwrap();
        assert_eq!(profile.gzip_level, 7);
        assert_eq!(profile.brotli_quality, 5);
        assert_eq!(profile.out_dir, Some(PathBuf::from("/w/g/dist")));
    }

    #[test]
    fn unknown_key_names_key_file_and_nearest() {
        let package = json!({"wasmship": {"profile": {"release": {"wasm_opt": false}}}});
        let err = resolve("release", &[source(&package)], cli(&[])).unwrap_err().to_string();
        assert!(err.contains("unknown key `wasm_opt` in [package.metadata.wasmship.profile.release]"), "{err}");
        assert!(err.contains("/g/Cargo.toml"), "{err}");
        assert!(err.contains("did you mean `wasm-opt`?"), "{err}");
    }

    #[test]
    fn undefined_profile_lists_defined_ones() {
        let package = json!({"wasmship": {"profile": {"fast": {}}}});
        let err = resolve("fats", &[source(&package)], cli(&[])).unwrap_err().to_string();
        assert!(err.contains("profile `fats` is not defined"), "{err}");
        assert!(err.contains("release, dev, fast"), "{err}");
        assert!(err.contains("did you mean `--profile fast`?"), "{err}");
    }

    #[test]
    fn set_values_are_toml_or_strings() {
        assert_eq!(parse_set("wasm-opt=false").unwrap().1, json!(false));
        assert_eq!(parse_set("wasm-opt=[\"-O3\", \"--gufa\"]").unwrap().1, json!(["-O3", "--gufa"]));
        assert_eq!(parse_set("init-timeout=30s").unwrap().1, json!("30s"));
        assert!(parse_set("no-equals").is_err());
    }
}
