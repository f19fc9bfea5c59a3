//! Terminal display width, and cutting text to a width: the one truncator the CLI's tables and
//! the console's cells share. A CJK character or an emoji takes two columns, a combining mark
//! none, so counting `char`s misaligns columns; this counts columns.
//!
//! It works on text that is already neutralised (`model::untrusted`): cutting inert text at a
//! character boundary leaves it inert.

use ratatui::text::Span;
use std::borrow::Cow;

/// Columns `text` takes on a terminal.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_by_width() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello world", 6), "hello…");
        assert_eq!(truncate("世界世界", 5), "世界…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(width("日本語"), 6);
        assert_eq!(width("🙂🙂"), 4);
        assert_eq!(width("e\u{301}"), 1, "a combining mark takes no column");
        // A wide character that would straddle the last column is left out, not split.
        assert_eq!(truncate("日本語テキスト", 6), "日本…");
        assert_eq!(truncate("a🙂🙂🙂", 5), "a🙂…");
        for max in 1..12 {
            for text in ["日本語テキスト", "🙂🙂🙂🙂🙂🙂", "mixed 混合 🙂 text"] {
                let cut = truncate(text, max);
                assert!(width(&cut) <= max, "{text:?} cut to {max}: {cut:?} is {} wide", width(&cut));
            }
        }
    }
}
