//! Parses an ordered wasm-opt argument list (`["--converge", "-Oz", "--gufa"]`) into a plan,
//! with wasm-opt's own semantics (binaryen's `OptimizationOptions`):
//! - each `-O<level>` runs the default optimization pipeline at that level, in place;
//! - named passes run in order, with the opt/shrink levels of the last `-O` in the list;
//! - `--converge` repeats the whole list while the module keeps shrinking.
//!
//! Every name is checked here, before binaryen runs: binaryen aborts the whole process on
//! some unknown names rather than returning an error.
use crate::config::keys::nearest_of;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Step {
    /// The default pipeline at these levels (`-O3` = 3/0, `-Os` = 2/1, `-Oz` = 2/2).
    Optimize {
        flag: String,
        optimize_level: i32,
        shrink_level: i32,
    },
    Pass {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PassPlan {
    pub converge: bool,
    pub steps: Vec<Step>,
    /// Levels named passes run with: those of the last `-O` flag (0/0 when there is none).
    pub optimize_level: i32,
    pub shrink_level: i32,
    /// `--name=ARG` and `--pass-arg=KEY@VALUE`.
    pub pass_args: BTreeMap<String, String>,
    pub enable_features: Vec<String>,
    pub disable_features: Vec<String>,
    pub all_features: bool,
    pub traps_never_happen: bool,
    pub low_memory_unused: bool,
    pub fast_math: bool,
    pub zero_filled_memory: bool,
}

/// Binaryen feature names as the `--enable-*`/`--disable-*` flags spell them.
pub const FEATURES: &[&str] = &[
    "threads",
    "mutable-globals",
    "nontrapping-float-to-int",
    "simd",
    "bulk-memory",
    "sign-ext",
    "exception-handling",
    "tail-call",
    "reference-types",
    "multivalue",
    "gc",
    "memory64",
    "relaxed-simd",
    "extended-const",
    "strings",
    "multimemory",
];

const FLAGS: &[&str] = &[
    "--converge",
    "-O",
    "-O0",
    "-O1",
    "-O2",
    "-O3",
    "-O4",
    "-Os",
    "-Oz",
    "--all-features",
    "--traps-never-happen",
    "--low-memory-unused",
    "--fast-math",
    "--zero-filled-memory",
    "--pass-arg",
    "--debuginfo",
];

fn opt_levels(flag: &str) -> Option<(i32, i32)> {
    Some(match flag {
        "-O0" => (0, 0),
        "-O1" => (1, 0),
        "-O2" => (2, 0),
        "-O3" => (3, 0),
        "-O4" => (4, 0),
        "-O" | "-Os" => (2, 1),
        "-Oz" => (2, 2),
        _ => return None,
    })
}

/// Parses `args` (each element may hold several space-separated arguments) against the
/// pass names binaryen has registered.
pub fn parse(args: &[String], registered: &[String]) -> Result<PassPlan> {
    let tokens: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
    let mut plan = PassPlan::default();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        i += 1;
        if let Some((o, s)) = opt_levels(token) {
            plan.optimize_level = o;
            plan.shrink_level = s;
            plan.steps.push(Step::Optimize { flag: token.to_string(), optimize_level: o, shrink_level: s });
            continue;
        }
        match token {
            "--converge" | "-c" => plan.converge = true,
            "--all-features" | "-all" => plan.all_features = true,
            "--traps-never-happen" | "-tnh" => plan.traps_never_happen = true,
            "--low-memory-unused" | "-lmu" => plan.low_memory_unused = true,
            "--fast-math" | "-ffm" => plan.fast_math = true,
            "--zero-filled-memory" | "-uim" => plan.zero_filled_memory = true,
            // Names are always kept for `<name>.debug.wasm`; the strip stage drops them.
            "--debuginfo" | "-g" => {}
            "--pass-arg" | "-pa" => {
                let Some(spec) = tokens.get(i) else {
                    bail!("`{token}` needs a KEY@VALUE argument after it");
                };
                i += 1;
                add_pass_arg(&mut plan, spec)?;
            }
            _ => parse_long(&mut plan, token, registered)?,
        }
    }
    if plan.steps.is_empty() {
        bail!(
            "the wasm-opt pass list {args:?} runs no passes\n  \
             help: add an optimization level such as \"-Oz\", or set `wasm-opt = false` to skip the stage"
        );
    }
    Ok(plan)
}

fn parse_long(plan: &mut PassPlan, token: &str, registered: &[String]) -> Result<()> {
    if let Some(spec) = token.strip_prefix("--pass-arg=") {
        return add_pass_arg(plan, spec);
    }
    if let Some(feature) = token.strip_prefix("--enable-") {
        check_feature(token, feature)?;
        plan.enable_features.push(feature.to_string());
        return Ok(());
    }
    if let Some(feature) = token.strip_prefix("--disable-") {
        check_feature(token, feature)?;
        plan.disable_features.push(feature.to_string());
        return Ok(());
    }
    let Some(body) = token.strip_prefix("--") else {
        let mut message = format!("`{token}` is not a wasm-opt argument (arguments start with `-` or `--`)");
        let dashed = [format!("-{token}"), format!("--{token}")];
        if let Some(fix) = dashed.iter().find(|d| opt_levels(d).is_some() || is_pass(d, registered)) {
            message.push_str(&format!("\n  help: did you mean `{fix}`?"));
        }
        bail!(message);
    };
    let (name, argument) = match body.split_once('=') {
        Some((name, arg)) => (name, Some(arg)),
        None => (body, None),
    };
    if !registered.iter().any(|r| r == name) {
        bail!(unknown_argument(token, registered));
    }
    if let Some(argument) = argument {
        if plan.pass_args.insert(name.to_string(), argument.to_string()).is_some() {
            bail!("pass `{name}` is given an argument twice; wasm-opt accepts one per pass");
        }
    }
    plan.steps.push(Step::Pass { name: name.to_string() });
    Ok(())
}

fn is_pass(flag: &str, registered: &[String]) -> bool {
    flag.strip_prefix("--").is_some_and(|n| registered.iter().any(|r| r == n))
}

fn add_pass_arg(plan: &mut PassPlan, spec: &str) -> Result<()> {
    let Some((key, value)) = spec.split_once('@') else {
        bail!("`--pass-arg {spec}`: expected KEY@VALUE, e.g. `--pass-arg=asyncify-imports@env.sleep`");
    };
    plan.pass_args.insert(key.to_string(), value.to_string());
    Ok(())
}

fn check_feature(token: &str, feature: &str) -> Result<()> {
    if FEATURES.contains(&feature) {
        return Ok(());
    }
    let mut message = format!("unknown wasm feature in `{token}`");
    if let Some(near) = nearest_of(feature, FEATURES.iter().copied()) {
        message.push_str(&format!("\n  help: did you mean `{}{near}`?", &token[..token.len() - feature.len()]));
    } else {
        message.push_str(&format!("\n  known features: {}", FEATURES.join(", ")));
    }
    bail!(message)
}

fn unknown_argument(token: &str, registered: &[String]) -> String {
    let name = token.trim_start_matches('-').split('=').next().unwrap_or(token);
    let flags = FLAGS.iter().map(|f| f.trim_start_matches('-'));
    let candidates = registered.iter().map(String::as_str).chain(flags);
    let mut message = format!("unknown wasm-opt pass or flag `{token}`");
    let near: Vec<&str> = close_matches(name, candidates);
    if near.is_empty() {
        message.push_str("\n  help: `wasm-opt --help` lists the passes of binaryen 116");
    } else {
        let shown: Vec<String> = near.iter().map(|n| format!("`--{n}`")).collect();
        message.push_str(&format!("\n  help: did you mean {}?", shown.join(" or ")));
    }
    message
}

/// Up to three candidates by ascending edit distance, or sharing a prefix with `name`.
fn close_matches<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| {
            let distance = strsim::levenshtein(name, c);
            let prefix = c.starts_with(name) || name.starts_with(c);
            (if prefix { distance.min(1) } else { distance }, c)
        })
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .collect();
    scored.sort();
    scored.dedup_by_key(|(_, c)| *c);
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered() -> Vec<String> {
        ["gufa", "gufa-optimizing", "flatten", "rereloop", "inlining", "dce", "asyncify"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn parse_strs(args: &[&str]) -> Result<PassPlan> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&args, &registered())
    }

    #[test]
    fn default_list() {
        let plan = parse_strs(&["--converge", "-Oz", "--gufa"]).unwrap();
        assert!(plan.converge);
        assert_eq!((plan.optimize_level, plan.shrink_level), (2, 2));
        assert_eq!(plan.steps.len(), 2);
        assert_eq!(plan.steps[1], Step::Pass { name: "gufa".into() });
    }

    #[test]
    fn ordered_list_keeps_order_and_repeats() {
        let plan = parse_strs(&["--converge --flatten --rereloop", "-O3", "--gufa", "-Oz"]).unwrap();
        let names: Vec<String> = plan
            .steps
            .iter()
            .map(|s| match s {
                Step::Optimize { flag, .. } => flag.clone(),
                Step::Pass { name } => name.clone(),
            })
            .collect();
        assert_eq!(names, ["flatten", "rereloop", "-O3", "gufa", "-Oz"]);
        // Named passes take the last -O's levels, as in wasm-opt.
        assert_eq!((plan.optimize_level, plan.shrink_level), (2, 2));
    }

    #[test]
    fn unknown_pass_suggests_near_names() {
        let err = parse_strs(&["-Oz", "--gufa-optimising"]).unwrap_err().to_string();
        assert!(err.contains("unknown wasm-opt pass or flag `--gufa-optimising`"), "{err}");
        assert!(err.contains("`--gufa-optimizing`"), "{err}");
    }

    #[test]
    fn missing_dash_and_bad_feature() {
        let err = parse_strs(&["Oz"]).unwrap_err().to_string();
        assert!(err.contains("did you mean `-Oz`?"), "{err}");
        let err = parse_strs(&["--enable-simdd", "-O"]).unwrap_err().to_string();
        assert!(err.contains("did you mean `--enable-simd`?"), "{err}");
    }

    #[test]
    fn arguments_and_empty_lists() {
        let plan = parse_strs(&["--asyncify=x", "--pass-arg", "a@b", "-O1"]).unwrap();
        assert_eq!(plan.pass_args.get("asyncify").map(String::as_str), Some("x"));
        assert_eq!(plan.pass_args.get("a").map(String::as_str), Some("b"));
        assert!(parse_strs(&["--converge"]).is_err());
        assert!(parse_strs(&[]).is_err());
        assert!(parse_strs(&["--pass-arg"]).is_err());
    }
}
