//! Reading one profile value of a given shape from JSON (cargo metadata turns Cargo.toml into
//! JSON; `--set` values are TOML converted the same way). Shared by every key's parser.
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// A short description of a value for error messages: its TOML type and, when short, itself.
pub fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    };
    let shown = value.to_string();
    if shown.len() <= 40 {
        format!("{kind} ({shown})")
    } else {
        kind.to_string()
    }
}

pub fn string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

pub fn string_list(value: &Value) -> Option<Vec<String>> {
    value.as_array()?.iter().map(string).collect()
}

pub fn list_or_false(value: &Value) -> Option<Option<Vec<String>>> {
    match value {
        Value::Bool(false) => Some(None),
        _ => string_list(value).map(Some),
    }
}

pub fn string_table(value: &Value) -> Option<BTreeMap<String, String>> {
    value.as_object()?.iter().map(|(k, v)| Some((k.clone(), string(v)?))).collect()
}

pub fn int_in(value: &Value, lo: u64, hi: u64) -> Option<u32> {
    value.as_u64().filter(|n| (lo..=hi).contains(n)).map(|n| n as u32)
}

/// Seconds as a number, or a string humantime reads: `"500ms"`, `"30s"`, `"2m"`, `"1m 30s"`.
pub fn duration(value: &Value) -> Option<Duration> {
    let parsed = match value.as_f64() {
        Some(secs) => Duration::try_from_secs_f64(secs).ok(),
        None => humantime::parse_duration(value.as_str()?.trim()).ok(),
    };
    // Zero, negative and too-large-for-`Duration` values are type errors, not panics.
    parsed.filter(|d| !d.is_zero())
}

/// Bytes as an integer, or a string bytesize reads: `"512MiB"`, `"4 GiB"`, `"1GB"`.
pub fn byte_size(value: &Value) -> Option<u64> {
    let bytes = match value.as_u64() {
        Some(n) => n,
        None => value.as_str()?.trim().parse::<bytesize::ByteSize>().ok()?.as_u64(),
    };
    // bytesize saturates on overflow: a size at u64::MAX is a typo, not a request.
    (bytes > 0 && bytes < u64::MAX).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_units_through_maintained_crates() {
        // Forms the hand-written parsers refused: fractions and compound durations.
        assert_eq!(byte_size(&json!("1.5GiB")), Some(3 << 29));
        assert_eq!(duration(&json!("1m 30s")), Some(Duration::from_secs(90)));
        assert_eq!(byte_size(&json!("99999999999999999999GiB")), None, "overflow is an error");
    }

    #[test]
    fn parses_units() {
        assert_eq!(duration(&json!(2)), Some(Duration::from_secs(2)));
        assert_eq!(duration(&json!("500ms")), Some(Duration::from_millis(500)));
        assert_eq!(duration(&json!("0s")), None);
        assert_eq!(duration(&json!(1e300)), None);
        assert_eq!(duration(&json!(-2)), None);
        assert_eq!(byte_size(&json!("512MiB")), Some(512 << 20));
        assert_eq!(byte_size(&json!("4 GiB")), Some(4 << 30));
        assert_eq!(byte_size(&json!("lots")), None);
    }
}
