//! Draws the state. Pure with respect to the app: reads `App`, writes only the frame. The
//! chrome (header, banners, status, key bar, input line, dialog) is here; each view's body is
//! in `views/`.

use super::app::{App, InputKind, Level, View};
use super::keymap::Cmd;
use super::text::{thousands, truncate, width};
use super::theme::Role;
use super::views::{self, line, state_symbol};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

/// Below this the console shows only a request for a bigger window.
pub const MIN_SIZE: (u16, u16) = (40, 10);

pub fn draw(f: &mut Frame<'_>, app: &App) {
    let area = f.area();
    let theme = &app.theme;
    f.render_widget(Block::default().style(theme.style(Role::Base)), area);
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let msg = format!("quell needs at least {}×{} (now {}×{})", MIN_SIZE.0, MIN_SIZE.1, area.width, area.height);
        f.render_widget(Paragraph::new(msg).style(theme.style(Role::Error)).wrap(Default::default()), area);
        return;
    }
    let banner = app.banner();
    let [top, banner_row, degraded_row, audit_row, body, status_row, bottom_row] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(banner.is_some())),
        Constraint::Length(u16::from(app.degraded.is_some())),
        Constraint::Length(u16::from(app.audit_degraded.is_some())),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header(f, app, top);
    if let Some(b) = banner {
        line(f, banner_row, &format!(" ‖ {b}"), theme.style(Role::Banner));
    }
    if let Some(d) = &app.degraded {
        line(f, degraded_row, &format!(" ⚠ {d}"), theme.style(Role::Degraded));
    }
    if let Some(d) = &app.audit_degraded {
        line(f, audit_row, &format!(" ⚠ {d}"), theme.style(Role::Degraded));
    }
    match app.view {
        View::Fleet => views::fleet::draw(f, app, body),
        View::Session => views::session::draw(f, app, body),
        View::Approvals => views::approvals::draw(f, app, body),
        View::Replay => views::replay::draw(f, app, body),
        View::Help => views::help::draw(f, app, body),
    }
    status(f, app, status_row);
    bottom(f, app, bottom_row);
    if let Some(d) = &app.dialog {
        d.render(f, area, theme);
    }
}

fn header(f: &mut Frame<'_>, app: &App, area: Rect) {
    let hs = app.theme.style(Role::Header);
    let right = format!(
        " {}{} ",
        if app.operator.is_read_only() { "[READ-ONLY] " } else { "" },
        super::text::safe(app.operator.name())
    );
    let mut left = format!(" quell · {} ", app.view.name());
    if app.fleet.loaded {
        left.push_str(&format!(" {} sessions ", thousands(app.fleet.total() as u64)));
        for (state, n) in app.fleet.counts.iter().filter(|(_, n)| *n > 0) {
            left.push_str(&format!("{}{} ", state_symbol(*state).0, thousands(*n as u64)));
        }
        if app.fleet.unreadable > 0 {
            left.push_str(&format!("?{} unreadable ", thousands(app.fleet.unreadable as u64)));
        }
    } else {
        left.push_str(" loading… ");
    }
    // Counted at this frame's time: a request that expired since the last refresh is not pending
    // (an unreadable one, whose expiry is unknown, still counts, as `quell sessions` counts it).
    let pending = app.approvals.pending_at(app.now);
    if pending > 0 {
        left.push_str(&format!("· {pending} pending approval{} ", if pending == 1 { "" } else { "s" }));
    }
    // The operator and the read-only mark always show; the counts give way.
    let room = usize::from(area.width).saturating_sub(width(&right));
    let left = truncate(&left, room);
    let pad = room.saturating_sub(width(&left));
    let text = format!("{left}{}{right}", " ".repeat(pad));
    f.render_widget(Paragraph::new(truncate(&text, usize::from(area.width)).into_owned()).style(hs), area);
}

fn status(f: &mut Frame<'_>, app: &App, area: Rect) {
    let theme = &app.theme;
    if let Some(p) = &app.progress {
        let (text, role) = views::progress_line(p);
        // A status set since the action started (its audit error, "already paused" on the next
        // key) is said next to the progress, never hidden behind it.
        let extra = app.status.as_ref().map(|(_, s)| format!("  ·  {s}")).unwrap_or_default();
        line(f, area, &format!(" {text}{extra}"), theme.style(role));
        return;
    }
    match &app.status {
        Some((level, text)) => {
            let role = match level {
                Level::Info => Role::Status,
                Level::Ok => Role::Ok,
                Level::Error => Role::Error,
            };
            line(f, area, &format!(" {text}"), theme.style(role));
        }
        None => line(f, area, "", theme.style(Role::Status)),
    }
}

fn bottom(f: &mut Frame<'_>, app: &App, area: Rect) {
    let theme = &app.theme;
    if let Some(input) = &app.input {
        let (prompt, hint) = match input.kind {
            InputKind::Filter => ("/", "  enter: keep · esc: clear"),
            InputKind::Selector => ("selector: ", "  e.g. state=running,tool in (send_email) · enter: apply"),
            InputKind::Command => (":", "  tab: complete · ↑ ↓: history · enter: run · esc: cancel"),
        };
        let text = crate::model::untrusted::Untrusted::new(input.text.as_str()).shown_line();
        let spans = vec![
            Span::styled(prompt, theme.style(Role::KeyBarKey)),
            Span::styled(format!("{text}▏"), theme.style(Role::Input)),
            Span::styled(hint, theme.style(Role::Dim)),
        ];
        f.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    let entries = app.keymap.bar_where(app.view.context(), |b| app.shows(b));
    let entry_w = |(k, l): &(String, &str)| width(k) + width(l) + 3;
    // When not everything fits, help is kept (last): it is where every other key is listed.
    let help = app.keymap.binding(Cmd::Help).and_then(|b| Some((b.keys.first()?.to_string(), b.bar?)));
    // Help's place when the entries before it fit; else it is kept at the end.
    let before_help: usize = entries.iter().take_while(|e| Some(*e) != help.as_ref()).map(entry_w).sum();
    let help_w = help.as_ref().map_or(0, entry_w);
    let kept = help.filter(|h| before_help + help_w > usize::from(area.width) && entries.contains(h));
    let room = usize::from(area.width).saturating_sub(kept.as_ref().map_or(0, entry_w));
    let mut spans = Vec::new();
    let mut used = 0usize;
    for entry in entries.iter().filter(|e| kept.as_ref() != Some(*e)) {
        let w = entry_w(entry);
        if used + w > room {
            break;
        }
        used += w;
        spans.push(Span::styled(format!(" {}", entry.0), theme.style(Role::KeyBarKey)));
        spans.push(Span::styled(format!(" {} ", entry.1), theme.style(Role::KeyBarText)));
    }
    if let Some((key, label)) = kept {
        spans.push(Span::styled(format!(" {key}"), theme.style(Role::KeyBarKey)));
        spans.push(Span::styled(format!(" {label} "), theme.style(Role::KeyBarText)));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
