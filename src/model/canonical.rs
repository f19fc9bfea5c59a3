//! Canonical JSON as RFC 8785 (JCS) specifies it, for hashing audit events.
//!
//! - object members sorted by their keys' UTF-16 code units (not UTF-8 bytes: they differ for
//!   keys with characters above U+FFFF);
//! - no whitespace;
//! - strings: `"` and `\` escaped, U+0000–U+001F as `\b \t \n \f \r` or `\u00xx` (lower-case
//!   hex), everything else literal UTF-8;
//! - numbers as ECMAScript `Number.prototype.toString` prints the IEEE-754 double.

use serde_json::{Map, Number, Value};
use std::fmt::Write as _;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CanonicalError {
    #[error("number {0} cannot be represented in canonical JSON (not finite or beyond 2^53)")]
    Number(String),
}

pub fn to_canonical(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

fn write_value(out: &mut String, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map)?,
    }
    Ok(())
}

fn write_object(out: &mut String, map: &Map<String, Value>) -> Result<(), CanonicalError> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, &map[key.as_str()])?;
    }
    out.push('}');
    Ok(())
}

pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Only ASCII bytes are ever escaped, so slicing at them stays on char boundaries.
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

const MAX_SAFE: u64 = 1 << 53;

fn write_number(out: &mut String, n: &Number) -> Result<(), CanonicalError> {
    if let Some(u) = n.as_u64() {
        if u > MAX_SAFE {
            return Err(CanonicalError::Number(n.to_string()));
        }
        let _ = write!(out, "{u}");
        return Ok(());
    }
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE {
            return Err(CanonicalError::Number(n.to_string()));
        }
        let _ = write!(out, "{i}");
        return Ok(());
    }
    let f = n.as_f64().filter(|f| f.is_finite()).ok_or_else(|| CanonicalError::Number(n.to_string()))?;
    out.push_str(&es_number(f));
    Ok(())
}

/// ECMAScript Number::toString for a finite double (shortest round-trip digits).
pub fn es_number(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    // Rust's `{:e}` gives the shortest round-trip digits: "d.ddddde±x".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = exp + 1; // position of the decimal point relative to the digits
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e_sign = if e < 0 { '-' } else { '+' };
        if k == 1 {
            format!("{digits}e{e_sign}{}", e.abs())
        } else {
            format!("{}.{}e{e_sign}{}", &digits[..1], &digits[1..], e.abs())
        }
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sort_by_utf16_not_utf8() {
        // U+1F600 is D83D DE00 in UTF-16, which sorts before U+FFFD; in UTF-8 it sorts after.
        let v = json!({"\u{fffd}": 1, "\u{1f600}": 2, "a": 3});
        assert_eq!(to_canonical(&v).unwrap(), "{\"a\":3,\"\u{1f600}\":2,\"\u{fffd}\":1}");
    }

    #[test]
    fn strings_escape_exactly_jcs_set() {
        let v = json!("a\"b\\c\u{1}\u{1f}\n\u{7f}\u{2028}é");
        assert_eq!(to_canonical(&v).unwrap(), "\"a\\\"b\\\\c\\u0001\\u001f\\n\u{7f}\u{2028}é\"");
    }

    #[test]
    fn numbers_follow_ecmascript() {
        let cases = [
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (-2.5, "-2.5"),
            (123.456, "123.456"),
            (5e-324, "5e-324"),
        ];
        for (f, want) in cases {
            assert_eq!(es_number(f), want, "{f}");
        }
        assert!(to_canonical(&json!(u64::MAX)).is_err());
        assert_eq!(to_canonical(&json!([1, -2, true, null])).unwrap(), "[1,-2,true,null]");
    }
}
