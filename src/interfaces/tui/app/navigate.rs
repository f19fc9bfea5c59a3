//! Moving between views and within them: opening a session or a replay, the cursor, and the
//! context of the selected approval.

use super::{App, Effect, View};
use crate::interfaces::tui::fleet::move_cursor;
use crate::interfaces::tui::replay::ReplayState;
use crate::interfaces::tui::session::{Detail, SessionView};

/// Loads the context (last steps) of the selected approval's session when it changed.
pub(super) fn request_context(app: &mut App, fx: &mut Vec<Effect>) {
    // An unreadable approval names no session to show the context of.
    let Some(sid) = app.approvals.selected_item().filter(|a| a.unreadable.is_none()).map(|a| a.session_id.clone())
    else {
        app.approvals.context = None;
        return;
    };
    if app.view == View::Approvals && app.approvals.context.as_ref().is_none_or(|(s, _)| *s != sid) {
        app.approvals.context = Some((sid.clone(), None));
        fx.push(Effect::LoadContext(sid));
    }
}

pub(super) fn open_session(app: &mut App, id: &str, fx: &mut Vec<Effect>) {
    app.session = Some(SessionView::new(id));
    app.go(View::Session);
    fx.push(Effect::LoadTimeline(id.to_owned()));
}

pub(super) fn open_replay(app: &mut App, id: &str, fx: &mut Vec<Effect>) {
    let mut r = ReplayState::new(id);
    // Reuse a loaded timeline of the same session.
    if let Some(Some(data)) = app.session.as_ref().filter(|s| s.id == id).map(|s| s.data.clone()) {
        r.load(data);
    } else {
        fx.push(Effect::LoadTimeline(id.to_owned()));
    }
    app.replay = Some(r);
    app.go(View::Replay);
}

/// Moves the cursor of the current view.
pub(super) fn move_by(app: &mut App, delta: isize) {
    let h = app.list_height();
    match app.view {
        View::Fleet => {
            let len = app.fleet.visible.len();
            move_cursor(&mut app.fleet.selected, &mut app.fleet.offset, len, delta, h);
        }
        View::Approvals => {
            let len = app.approvals.visible.len();
            move_cursor(&mut app.approvals.selected, &mut app.approvals.offset, len, delta, h);
        }
        View::Session => {
            if let Some(s) = app.session.as_mut() {
                if s.detail != Detail::None && delta.abs() > 1 {
                    s.detail_scroll = (s.detail_scroll as isize + delta).max(0) as usize;
                    return;
                }
                let len = s.items().len();
                move_cursor(&mut s.selected, &mut s.offset, len, delta, h);
                if matches!(s.detail, Detail::Diff { .. }) {
                    s.detail = Detail::None;
                }
                s.detail_scroll = 0;
            }
        }
        View::Replay => {
            if let Some(r) = app.replay.as_mut() {
                r.step(delta);
            }
        }
        View::Help => app.help_offset = (app.help_offset as isize + delta).max(0) as usize,
    }
}
