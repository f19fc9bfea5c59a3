//! What each keymap command does, whether a key or a `:` word named it. Operations go to
//! [`act`], the one entry of every action.

use super::actions::act;
use super::navigate::{move_by, open_replay, open_session, request_context};
use super::{App, Effect, Input, InputKind, Level, View};
use crate::interfaces::tui::keymap::Cmd;
use crate::interfaces::tui::session::Detail;
use crate::interfaces::tui::text::safe;
use crate::model::action::ActionKind;

pub(super) fn on_cmd(app: &mut App, cmd: Cmd, fx: &mut Vec<Effect>) {
    let page = app.list_height() as isize;
    match cmd {
        Cmd::Quit => request_quit(app, false),
        Cmd::Help => app.go(View::Help),
        Cmd::Command => app.input = Some(Input { kind: InputKind::Command, text: String::new() }),
        Cmd::Back => {
            if app.view == View::Fleet && (!app.fleet.filter.is_empty() || app.fleet.selector.is_some()) {
                let now = app.now;
                app.fleet.set_filter("", now);
                app.fleet.set_selector(None, now);
                app.set_status(Level::Info, "filters cleared");
            } else if app.view == View::Approvals
                && (!app.approvals.filter.is_empty() || app.approvals.selector.is_some())
            {
                app.approvals.filter.clear();
                app.approvals.selector = None;
                app.refilter_approvals();
                request_context(app, fx);
                app.set_status(Level::Info, "filters cleared");
            } else if app.view == View::Session && app.session.as_ref().is_some_and(|s| s.detail != Detail::None) {
                if let Some(s) = app.session.as_mut() {
                    s.detail = Detail::None;
                }
            } else {
                app.go_back();
            }
        }
        Cmd::Open => match app.view {
            View::Fleet => {
                if let Some(id) = app.fleet.selected_id() {
                    open_session(app, &id, fx);
                }
            }
            View::Approvals => {
                if let Some(id) = app.approvals.selected_item().map(|a| a.session_id.clone()) {
                    open_session(app, &id, fx);
                }
            }
            View::Session => toggle_raw(app),
            _ => {}
        },
        Cmd::Up => move_by(app, -1),
        Cmd::Down => move_by(app, 1),
        Cmd::PageUp => move_by(app, -page),
        Cmd::PageDown => move_by(app, page),
        Cmd::Top => move_by(app, isize::MIN / 2),
        Cmd::Bottom => move_by(app, isize::MAX / 2),
        Cmd::ViewFleet => app.go(View::Fleet),
        Cmd::ViewApprovals => {
            app.go(View::Approvals);
            request_context(app, fx);
        }
        Cmd::Filter => {
            let text = if app.view == View::Approvals { &app.approvals.filter } else { &app.fleet.filter };
            app.input = Some(Input { kind: InputKind::Filter, text: text.clone() });
        }
        Cmd::SelectorFilter => {
            let text = if app.view == View::Approvals {
                app.approvals.selector.as_ref().map(|s| s.to_string())
            } else {
                app.fleet.selector.as_ref().map(|s| s.to_string())
            };
            let text = text.unwrap_or_default();
            app.input = Some(Input { kind: InputKind::Selector, text });
        }
        Cmd::Sort | Cmd::SortReverse | Cmd::SortBy(_) => {
            let now = app.now;
            match cmd {
                Cmd::SortBy(key) => app.fleet.sort_by(key, now),
                Cmd::SortReverse => app.fleet.reverse(now),
                _ => app.fleet.cycle_sort(now),
            }
            let said = format!("sorted by {} {}", app.fleet.sort.name(), app.fleet.sort_arrow());
            app.set_status(Level::Info, said);
        }
        Cmd::Mark if app.view == View::Approvals => {
            app.approvals.toggle_mark();
            move_by(app, 1);
            request_context(app, fx);
        }
        Cmd::Mark => {
            app.fleet.toggle_mark();
            move_by(app, 1);
        }
        Cmd::ClearMarks if app.view == View::Approvals => app.approvals.marked.clear(),
        Cmd::ClearMarks => app.fleet.marked.clear(),
        Cmd::MarkAll => {
            let now = app.now;
            let n = app.approvals.mark_all_visible(now);
            let (y, r) =
                (app.keymap.key_of(Cmd::Act(ActionKind::Approve)), app.keymap.key_of(Cmd::Act(ActionKind::Reject)));
            app.set_status(Level::Info, format!("{n} marked: {y} approves, {r} rejects them all (one reason)"));
        }
        Cmd::Follow => {
            let h = app.list_height();
            if let Some(s) = app.session.as_mut() {
                let on = s.toggle_follow();
                crate::interfaces::tui::fleet::scroll_into_view(s.selected, &mut s.offset, h);
                app.set_status(Level::Info, if on { "follow on: new entries stay in view" } else { "follow off" });
            }
        }
        Cmd::Act(_) | Cmd::ActFleet(_) => act(app, cmd, "", fx),
        Cmd::Theme => app.input = Some(Input { kind: InputKind::Command, text: "theme ".into() }),
        Cmd::Namespace => app.input = Some(Input { kind: InputKind::Command, text: "ns ".into() }),
        Cmd::Raw => toggle_raw(app),
        Cmd::Copy => copy_id(app, fx),
        Cmd::Diff => {
            if let Some(s) = app.session.as_mut() {
                match s.diff_selected() {
                    Ok(d) => {
                        s.detail = d;
                        s.detail_scroll = 0;
                    }
                    Err(e) => app.set_status(Level::Error, e),
                }
            }
        }
        Cmd::Replay => {
            if let Some(id) = app.session.as_ref().map(|s| s.id.clone()) {
                open_replay(app, &id, fx);
            }
        }
        Cmd::Play => {
            let now = app.now;
            if let Some(r) = app.replay.as_mut() {
                r.toggle_play(now);
            }
        }
        Cmd::StepForward => move_by(app, 1),
        Cmd::StepBack => move_by(app, -1),
        Cmd::Faster => {
            if let Some(r) = app.replay.as_mut() {
                r.faster();
            }
        }
        Cmd::Slower => {
            if let Some(r) = app.replay.as_mut() {
                r.slower();
            }
        }
        Cmd::Anomaly => {
            if let Some(r) = app.replay.as_mut() {
                if !r.next_anomaly() {
                    app.set_status(Level::Info, "no anomaly in this session");
                }
            }
        }
        Cmd::KindFilter => {
            if let Some(r) = app.replay.as_mut() {
                r.cycle_filter();
            }
        }
    }
    if matches!(cmd, Cmd::Up | Cmd::Down | Cmd::PageUp | Cmd::PageDown | Cmd::Top | Cmd::Bottom)
        && app.view == View::Approvals
    {
        request_context(app, fx);
    }
}

