//! Authenticated delivery: `sign` writes a minisign signature the independent `minisign` tool
//! accepts, and every reader (`verify --public-key`, `verify --manifest-sha256`, the host's
//! `open_signed` and `open_pinned`, the generated Go and Node.js hosts) refuses a directory
//! whose manifest and `.cwasm` were rewritten together, which the directory alone cannot show.
mod common;

use cargo_wasmship::manifest::Manifest;
use common::hosts::{answers_from, build, calls, host_args, run, rust_host, stdout_json};
use common::{expected_answers, Fixture};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A minisign key pair in `dir`: (public key file, secret key file, the public key's line).
fn keypair(dir: &Path, password: Option<&str>) -> (PathBuf, PathBuf, String) {
    let pair = match password {
        None => minisign::KeyPair::generate_unencrypted_keypair().unwrap(),
        Some(password) => minisign::KeyPair::generate_encrypted_keypair(Some(password.to_string())).unwrap(),
    };
    let (public, secret) = (dir.join("wasmship.pub"), dir.join("wasmship.key"));
    let public_text = pair.pk.to_box().unwrap().to_string();
    std::fs::write(&public, &public_text).unwrap();
    std::fs::write(&secret, pair.sk.to_box(None).unwrap().to_string()).unwrap();
    (public, secret, pair.pk.to_base64())
}

fn tool(args: &[&str], dir: &Path) -> Output {
    common::wasmship().args(args).arg(dir).output().unwrap()
}

fn sign(dir: &Path, secret: &Path) -> Output {
    common::wasmship().arg("sign").arg(dir).arg("--secret-key").arg(secret).output().unwrap()
}

fn succeeded(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

/// A build of the regex guest with both generated hosts, signed with a fresh key.
struct Signed {
    _scratch: tempfile::TempDir,
    out: PathBuf,
    public: PathBuf,
    key_line: String,
    manifest_sha256: String,
}

fn signed_build() -> Signed {
    let scratch = tempfile::tempdir().unwrap();
    let (public, secret, key_line) = keypair(scratch.path(), None);
    let out = scratch.path().join("out");
    let key = format!("public-key=\"{key_line}\"");
    build(Fixture::Regex, &out, &["--no-compress", "--set", "host-bindings=[\"go\", \"node\"]", "--set", &key]);
    succeeded(&sign(&out, &secret));
    let manifest_sha256 = cargo_wasmship::digest::sha256_hex(&std::fs::read(out.join("manifest.json")).unwrap());
    Signed { _scratch: scratch, out, public, key_line, manifest_sha256 }
}

/// What someone who can write the directory does: new code in the `.cwasm` (renamed to its
/// new content hash) and a manifest rewritten to match, so that the directory is consistent
/// with itself and a plain `verify` passes it.
fn rewrite_consistently(out: &Path) {
    let path = out.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for artifact in manifest["artifacts"].as_array_mut().unwrap() {
        if artifact["kind"] != "cwasm" {
            continue;
        }
        let old_name = artifact["file"].as_str().unwrap().to_string();
        let mut bytes = std::fs::read(out.join(&old_name)).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle..middle + 8].fill(0xcc); // int3
        let digests = cargo_wasmship::digest::Digests::of_reader(&bytes[..]).unwrap();
        let old_hash = artifact["sha256"].as_str().unwrap()[..16].to_string();
        let new_name = old_name.replace(&old_hash, &digests.sha256[..16]);
        std::fs::remove_file(out.join(&old_name)).unwrap();
        std::fs::write(out.join(&new_name), &bytes).unwrap();
        artifact["file"] = new_name.into();
        artifact["sha256"] = digests.sha256.into();
        artifact["integrity"] = digests.integrity.into();
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

#[test]
fn the_independent_minisign_tool_accepts_the_signature() {
    let signed = signed_build();
    let Some(minisign) = common::peers::program("minisign", "-v", "minisign's own check of a signature") else {
        return;
    };
    let checked = Command::new(minisign)
        .arg("-V")
        .arg("-p")
        .arg(&signed.public)
        .arg("-m")
        .arg(signed.out.join("manifest.json"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{said}{}", String::from_utf8_lossy(&checked.stderr));
    assert!(said.contains("Signature and comment signature verified"), "{said}");
    assert!(said.contains("package:regex-guest@"), "the trusted comment names the package: {said}");
}

#[test]
fn a_key_the_minisign_tool_made_without_a_password_signs() {
    let Some(minisign) = common::peers::program("minisign", "-v", "signing with a `minisign -G -W` key") else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let (public, secret) = (scratch.path().join("k.pub"), scratch.path().join("k.key"));
    // As README's signing steps make it: no password (its checksum is all zeros).
    let made = Command::new(&minisign)
        .args(["-G", "-W", "-p"])
        .arg(&public)
        .arg("-s")
        .arg(&secret)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let out = scratch.path().join("out");
    build(Fixture::Regex, &out, &["--no-compress", "--no-precompile"]);
    succeeded(&sign(&out, &secret));
    let checked = Command::new(&minisign)
        .arg("-V")
        .arg("-p")
        .arg(&public)
        .arg("-m")
        .arg(out.join("manifest.json"))
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    let key_file = public.display().to_string();
    assert!(tool(&["verify", "--public-key", &key_file], &out).status.success());
}

#[test]
fn verify_checks_the_signature_or_the_pin_first() {
    let signed = signed_build();
    let key_file = signed.public.display().to_string();
    assert!(tool(&["verify", "--public-key", &key_file], &signed.out).status.success());
    assert!(tool(&["verify", "--public-key", &signed.key_line], &signed.out).status.success());
    assert!(tool(&["verify", "--manifest-sha256", &signed.manifest_sha256], &signed.out).status.success());

    rewrite_consistently(&signed.out);
    // The directory alone cannot tell: it is consistent with itself.
    assert!(tool(&["verify"], &signed.out).status.success(), "a consistent rewrite passes a plain verify");
    for (args, expected) in [
        (vec!["verify", "--public-key", key_file.as_str()], "signature does not verify"),
        (vec!["verify", "--manifest-sha256", signed.manifest_sha256.as_str()], "not the pinned"),
    ] {
        let output = tool(&args, &signed.out);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    std::fs::remove_file(signed.out.join("manifest.json.minisig")).unwrap();
    let missing = tool(&["verify", "--public-key", &key_file], &signed.out);
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("is missing: the manifest is not signed"));
}

#[test]
fn an_encrypted_secret_key_signs_with_its_password_from_the_environment() {
    let scratch = tempfile::tempdir().unwrap();
    let (public, secret, _) = keypair(scratch.path(), Some("correct horse"));
    let out = scratch.path().join("out");
    build(Fixture::Regex, &out, &["--no-compress", "--no-precompile"]);
    let sign_with = |password: Option<&str>| {
        let mut command = common::wasmship();
        command.arg("sign").arg(&out).arg("--secret-key").arg(&secret).stdin(std::process::Stdio::null());
        if let Some(password) = password {
            command.env("CARGO_WASMSHIP_SECRET_KEY_PASSWORD", password);
        }
        command.output().unwrap()
    };
    let no_password = sign_with(None);
    assert!(!no_password.status.success());
    assert!(String::from_utf8_lossy(&no_password.stderr).contains("CARGO_WASMSHIP_SECRET_KEY_PASSWORD"));
    assert!(!sign_with(Some("wrong")).status.success(), "a wrong password signs nothing");
    succeeded(&sign_with(Some("correct horse")));
    assert!(tool(&["verify", "--public-key", &public.display().to_string()], &out).status.success());
}

#[test]
fn the_host_opens_signed_or_pinned_directories_and_refuses_rewritten_ones() {
    let signed = signed_build();
    let answers = |extra: &[&str]| {
        let output = run(rust_host(), &host_args(&signed.out, Fixture::Regex, extra));
        (output.status.success(), output)
    };
    for extra in [
        vec!["--public-key", signed.key_line.as_str()],
        vec!["--manifest-sha256", signed.manifest_sha256.as_str()],
        vec!["--public-key", signed.key_line.as_str(), "--from-bytes"],
    ] {
        let (ok, output) = answers(&extra);
        assert!(ok, "{extra:?}: {}", String::from_utf8_lossy(&output.stderr));
        let report = stdout_json(&output);
        assert_eq!(answers_from(&output.stdout, Fixture::Regex), expected_answers(Fixture::Regex), "{extra:?}");
        let from = if extra.contains(&"--from-bytes") { "bytes" } else { "file" };
        assert_eq!(report["loaded_from"], from);
    }
    rewrite_consistently(&signed.out);
    assert!(tool(&["verify"], &signed.out).status.success(), "the directory alone cannot tell");
    for extra in [vec!["--public-key", signed.key_line.as_str()], vec!["--manifest-sha256", &signed.manifest_sha256]] {
        let (ok, output) = answers(&extra);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!ok, "{extra:?} must refuse a rewritten directory");
        assert!(stderr.contains("not trusted"), "{extra:?}: {stderr}");
    }
}

#[test]
fn the_generated_hosts_refuse_what_the_build_did_not_sign() {
    let signed = signed_build();
    let manifest = Manifest::read(&signed.out.join("manifest.json")).unwrap();
    let loader = manifest.artifact("regex_guest.node.mjs").expect("the Node.js loader");
    let node_answers = |pin: Option<&str>| {
        let Some(node) = common::peers::program("node", "--version", "the generated Node.js loader, signed") else {
            return None;
        };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts/node-host.mjs");
        let mut command = Command::new(node);
        command.arg(script).arg(signed.out.join(&loader.file));
        command.args(calls(Fixture::Regex).into_iter().map(|(_, call)| call));
        if let Some(pin) = pin {
            command.env("WASMSHIP_MANIFEST_SHA256", pin);
        }
        Some(command.output().unwrap())
    };
    // The Go package, vendored as a service would: the embed file, the module, the manifest
    // and its signature.
    let go_check = |dir: &Path| {
        let go = common::peers::program("go", "version", "the generated Go embed, signed")?;
        let module = dir.join("gohost");
        let package = module.join("shipped");
        std::fs::create_dir_all(package.join("web")).unwrap();
        let wasm = &manifest.shipped_wasm().unwrap().file;
        for file in ["wasmship_embed.go", wasm.as_str(), "manifest.json", "manifest.json.minisig"] {
            std::fs::copy(signed.out.join(file), package.join(file)).unwrap();
        }
        std::fs::write(module.join("go.mod"), "module example.com/gohost\n\ngo 1.19\n").unwrap();
        std::fs::write(
            module.join("main.go"),
            "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\n\tpkg \"example.com/gohost/shipped\"\n)\n\nfunc main() {\n\
             \tif err := pkg.Check(); err != nil {\n\t\tfmt.Fprintln(os.Stderr, err)\n\t\tos.Exit(1)\n\t}\n\
             \tfmt.Println(\"checked\", pkg.PublicKey != \"\")\n}\n",
        )
        .unwrap();
        let output = Command::new(go)
            .args(["run", "."])
            .current_dir(&module)
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("GOCACHE", Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache"))
            .output()
            .unwrap();
        Some(output)
    };
    let scratch = tempfile::tempdir().unwrap();
    if let Some(output) = node_answers(None) {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(answers_from(&output.stdout, Fixture::Regex), expected_answers(Fixture::Regex));
        let pinned = node_answers(Some(&signed.manifest_sha256)).unwrap();
        assert!(pinned.status.success(), "{}", String::from_utf8_lossy(&pinned.stderr));
    }
    if let Some(output) = go_check(&scratch.path().join("before")) {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "checked true");
    }

    rewrite_consistently(&signed.out);
    // The loaders' own sha256 constants would catch a changed .wasm alone; here the manifest
    // changed with it, and the loaders must fail on the signature, not on the constant.
    if let Some(output) = node_answers(None) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains("the signature does not verify"), "{stderr}");
        let pinned = node_answers(Some(&signed.manifest_sha256)).unwrap();
        assert!(String::from_utf8_lossy(&pinned.stderr).contains("is not the pinned"));
    }
    if let Some(output) = go_check(&scratch.path().join("after")) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains("the signature does not verify"), "{stderr}");
    }
}

