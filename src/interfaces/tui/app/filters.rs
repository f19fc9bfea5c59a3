//! The fleet's selector, applied from the input line or a `:` word, with the status line that
//! says how many sessions match.

use super::{App, Level};
use crate::interfaces::tui::text::{safe, thousands};
use crate::model::selector::Selector;

pub(super) fn matching(n: usize) -> String {
    if n == 1 {
        "1 session matches".into()
    } else {
        format!("{} sessions match", thousands(n as u64))
    }
}

pub(super) fn requests_matching(n: usize) -> String {
    if n == 1 {
        "1 request matches".into()
    } else {
        format!("{} requests match", thousands(n as u64))
    }
}

/// The approvals queue's selector: the approval selector of `approve|reject --where` (the
/// request's fields and its session's).
pub(super) fn apply_approvals_selector(app: &mut App, text: &str) {
    if text.is_empty() {
        app.approvals.selector = None;
        app.refilter_approvals();
        app.set_status(Level::Info, "selector cleared");
        return;
    }
    match crate::model::approval_selector::ApprovalSelector::parse(text) {
        Ok(sel) => {
            app.approvals.selector = Some(sel);
            app.refilter_approvals();
            let n = app.approvals.visible.len();
            app.set_status(Level::Info, format!("{} {}", requests_matching(n), safe(text)));
        }
        Err(e) => app.set_status(Level::Error, safe(&e.to_string()).into_owned()),
    }
}

pub(super) fn apply_selector(app: &mut App, text: &str) {
    let now = app.now;
    if text.is_empty() {
        app.fleet.set_selector(None, now);
        app.set_status(Level::Info, "selector cleared");
        return;
    }
    match Selector::parse(text) {
        Ok(sel) => {
            app.fleet.set_selector(Some(sel), now);
            let n = app.fleet.visible.len();
            app.set_status(Level::Info, format!("{} {}", matching(n), safe(text)));
        }
        Err(e) => app.set_status(Level::Error, safe(&e.to_string()).into_owned()),
    }
}
