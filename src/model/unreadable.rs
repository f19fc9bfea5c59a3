//! Records quell cannot read are shown, never hidden, and never blind the rest of a view: each
//! becomes an "unreadable" entry carrying its reason, and the records around it are shown as
//! usual (docs/architecture.md, "One bad record never hides the rest").

use super::untrusted::{neutralize, Lines};
use std::fmt::Display;

/// serde_json's recursion limit: JSON nested deeper is valid, but quell does not build values of
/// it. Reading deeper would need every later step — parsing, dropping, canonicalising,
/// rendering the raw view — to be safe against a stack overflow on hostile input; instead such
/// a record is shown as unreadable with this reason. Its stored text and hash are kept, so
/// verification still checks it (the hash covers the stored canonical text, which is read
/// without building values).
pub const MAX_DEPTH: usize = 128;

/// How serde_json's error for JSON nested deeper than [`MAX_DEPTH`] begins.
const TOO_DEEP: &str = "recursion limit exceeded";

/// A reason as one neutralised line: errors may quote the stored text they could not read.
pub fn reason(text: impl Display) -> String {
    neutralize(&text.to_string(), Lines::Escape)
}

/// serde_json's "recursion limit exceeded": the JSON is valid but nested deeper than
/// [`MAX_DEPTH`] (it is not "not JSON").
pub fn too_deep(e: &serde_json::Error) -> bool {
    e.to_string().starts_with(TOO_DEEP)
}

/// Why serde_json could not read a record (its error, or the text of one), as one neutralised
/// line.
pub fn json_reason(e: impl Display) -> String {
    let text = e.to_string();
    if text.starts_with(TOO_DEEP) {
        format!("nested deeper than {MAX_DEPTH} levels")
    } else {
        reason(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_json_is_named_as_such() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e = serde_json::from_str::<serde_json::Value>(&deep).unwrap_err();
        assert_eq!(json_reason(&e), "nested deeper than 128 levels");
        let e = serde_json::from_str::<serde_json::Value>("{\"\u{1b}[2J\": ").unwrap_err();
        assert!(!json_reason(&e).contains('\u{1b}'));
    }

    #[test]
    fn reasons_are_one_neutralised_line() {
        assert_eq!(reason("a\nb\u{1b}[2J"), "a\\nb^[[2J");
    }
}
