//! The fleet table: one row per session, only the visible window is built. Columns drop by
//! priority as the terminal narrows.

use super::{line, state_label, state_symbol, window};
use crate::interfaces::tui::app::App;
use crate::interfaces::tui::fleet::{FleetRow, SortKey};
use crate::interfaces::tui::text::{compact, safe, thousands, truncate, width};
use crate::interfaces::tui::theme::{Role, Theme};
use crate::model::anomaly::Severity;
use crate::model::time;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

/// A column: the mark, a sortable session column, or (kube configured) a pod column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Col {
    Mark,
    Sort(SortKey),
    Phase,
    Node,
    Restarts,
    Posture,
}

impl Col {
    fn is_pod(self) -> bool {
        matches!(self, Col::Phase | Col::Node | Col::Restarts | Col::Posture)
    }
}

/// (column, title, width, priority: lower survives longer). Pod columns go first when narrow.
const COLS: [(Col, &str, u16, u8); 16] = [
    (Col::Mark, "", 2, 0),
    (Col::Sort(SortKey::Id), "ID", 16, 0),
    (Col::Sort(SortKey::Agent), "AGENT", 13, 1),
    (Col::Sort(SortKey::Place), "NAMESPACE/POD", 17, 2),
    (Col::Sort(SortKey::Model), "MODEL", 12, 4),
    (Col::Sort(SortKey::State), "STATE", 10, 0),
    (Col::Sort(SortKey::Anomaly), "ANOMALY", 20, 1),
    (Col::Phase, "PHASE", 9, 7),
    (Col::Node, "NODE", 12, 9),
    (Col::Restarts, "RST", 3, 8),
    (Col::Posture, "POSTURE", 30, 7),
    (Col::Sort(SortKey::Step), "STEP", 5, 3),
    (Col::Sort(SortKey::LastSeen), "SEEN", 5, 1),
    (Col::Sort(SortKey::Tokens), "TOKENS", 7, 5),
    (Col::Sort(SortKey::Cost), "COST", 7, 6),
    (Col::Sort(SortKey::Pending), "APPR", 4, 1),
];

/// From this width on, session ids are shown whole.
pub const WHOLE_IDS_FROM: u16 = 120;

/// The ID column's width for the ids on screen (already neutralised): from
/// [`WHOLE_IDS_FROM`] columns on, the longest whole; narrower, the default width, but never
/// less than the shortest prefix that tells the shown ids apart (and never more than the
/// longest). At most `cap`, so that an agent-chosen id of any length leaves room for the state.
fn id_width(ids: &[&str], table_width: u16, cap: u16) -> u16 {
    let to_u16 = |w: usize| u16::try_from(w).unwrap_or(u16::MAX);
    let whole = to_u16(ids.iter().map(|id| width(id)).max().unwrap_or(0)).max(2);
    let w = if table_width >= WHOLE_IDS_FROM {
        whole
    } else {
        let mut sorted: Vec<&str> = ids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let shared = |a: &str, b: &str| a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
        // Each id needs one character more than it shares with its neighbours, plus the `…`.
        let need = (0..sorted.len())
            .map(|i| {
                let id = sorted.get(i).copied().unwrap_or_default();
                let before = i.checked_sub(1).and_then(|j| sorted.get(j)).map_or(0, |p| shared(p, id));
                let after = sorted.get(i + 1).map_or(0, |n| shared(id, n));
                let keep = before.max(after) + 1;
                match id.char_indices().nth(keep) {
                    Some((cut, _)) => width(id.get(..cut).unwrap_or(id)) + 1,
                    None => width(id),
                }
            })
            .max()
            .unwrap_or(0);
        whole.min(DEFAULT_ID_WIDTH.max(to_u16(need)))
    };
    w.min(cap.max(DEFAULT_ID_WIDTH))
}

/// The ID column's width below [`WHOLE_IDS_FROM`] when a shorter prefix tells the ids apart.
const DEFAULT_ID_WIDTH: u16 = 16;

