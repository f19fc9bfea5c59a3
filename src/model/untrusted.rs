//! Text an agent produced is hostile until neutralised.
//!
//! [`Untrusted`] and [`UntrustedJson`] hold agent content exactly as received (storage keeps raw
//! bytes). They deliberately do not implement `Display`: the only way to show them is through
//! [`neutralize`], which renders every dangerous code point as a visible escape instead of
//! deleting it (docs/architecture.md, "Untrusted text").

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Agent-produced text. Serialises transparently (JSON escaping is safe for machine output);
/// for humans use [`Untrusted::shown`] or [`Untrusted::shown_line`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Untrusted(String);

impl Untrusted {
    pub fn new(raw: impl Into<String>) -> Self {
        Untrusted(raw.into())
    }

    /// Builds from bytes that may not be UTF-8; invalid sequences become `\xNN` escapes so that
    /// nothing is silently dropped.
    pub fn from_bytes(raw: &[u8]) -> Self {
        Untrusted(escape_invalid_utf8(raw))
    }

    /// The raw text, for storage, hashing and comparisons. Never print it.
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// Neutralised for a multi-line view: newlines kept, everything dangerous escaped.
    pub fn shown(&self) -> String {
        neutralize(&self.0, Lines::Keep)
    }

    /// Neutralised for one line (a table cell): newlines shown as `\n`.
    pub fn shown_line(&self) -> String {
        neutralize(&self.0, Lines::Escape)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Comparing is not showing: tests and rules may compare agent text with quell's own.
macro_rules! eq_str {
    ($t:ty) => {
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}
eq_str!(Untrusted);
eq_str!(Shown);

impl From<&str> for Untrusted {
    fn from(s: &str) -> Self {
        Untrusted(s.to_owned())
    }
}

impl From<String> for Untrusted {
    fn from(s: String) -> Self {
        Untrusted(s)
    }
}

/// Agent-produced structured data (tool arguments, messages, results).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UntrustedJson(serde_json::Value);

impl UntrustedJson {
    pub fn new(value: serde_json::Value) -> Self {
        UntrustedJson(value)
    }

    pub fn raw(&self) -> &serde_json::Value {
        &self.0
    }

    pub fn into_raw(self) -> serde_json::Value {
        self.0
    }

    /// Compact JSON, neutralised for one line.
    pub fn shown_line(&self) -> String {
        neutralize(&self.0.to_string(), Lines::Escape)
    }

    /// Pretty JSON, neutralised, newlines kept.
    pub fn shown_pretty(&self) -> String {
        let pretty = serde_json::to_string_pretty(&self.0).unwrap_or_else(|_| self.0.to_string());
        neutralize(&pretty, Lines::Keep)
    }
}

/// Text that is safe to write to a terminal: it can only be built by the sanitiser (from any
/// text, including quell's own, which passes through unchanged) or from numbers. Every line the
/// CLI prints and every table cell is one; agent and store text cannot become one without
/// [`neutralize`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Shown(String);

impl Shown {
    /// `text` neutralised for one line (newlines shown as `\n`).
    pub fn line(text: &str) -> Self {
        if is_inert(text) {
            Shown(text.to_owned())
        } else {
            Shown(neutralize(text, Lines::Escape))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Shown {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Shown {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

impl From<Shown> for String {
    fn from(shown: Shown) -> String {
        shown.0
    }
}

impl From<&str> for Shown {
    fn from(text: &str) -> Self {
        Shown::line(text)
    }
}

impl From<&String> for Shown {
    fn from(text: &String) -> Self {
        Shown::line(text)
    }
}

impl From<String> for Shown {
    fn from(text: String) -> Self {
        if is_inert(&text) {
            Shown(text)
        } else {
            Shown(neutralize(&text, Lines::Escape))
        }
    }
}

impl From<&Untrusted> for Shown {
    fn from(text: &Untrusted) -> Self {
        Shown::line(text.raw())
    }
}

macro_rules! shown_from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Shown {
            fn from(n: $t) -> Self {
                Shown(n.to_string())
            }
        }
    )*};
}
shown_from_number!(u8, u16, u32, u64, usize, i32, i64);

/// `format!` whose result is a [`Shown`] line: the whole formatted line goes through the
/// sanitiser, so every interpolated value is neutralised whatever its type (quell's own format
/// text is inert and passes unchanged; already-shown parts are unchanged too, since neutralised
/// text is inert).
#[macro_export]
macro_rules! shown {
    ($($arg:tt)*) => {
        $crate::model::untrusted::Shown::from(format!($($arg)*))
    };
}

/// Why an operator identity (`--as`, the config file's `as`, the console's) is refused: it is
/// written into chain names and printed back, so it must be a visible, unambiguous name.
/// `None` when it is acceptable.
pub fn operator_identity_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("the operator identity must not be blank".to_owned());
    }
    if name.chars().count() > 128 {
        return Some("the operator identity must be at most 128 characters".to_owned());
    }
    name.chars().find(|&c| c.is_control() || needs_escape(c)).map(|c| {
        format!(
            "the operator identity must not contain control, bidi, zero-width or tag characters (found U+{:04X})",
            c as u32
        )
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    /// Keep `\n` as a line break (multi-line views).
    Keep,
    /// Show `\n` as the two characters `\n` (single-line cells).
    Escape,
}

const TAB_WIDTH: usize = 4;

/// The one sanitiser. Everything that reaches a terminal from an agent passes through here.
pub fn neutralize(text: &str, lines: Lines) -> String {
    let mut out = String::with_capacity(text.len());
    let mut column = 0usize;
    for c in text.chars() {
        match c {
            '\n' if lines == Lines::Keep => {
                out.push('\n');
                column = 0;
                continue;
            }
            '\n' => out.push_str("\\n"),
            '\t' => {
                let pad = TAB_WIDTH - (column % TAB_WIDTH);
                out.extend(std::iter::repeat_n(' ', pad));
                column += pad;
                continue;
            }
            // C0 controls in caret notation: ESC shows as ^[ so an escape sequence becomes inert text.
            '\u{0}'..='\u{1f}' => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            '\u{7f}' => out.push_str("^?"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:X}}}", c as u32);
            }
            c => out.push(c),
        }
        column += 1;
    }
    out
}

/// Code points that are not C0 but must never reach a terminal or a bidi-aware renderer raw.
pub fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{80}'..='\u{9f}'            // C1 controls (incl. 8-bit CSI, OSC, DCS, ST)
        | '\u{202a}'..='\u{202e}'      // bidi embeddings and overrides
        | '\u{2066}'..='\u{2069}'      // bidi isolates
        | '\u{200e}' | '\u{200f}' | '\u{061c}' // directional marks
        | '\u{200b}'..='\u{200d}'      // zero-width space, non-joiner, joiner
        | '\u{2060}' | '\u{feff}'      // word joiner, BOM / zero-width no-break space
        | '\u{2028}' | '\u{2029}'      // line and paragraph separators
        | '\u{e0000}'..='\u{e007f}' // tag characters
    )
}

