//! A call to make on a guest, as `report --call`, `serve --call` and the example hosts take it:
//! `verdict("https://example.com/")`, `verdict:"https://example.com/"`, `crc_table_at:7`, or
//! a bare export name. Integers pass as `i32`; a "string" is copied into guest memory through
//! the guest's `alloc(len)` export and passed as (pointer, length).
use anyhow::{anyhow, bail, Context, Result};
use std::fmt;
use std::time::{Duration, Instant};
use wasmtime::{Instance, Store, Val};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Int(i32),
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
                let number = number.trim();
                args.push(Arg::Int(
                    number.parse().with_context(|| format!("`{number}` is not an i32 or a \"string\""))?,
                ));
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
                Arg::Int(n) => n.to_string(),
                Arg::Str(s) => format!("\"{s}\""),
            })
            .collect();
        write!(f, "{}({})", self.export, args.join(", "))
    }
}

/// Makes the call on `instance`: string arguments are copied in first (not timed). Returns
/// the results and how long the call itself took.
pub fn invoke<T>(store: &mut Store<T>, instance: &Instance, spec: &CallSpec) -> Result<(Vec<Val>, Duration)> {
    let wt = |e: wasmtime::Error| anyhow!("{e:?}");
    let mut params = Vec::new();
    for arg in &spec.args {
        match arg {
            Arg::Int(n) => params.push(Val::I32(*n)),
            Arg::Str(text) => {
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
    let func = instance.get_func(&mut *store, &spec.export).with_context(|| format!("no export `{}`", spec.export))?;
    let mut results = vec![Val::I32(0); func.ty(&*store).results().len()];
    let started = Instant::now();
    func.call(&mut *store, &params, &mut results).map_err(wt).with_context(|| format!("calling {spec}"))?;
    Ok((results, started.elapsed()))
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
        let expected =
            CallSpec { export: "verdict".into(), args: vec![Arg::Str("https://a.b/?x=1,2".into()), Arg::Int(-3)] };
        assert_eq!(CallSpec::parse(r#"verdict("https://a.b/?x=1,2", -3)"#).unwrap(), expected);
        assert_eq!(CallSpec::parse(r#"verdict:"https://a.b/?x=1,2",-3"#).unwrap(), expected);
        assert_eq!(expected.to_string(), r#"verdict("https://a.b/?x=1,2", -3)"#);
        assert_eq!(CallSpec::parse("init_count").unwrap(), CallSpec { export: "init_count".into(), args: vec![] });
        assert!(CallSpec::parse("f(x)").unwrap_err().to_string().contains("in `f(x)`"));
        assert!(CallSpec::parse(r#"f("open)"#).is_err());
    }
}