/// The columns that fit, in display order; pod columns only when kube is configured; the ID
/// column `id_w` wide.
fn fitting(width: u16, kube: bool, id_w: u16) -> Vec<(Col, &'static str, u16)> {
    let mut keep: Vec<(Col, &'static str, u16, u8)> = COLS
        .iter()
        .filter(|c| kube || !c.0.is_pod())
        .map(|&(col, t, w, p)| (col, t, if col == Col::Sort(SortKey::Id) { id_w } else { w }, p))
        .collect();
    let total = |keep: &[(Col, &str, u16, u8)]| keep.iter().map(|c| c.2 + 1).sum::<u16>();
    while total(&keep) > width && keep.len() > 3 {
        // Drop the column with the highest priority number (the last one among equals).
        let Some(pos) = keep.iter().enumerate().max_by_key(|(n, c)| (c.3, *n)).map(|(n, _)| n) else { break };
        keep.remove(pos);
    }
    keep.into_iter().map(|(col, title, width, _)| (col, title, width)).collect()
}

fn cell<'a>(app: &App, theme: &Theme, col: Col, r: &'a FleetRow, w: u16, outstanding: bool) -> Cell<'a> {
    let w = usize::from(w);
    let s = &r.session;
    let pod = || app.kube.as_ref().and_then(|k| k.pod(&s.id));
    match col {
        Col::Phase => Cell::from(truncate(pod().map_or("-", |p| p.phase.as_str()), w).into_owned()),
        Col::Node => {
            let node = pod().map_or("-", |p| if p.node.is_empty() { "<none>" } else { p.node.as_str() });
            Cell::from(truncate(node, w).into_owned())
        }
        Col::Restarts => Cell::from(Line::from(pod().map_or("-".into(), |p| compact(p.restarts))).right_aligned()),
        Col::Posture => match pod() {
            Some(p) => {
                let role = if p.posture == "ok" { Role::Base } else { Role::Error };
                Cell::from(truncate(&p.posture, w).into_owned()).style(theme.style(role))
            }
            None => Cell::from("-"),
        },
        Col::Mark => {
            let marked = app.fleet.marked.contains(&s.id);
            let sym = match (marked, outstanding) {
                (true, _) => "●",
                (false, true) => "…",
                _ => " ",
            };
            Cell::from(sym).style(theme.style(Role::Marked))
        }
        Col::Sort(SortKey::Id) => Cell::from(truncate(&r.id, w).into_owned()),
        Col::Sort(SortKey::Agent) => Cell::from(truncate(&r.agent, w).into_owned()),
        Col::Sort(SortKey::Place) => Cell::from(truncate(&r.place, w).into_owned()),
        Col::Sort(SortKey::Model) => Cell::from(truncate(&r.model, w).into_owned()),
        // An unreadable session's state and heartbeat are not known: never show placeholders.
        Col::Sort(SortKey::State) if s.unreadable.is_some() => {
            Cell::from(format!("? {}", truncate("unreadable", w.saturating_sub(2)))).style(theme.style(Role::Error))
        }
        Col::Sort(SortKey::State) => {
            let (sym, role) = state_symbol(r.state);
            Cell::from(format!("{sym} {}", truncate(state_label(r.state), w.saturating_sub(2))))
                .style(theme.style(role))
        }
        Col::Sort(SortKey::Step) => Cell::from(Line::from(compact(s.step)).right_aligned()),
        Col::Sort(SortKey::LastSeen) if s.unreadable.is_some() => Cell::from(Line::from("?").right_aligned()),
        Col::Sort(SortKey::LastSeen) => Cell::from(Line::from(time::age(&s.last_seen, &app.now)).right_aligned()),
        Col::Sort(SortKey::Tokens) => Cell::from(Line::from(compact(r.tokens())).right_aligned()),
        Col::Sort(SortKey::Cost) => Cell::from(Line::from(format!("${:.2}", s.cost_usd)).right_aligned()),
        Col::Sort(SortKey::Anomaly) => match app.fleet.row_anomalies(&s.id) {
            Some(a) => {
                let role = if a.worst >= Severity::High { Role::Error } else { Role::Waiting };
                Cell::from(truncate(&a.text, w).into_owned()).style(theme.style(role))
            }
            // Not judged yet (the first pass runs after the console opens).
            None if app.fleet.anomalies.is_none() => Cell::from("…").style(theme.style(Role::Dim)),
            None => Cell::from(""),
        },
        Col::Sort(SortKey::Pending) => {
            if r.pending > 0 {
                Cell::from(Line::from(r.pending.to_string()).right_aligned()).style(theme.style(Role::Waiting))
            } else {
                Cell::from("")
            }
        }
    }
}

