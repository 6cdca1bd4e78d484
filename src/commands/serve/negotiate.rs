//! `Accept-Encoding` negotiation (RFC 9110, section 12.5.3) and `If-None-Match` matching.

/// Picks the encoding to send from `available` (`br`, `gzip`; identity is always there):
/// the one with the highest q-value, ties going to the earlier one in `available`, then to
/// identity. `None` is identity; `Err` means nothing acceptable is available (406).
pub fn encoding<'a>(accept: Option<&str>, available: &[&'a str]) -> Result<Option<&'a str>, NotAcceptable> {
    let Some(accept) = accept else { return Ok(None) };
    let entries: Vec<(String, f32)> = accept.split(',').filter_map(entry).collect();
    let q = |coding: &str| -> f32 {
        let named = entries.iter().find(|(token, _)| token == coding || (coding == "gzip" && token == "x-gzip"));
        match named {
            Some((_, q)) => *q,
            None => match entries.iter().find(|(token, _)| token == "*") {
                Some((_, q)) => *q,
                // Identity is acceptable unless excluded, but a client that names codings
                // prefers them: it comes last. Other codings only when named.
                None if coding == "identity" => IDENTITY_BY_DEFAULT,
                None => 0.0,
            },
        }
    };
    let mut best: Option<(Option<&'a str>, f32)> = None;
    for coding in available.iter().map(|c| Some(*c)).chain([None]) {
        let weight = q(coding.unwrap_or("identity"));
        if weight > 0.0 && best.is_none_or(|(_, b)| weight > b) {
            best = Some((coding, weight));
        }
    }
    best.map(|(coding, _)| coding).ok_or(NotAcceptable)
}

/// The weight of identity when `Accept-Encoding` does not name it: above 0, below any q-value
/// a client can write (three decimals at most).
const IDENTITY_BY_DEFAULT: f32 = 0.0001;

/// No acceptable representation: `Accept-Encoding` excluded identity and every coding we have.
#[derive(Debug, PartialEq, Eq)]
pub struct NotAcceptable;

/// `gzip;q=0.5` -> (`gzip`, 0.5). An entry with a malformed q-value is ignored.
fn entry(text: &str) -> Option<(String, f32)> {
    let mut parts = text.split(';');
    let token = parts.next()?.trim().to_ascii_lowercase();
    if token.is_empty() {
        return None;
    }
    let mut q = 1.0;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            q = value.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q))?;
        }
    }
    Some((token, q))
}

/// Whether `If-None-Match` names `etag` (weak comparison, as for GET) or is `*`.
pub fn none_match(if_none_match: &str, etag: &str) -> bool {
    if_none_match.trim() == "*"
        || if_none_match.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag.trim_start_matches("W/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: &[&str] = &["br", "gzip"];

    #[test]
    fn the_matrix() {
        let cases: &[(Option<&str>, Result<Option<&str>, NotAcceptable>)] = &[
            (None, Ok(None)),
            (Some(""), Ok(None)),
            (Some("gzip, deflate, br, zstd"), Ok(Some("br"))),
            (Some("gzip"), Ok(Some("gzip"))),
            (Some("x-gzip"), Ok(Some("gzip"))),
            (Some("br;q=0, gzip"), Ok(Some("gzip"))),
            (Some("gzip;q=0.5, br;q=0.4"), Ok(Some("gzip"))),
            (Some("BR"), Ok(Some("br"))),
            (Some("deflate, zstd"), Ok(None)),
            (Some("*"), Ok(Some("br"))),
            (Some("*;q=0.1, gzip;q=0"), Ok(Some("br"))),
            (Some("identity"), Ok(None)),
            (Some("br;q=0, gzip;q=0"), Ok(None)),
            (Some("identity;q=0, gzip;q=0.2"), Ok(Some("gzip"))),
            (Some("identity;q=0"), Err(NotAcceptable)),
            (Some("*;q=0"), Err(NotAcceptable)),
            (Some("gzip;q=2, br;q=abc"), Ok(None)),
        ];
        for (accept, expected) in cases {
            assert_eq!(&encoding(*accept, BOTH), expected, "Accept-Encoding: {accept:?}");
        }
        assert_eq!(encoding(Some("br"), &[]), Ok(None), "nothing pre-compressed: identity");
    }

    #[test]
    fn if_none_match_forms() {
        assert!(none_match("\"abc\"", "\"abc\""));
        assert!(none_match("W/\"abc\", \"def\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abd\"", "\"abc\""));
    }
}
