//! The `:` commands: the keymap's command names (one table), some with an argument.

use super::actions::act;
use super::input::apply_selector;
use super::keys::on_cmd;
use super::navigate::{open_replay, open_session};
use super::{App, Effect, Level, View};
use crate::interfaces::tui::fleet::SortKey;
use crate::interfaces::tui::keymap::Cmd;
use crate::interfaces::tui::replay::ReplayState;
use crate::interfaces::tui::text::safe;

/// `:` commands: `WORD [ARG]`, where WORD is a command's name in the keymap (the one table of
/// commands) or one of its other words. Operations open the same confirmation dialog as their
/// keys; a few commands take an argument (`:open ID`, `:replay ID|AGE`, `:theme NAME`,
/// `:filter TEXT`, `:selector SEL`, `:sort KEY`, `:pause SELECTOR|all`).
pub(super) fn run_command(app: &mut App, line: &str, fx: &mut Vec<Effect>) {
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    if word.is_empty() {
        return;
    }
    let Some(cmd) = app.keymap.command(word) else {
        app.set_status(
            Level::Error,
            format!(
                "unknown command :{} (try :fleet :approvals :replay ID :session ID :theme NAME :pause SELECTOR :quit)",
                safe(word)
            ),
        );
        return;
    };
    match cmd {
        Cmd::Act(_) | Cmd::ActFleet(_) => act(app, cmd, rest, fx),
        Cmd::Open if !rest.is_empty() => open_session(app, rest, fx),
        Cmd::Replay if crate::model::time::parse_duration(rest).is_some() => {
            let since = crate::model::time::parse_time(rest, app.now).unwrap_or(app.now);
            let id = format!("last {rest}");
            app.replay = Some(ReplayState::new(&id));
            app.go(View::Replay);
            fx.push(Effect::LoadWindow { id, since });
        }
        Cmd::Replay => {
            let id = if rest.is_empty() {
                app.session.as_ref().map(|s| s.id.clone()).or_else(|| app.fleet.selected_id())
            } else {
                Some(rest.to_owned())
            };
            match id {
                Some(id) => open_replay(app, &id, fx),
                None => app.set_status(Level::Error, "replay which session? :replay ID"),
            }
        }
        Cmd::Theme if rest.is_empty() => app.set_status(Level::Error, "which theme? :theme NAME"),
        Cmd::Theme => {
            if app.no_color {
                app.set_status(Level::Info, "NO_COLOR is set: the console stays monochrome");
            } else {
                fx.push(Effect::LoadTheme(rest.to_owned()));
            }
        }
        Cmd::Filter => {
            let now = app.now;
            app.fleet.set_filter(rest, now);
            app.go(View::Fleet);
        }
        Cmd::SelectorFilter => {
            apply_selector(app, rest);
            app.go(View::Fleet);
        }
        Cmd::Sort => match SortKey::parse(rest) {
            Some(k) => {
                let now = app.now;
                app.fleet.set_sort(k, now);
            }
            None => {
                let names: Vec<&str> = SortKey::ALL.iter().map(|k| k.name()).collect();
                app.set_status(Level::Error, format!("sort by one of: {}", names.join(", ")));
            }
        },
        other => on_cmd(app, other, fx),
    }
}
