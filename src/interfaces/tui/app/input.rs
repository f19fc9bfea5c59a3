//! The input line: live filter, label selector and `:` command, typed in and applied.

use super::filters::{apply_selector, matching};
use super::{command, App, Effect, InputKind, Level};
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
            if kind == InputKind::Filter {
                let now = app.now;
                app.fleet.set_filter("", now);
            }
            return;
        }
        KeyCode::Char('c') if ctrl => {
            app.input = None;
            return;
        }
        KeyCode::Enter => {
            let text = input.text.trim().to_owned();
            app.input = None;
            match kind {
                InputKind::Filter => {
                    let n = app.fleet.visible.len();
                    app.set_status(Level::Info, format!("{} '{}'", matching(n), safe(&text)));
                }
                InputKind::Selector => apply_selector(app, &text),
                InputKind::Command => command::run_command(app, &text, fx),
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
        let now = app.now;
        app.fleet.set_filter(&text, now);
        app.fleet.offset = 0;
        let h = app.list_height();
        scroll_into_view(app.fleet.selected, &mut app.fleet.offset, h);
    }
}