pub fn draw(f: &mut Frame<'_>, app: &App, area: Rect) {
    let theme = &app.theme;
    let fleet = &app.fleet;
    let [info, table_area] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);

    let (at, of) = fleet.position();
    let mut parts = vec![
        format!("row {}/{}", thousands(at as u64), thousands(of as u64)),
        format!("{}/{} shown", thousands(fleet.visible.len() as u64), thousands(fleet.total() as u64)),
    ];
    if !fleet.filter.is_empty() {
        parts.push(format!("filter '{}'", safe(&fleet.filter)));
    }
    if let Some(sel) = &fleet.selector {
        parts.push(format!("selector {}", safe(&sel.to_string())));
    }
    if let Some(ns) = &fleet.namespace {
        parts.push(format!("namespace {}", safe(ns)));
    }
    parts.push(format!("sort {} {}", fleet.sort.name(), fleet.sort_arrow()));
    if !fleet.marked.is_empty() {
        parts.push(format!("{} marked", thousands(fleet.marked.len() as u64)));
    }
    if let Some(k) = &app.kube {
        parts.push(k.summary());
    }
    line(f, info, &format!(" {}", parts.join(" · ")), theme.style(Role::Dim));

    let height = usize::from(table_area.height.saturating_sub(1));
    let offset = window(fleet.selected, fleet.offset, height, fleet.visible.len());
    let end = (offset + height).min(fleet.visible.len());
    let shown: Vec<&str> = (offset..end).filter_map(|i| fleet.row_at(i)).map(|r| r.id.as_str()).collect();
    // Room for the mark and the state beside the id, whatever its length.
    let cap = table_area.width.saturating_sub(2 + 1 + 10 + 1 + 1);
    let cols = fitting(table_area.width, app.kube.is_some(), id_width(&shown, table_area.width, cap));
    let sorted = Col::Sort(fleet.sort);
    let header = Row::new(cols.iter().map(|(c, title, _)| {
        let t = if *c == sorted { format!("{title}{}", fleet.sort_arrow()) } else { (*title).into() };
        Cell::from(t)
    }))
    .style(theme.style(Role::TableHeader));

    if fleet.visible.is_empty() {
        let msg = if !fleet.loaded {
            "loading sessions…".to_owned()
        } else if fleet.total() == 0 {
            "no sessions yet: waiting for the fleet to report".to_owned()
        } else {
            "no session matches the filter (esc clears it)".to_owned()
        };
        let [h, rest] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(table_area);
        f.render_widget(Table::new(Vec::<Row>::new(), cols.iter().map(|c| Constraint::Length(c.2))).header(header), h);
        f.render_widget(Paragraph::new(format!(" {msg}")).style(theme.style(Role::Dim)), rest);
        return;
    }
    let outstanding = app.progress.as_ref().map(|p| &p.outstanding);
    let rows = (offset..end).filter_map(|i| {
        let r = fleet.row_at(i)?;
        let is_out = outstanding.is_some_and(|o| o.contains(&r.session.id));
        let style = if i == fleet.selected {
            theme.style(Role::Selected)
        } else if is_out {
            theme.style(Role::Outstanding)
        } else if fleet.marked.contains(&r.session.id) {
            theme.style(Role::Marked)
        } else {
            theme.style(Role::Base)
        };
        let cells: Vec<Cell> = cols.iter().map(|(c, _, w)| cell(app, theme, *c, r, *w, is_out)).collect();
        Some(Row::new(cells).style(style))
    });
    let table = Table::new(rows, cols.iter().map(|c| Constraint::Length(c.2))).header(header).column_spacing(1);
    f.render_widget(table, table_area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_drop_by_priority() {
        let names = |w| fitting(w, false, DEFAULT_ID_WIDTH).iter().map(|c| c.1).collect::<Vec<_>>();
        assert_eq!(names(200).len(), COLS.len() - 4, "no pod columns without kube");
        let at80 = names(80);
        assert!(at80.contains(&"ID") && at80.contains(&"STATE") && at80.contains(&"AGENT"));
        assert!(!at80.contains(&"COST"));
        assert!(fitting(80, false, DEFAULT_ID_WIDTH).iter().map(|c| c.2 + 1).sum::<u16>() <= 80);
        assert_eq!(names(20), vec!["", "ID", "STATE"]);
        let kube = |w| fitting(w, true, DEFAULT_ID_WIDTH).iter().map(|c| c.1).collect::<Vec<_>>();
        assert_eq!(kube(200).len(), COLS.len());
        assert_eq!(kube(80), at80, "at 80 columns the pod columns are dropped first");
        let at150 = kube(150);
        assert!(at150.contains(&"PHASE") && !at150.contains(&"NODE"), "{at150:?}");
        // The anomaly column outlives model, step, tokens and cost.
        assert!(at80.contains(&"ANOMALY") && !at80.contains(&"MODEL"), "{at80:?}");
    }

    #[test]
    fn ids_are_whole_from_120_columns_and_never_cut_below_what_tells_them_apart() {
        let uuids = ["7f3c2a10-5b1e-4c7a-9d2e-0a1b2c3d4e5f", "7f3c2a10-5b1e-4c7a-9d2e-ffffffffffff"];
        assert_eq!(id_width(&uuids, 120, 200), 36, "whole at 120 columns");
        assert_eq!(id_width(&uuids, 119, 200), 26, "narrower: 24 shared characters, one more, and the …");
        let w = usize::from(id_width(&uuids, 80, 200));
        let cut: Vec<_> = uuids.iter().map(|id| truncate(id, w)).collect();
        assert_ne!(cut[0], cut[1], "the cut ids still differ: {cut:?}");
        let short = ["s-001", "s-002"];
        assert_eq!(id_width(&short, 80, 200), 5, "never wider than the longest");
        let distinct = ["alpha-0000000000000000000001", "beta-000000000000000000000001"];
        assert_eq!(id_width(&distinct, 80, 200), DEFAULT_ID_WIDTH, "a short prefix tells them apart");
        assert_eq!(id_width(&[], 200, 200), 2);
        assert_eq!(id_width(&["x".repeat(500).as_str()], 130, 100), 100, "an id of any length leaves room");
        // The ID column keeps its place while others give way.
        let cols = fitting(120, false, 36);
        assert!(cols.iter().any(|c| c.1 == "ID" && c.2 == 36) && cols.iter().map(|c| c.2 + 1).sum::<u16>() <= 120);
    }
}
