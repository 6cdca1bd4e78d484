//! Property tests for everything that parses outside input: the manifest reader, the profile
//! layering over arbitrary metadata, `--set` values and wasm-opt pass lists. Each property
//! states what the answer must be, not only that there is one: what is accepted round-trips
//! or obeys the layering rules, and an error names the input at fault. Scale with
//! PROPTEST_CASES (CI runs the default).
use cargo_wasmship::config::{self, Layer, MetadataSource};
use cargo_wasmship::manifest::Manifest;
use cargo_wasmship::stages::optimize::passes;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Scalars, with the edge values typed parsers trip on.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            json!(0),
            json!(-1),
            json!(u64::MAX),
            json!(1e300),
            json!(1e-300),
            json!(0.5),
            json!(11),
            json!(25)
        ]),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z0-9._:/@= -]{0,12}".prop_map(Value::String),
        prop::sample::select(vec!["-Oz", "--gufa", "host", "br", "gz", "30s", "4GiB", "wasm32-wasip1"])
            .prop_map(|s| Value::String(s.into())),
    ]
}

/// Arbitrary JSON, biased towards the shapes config and manifests use.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Mostly real key names (so values reach the typed parsers), some noise.
fn key() -> impl Strategy<Value = String> {
    let real: Vec<String> =
        config::keys::KEYS.iter().map(|k| k.name.to_string()).chain(["profile".into(), "release".into()]).collect();
    prop_oneof![3 => prop::sample::select(real), 1 => "[a-z_-]{1,10}"]
}

/// A `wasmship` table shaped like real config: keys at the top and under `profile.<name>`.
fn wasmship_table() -> impl Strategy<Value = Value> {
    // Few keys per table: one bad value ends the resolution, so more keys hide later bugs.
    let keys = || prop::collection::btree_map(key(), prop_oneof![3 => leaf(), 1 => json_value()], 0..3);
    (keys(), prop::collection::btree_map(prop::sample::select(vec!["release", "fast"]), keys(), 0..3), any::<bool>())
        .prop_map(|(top, profiles, with_profiles)| {
            let mut table: serde_json::Map<String, Value> = top.into_iter().collect();
            if with_profiles {
                let profiles: serde_json::Map<String, Value> = profiles
                    .into_iter()
                    .map(|(name, keys)| (name.to_string(), Value::Object(keys.into_iter().collect())))
                    .collect();
                table.insert("profile".into(), Value::Object(profiles));
            }
            Value::Object(table)
        })
}

fn registered() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(wasm_opt::base::pass_registry::get_registered_names)
}

fn pass_token() -> impl Strategy<Value = String> {
    let mut known: Vec<String> = registered().iter().map(|n| format!("--{n}")).collect();
    known.extend(
        ["-O", "-O0", "-O3", "-Os", "-Oz", "--converge", "-c", "--enable-simd", "--disable-gc", "--pass-arg", "-g"]
            .map(String::from),
    );
    prop_oneof![
        4 => prop::sample::select(known),
        1 => "-{0,2}[a-zA-Z0-9=@ -]{0,16}",
    ]
}

fn sample_manifest() -> Manifest {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/regex-guest.manifest.json"),
    )
    .unwrap();
    // The snapshot uses "{...}" wildcards; give them concrete values of the right type.
    let text = text.replace("\"{...}\"", "0").replace("\"notes\": 0", "\"notes\": []");
    let mut value: Value = serde_json::from_str(&text).unwrap();
    for field in ["sha256_in", "sha256_out"] {
        for stage in value["stages"].as_array_mut().unwrap() {
            stage[field] = json!("00");
        }
    }
    for artifact in value["artifacts"].as_array_mut().unwrap() {
        artifact["sha256"] = json!("00");
        artifact["integrity"] = json!("sha384-x");
        if let Some(p) = artifact.get_mut("precompiled") {
            p["triple"] = json!("x86_64-unknown-linux-gnu");
            p["compatibility_id"] = json!("00");
        }
    }
    value["input"]["sha256"] = json!("00");
    value["tool"]["version"] = json!("0.1.0");
    serde_json::from_value(value).expect("sample manifest")
}

/// The value a layer chain gives `key`: the last table (in layering order) that sets it.
fn last_set<'a>(tables: &[&'a Value], key: &str) -> Option<&'a Value> {
    tables.iter().rev().find_map(|t| t.get(key))
}

