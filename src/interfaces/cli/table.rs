//! Plain-text tables for the terminal. Cells are [`Shown`]: only neutralised text can be one.

use crate::interfaces::width::{truncate, width};
use crate::model::untrusted::Shown;
use std::io::Write;

pub use crate::model::action::thousands;

/// Cuts a cell to `max` columns (a wide character takes two), marking the cut with `…`.
pub fn clip(s: &str, max: usize) -> String {
    truncate(s, max).into_owned()
}

/// A neutralised cell cut to `max` columns (cutting inert text leaves it inert).
pub fn cell(s: &Shown, max: usize) -> Shown {
    Shown::line(&clip(s, max))
}

pub fn print(out: &mut dyn Write, headers: &[&'static str], rows: &[Vec<Shown>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(width(c));
            s.extend(std::iter::repeat_n(' ', pad));
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(&mut headers.iter().copied()))?;
    for row in rows {
        writeln!(out, "{}", line(&mut row.iter().map(Shown::as_str)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_and_padded_by_display_width() {
        // Counting chars, "日本語テキスト" cut to 7 kept six two-column characters: 13 columns.
        assert_eq!(clip("日本語テキスト", 7), "日本語…");
        assert_eq!(clip("🙂🙂🙂🙂🙂", 5), "🙂🙂…");
        assert_eq!(clip("short", 7), "short");
        let rows = vec![
            vec![Shown::from("世界"), Shown::from("x")],
            vec![Shown::from("🙂"), Shown::from("y")],
            vec![Shown::from("ab"), Shown::from("z")],
        ];
        let mut out = Vec::new();
        print(&mut out, &["NAME", "V"], &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        let columns: Vec<usize> =
            text.lines().map(|l| l.rfind(' ').and_then(|i| l.get(..=i)).map_or(0, width)).collect();
        assert_eq!(columns, [6, 6, 6, 6], "the second column starts at one column on every line:\n{text}");
    }
}
