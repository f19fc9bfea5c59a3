//! One module per view; each draws its body from the app state, building only visible rows.
//! The helpers they share (a line of text, a session state's symbol and label, the visible
//! window of a list, the progress line) are here, so no view depends on the chrome in `view`.

pub mod approvals;
pub mod fleet;
pub mod help;
pub mod replay;
pub mod session;

use super::app::Progress;
use super::text::{thousands, truncate};
use super::theme::Role;
use crate::model::session::SessionState;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// One line of text, cut to the area, filling the row with the style.
pub fn line(f: &mut Frame<'_>, area: Rect, text: &str, style: Style) {
    let cut = truncate(text, usize::from(area.width));
    f.render_widget(Paragraph::new(cut.into_owned()).style(style), area);
}

/// A session state's one-character symbol and the role it is coloured by.
pub fn state_symbol(state: SessionState) -> (&'static str, Role) {
    match state {
        SessionState::Running => ("▶", Role::Running),
        SessionState::Paused => ("‖", Role::Paused),
        SessionState::WaitingApproval => ("?", Role::Waiting),
        SessionState::Killed => ("✖", Role::Killed),
        SessionState::Finished => ("✔", Role::Finished),
        SessionState::Failed => ("!", Role::Failed),
        SessionState::Stale => ("~", Role::Stale),
    }
}

/// A session state's word in a cell.
pub fn state_label(state: SessionState) -> &'static str {
    match state {
        SessionState::WaitingApproval => "waiting",
        s => s.as_str(),
    }
}

/// The first row to show so that `selected` is inside a window of `height` rows, starting
/// from the remembered `offset` (no jump when the cursor is already visible).
pub fn window(selected: usize, offset: usize, height: usize, len: usize) -> usize {
    let height = height.max(1);
    let mut off = offset.min(len.saturating_sub(1));
    if selected < off {
        off = selected;
    } else if selected >= off + height {
        off = selected + 1 - height;
    }
    off
}

/// The live line after a control action: acknowledged vs outstanding.
pub fn progress_line(p: &Progress) -> (String, Role) {
    let safe = crate::interfaces::tui::text::safe;
    match (&p.error, &p.issued) {
        (Some(e), None) => return (format!("✘ {}: {}", p.what, safe(e)), Role::Error),
        // Issued, then the acknowledgements could not be read: say both.
        (Some(e), Some(issued)) => {
            return (
                format!(
                    "✘ {}: issued at generation {}; acknowledgements unknown: {}",
                    p.what,
                    issued.generation,
                    safe(e)
                ),
                Role::Error,
            )
        }
        _ => {}
    }
    let Some(issued) = &p.issued else {
        return (format!("… {}: writing desired state", p.what), Role::Status);
    };
    if let Some(hold) = &issued.fleet_hold {
        return (
            format!(
                "⚠ {}: recorded at generation {}, but the fleet hold ({} by {}) still applies: they stay paused until the fleet is resumed",
                p.what,
                issued.generation,
                hold.desired,
                safe(&hold.operator)
            ),
            Role::Error,
        );
    }
    let Some(r) = &p.report else {
        return (
            format!("… {}: generation {} written, waiting for acknowledgements", p.what, issued.generation),
            Role::Status,
        );
    };
    let total = r.acknowledged.len() + r.outstanding.len() + r.ended.len();
    let ended =
        if r.ended.is_empty() { String::new() } else { format!(" · {} ended", thousands(r.ended.len() as u64)) };
    let secs = p.elapsed.as_secs_f64();
    let (acked, total, out) =
        (thousands(r.acknowledged.len() as u64), thousands(total as u64), thousands(r.outstanding.len() as u64));
    if r.complete() {
        (format!("✔ all {acked} acknowledged in {secs:.2}s{ended} · {}", p.what), Role::Ok)
    } else {
        (
            format!("⧗ {acked}/{total} acknowledged · {out} outstanding{ended} · {secs:.1}s · {}", p.what),
            Role::Outstanding,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_follows_the_cursor_without_jumping() {
        assert_eq!(window(0, 0, 10, 100), 0);
        assert_eq!(window(5, 0, 10, 100), 0);
        assert_eq!(window(12, 0, 10, 100), 3);
        assert_eq!(window(12, 8, 10, 100), 8);
        assert_eq!(window(2, 8, 10, 100), 2);
        assert_eq!(window(0, 50, 10, 0), 0);
    }
}
