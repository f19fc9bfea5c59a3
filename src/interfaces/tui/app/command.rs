//! The `:` commands: the keymap's command names (one table), some with an argument.

use super::actions::act;
use super::dispatch::on_cmd;
use super::filters::apply_selector;
use super::navigate::{open_replay, open_session};
use super::{App, Effect, Level, View};
use crate::interfaces::tui::fleet::SortKey;
use crate::interfaces::tui::keymap::Cmd;
use crate::interfaces::tui::replay::ReplayState;
use crate::interfaces::tui::text::safe;

/// `:` commands: `WORD [ARG]`, where WORD is a command's name in the keymap (the one table of
/// commands) or one of its other words. Operations open the same confirmation dialog as their
/// keys; a few commands take an argument (`:open ID`, `:replay ID|AGE`, `:theme NAME`,
/// `:filter TEXT`, `:selector SEL`, `:sort KEY`, `:ns NAME`, `:pause SELECTOR|all`).
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
                "unknown command :{} (tab completes a command; {} lists them all)",
                safe(word),
                app.keymap.key_of(Cmd::Help)
            ),
        );
        return;
    };
    match cmd {
        Cmd::Act(_) | Cmd::ActFleet(_) => act(app, cmd, rest, fx),
        Cmd::Quit if app.quit_asked => app.quit = true,
        Cmd::Quit => super::dispatch::request_quit(app, true),
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
        Cmd::Namespace => {
            let now = app.now;
            let ns = (!rest.is_empty() && rest != "all" && rest != "-").then(|| rest.to_owned());
            let said = match &ns {
                Some(ns) => format!("namespace {}", safe(ns)),
                None => "every namespace".to_owned(),
            };
            app.fleet.set_namespace(ns, now);
            app.go(View::Fleet);
            app.set_status(Level::Info, format!("showing {said}"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interfaces::tui::cluster::{KubeInfo, KubeState};
    use crate::interfaces::tui::keymap::Keymap;
    use crate::interfaces::tui::theme::Theme;
    use crate::model::action::ActionKind;

    fn console(readonly: bool) -> App {
        let mut app = App::new("alice", readonly, Keymap::default(), Theme::dark(), crate::model::time::now());
        let info = KubeInfo { allowed: ActionKind::CLUSTER.to_vec(), ..KubeInfo::default() };
        app.kube = Some(KubeState { info: Some(info), ..KubeState::default() });
        app
    }

    #[test]
    fn every_operation_is_a_command_word_that_opens_its_dialog() {
        for kind in ActionKind::ALL {
            let mut app = console(false);
            let mut fx = Vec::new();
            let arg = if kind.verdict().is_some() { "a-1" } else { "namespace=genai-prod" };
            run_command(&mut app, &format!("{} {arg}", kind.verb()), &mut fx);
            assert_eq!(app.dialog.as_ref().map(|d| d.kind), Some(kind), ":{kind}");
            assert_eq!(fx.len(), 1, ":{kind}: one plan {fx:?}");

            let mut viewer = console(true);
            let mut fx = Vec::new();
            run_command(&mut viewer, &format!("{} {arg}", kind.verb()), &mut fx);
            assert!(viewer.dialog.is_none() && fx.is_empty(), ":{kind} on a read-only console");
            let status = viewer.status.as_ref().map(|(_, s)| s.as_str()).unwrap_or_default();
            assert_eq!(status, "read-only console: actions are disabled");
        }
    }
}
