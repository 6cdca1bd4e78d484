//! `cargo wasmship ci [--check]`: writes `.github/workflows/wasmship-release.yml` at the
//! workspace root from `templates/ci/`, pinned to this tool's exact version. With `--check`
//! it writes nothing and fails with a diff while the file on disk differs.
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

const TEMPLATE: &str = include_str!("../../templates/ci/wasmship-release.yml");
pub const WORKFLOW: &str = ".github/workflows/wasmship-release.yml";

/// What to build: one package, or every guest of a workspace.
pub enum Scope {
    Package(String),
    Workspace,
}

/// The workflow for `scope`; with `public_key` (the profile's), it signs each manifest with
/// the repository secret `WASMSHIP_MINISIGN_SECRET_KEY` and verifies against that key.
pub fn workflow(scope: &Scope, public_key: Option<&str>) -> String {
    let (what, args) = match scope {
        Scope::Package(name) => (format!("`{name}`"), format!("-p {name}")),
        Scope::Workspace => ("every guest of the workspace".to_string(), "--workspace".to_string()),
    };
    let (sign, verify_args) = match public_key {
        Some(key) => (SIGN_STEP.to_string(), format!(" --public-key {key}")),
        None => (String::new(), String::new()),
    };
    TEMPLATE
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
        .replace("@WHAT@", &what)
        .replace("@BUILD_ARGS@", &args)
        .replace("@SIGN_STEP@", &sign)
        .replace("@VERIFY_ARGS@", &verify_args)
}

/// Signs each manifest with the secret key kept as a repository secret, written to a file only
/// the runner's user can read for as long as the step runs.
const SIGN_STEP: &str = r#"      - name: Sign each manifest
        env:
          WASMSHIP_MINISIGN_SECRET_KEY: ${{ secrets.WASMSHIP_MINISIGN_SECRET_KEY }}
          CARGO_WASMSHIP_SECRET_KEY_PASSWORD: ${{ secrets.WASMSHIP_MINISIGN_PASSWORD }}
        run: |
          umask 077
          key="$RUNNER_TEMP/wasmship-minisign.key"
          printf '%s\n' "$WASMSHIP_MINISIGN_SECRET_KEY" > "$key"
          for manifest in $(find dist -name manifest.json); do
            cargo wasmship sign "$manifest" --secret-key "$key"
          done
          rm -f "$key"

"#;

pub enum Outcome {
    Written(PathBuf),
    Unchanged(PathBuf),
}

/// Writes the workflow under `root`, or with `check` compares it.
pub fn run(root: &Path, scope: &Scope, public_key: Option<&str>, check: bool) -> Result<Outcome> {
    let path = root.join(WORKFLOW);
    let wanted = workflow(scope, public_key);
    let existing = std::fs::read_to_string(&path).ok();
    if existing.as_deref() == Some(wanted.as_str()) {
        return Ok(Outcome::Unchanged(path));
    }
    if check {
        let diff = match &existing {
            None => format!("  {} does not exist", path.display()),
            Some(text) => similar::TextDiff::from_lines(text.as_str(), wanted.as_str())
                .unified_diff()
                .context_radius(2)
                .header(
                    &format!("{WORKFLOW} (on disk)"),
                    &format!("{WORKFLOW} (cargo-wasmship {})", env!("CARGO_PKG_VERSION")),
                )
                .to_string(),
        };
        return Err(anyhow::Error::new(crate::exit::ProblemsFound(format!(
            "{} is stale\n{}\n  help: regenerate it with `cargo wasmship ci`",
            path.display(),
            diff.trim_end()
        ))));
    }
    let dir = path.parent().expect("a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&path, wanted).with_context(|| format!("writing {}", path.display()))?;
    Ok(Outcome::Written(path))
}

/// The `public-key` of the guests `scope` builds (one key for all), if they set one.
pub fn public_key(cargo: &crate::guest::CargoArgs, scope: &Scope) -> Result<Option<String>> {
    let packages = match scope {
        Scope::Package(name) => vec![name.clone()],
        Scope::Workspace => crate::guest::guests_with_profiles(cargo)?.1,
    };
    let mut keys: Vec<String> = Vec::new();
    for package in packages {
        let mut one = cargo.clone();
        one.package = Some(package);
        let located = crate::plan::locate(&crate::plan::Request::plain(one, "release"))?;
        if let Some(key) = located.profile.public_key {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    match keys.len() {
        0 | 1 => Ok(keys.pop()),
        _ => anyhow::bail!(
            "the guests set different `public-key`s ({}); one release workflow signs with one key\n  \
             help: set `public-key` once in [workspace.metadata.wasmship]",
            keys.join(", ")
        ),
    }
}

/// The workspace root and what to build, from `cargo metadata` of `manifest` (or the
/// current directory): every guest when the workspace has more than one package with a
/// wasmship profile, else the one guest.
pub fn scope(cargo: &crate::guest::CargoArgs) -> Result<(PathBuf, Scope)> {
    let guests = crate::guest::guests_with_profiles(cargo)?;
    let root = guests.0;
    match guests.1.as_slice() {
        [] => {
            let guest = crate::guest::locate(cargo).context("finding the guest the workflow builds")?;
            Ok((root, Scope::Package(guest.package.name.to_string())))
        }
        [one] => Ok((root, Scope::Package(one.clone()))),
        _ => Ok((root, Scope::Workspace)),
    }
}
