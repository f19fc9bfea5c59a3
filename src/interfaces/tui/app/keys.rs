//! Key dispatch: a key goes to the open dialog, else the input line, else the keymap's command
//! for the current view.

use super::dispatch::{on_cmd, request_quit};
use super::{actions, input, App, Effect, Level};
use crate::interfaces::tui::keymap::{Cmd, Key};
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
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    let cmd = app.keymap.lookup(app.view.context(), &Key::from_event(key));
    // "Quit?" is asked once: any other key than quit again keeps the console open.
    if app.quit_asked && !ctrl_c && cmd != Some(Cmd::Quit) {
        app.quit_asked = false;
        app.set_status(Level::Info, "still running");
        return;
    }
    if ctrl_c {
        request_quit(app, true);
        return;
    }
    let Some(cmd) = cmd else {
        return;
    };
    if cmd == Cmd::Quit && app.quit_asked {
        app.quit = true;
        return;
    }
    on_cmd(app, cmd, fx);
}
