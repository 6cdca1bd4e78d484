//! A call to make on a guest, as `report --call`, `serve --call` and the example hosts take it:
//! `verdict("https://example.com/")`, `verdict:"https://example.com/"`, `crc_table_at:7`, or
//! a bare export name. A number takes the type of the export's parameter it lands on:
//! `i32` and `i64` from integers (`-3`, `4294967295` for a `u32`), `f32` and `f64` from
//! decimals (`2.5`, `-1e-3`, `inf`, `nan`). A "string" is copied into guest memory through the
//! guest's `alloc(len)` export and takes two `i32` parameters, (pointer, length).
use anyhow::{anyhow, bail, Context, Result};
use std::fmt;
use std::time::{Duration, Instant};
use wasmtime::{Instance, Store, Val, ValType};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A number as written; its type is the parameter's.
    Number(String),
    Str(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSpec {
    pub export: String,
    pub args: Vec<Arg>,
}

impl CallSpec {
    pub fn parse(text: &str) -> Result<CallSpec> {
        let text = text.trim();
        let (export, args) = if let Some((name, rest)) = text.split_once('(') {
            let inner = rest.strip_suffix(')').with_context(|| format!("`{text}`: missing `)`"))?;
            (name, inner)
        } else if let Some((name, rest)) = text.split_once(':') {
            (name, rest)
        } else {
            (text, "")
        };
        let export = export.trim();
        if export.is_empty() {
            bail!("`{text}` names no export; write EXPORT, EXPORT:ARGS or EXPORT(ARGS)");
        }
        Ok(CallSpec { export: export.to_string(), args: parse_args(args).with_context(|| format!("in `{text}`"))? })
    }
}

fn parse_args(text: &str) -> Result<Vec<Arg>> {
    let mut args = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | ',' => {
                chars.next();
            }
            '"' => {
                chars.next();
                let mut string = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => string.push(c),
                        None => bail!("a string argument lacks its closing `\"`"),
                    }
                }
                args.push(Arg::Str(string));
            }
            _ => {
                let mut number = String::new();
                while let Some(&c) = chars.peek().filter(|c| **c != ',') {
                    number.push(c);
                    chars.next();
                }
                let number = number.trim().to_string();
                if number.parse::<f64>().is_err() && number.parse::<i128>().is_err() {
                    bail!("`{number}` is not a number or a \"string\"");
                }
                args.push(Arg::Number(number));
            }
        }
    }
    Ok(args)
}

/// The canonical form, `export(1, "text")`, which the demo page parses too.
impl fmt::Display for CallSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| match a {
                Arg::Number(n) => n.clone(),
                Arg::Str(s) => format!("\"{s}\""),
            })
            .collect();
        write!(f, "{}({})", self.export, args.join(", "))
    }
}

/// Makes the call on `instance`: string arguments are copied in first (not timed). Returns
/// the results and how long the call itself took.
pub fn invoke<T>(store: &mut Store<T>, instance: &Instance, spec: &CallSpec) -> Result<(Vec<Val>, Duration)> {
    let wt = |e: wasmtime::Error| anyhow!("{e:#}");
    let func = instance.get_func(&mut *store, &spec.export).with_context(|| format!("no export `{}`", spec.export))?;
    let ty = func.ty(&*store);
    let types: Vec<ValType> = ty.params().collect();
    let mut params = Vec::new();
    for arg in &spec.args {
        let at = params.len();
        match arg {
            Arg::Number(text) => {
                let Some(ty) = types.get(at) else {
                    bail!(
                        "{spec}: `{}` takes {}, and `{text}` is one argument too many",
                        spec.export,
                        signature(&types)
                    );
                };
                params.push(number(text, ty).ok_or_else(|| {
                    anyhow!(
                        "{spec}: parameter {} of `{}` is {}, and `{text}` is not one",
                        at + 1,
                        spec.export,
                        name(ty)
                    )
                })?);
            }
            Arg::Str(text) => {
                let pair = types.get(at..at + 2);
                if !pair.is_some_and(|p| p.iter().all(|t| matches!(t, ValType::I32))) {
                    bail!(
                        "{spec}: a \"string\" takes two i32 parameters (pointer, length), and parameters {} and {} \
                         of `{}` are not (it takes {})",
                        at + 1,
                        at + 2,
                        spec.export,
                        signature(&types)
                    );
                }
                let alloc = instance
                    .get_typed_func::<i32, i32>(&mut *store, "alloc")
                    .map_err(|_| anyhow!("string arguments need an `alloc(len) -> ptr` export"))?;
                let ptr = alloc.call(&mut *store, text.len() as i32).map_err(wt)?;
                let memory = instance.get_memory(&mut *store, "memory").context("no `memory` export")?;
                memory.write(&mut *store, ptr as u32 as usize, text.as_bytes()).map_err(|e| anyhow!("{e}"))?;
                params.extend([Val::I32(ptr), Val::I32(text.len() as i32)]);
            }
        }
    }
    if params.len() != types.len() {
        bail!("{spec}: `{}` takes {}, and the call gives {} value(s)", spec.export, signature(&types), params.len());
    }
    let mut results = vec![Val::I32(0); ty.results().len()];
    let started = Instant::now();
    func.call(&mut *store, &params, &mut results).map_err(wt).with_context(|| format!("calling {spec}"))?;
    Ok((results, started.elapsed()))
}

