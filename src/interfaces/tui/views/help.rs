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
    // First, so that a viewer knows at once why no action is listed.
    if app.operator.is_read_only() {
        out.push(Line::styled(" read-only console: actions are hidden and refused", theme.style(Role::Error)));
    }
    for ctx in Context::ALL {
        let bindings: Vec<_> = app.keymap.bindings().iter().filter(|b| b.context == ctx && app.shows(b)).collect();
        // Commands of another view that work here too, on one line: "p r x  also here: …".
        let shared: Vec<_> =
            app.keymap.bindings().iter().filter(|b| b.context != ctx && b.applies(ctx) && app.shows(b)).collect();
        if bindings.is_empty() && shared.is_empty() {
            continue;
        }
        out.push(Line::styled(format!(" {}", ctx.title()), theme.style(Role::TableHeader)));
        if !shared.is_empty() {
            let keys: Vec<String> = shared.iter().filter_map(|b| b.keys.first()).map(ToString::to_string).collect();
            let names: Vec<&str> = shared.iter().map(|b| b.name).collect();
            let on = match ctx {
                Context::Session => " on this session",
                Context::Approvals => " (on the requests' sessions)",
                _ => "",
            };
            out.push(Line::from(vec![
                Span::styled(format!("   {:<16}", keys.join(" ")), theme.style(Role::KeyBarKey)),
                Span::raw(format!(" also here{on}: {}", names.join(", "))),
            ]));
        }
        for b in bindings {
            let keys: Vec<String> = b.keys.iter().map(ToString::to_string).collect();
            let mark = if b.destructive { " (asks to confirm)" } else { "" };
            out.push(Line::from(vec![
                Span::styled(format!("   {:<16}", keys.join(" ")), theme.style(Role::KeyBarKey)),
                Span::raw(format!(" {}{mark}", b.help)),
            ]));
        }
    }
    // Every `:` command, from the same table: the word, what it takes, what it does.
    out.push(Line::styled(" : commands (tab completes)", theme.style(Role::TableHeader)));
    for b in app.keymap.bindings().iter().filter(|b| app.offers(b)) {
        let word = format!(":{} {}", b.name.replace('_', "-"), b.arg);
        let aliases: Vec<String> = b.words.iter().map(|w| format!(":{w}")).collect();
        let aka = if aliases.is_empty() { String::new() } else { format!(" (also {})", aliases.join(" ")) };
        out.push(Line::from(vec![
            Span::styled(format!("   {:<26}", word.trim_end()), theme.style(Role::KeyBarKey)),
            Span::raw(format!(" {}{aka}", b.help)),
        ]));
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
