//! Property tests for everything that parses outside input: the manifest reader, the profile
//! layering over arbitrary metadata, `--set` values and wasm-opt pass lists. None may panic;
//! each answers Ok or a clear Err. Scale with PROPTEST_CASES (CI runs the default).
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

proptest! {
    #[test]
    fn manifest_reader_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = Manifest::parse(&text);
    }

    #[test]
    fn manifest_reader_never_panics_on_damaged_manifests(cut in 0usize..6000, flips in prop::collection::vec((0usize..6000, any::<u8>()), 0..8)) {
        let mut bytes = sample_manifest().to_json().into_bytes();
        for (at, byte) in flips {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        bytes.truncate(cut.min(bytes.len()));
        let _ = Manifest::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn manifest_reader_never_panics_on_arbitrary_json(value in json_value()) {
        let _ = Manifest::parse(&value.to_string());
        let mut with_version = value;
        if let Value::Object(map) = &mut with_version {
            map.insert("schema_version".into(), json!(1));
        }
        let _ = Manifest::parse(&with_version.to_string());
    }

    #[test]
    fn profile_layering_never_panics(package in prop_oneof![3 => wasmship_table(), 1 => json_value()], workspace in prop_oneof![3 => wasmship_table(), 1 => json_value()], name in prop::sample::select(vec!["release", "dev", "fast", "x"])) {
        let package = json!({ "wasmship": package });
        let workspace = json!({ "wasmship": workspace });
        let sources = [
            MetadataSource { scope: "workspace", manifest: Path::new("/w/Cargo.toml"), metadata: &workspace },
            MetadataSource { scope: "package", manifest: Path::new("/w/g/Cargo.toml"), metadata: &package },
        ];
        let cli = Layer { table: "the command line".into(), file: None, base_dir: PathBuf::from("/"), keys: Default::default() };
        if let Err(error) = config::resolve(name, &sources, cli) {
            prop_assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn set_parser_never_panics(arg in "\\PC{0,60}") {
        if let Ok((key, _)) = config::parse_set(&arg) {
            prop_assert!(arg.contains('='));
            let written = arg.split_once('=').unwrap().0.trim();
            // `engine.x=v` sets key `x` of the table key `engine`.
            prop_assert_eq!(key.as_str(), written.split_once('.').map_or(written, |(table, _)| table));
        }
    }

    #[test]
    fn pass_lists_parse_or_fail_clearly(tokens in prop::collection::vec(pass_token(), 0..10)) {
        match passes::parse(&tokens, registered()) {
            Ok(plan) => {
                prop_assert!(!plan.steps.is_empty());
                for step in &plan.steps {
                    if let passes::Step::Pass { name } = step {
                        prop_assert!(registered().contains(name), "only registered passes reach binaryen");
                    }
                }
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
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
