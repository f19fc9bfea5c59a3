//! One session: summary, integrity badge, the reasoning chain (visible rows only) and a lower
//! pane with the selected entry whole (raw) or a checkpoint diff.

use super::{line, state_label, state_symbol, window};
use crate::interfaces::tui::app::App;
use crate::interfaces::tui::session::{clock, Detail, DiffLine, Item, ItemKind, TimelineData};
use crate::interfaces::tui::text::{compact, safe, truncate};
use crate::interfaces::tui::theme::{Role, Theme};
use crate::model::audit::EventKind;
use crate::model::time;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

/// One chain entry as a line: seq, step, time, kind, summary; anomalies flagged.
pub fn item_line<'a>(item: &'a Item, width: usize, theme: &Theme, style: Style) -> Line<'a> {
    let seq = item.seq.map(|s| s.to_string()).unwrap_or_else(|| "·".into());
    let when = item.time.as_ref().map(clock).unwrap_or_else(|| "        ".into());
    let flag = if item.anomaly.is_some() { "⚠" } else { " " };
    let step = match item.kind {
        ItemKind::Event(EventKind::OperatorAction) => "·".to_owned(),
        _ => item.step.to_string(),
    };
    let head = format!("{flag}{seq:>5} {step:>4} {when} {:<18} ", item.kind.label());
    let room = width.saturating_sub(head.chars().count());
    let summary = match &item.anomaly {
        Some(a) => format!("[{a}] {}", item.summary),
        None => item.summary.clone(),
    };
    let head_style = if item.anomaly.is_some() { style.patch(theme.style(Role::Anomaly)) } else { style };
    Line::from(vec![Span::styled(head, head_style), Span::styled(truncate(&summary, room).into_owned(), style)])
}

pub fn summary_lines(id: &str, data: &TimelineData, app: &App) -> Vec<Line<'static>> {
    let theme = &app.theme;
    let mut first = vec![Span::styled(format!(" session {}", safe(id)), theme.style(Role::TableHeader))];
    let (ok, badge) = data.badge();
    let mut second = vec![Span::styled(format!(" {badge} "), theme.style(if ok { Role::Ok } else { Role::Error }))];
    if let Some(why) = data.session.as_ref().and_then(|s| s.unreadable.as_deref()) {
        second.push(Span::styled(format!("· session record unreadable: {} ", safe(why)), theme.style(Role::Error)));
    } else if let Some(s) = &data.session {
        let (sym, role) = state_symbol(s.effective_state(app.now));
        first.push(Span::raw(format!(" · {} ", s.agent.shown_line())));
        if let (Some(ns), pod) = (&s.namespace, &s.pod) {
            first.push(Span::raw(format!(
                "· {}/{} ",
                ns.shown_line(),
                pod.as_ref().map_or("-".into(), |p| p.shown_line())
            )));
        }
        if let Some(m) = &s.model {
            first.push(Span::raw(format!("· {} ", m.shown_line())));
        }
        second.push(Span::styled(format!("· {sym} {}", state_label(s.effective_state(app.now))), theme.style(role)));
        second.push(Span::raw(format!(
            " · step {} · seen {} ago · {} tokens · ${:.2} ",
            s.step,
            time::age(&s.last_seen, &app.now),
            compact(s.input_tokens + s.output_tokens),
            s.cost_usd
        )));
        if let Some(d) = &s.detail {
            second.push(Span::raw(format!("· {} ", d.shown_line())));
        }
    } else {
        second.push(Span::styled(" no live record (from checkpoints and audit only) ", theme.style(Role::Dim)));
    }
    // What the rules find in the session as a whole (no line of the chain to mark).
    for a in data.anomalies.iter().filter(|a| a.seq.is_none()) {
        first.push(Span::styled(format!("· ⚠ {}: {} ", a.rule, safe(&a.detail)), theme.style(Role::Anomaly)));
    }
    vec![Line::from(first), Line::from(second)]
}

pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let theme = &app.theme;
    let Some(view) = &app.session else {
        line(f, area, " no session open (enter on a fleet row)", theme.style(Role::Dim));
        return;
    };
    let data = match &view.data {
        None => {
            line(f, area, &format!(" loading session {}…", safe(&view.id)), theme.style(Role::Dim));
            return;
        }
        Some(Err(e)) => {
            line(f, area, &format!(" cannot load session {}: {}", safe(&view.id), safe(e)), theme.style(Role::Error));
            return;
        }
        Some(Ok(d)) => d,
    };
    let detail_h = if view.detail == Detail::None { 0 } else { area.height.saturating_sub(3) / 2 };
    let mut top_lines = summary_lines(&view.id, data, app);
    if view.follow {
        top_lines
            .first_mut()
            .into_iter()
            .for_each(|l| l.spans.push(Span::styled("· following ", theme.style(Role::Ok))));
    }
    top_lines.extend(pending_lines(app, &view.id));
    let top_h = u16::try_from(top_lines.len()).unwrap_or(2);
    let [top, list_area, detail_area] =
        Layout::vertical([Constraint::Length(top_h), Constraint::Fill(1), Constraint::Length(detail_h)]).areas(area);
    f.render_widget(Paragraph::new(top_lines), top);

    let height = usize::from(list_area.height);
    let items = &data.items;
    if items.is_empty() {
        line(f, list_area, " no checkpoints or audit events for this session", theme.style(Role::Dim));
    } else {
        let offset = window(view.selected, view.offset, height, items.len());
        let w = usize::from(list_area.width);
        let lines: Vec<Line> = items
            .iter()
            .enumerate()
            .skip(offset)
            .take(height)
            .map(|(i, item)| {
                let style = if i == view.selected { theme.style(Role::Selected) } else { theme.style(Role::Base) };
                item_line(item, w, theme, style)
            })
            .collect();
        f.render_widget(Paragraph::new(lines), list_area);
    }
    if detail_h > 0 {
        draw_detail(f, app, detail_area, &view.detail, view.selected_item(), view.detail_scroll);
    }
}

/// The session's pending approval requests with their countdown (at most three lines, then how
/// many more): what this session waits for, and how long a decision can wait.
pub fn pending_lines(app: &App, session_id: &str) -> Vec<Line<'static>> {
    const SHOWN: usize = 3;
    let pending = app.approvals.of_session(session_id, app.now);
    let role = app.theme.style(Role::Waiting);
    let queue = app.keymap.key_of(crate::interfaces::tui::keymap::Cmd::ViewApprovals);
    let mut lines: Vec<Line<'static>> = pending
        .iter()
        .take(SHOWN)
        .map(|a| {
            Line::styled(
                format!(
                    " ? approval {} · {} · {} risk · {} ({queue}: the approvals queue)",
                    safe(&a.id),
                    a.tool.shown_line(),
                    a.risk,
                    super::approvals::expiry(&a.expires_at, &app.now)
                ),
                role,
            )
        })
        .collect();
    if pending.len() > SHOWN {
        lines.push(Line::styled(format!(" … and {} more pending approvals", pending.len() - SHOWN), role));
    }
    lines
}

pub fn draw_detail(f: &mut Frame<'_>, app: &App, area: Rect, detail: &Detail, item: Option<&Item>, scroll: usize) {
    let theme = &app.theme;
    let (title, lines): (String, Vec<Line>) = match detail {
        Detail::None => return,
        Detail::Raw => {
            let Some(item) = item else { return };
            let text = item.raw.shown_pretty();
            let title = format!(" {} · whole entry (esc closes, pgup/pgdn scroll) ", item.kind.label());
            (title, text.lines().map(|l| Line::raw(l.to_owned())).collect())
        }
        Detail::Diff { from_step, to_step, lines } => {
            let title = format!(" checkpoint step {from_step} → {to_step} (esc closes) ");
            let lines = lines
                .iter()
                .map(|d| match d {
                    DiffLine::Same(l) => Line::styled(format!("  {l}"), theme.style(Role::Dim)),
                    DiffLine::Added(l) => Line::styled(format!("+ {l}"), theme.style(Role::DiffAdd)),
                    DiffLine::Removed(l) => Line::styled(format!("- {l}"), theme.style(Role::DiffDel)),
                    DiffLine::Skipped(n) => Line::styled(format!("  ⋯ {n} unchanged lines"), theme.style(Role::Dim)),
                })
                .collect();
            (title, lines)
        }
    };
    let block = Block::bordered().title(title).border_style(theme.style(Role::Dim));
    let scroll = u16::try_from(scroll.min(lines.len().saturating_sub(1))).unwrap_or(u16::MAX);
    f.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }).scroll((scroll, 0)), area);
}
