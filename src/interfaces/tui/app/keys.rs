//! Key dispatch: a key goes to the open dialog, else the input line, else the keymap's command
//! for the current view.

use super::dispatch::on_cmd;
use super::{actions, input, App, Effect};
use crate::interfaces::tui::keymap::Key;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub(super) fn on_key(app: &mut App, key: &KeyEvent, fx: &mut Vec<Effect>) {
    if app.dialog.is_some() {
        actions::on_dialog_key(app, key, fx);
        return;
    }
    if app.input.is_some() {
        input::on_input_key(app, key, fx);
        return;
    }
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        app.quit = true;
        return;
    }
    let Some(cmd) = app.keymap.lookup(app.view.context(), &Key::from_event(key)) else {
        return;
    };
    on_cmd(app, cmd, fx);
}