/// A `.cwasm` replaced by a FIFO or by a link to /dev/zero: refused at once, never read
/// without end (the test would hang, and is bounded by `wait_for`'s minute).
#[test]
fn a_fifo_or_a_link_to_dev_zero_is_refused_without_hanging() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let manifest = build(Fixture::Regex, &out, &["--no-compress"]);
    let (cwasm, _) = manifest.cwasms().next().unwrap();
    let path = out.join(&cwasm.file);
    for make in ["fifo", "link"] {
        std::fs::remove_file(&path).unwrap();
        match make {
            "fifo" => rustix::fs::mknodat(rustix::fs::CWD, &path, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap(),
            _ => std::os::unix::fs::symlink("/dev/zero", &path).unwrap(),
        }
        let child = Command::new(rust_host())
            .args(host_args(&out, Fixture::Regex, &[]))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let output = wait_for(child);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{make}: a host loaded it");
        assert!(stderr.contains("refusing to read it"), "{make}: {stderr}");
        let verified = tool(&["verify"], &out);
        assert_eq!(verified.status.code(), Some(3), "{make}");
        assert!(String::from_utf8_lossy(&verified.stderr).contains("cannot be read"), "{make}");
    }
}

/// The child's output, or a failure after a minute: a liveness bound, not a timing.
fn wait_for(mut child: std::process::Child) -> Output {
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("the host did not return within a minute");
}

