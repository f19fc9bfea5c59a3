//! Help, generated from the keymap (so a remapped key shows as remapped).

use crate::interfaces::tui::app::App;
use crate::interfaces::tui::keymap::Context;
use crate::interfaces::tui::theme::Role;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn lines(app: &App) -> Vec<Line<'static>> {
    let theme = &app.theme;
    let mut out = Vec::new();
    for ctx in Context::ALL {
        let bindings: Vec<_> = app.keymap.bindings().iter().filter(|b| b.context == ctx && app.shows(b)).collect();
        if bindings.is_empty() {
            continue;
        }
        out.push(Line::styled(format!(" {}", ctx.title()), theme.style(Role::TableHeader)));
        for b in bindings {
            let keys: Vec<String> = b.keys.iter().map(ToString::to_string).collect();
            let mark = if b.destructive { " (asks to confirm)" } else { "" };
            out.push(Line::from(vec![
                Span::styled(format!("   {:<16}", keys.join(" ")), theme.style(Role::KeyBarKey)),
                Span::raw(format!(" {}{mark}", b.help)),
            ]));
        }
    }
    if app.operator.is_read_only() {
        out.push(Line::styled(" read-only console: actions are hidden and refused", theme.style(Role::Error)));
    }
    out.push(Line::styled(
        " keys are remappable in the config file's [keys] section, e.g. pause_fleet = \"ctrl-p\"",
        theme.style(Role::Dim),
    ));
    out
}

pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let all = lines(app);
    let max = all.len().saturating_sub(usize::from(area.height));
    let offset = u16::try_from(app.help_offset.min(max)).unwrap_or(0);
    f.render_widget(Paragraph::new(all).scroll((offset, 0)), area);
}
