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
    /// `--mvp-features`: start from the MVP feature set instead of binaryen's default.
    pub mvp_features: bool,
    /// `--no-validation`: binaryen does not validate the module before or after.
    pub no_validation: bool,
    pub inlining: InliningPlan,
    pub traps_never_happen: bool,
    pub low_memory_unused: bool,
    pub fast_math: bool,
    pub zero_filled_memory: bool,
}

/// wasm-opt's inlining flags; `None` keeps binaryen's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InliningPlan {
    pub always_inline_max_function_size: Option<u32>,
    pub flexible_inline_max_function_size: Option<u32>,
    pub one_caller_inline_max_function_size: Option<u32>,
    pub inline_functions_with_loops: bool,
    pub partial_inlining_ifs: Option<u32>,
}

/// wasm-opt flags (binaryen 116's `wasm-opt --help`) this tool does not take, and why.
/// Every other flag of binaryen 116 is accepted with wasm-opt's meaning.
pub const REFUSED: &[(&[&str], &str)] = &[
    (&["--ignore-implicit-traps", "-iit"], "binaryen's library API (the wasm-opt crate) does not expose it; `--traps-never-happen` (-tnh) is the stronger, supported assumption"),
    (&["--skip-pass", "-sp"], "binaryen's library API does not expose it; leave the pass out of the list instead"),
    (&["--closed-world", "-cw"], "binaryen's library API does not expose it"),
    (&["--experimental-poppy"], "binaryen's library API does not expose it"),
    (&["--output", "-o", "--emit-text", "-S"], "cargo-wasmship writes the module itself, as binary"),
    (&["--input-source-map", "-ism", "--output-source-map", "-osm", "--output-source-map-url", "-osu"], "source maps are not part of the pipeline"),
    (&["--translate-to-fuzz", "-ttf", "--initial-fuzz", "-if", "--fuzz-exec", "-fe", "--fuzz-exec-before", "-feh", "--fuzz-passes", "-fp", "--no-fuzz-memory", "--no-fuzz-oob", "--extra-fuzz-command", "-efc"], "fuzzing flags are for testing binaryen itself"),
    (&["--emit-js-wrapper", "-ejw", "--emit-spec-wrapper", "-esw", "--emit-wasm2c-wrapper"], "wrappers are for testing binaryen itself"),
    (&["--new-wat-parser"], "the module is binary; there is no text to parse"),
    (&["--debug", "-d", "--help", "-h", "--version"], "not an optimization option; run wasm-opt itself for these"),
    (&["--enable-typed-function-references", "--disable-typed-function-references"], "a deprecated alias in binaryen 116; use `--enable-gc` / `--disable-gc`"),
];

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
    "--optimize-level",
    "--shrink-level",
    "--always-inline-max-function-size",
    "--flexible-inline-max-function-size",
    "--one-caller-inline-max-function-size",
    "--inline-functions-with-loops",
    "--partial-inlining-ifs",
    "--no-validation",
    "--mvp-features",
    "--detect-features",
    "--quiet",
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
        // `--flag=value` is the same as `--flag value`.
        let (flag, inline_value) = match token.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') && takes_value(flag) => (flag, Some(value)),
            _ => (token, None),
        };
        if takes_value(flag) {
            let value = match inline_value {
                Some(value) => value,
                None => {
                    let Some(value) = tokens.get(i) else {
                        bail!("`{flag}` needs a value after it");
                    };
                    i += 1;
                    value
                }
            };
            set_value(&mut plan, flag, value)?;
            continue;
        }
        if let Some((_, why)) = REFUSED.iter().find(|(flags, _)| flags.contains(&token)) {
            bail!("wasm-opt's `{token}` is not taken here: {why}");
        }
        match token {
            "--converge" | "-c" => plan.converge = true,
            "--all-features" | "-all" => plan.all_features = true,
            "--mvp-features" | "-mvp" => plan.mvp_features = true,
            "--no-validation" | "-n" => plan.no_validation = true,
            "--traps-never-happen" | "-tnh" => plan.traps_never_happen = true,
            "--low-memory-unused" | "-lmu" => plan.low_memory_unused = true,
            "--fast-math" | "-ffm" => plan.fast_math = true,
            "--zero-filled-memory" | "-uim" => plan.zero_filled_memory = true,
            "--inline-functions-with-loops" | "-ifwl" => plan.inlining.inline_functions_with_loops = true,
            // Names are always kept for `<name>.debug.wasm`; the strip stage drops them.
            "--debuginfo" | "-g" => {}
            // No effect in binaryen 116 either (features come from the module), or output only.
            "--detect-features" | "--quiet" | "-q" => {}
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
        if token.starts_with('-') && token.len() > 1 {
            let mut message = format!("unknown wasm-opt flag `{token}`");
            let near = close_matches(token.trim_start_matches('-'), FLAGS.iter().map(|f| f.trim_start_matches('-')));
            if !near.is_empty() {
                let shown: Vec<String> = near.iter().map(|n| format!("`--{n}`")).collect();
                message.push_str(&format!("\n  help: did you mean {}?", shown.join(" or ")));
            }
            bail!(message);
        }
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

/// Flags that take a value (`-ol 3` or `--optimize-level=3`).
pub fn takes_value(flag: &str) -> bool {
    matches!(
        flag,
        "--pass-arg"
            | "-pa"
            | "--optimize-level"
            | "-ol"
            | "--shrink-level"
            | "-s"
            | "--always-inline-max-function-size"
            | "-aimfs"
            | "--flexible-inline-max-function-size"
            | "-fimfs"
            | "--one-caller-inline-max-function-size"
            | "-ocimfs"
            | "--partial-inlining-ifs"
            | "-pii"
    )
}

fn set_value(plan: &mut PassPlan, flag: &str, value: &str) -> Result<()> {
    let number = || -> Result<u32> {
        value.parse().map_err(|_| anyhow::anyhow!("`{flag}` needs a whole number, got `{value}`"))
    };
    let inlining = &mut plan.inlining;
    match flag {
        "--pass-arg" | "-pa" => return add_pass_arg(plan, value),
        // Like wasm-opt: they set the levels named passes run with, as a later -O would.
        "--optimize-level" | "-ol" => plan.optimize_level = number()? as i32,
        "--shrink-level" | "-s" => plan.shrink_level = number()? as i32,
        "--always-inline-max-function-size" | "-aimfs" => inlining.always_inline_max_function_size = Some(number()?),
        "--flexible-inline-max-function-size" | "-fimfs" => {
            inlining.flexible_inline_max_function_size = Some(number()?)
        }
        "--one-caller-inline-max-function-size" | "-ocimfs" => {
            inlining.one_caller_inline_max_function_size = Some(number()?)
        }
        "--partial-inlining-ifs" | "-pii" => inlining.partial_inlining_ifs = Some(number()?),
        _ => unreachable!("takes_value lists `{flag}`"),
    }
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

#[cfg(test)]
mod flag_tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<PassPlan> {
        let registered: Vec<String> = ["flatten", "inlining", "dce"].iter().map(|s| s.to_string()).collect();
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &registered)
    }

    #[test]
    fn level_and_inlining_flags_take_values_both_ways() {
        let plan = parse_strs(&["-Oz", "-ol", "3", "--shrink-level=1", "--inlining", "-aimfs", "7", "-ifwl", "-pii=2"])
            .unwrap();
        assert_eq!((plan.optimize_level, plan.shrink_level), (3, 1), "named passes run at -ol/-s levels");
        assert_eq!(plan.inlining.always_inline_max_function_size, Some(7));
        assert_eq!(plan.inlining.partial_inlining_ifs, Some(2));
        assert!(plan.inlining.inline_functions_with_loops);
        let plan = parse_strs(&["-O1", "-n", "-mvp", "-q", "--detect-features"]).unwrap();
        assert!(plan.no_validation && plan.mvp_features);
        let err = parse_strs(&["-O1", "-ol", "high"]).unwrap_err().to_string();
        assert!(err.contains("`-ol` needs a whole number, got `high`"), "{err}");
        assert!(parse_strs(&["-O1", "-s"]).unwrap_err().to_string().contains("`-s` needs a value"));
    }

    #[test]
    fn refused_flags_say_why() {
        let err = parse_strs(&["-O1", "-iit"]).unwrap_err().to_string();
        assert!(err.contains("wasm-opt's `-iit` is not taken here") && err.contains("--traps-never-happen"), "{err}");
        let err = parse_strs(&["-O1", "-o", "x.wasm"]).unwrap_err().to_string();
        assert!(err.contains("writes the module itself"), "{err}");
        let err = parse_strs(&["-O1", "-Oq"]).unwrap_err().to_string();
        assert!(err.contains("unknown wasm-opt flag `-Oq`"), "{err}");
    }
}