#[test]
fn report_measures_deserializing_the_mapped_file_next_to_the_bytes() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let output = common::wasmship()
        .args(["report", "-q", "--reps", "1", "--no-compress", "--call", "crc_table_at(7)", "--manifest-path"])
        .arg(Fixture::Regex.manifest())
        .arg("--out-dir")
        .arg(&out)
        .output()
        .unwrap();
    succeeded(&output);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let startup = &report["startup"];
    for row in ["deserialize_cwasm", "deserialize_cwasm_file"] {
        let median = startup[row]["median_ms"].as_f64().unwrap_or(-1.0);
        assert!(median > 0.0, "{row}: {startup}");
    }
}

#[test]
fn one_rule_for_artifact_names_in_the_build_verify_and_the_host() {
    // `a..b` is one plain component: the build writes it, verify and the host read it.
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("out");
    let manifest = build(Fixture::Regex, &out, &["--no-compress", "--set", "name=\"a..b\""]);
    assert!(manifest.artifacts.iter().any(|a| a.file.starts_with("web/a..b.")), "{:?}", manifest.artifacts);
    assert!(tool(&["verify"], &out).status.success());
    let output = run(rust_host(), &host_args(&out, Fixture::Regex, &[]));
    stdout_json(&output);
    assert_eq!(answers_from(&output.stdout, Fixture::Regex), expected_answers(Fixture::Regex));
    // A name that is not one plain component never reaches a file name.
    for bad in ["../up", "a/b", ".hidden"] {
        let refused = common::wasmship()
            .args(["build", "-q", "--manifest-path"])
            .arg(Fixture::Regex.manifest())
            .arg("--out-dir")
            .arg(scratch.path().join("bad"))
            .args(["--set", &format!("name=\"{bad}\"")])
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(2), "{bad}: {}", String::from_utf8_lossy(&refused.stderr));
    }
}
