//! A call to make on a guest, as `report --call` and `serve --call` take it:
//! `verdict("https://example.com/")`, `verdict:"https://example.com/"`, `crc_table_at:7`, or
//! a bare export name. Integers pass as `i32`; a "string" is copied into guest memory through
//! the guest's `alloc(len)` export and passed as (pointer, length).
use anyhow::{bail, Context, Result};
use std::fmt;

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