/// `q` (and ctrl-c, `:quit`): in a sub-view, back (not `from_command`); a console that runs the
/// demo's agents asks once, since quitting stops them; else quits.
pub(super) fn request_quit(app: &mut App, from_command: bool) {
    if !from_command && app.view != View::Fleet {
        app.go_back();
        return;
    }
    if app.demo && !app.quit_asked {
        app.quit_asked = true;
        // The question is the line: a progress still under way would crowd it out.
        app.progress = None;
        let q = app.keymap.key_of(Cmd::Quit);
        app.set_status(
            Level::Info,
            format!("quit? the demo's simulated agents stop with the console: {q} again quits, any other key stays"),
        );
        return;
    }
    app.quit = true;
}

/// `c`: the full id of the open session, else the selected row, to the terminal's clipboard;
/// the status line says what was sent, or why nothing was.
fn copy_id(app: &mut App, fx: &mut Vec<Effect>) {
    let id = match app.view {
        View::Session => app.session.as_ref().map(|s| s.id.clone()),
        _ => app.fleet.selected_id(),
    };
    let Some(id) = id else {
        app.set_status(Level::Info, "no session selected: nothing copied");
        return;
    };
    match crate::interfaces::tui::terminal::osc52(&id) {
        Some(seq) => {
            fx.push(Effect::Copy(seq));
            app.set_status(Level::Ok, format!("copied session id {} to the clipboard (OSC 52)", safe(&id)));
        }
        None => app.set_status(
            Level::Error,
            format!("not copied: the session id {} holds control or invisible characters", safe(&id)),
        ),
    }
}

fn toggle_raw(app: &mut App) {
    if let Some(s) = app.session.as_mut() {
        s.detail = if s.detail == Detail::Raw { Detail::None } else { Detail::Raw };
        s.detail_scroll = 0;
    }
}
