//! Plain-text tables for the terminal. Cells are [`Shown`]: only neutralised text can be one.

use crate::model::untrusted::Shown;
use std::io::Write;

pub use crate::model::action::thousands;

/// Cuts a cell to `max` characters, marking the cut with `…`.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A neutralised cell cut to `max` characters (cutting inert text leaves it inert).
pub fn cell(s: &Shown, max: usize) -> Shown {
    Shown::line(&clip(s, max))
}

pub fn print(out: &mut dyn Write, headers: &[&'static str], rows: &[Vec<Shown>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
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
            let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(c.chars().count());
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
