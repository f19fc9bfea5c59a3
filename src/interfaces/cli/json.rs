//! The one JSON writer of `-o json`. serde_json escapes C0 controls but writes C1 controls,
//! bidi, zero-width, tag and line-separator characters as themselves; here they become `\uXXXX`
//! escapes (a UTF-16 surrogate pair above U+FFFF). The JSON value is unchanged — it parses back
//! to the same text — but the bytes are safe to print in a terminal.

use super::outcome::{exit, Failure};
use crate::model::untrusted::needs_escape;
use serde::Serialize;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

fn must_escape(c: char) -> bool {
    (c.is_ascii_control() && c != '\n') || needs_escape(c)
}

/// `json` (any JSON text) with every code point a terminal could act on written as an escape.
/// Such a character can only stand inside a string in valid JSON, where the escape means the
/// same character. Newlines are kept: outside strings they are whitespace, and inside strings
/// serde and the canonical form already escape them.
pub fn escape(json: &str) -> Cow<'_, str> {
    let plain = json.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\n');
    if plain || !json.chars().any(must_escape) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if must_escape(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04X}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes `value` as pretty JSON and a newline.
pub fn write_pretty<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> Result<(), Failure> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| Failure { code: exit::INTERNAL, message: e.to_string() })?;
    out.write_all(escape(&text).as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes a JSON text that is already serialised (an audit record as stored) and a newline.
pub fn write_text(out: &mut dyn Write, json: &str) -> std::io::Result<()> {
    out.write_all(escape(json).as_bytes())?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_code_points_are_escaped_and_the_value_is_unchanged() {
        let raw = "a\u{9b}b\u{202e}c\u{200b}d\u{e0041}e\u{2028}f\u{7f}g 世界 😀";
        let json = serde_json::to_string(&serde_json::json!({ "k": raw })).unwrap();
        let safe = escape(&json);
        assert_eq!(safe, "{\"k\":\"a\\u009Bb\\u202Ec\\u200Bd\\uDB40\\uDC41e\\u2028f\\u007Fg 世界 😀\"}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["k"], raw);
        assert!(matches!(escape("{\"a\":\"plain 世界\"}\n"), Cow::Borrowed(_)));
    }
}