/// True when `neutralize` would change nothing (used to skip allocation in hot paths).
pub fn is_inert(text: &str) -> bool {
    text.chars().all(|c| !(c.is_ascii_control() || needs_escape(c)))
}

fn escape_invalid_utf8(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                // valid_up_to guarantees this prefix is UTF-8.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let (bad, after) = rest.split_at_checked(e.error_len().unwrap_or(rest.len())).unwrap_or((rest, &[]));
                for b in bad {
                    let _ = write!(out, "\\x{b:02X}");
                }
                bytes = after;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible_text() {
        let shown = Untrusted::new("a\u{1b}[2Jb\u{1b}]0;pwned\u{7}c").shown_line();
        assert_eq!(shown, "a^[[2Jb^[]0;pwned^Gc");
        assert!(is_inert(&shown));
    }

    #[test]
    fn osc52_and_c1_and_bidi_are_escaped() {
        let shown = neutralize("\u{1b}]52;c;ZXZpbA==\u{1b}\\ \u{9b}31m \u{202e}abc", Lines::Escape);
        assert_eq!(shown, "^[]52;c;ZXZpbA==^[\\ \\u{9B}31m \\u{202E}abc");
    }

    #[test]
    fn zero_width_tags_and_separators_are_escaped() {
        let shown = neutralize("a\u{200b}b\u{feff}c\u{e0041}d\u{2028}e\u{61c}", Lines::Keep);
        assert_eq!(shown, "a\\u{200B}b\\u{FEFF}c\\u{E0041}d\\u{2028}e\\u{61C}");
    }

    #[test]
    fn c0_del_cr_and_tabs() {
        assert_eq!(neutralize("a\rb\u{8}\u{0}\u{7f}", Lines::Keep), "a^Mb^H^@^?");
        assert_eq!(neutralize("ab\tc", Lines::Keep), "ab  c");
        assert_eq!(neutralize("x\ny", Lines::Keep), "x\ny");
        assert_eq!(neutralize("x\ny", Lines::Escape), "x\\ny");
    }

    #[test]
    fn invalid_utf8_is_shown_not_dropped() {
        let u = Untrusted::from_bytes(b"ok\xff\xfe!\xe2\x82");
        assert_eq!(u.raw(), "ok\\xFF\\xFE!\\xE2\\x82");
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let s = "Grüße, 世界 — résumé (ok) 😀";
        assert_eq!(neutralize(s, Lines::Escape), s);
        assert!(is_inert(s));
    }
}
