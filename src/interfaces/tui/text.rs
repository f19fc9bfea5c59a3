//! Small text helpers for cells. Neutralising is always delegated to the one sanitiser in
//! `model::untrusted`; this only avoids allocating when text is already inert. Truncating by
//! display width is `interfaces::width`, shared with the CLI.

use crate::model::untrusted::{is_inert, Untrusted};
use std::borrow::Cow;

/// Agent-supplied plain strings (namespaces, pods, models, ids) neutralised for one line.
pub fn safe(text: &str) -> Cow<'_, str> {
    if is_inert(text) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(Untrusted::new(text).shown_line())
    }
}

/// Display width and cutting to it, shared with the CLI's tables.
pub use crate::interfaces::width::{truncate, width};

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
    fn numbers_read_at_a_glance() {
        assert_eq!(thousands(1_204), "1,204");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(compact(123_456), "123k");
    }
}