proptest! {
    #[test]
    fn only_schema_2_json_objects_are_accepted(text in "\\PC{0,400}") {
        if Manifest::parse(&text).is_ok() {
            let value: Value = serde_json::from_str(&text).expect("accepted text is JSON");
            prop_assert_eq!(&value["schema_version"], &json!(2));
        }
    }

    #[test]
    fn a_damaged_manifest_is_refused_or_round_trips(cut in 0usize..6000, flips in prop::collection::vec((0usize..6000, any::<u8>()), 0..8)) {
        let original = sample_manifest();
        let mut bytes = original.to_json().into_bytes();
        for (at, byte) in &flips {
            let at = at % bytes.len();
            bytes[at] = *byte;
        }
        bytes.truncate(cut.min(bytes.len()));
        if let Ok(read) = Manifest::parse(&String::from_utf8_lossy(&bytes)) {
            // Whatever was accepted is a manifest in its own right: it writes and reads back equal.
            prop_assert_eq!(Manifest::parse(&read.to_json()).unwrap(), read.clone());
            if flips.is_empty() && cut >= bytes.len() {
                prop_assert_eq!(read, original);
            }
        }
    }

    #[test]
    fn arbitrary_json_needs_the_schema_version_and_every_field(value in json_value()) {
        let mut with_version = value.clone();
        if let Value::Object(map) = &mut with_version {
            map.insert("schema_version".into(), json!(2));
        }
        for candidate in [&value, &with_version] {
            if let Ok(read) = Manifest::parse(&candidate.to_string()) {
                // Only a value with every required field of schema 2 reads.
                let back: Value = serde_json::from_str(&read.to_json()).unwrap();
                for field in ["tool", "toolchain", "package", "profile", "input", "stages", "engine", "limits", "artifacts"] {
                    prop_assert!(candidate.get(field).is_some() && back.get(field).is_some(), "{} missing", field);
                }
            }
        }
    }

    #[test]
    fn layering_follows_the_documented_order(package in wasmship_table(), workspace in wasmship_table(), name in prop::sample::select(vec!["release", "fast"])) {
        let package_metadata = json!({ "wasmship": package });
        let workspace_metadata = json!({ "wasmship": workspace });
        let sources = [
            MetadataSource { scope: "workspace", manifest: Path::new("/w/Cargo.toml"), metadata: &workspace_metadata },
            MetadataSource { scope: "package", manifest: Path::new("/w/g/Cargo.toml"), metadata: &package_metadata },
        ];
        let cli = Layer { table: "the command line".into(), file: None, base_dir: PathBuf::from("/"), keys: Default::default() };
        let empty = json!({});
        let profile_of = |t: &Value| t.get("profile").and_then(|p| p.get(name)).unwrap_or(&empty).clone();
        let (wp, pp) = (profile_of(&workspace), profile_of(&package));
        let order = [&workspace, &wp, &package, &pp];
        match config::resolve(name, &sources, cli) {
            Ok(profile) => {
                // Integer keys with one meaning: the value must be the last layer's.
                for (key, got) in [("gzip-level", profile.gzip_level), ("brotli-quality", profile.brotli_quality), ("brotli-window", profile.brotli_window)] {
                    if let Some(value) = last_set(&order, key) {
                        prop_assert_eq!(Some(got as u64), value.as_u64(), "{} from the last layer that sets it", key);
                    }
                }
            }
            Err(error) => {
                // The error names a key or profile from the input, or the table that is wrong.
                let text = error.to_string();
                let first = text.lines().next().unwrap_or_default();
                let named = first.contains("wasmship") || first.contains(&format!("profile `{name}`"))
                    || [&workspace, &package, &wp, &pp].iter().any(|t| {
                        t.as_object().is_some_and(|m| m.keys().any(|k| first.contains(&format!("`{k}")) || first.contains(&format!("`engine.{k}"))))
                    })
                    || first.contains("`engine.");
                prop_assert!(named, "error names nothing from the input: {}", text);
            }
        }
    }

    #[test]
    fn set_values_parse_as_toml(key in prop::sample::select(vec!["gzip-level", "wasm-opt", "name", "engine.epoch-interruption"]), value in prop_oneof![
        any::<i32>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z]{1,8}".prop_map(|s| format!("\"{s}\"")),
        prop::collection::vec("[a-zA-Z-]{1,6}", 0..4).prop_map(|v| format!("{v:?}")),
    ]) {
        let (parsed_key, parsed) = config::parse_set(&format!("{key}={value}")).unwrap();
        let expected: Value = serde_json::to_value(toml::from_str::<toml::Table>(&format!("v = {value}")).unwrap()["v"].clone()).unwrap();
        match key.split_once('.') {
            Some((table, inner)) => {
                prop_assert_eq!(parsed_key.as_str(), table);
                prop_assert_eq!(&parsed[inner], &expected);
            }
            None => {
                prop_assert_eq!(parsed_key.as_str(), key);
                prop_assert_eq!(parsed, expected);
            }
        }
    }

    #[test]
    fn pass_lists_run_only_registered_passes_or_name_the_bad_token(tokens in prop::collection::vec(pass_token(), 0..10)) {
        match passes::parse(&tokens, registered()) {
            Ok(plan) => {
                prop_assert!(!plan.steps.is_empty());
                for step in &plan.steps {
                    if let passes::Step::Pass { name } = step {
                        prop_assert!(registered().contains(name), "only registered passes reach binaryen");
                    }
                }
            }
            Err(error) => {
                let first = error.to_string().lines().next().unwrap_or_default().to_string();
                let names_a_token = tokens.iter().flat_map(|t| t.split_whitespace()).any(|t| first.contains(&format!("`{}", t.split('=').next().unwrap_or(t))));
                prop_assert!(names_a_token || first.contains("runs no passes"), "{}", first);
            }
        }
    }
}

#[test]
fn manifest_round_trips() {
    let manifest = sample_manifest();
    assert_eq!(Manifest::parse(&manifest.to_json()).unwrap(), manifest);
    let mut newer: Value = serde_json::from_str(&manifest.to_json()).unwrap();
    newer["schema_version"] = json!(99);
    let error = Manifest::parse(&newer.to_string()).unwrap_err().to_string();
    assert!(error.contains("schema_version 99 is not supported"), "{error}");
}

/// Found by hand after the property test missed it: huge but finite durations overflowed
/// `Duration::from_secs_f64` and panicked.
#[test]
fn huge_durations_are_type_errors_not_panics() {
    for value in [json!(1e300), json!("99999999999999999999999s")] {
        let package = json!({ "wasmship": { "init-timeout": value } });
        let sources = [MetadataSource { scope: "package", manifest: Path::new("/g/Cargo.toml"), metadata: &package }];
        let cli = Layer {
            table: "the command line".into(),
            file: None,
            base_dir: PathBuf::from("/"),
            keys: Default::default(),
        };
        let error = config::resolve("release", &sources, cli).unwrap_err().to_string();
        assert!(error.contains("wrong type for key `init-timeout`"), "{error}");
    }
}
