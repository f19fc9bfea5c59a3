//! The `:` commands.

use super::actions::{act_on_pods, act_on_rows, open_dialog};
use super::input::apply_selector;
use super::navigate::{open_replay, open_session, request_context};
use super::{App, Effect, Level, View};
use crate::interfaces::tui::fleet::SortKey;
use crate::interfaces::tui::replay::ReplayState;
use crate::interfaces::tui::text::safe;
use crate::model::action::ActionKind;
use crate::model::selector::Selector;
use crate::services::control::Target;
use crate::services::kube::PodAction;

/// `:` commands. Destructive ones open the same confirmation dialog as their keys.
pub(super) fn run_command(app: &mut App, line: &str, fx: &mut Vec<Effect>) {
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    match word {
        "" => {}
        "q" | "quit" | "exit" => app.quit = true,
        "fleet" | "f" => app.go(View::Fleet),
        "approvals" | "a" => {
            app.go(View::Approvals);
            request_context(app, fx);
        }
        "help" | "h" => app.go(View::Help),
        "session" | "open" | "s" if !rest.is_empty() => open_session(app, rest, fx),
        "replay" | "r" if crate::model::time::parse_duration(rest).is_some() => {
            let since = crate::model::time::parse_time(rest, app.now).unwrap_or(app.now);
            let id = format!("last {rest}");
            app.replay = Some(ReplayState::new(&id));
            app.go(View::Replay);
            fx.push(Effect::LoadWindow { id, since });
        }
        "replay" | "r" => {
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
        "theme" if !rest.is_empty() => {
            if app.no_color {
                app.set_status(Level::Info, "NO_COLOR is set: the console stays monochrome");
            } else {
                fx.push(Effect::LoadTheme(rest.to_owned()));
            }
        }
        "filter" => {
            let now = app.now;
            app.fleet.set_filter(rest, now);
            app.go(View::Fleet);
        }
        "select" | "selector" => {
            apply_selector(app, rest);
            app.go(View::Fleet);
        }
        "sort" => match SortKey::parse(rest) {
            Some(k) => {
                let now = app.now;
                app.fleet.set_sort(k, now);
            }
            None => {
                let names: Vec<&str> = SortKey::ALL.iter().map(|k| k.name()).collect();
                app.set_status(Level::Error, format!("sort by one of: {}", names.join(", ")));
            }
        },
        "pause" | "resume" | "kill" => {
            let kind = match word {
                "pause" => ActionKind::Pause,
                "resume" => ActionKind::Resume,
                _ => ActionKind::Kill,
            };
            if app.readonly {
                app.set_status(Level::Error, "read-only console: actions are disabled");
            } else if rest.is_empty() {
                act_on_rows(app, kind, fx);
            } else if rest == "--all" || rest == "all" {
                open_dialog(app, kind, Effect::PlanControl { kind, target: Target::All }, fx);
            } else {
                match Selector::parse(rest) {
                    Ok(sel) => open_dialog(app, kind, Effect::PlanControl { kind, target: Target::Selector(sel) }, fx),
                    Err(e) => app.set_status(Level::Error, safe(&e.to_string()).into_owned()),
                }
            }
        }
        "hard-stop" | "kill-pod" | "quarantine" | "release" | "restore" => {
            let what = match word {
                "hard-stop" => PodAction::HardStop,
                "restore" => PodAction::Restore,
                "kill-pod" => PodAction::KillPod { grace: None },
                "quarantine" => PodAction::Quarantine,
                _ => PodAction::Release,
            };
            if app.readonly {
                app.set_status(Level::Error, "read-only console: actions are disabled");
            } else if rest.is_empty() {
                act_on_pods(app, what, None, fx);
            } else {
                match Selector::parse(rest) {
                    Ok(sel) => act_on_pods(app, what, Some(Target::Selector(sel)), fx),
                    Err(e) => app.set_status(Level::Error, safe(&e.to_string()).into_owned()),
                }
            }
        }
        other => app.set_status(
            Level::Error,
            format!(
                "unknown command :{} (try :fleet :approvals :replay ID :session ID :theme NAME :pause SELECTOR :quit)",
                safe(other)
            ),
        ),
    }
}
