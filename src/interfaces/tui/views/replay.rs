//! Replay: the chain up to the current step, the current entry whole below it.

use super::session::{draw_detail, item_line};
use super::{line, window};
use crate::interfaces::tui::app::App;
use crate::interfaces::tui::session::Detail;
use crate::interfaces::tui::text::safe;
use crate::interfaces::tui::theme::Role;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let theme = &app.theme;
    let Some(r) = &app.replay else {
        line(f, area, " nothing to replay (:replay ID, or R in a session)", theme.style(Role::Dim));
        return;
    };
    let data = match &r.data {
        None => return line(f, area, &format!(" loading session {}…", safe(&r.id)), theme.style(Role::Dim)),
        Some(Err(e)) => {
            return line(f, area, &format!(" cannot replay {}: {}", safe(&r.id), safe(e)), theme.style(Role::Error))
        }
        Some(Ok(d)) => d,
    };
    let [top, list_area, detail_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1), Constraint::Percentage(45)]).areas(area);
    let anomalies = data.items.iter().filter(|i| i.anomaly.is_some()).count();
    let state = if r.playing {
        format!("▶ playing {}×", r.speed_factor())
    } else {
        format!("‖ paused ({}×)", r.speed_factor())
    };
    let pos = if r.shown.is_empty() { 0 } else { r.pos + 1 };
    let (ok, badge) = data.badge();
    line(
        f,
        top,
        &format!(
            " replay {} · {pos}/{} · {state} · kind: {} · {anomalies} anomal{} · {badge}",
            safe(&r.id),
            r.shown.len(),
            r.filter.name(),
            if anomalies == 1 { "y" } else { "ies" },
        ),
        theme.style(if ok { Role::TableHeader } else { Role::Error }),
    );
    if r.shown.is_empty() {
        line(f, list_area, " no entries of this kind (f cycles the filter)", theme.style(Role::Dim));
        return;
    }
    let height = usize::from(list_area.height);
    let offset = window(r.pos, r.pos.saturating_sub(height / 2), height, r.shown.len());
    let w = usize::from(list_area.width);
    let lines: Vec<Line> = r
        .shown
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .filter_map(|(p, &i)| {
            let item = data.items.get(i)?;
            let style = match p.cmp(&r.pos) {
                std::cmp::Ordering::Equal => theme.style(Role::Selected),
                std::cmp::Ordering::Greater => theme.style(Role::Dim),
                std::cmp::Ordering::Less => theme.style(Role::Base),
            };
            Some(item_line(item, w, theme, style))
        })
        .collect();
    f.render_widget(Paragraph::new(lines), list_area);
    let current = r.current_index().and_then(|i| data.items.get(i));
    draw_detail(f, app, detail_area, &Detail::Raw, current, 0);
}
