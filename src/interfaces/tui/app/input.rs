//! The input line: live filter, label selector and `:` command, typed in and applied.

use super::complete::complete;
use super::filters::{apply_approvals_selector, apply_selector, matching, requests_matching};
use super::navigate::request_context;
use super::{command, App, Effect, InputKind, Level, View};
use crate::interfaces::tui::fleet::scroll_into_view;
use crate::interfaces::tui::text::safe;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub(super) fn on_input_key(app: &mut App, key: &KeyEvent, fx: &mut Vec<Effect>) {
    let Some(input) = app.input.as_mut() else { return };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let kind = input.kind;
    match key.code {
        KeyCode::Esc => {
            app.input = None;
            app.history.reset();
            if kind == InputKind::Filter {
                set_filter(app, "", fx);
            }
            return;
        }
        KeyCode::Char('c') if ctrl => {
            app.input = None;
            app.history.reset();
            return;
        }
        KeyCode::Enter => {
            let text = input.text.trim().to_owned();
            app.input = None;
            match kind {
                InputKind::Filter if app.view == View::Approvals => {
                    let n = app.approvals.visible.len();
                    app.set_status(Level::Info, format!("{} '{}'", requests_matching(n), safe(&text)));
                }
                InputKind::Filter => {
                    let n = app.fleet.visible.len();
                    app.set_status(Level::Info, format!("{} '{}'", matching(n), safe(&text)));
                }
                InputKind::Selector if app.view == View::Approvals => {
                    apply_approvals_selector(app, &text);
                    request_context(app, fx);
                }
                InputKind::Selector => apply_selector(app, &text),
                InputKind::Command => {
                    app.history.push(&text);
                    command::run_command(app, &text, fx);
                }
            }
            return;
        }
        KeyCode::Tab if kind == InputKind::Command => {
            let typed = input.text.clone();
            let done = complete(app, &typed);
            if !done.candidates.is_empty() {
                app.set_status(Level::Info, candidates_line(&done.candidates));
            }
            if let Some(input) = app.input.as_mut() {
                input.text = done.text;
            }
            return;
        }
        KeyCode::Up if kind == InputKind::Command => {
            if let Some(line) = app.history.older(&input.text) {
                input.text = line.to_owned();
            }
            return;
        }
        KeyCode::Down if kind == InputKind::Command => {
            if let Some(line) = app.history.newer() {
                input.text = line.to_owned();
            }
            return;
        }
        KeyCode::Backspace => {
            input.text.pop();
        }
        KeyCode::Char('u') if ctrl => input.text.clear(),
        KeyCode::Char(c) if !ctrl && !c.is_control() => {
            if input.text.chars().count() < 300 {
                input.text.push(c);
            }
        }
        _ => return,
    }
    if kind == InputKind::Filter {
        // Live filtering while typing.
        let text = input.text.clone();
        set_filter(app, &text, fx);
    }
}

/// The values Tab could complete to, on the status line (neutralised: namespaces are
/// agent-chosen, though only inert ones are offered).
fn candidates_line(candidates: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut line: Vec<String> = candidates.iter().take(SHOWN).map(|c| safe(c).into_owned()).collect();
    if candidates.len() > SHOWN {
        line.push(format!("… {} more", candidates.len() - SHOWN));
    }
    format!("tab: {}", line.join("  "))
}

/// The `/` filter of the current view (the approvals queue or the fleet), applied live.
fn set_filter(app: &mut App, text: &str, fx: &mut Vec<Effect>) {
    let h = app.list_height();
    if app.view == View::Approvals {
        app.approvals.filter = text.to_owned();
        app.refilter_approvals();
        app.approvals.offset = 0;
        scroll_into_view(app.approvals.selected, &mut app.approvals.offset, h);
        request_context(app, fx);
        return;
    }
    let now = app.now;
    app.fleet.set_filter(text, now);
    app.fleet.offset = 0;
    scroll_into_view(app.fleet.selected, &mut app.fleet.offset, h);
}
