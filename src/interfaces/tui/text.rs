//! Small text helpers for cells. Neutralising is always delegated to the one sanitiser in
//! `model::untrusted`; this only avoids allocating when text is already inert, and truncates
//! by display width.

use crate::model::untrusted::{is_inert, Untrusted};
use ratatui::text::Span;
use std::borrow::Cow;

/// Agent-supplied plain strings (namespaces, pods, models, ids) neutralised for one line.
pub fn safe(text: &str) -> Cow<'_, str> {
    if is_inert(text) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(Untrusted::new(text).shown_line())
    }
}

pub fn width(text: &str) -> usize {
    Span::raw(text).width()
}

/// Cuts `text` to `max` columns, ending with `…` when something was cut.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max || width(text) <= max {
        return Cow::Borrowed(text);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::new();
    let mut used = 0;
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let w = width(c.encode_utf8(&mut buf));
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    Cow::Owned(out)
}

/// `1234567` → `1,234,567` (the one separator, shared with the CLI).
pub use crate::model::action::thousands;

/// `1234567` → `1.2M`, for narrow columns.
pub fn compact(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{}k", n / 1000),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_escapes_only_what_is_dangerous() {
        assert!(matches!(safe("genai-prod"), Cow::Borrowed(_)));
        assert_eq!(safe("ns\u{1b}]0;x\u{7}"), "ns^[]0;x^G");
        assert_eq!(safe("a\u{202e}b"), "a\\u{202E}b");
    }

    #[test]
    fn truncates_by_width() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello world", 6), "hello…");
        assert_eq!(truncate("世界世界", 5), "世界…");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(thousands(1_204), "1,204");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(compact(123_456), "123k");
    }
}
