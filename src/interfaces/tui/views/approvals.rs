//! The approvals queue: pending requests with age and expiry countdown, risk, tool and
//! arguments, approvers so far, and the last steps of the session for context.

use super::{line, window};
use crate::interfaces::tui::app::App;
use crate::interfaces::tui::text::{safe, truncate};
use crate::interfaces::tui::theme::Role;
use crate::model::approval::{Approval, Risk, Verdict};
use crate::model::time::{self, Timestamp};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

pub fn risk_role(r: Risk) -> Role {
    match r {
        Risk::Low => Role::RiskLow,
        Risk::Medium => Role::RiskMedium,
        Risk::High => Role::RiskHigh,
        Risk::Critical => Role::RiskCritical,
    }
}

/// "expires in 4m12s", or "expired 5s ago": the countdown in words.
pub fn expiry(expires: &Timestamp, now: &Timestamp) -> String {
    if expires > now {
        format!("expires in {}", countdown(expires, now))
    } else {
        format!("expired {} ago", time::age(expires, now))
    }
}

/// "4m12s" until expiry, or "expired".
pub fn countdown(expires: &Timestamp, now: &Timestamp) -> String {
    let s = (*expires - *now).num_seconds();
    match s {
        ..=0 => "expired".into(),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn approvers(a: &Approval) -> String {
    let who: Vec<String> = a
        .decisions
        .iter()
        .map(|d| format!("{} {}", safe(&d.approver), if d.verdict == Verdict::Approve { "✔" } else { "✘" }))
        .collect();
    format!(
        "{}/{}{}",
        a.approvals(),
        a.required_approvers.max(1),
        if who.is_empty() { String::new() } else { format!(" {}", who.join(", ")) }
    )
}

pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let theme = &app.theme;
    let view = &app.approvals;
    if view.items.is_empty() {
        let msg = if app.fleet.loaded { " no approvals waiting" } else { " loading…" };
        line(f, area, msg, theme.style(Role::Dim));
        return;
    }
    let [top, area] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    line(f, top, &summary(app), theme.style(Role::Dim));
    if view.visible.is_empty() {
        line(f, area, " no request matches the filters (esc clears them)", theme.style(Role::Dim));
        return;
    }
    let list_h = (area.height / 2).max(3).min(view.visible.len() as u16 + 1);
    let [list_area, detail_area] = Layout::vertical([Constraint::Length(list_h), Constraint::Fill(1)]).areas(area);
    let widths = [
        Constraint::Length(1),
        Constraint::Length(12),
        Constraint::Length(14),
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(5),
    ];
    let header =
        Row::new(["", "ID", "SESSION", "TOOL", "RISK", "AGE", "EXPIRES", "APPR"]).style(theme.style(Role::TableHeader));
    let height = usize::from(list_h.saturating_sub(1));
    let offset = window(view.selected, view.offset, height, view.visible.len());
    let rows = (offset..view.visible.len().min(offset + height)).filter_map(|i| Some((i, view.visible_item(i)?))).map(
        |(i, a)| {
            let style = if i == view.selected { theme.style(Role::Selected) } else { theme.style(Role::Base) };
            let ids = [
                Cell::from(if view.marked.contains(&a.id) { "●" } else { " " }),
                Cell::from(truncate(&safe(&a.id), 12).into_owned()),
                Cell::from(truncate(&safe(&a.session_id), 14).into_owned()),
            ];
            if a.unreadable.is_some() {
                let unknown = || Cell::from("?");
                let what = Cell::from("unreadable").style(theme.style(Role::Error));
                return Row::new(ids.into_iter().chain([what, unknown(), unknown(), unknown(), unknown()]))
                    .style(style);
            }
            Row::new(ids.into_iter().chain([
                Cell::from(a.tool.shown_line()),
                Cell::from(a.risk.as_str()).style(theme.style(risk_role(a.risk))),
                Cell::from(time::age(&a.requested_at, &app.now)),
                Cell::from(countdown(&a.expires_at, &app.now)),
                Cell::from(format!("{}/{}", a.approvals(), a.required_approvers.max(1))),
            ]))
            .style(style)
        },
    );
    f.render_widget(Table::new(rows, widths).header(header).column_spacing(1), list_area);

    let Some(a) = view.selected_item() else { return };
    if let Some(why) = &a.unreadable {
        let lines = vec![
            Line::styled(format!("approval {} is unreadable: {}", safe(&a.id), safe(why)), theme.style(Role::Error)),
            Line::styled("its stored record cannot be read, so it cannot be decided", theme.style(Role::Dim)),
        ];
        let block = Block::bordered().title(" request ").border_style(theme.style(Role::Dim));
        f.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), detail_area);
        return;
    }
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{} ", a.tool.shown_line()), theme.style(Role::TableHeader)),
            Span::styled(format!("{} risk", a.risk), theme.style(risk_role(a.risk))),
            Span::raw(format!(
                " · session {} step {} · requested {} ago · {} · approvers {}",
                safe(&a.session_id),
                a.step,
                time::age(&a.requested_at, &app.now),
                expiry(&a.expires_at, &app.now),
                approvers(a)
            )),
        ]),
        Line::styled("arguments:", theme.style(Role::Dim)),
    ];
    lines.extend(a.arguments.shown_pretty().lines().take(12).map(|l| Line::raw(format!("  {l}"))));
    lines.push(Line::styled("last steps of the session:", theme.style(Role::Dim)));
    match &view.context {
        Some((sid, Some(Ok(ctx)))) if *sid == a.session_id => {
            if ctx.is_empty() {
                lines.push(Line::styled("  no recorded steps", theme.style(Role::Dim)));
            }
            lines.extend(ctx.iter().map(|l| Line::raw(format!("  {l}"))));
        }
        Some((sid, Some(Err(e)))) if *sid == a.session_id => {
            lines.push(Line::styled(format!("  cannot load: {}", safe(e)), theme.style(Role::Error)))
        }
        _ => lines.push(Line::styled("  loading…", theme.style(Role::Dim))),
    }
    let block = Block::bordered().title(" request ").border_style(theme.style(Role::Dim));
    f.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), detail_area);
}

/// The queue's line above the table: how many wait, how many are shown, marked, and the filters.
fn summary(app: &App) -> String {
    let view = &app.approvals;
    let pending = view.pending_at(app.now);
    let mut text = format!(" {pending} pending, next to expire first");
    if view.visible.len() != view.items.len() {
        text.push_str(&format!(" · {}/{} shown", view.visible.len(), view.items.len()));
    }
    if !view.filter.is_empty() {
        text.push_str(&format!(
            " · filter '{}'",
            crate::model::untrusted::Untrusted::new(view.filter.as_str()).shown_line()
        ));
    }
    if let Some(sel) = &view.selector {
        text.push_str(&format!(" · selector {}", safe(&sel.to_string())));
    }
    if !view.marked.is_empty() {
        text.push_str(&format!(" · {} marked (one decision takes them all)", view.marked.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdown_reads_naturally() {
        let now = time::now();
        let at = |s| now + chrono::Duration::seconds(s);
        assert_eq!(countdown(&at(-5), &now), "expired");
        assert_eq!(countdown(&at(42), &now), "42s");
        assert_eq!(countdown(&at(252), &now), "4m12s");
        assert_eq!(countdown(&at(7260), &now), "2h01m");
        assert_eq!(expiry(&at(252), &now), "expires in 4m12s");
        assert_eq!(expiry(&at(-5), &now), "expired 5s ago", "never \"expires in expired\"");
    }
}