/// `text` as a value of type `ty`, if it is one.
fn number(text: &str, ty: &ValType) -> Option<Val> {
    match ty {
        // An i32 is also written as the u32 with the same bits (`4294967295` is -1).
        ValType::I32 => text.parse::<i32>().ok().or_else(|| text.parse::<u32>().ok().map(|n| n as i32)).map(Val::I32),
        ValType::I64 => text.parse::<i64>().ok().or_else(|| text.parse::<u64>().ok().map(|n| n as i64)).map(Val::I64),
        ValType::F32 => text.parse::<f32>().ok().map(|f| Val::F32(f.to_bits())),
        ValType::F64 => text.parse::<f64>().ok().map(|f| Val::F64(f.to_bits())),
        _ => None,
    }
}

fn name(ty: &ValType) -> String {
    match ty {
        ValType::I32 => "i32".into(),
        ValType::I64 => "i64".into(),
        ValType::F32 => "f32".into(),
        ValType::F64 => "f64".into(),
        ValType::V128 => "v128".into(),
        ValType::Ref(r) => format!("a reference ({r})"),
    }
}

/// `(i64, f64)`, or `no parameters`.
fn signature(types: &[ValType]) -> String {
    if types.is_empty() {
        return "no parameters".into();
    }
    format!("({})", types.iter().map(name).collect::<Vec<_>>().join(", "))
}

/// Results as text: numbers as numbers, comma-separated.
pub fn answer_text(results: &[Val]) -> String {
    let shown: Vec<String> = results
        .iter()
        .map(|v| match v {
            Val::I32(n) => n.to_string(),
            Val::I64(n) => n.to_string(),
            Val::F32(f) => f32::from_bits(*f).to_string(),
            Val::F64(f) => f64::from_bits(*f).to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_reads_the_same() {
        let expected = CallSpec {
            export: "verdict".into(),
            args: vec![Arg::Str("https://a.b/?x=1,2".into()), Arg::Number("-3".into())],
        };
        assert_eq!(CallSpec::parse(r#"verdict("https://a.b/?x=1,2", -3)"#).unwrap(), expected);
        assert_eq!(CallSpec::parse(r#"verdict:"https://a.b/?x=1,2",-3"#).unwrap(), expected);
        assert_eq!(expected.to_string(), r#"verdict("https://a.b/?x=1,2", -3)"#);
        assert_eq!(CallSpec::parse("init_count").unwrap(), CallSpec { export: "init_count".into(), args: vec![] });
        assert!(CallSpec::parse("f(x)").unwrap_err().to_string().contains("in `f(x)`"));
        let typed = CallSpec::parse("mix(1, 2, 3.5, -1e-3)").unwrap();
        assert_eq!(typed.args[2], Arg::Number("3.5".into()));
        assert!(CallSpec::parse(r#"f("open)"#).is_err());
    }
}
