//! Fleet view state: the session table, its order, filters, marks and cursor. Pure.
//!
//! Rows are built once per snapshot on the feed thread (cell text already neutralised);
//! sorting happens when data or the sort key changes; filtering is one pass over the sorted
//! order; drawing touches only the visible window.

use super::text::safe;
use crate::model::anomaly::{self, Anomaly, RuleId, Severity};
use crate::model::approval::Approval;
use crate::model::control::ControlRecord;
use crate::model::selector::Selector;
use crate::model::session::{Session, SessionState};
use crate::model::time;
use crate::model::time::Timestamp;
use std::collections::{BTreeSet, HashMap, HashSet};

/// One table row, display text ready.
#[derive(Clone, Debug)]
pub struct FleetRow {
    pub session: Session,
    pub id: String,
    pub agent: String,
    pub place: String,
    pub model: String,
    /// Effective state when the snapshot was taken (a silent session is stale).
    pub state: SessionState,
    pub pending: u32,
    /// Lower-case text the `/` filter searches.
    haystack: String,
}

impl FleetRow {
    pub fn build(session: Session, pending: u32, now: Timestamp) -> FleetRow {
        let id = safe(&session.id).into_owned();
        let agent = session.agent.shown_line();
        let place = match (&session.namespace, &session.pod) {
            (Some(ns), Some(pod)) => format!("{}/{}", ns.shown_line(), pod.shown_line()),
            (Some(ns), None) => ns.shown_line(),
            (None, Some(pod)) => pod.shown_line(),
            (None, None) => String::new(),
        };
        let model = session.model.as_ref().map(|m| m.shown_line()).unwrap_or_default();
        let state = session.effective_state(now);
        let shown_state = if session.unreadable.is_some() { "unreadable" } else { state.as_str() };
        // Every field of the session, not only the columns shown: `/` finds a session by a tool
        // it called or the reason it failed too.
        let tools: Vec<String> = session.tools.iter().map(|t| t.shown_line()).collect();
        let detail = session.detail.as_ref().map(|d| d.shown_line()).unwrap_or_default();
        let unreadable = session.unreadable.as_deref().map(safe).unwrap_or_default();
        let haystack = format!(
            "{id} {agent} {place} {model} {shown_state} step {} tools {} {detail} {unreadable}",
            session.step,
            tools.join(" ")
        )
        .to_lowercase();
        FleetRow { session, id, agent, place, model, state, pending, haystack }
    }

    pub fn tokens(&self) -> u64 {
        self.session.input_tokens.saturating_add(self.session.output_tokens)
    }
}

/// What the anomaly rules found in one session, for its row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowAnomalies {
    pub worst: Severity,
    /// The rules broken, most severe first.
    pub rules: Vec<RuleId>,
    /// Findings in all.
    pub count: usize,
    /// The cell: `✘ chain broken` when the chain is, else the worst rule and how many more.
    pub text: String,
}

impl RowAnomalies {
    /// `None` when nothing was found.
    pub fn of(found: &[Anomaly]) -> Option<RowAnomalies> {
        let summary = anomaly::summarize(found);
        let worst = summary.first()?;
        let rules: Vec<RuleId> = summary.iter().map(|s| s.rule).collect();
        let text = match (rules.contains(&RuleId::BrokenChain), rules.len()) {
            (true, 1) => "✘ chain broken".to_owned(),
            (true, n) => format!("✘ chain broken +{}", n - 1),
            (false, 1) => format!("⚠ {}", worst.rule),
            (false, n) => format!("⚠ {}+{}", worst.rule, n - 1),
        };
        Some(RowAnomalies { worst: worst.severity, rules, count: found.len(), text })
    }

    /// One integer that orders rows most severe first (then most findings), no finding last.
    fn rank(found: Option<&RowAnomalies>) -> u64 {
        found.map_or(0, |a| (a.worst as u64 + 1) << 32 | (a.count.min(u32::MAX as usize) as u64))
    }
}

/// What the feed delivers every refresh.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub rows: Vec<FleetRow>,
    pub fleet_control: Option<ControlRecord>,
    pub approvals: Vec<Approval>,
    pub taken_at: Timestamp,
}

impl Snapshot {
    /// Builds rows from store data (runs on the feed thread).
    pub fn build(
        sessions: Vec<Session>,
        fleet_control: Option<ControlRecord>,
        approvals: Vec<Approval>,
        now: Timestamp,
    ) -> Snapshot {
        let mut pending: HashMap<&str, u32> = HashMap::new();
        for a in &approvals {
            *pending.entry(a.session_id.as_str()).or_default() += 1;
        }
        let pending: HashMap<String, u32> = pending.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let rows = sessions
            .into_iter()
            .map(|s| {
                let p = pending.get(&s.id).copied().unwrap_or(0);
                FleetRow::build(s, p, now)
            })
            .collect();
        Snapshot { rows, fleet_control, approvals, taken_at: now }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortKey {
    Id,
    Agent,
    Place,
    Model,
    State,
    Step,
    LastSeen,
    Tokens,
    Cost,
    Pending,
    Anomaly,
}

impl SortKey {
    pub const ALL: [SortKey; 11] = [
        SortKey::Id,
        SortKey::Agent,
        SortKey::Place,
        SortKey::Model,
        SortKey::State,
        SortKey::Step,
        SortKey::LastSeen,
        SortKey::Tokens,
        SortKey::Cost,
        SortKey::Pending,
        SortKey::Anomaly,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::Agent => "agent",
            SortKey::Place => "namespace/pod",
            SortKey::Model => "model",
            SortKey::State => "state",
            SortKey::Step => "step",
            SortKey::LastSeen => "seen",
            SortKey::Tokens => "tokens",
            SortKey::Cost => "cost",
            SortKey::Pending => "approvals",
            SortKey::Anomaly => "anomaly",
        }
    }

    pub fn parse(text: &str) -> Option<SortKey> {
        Self::ALL.into_iter().find(|k| k.name() == text || (text == "namespace" && *k == SortKey::Place))
    }

    /// Columns whose natural order is largest first (most tokens, most severe); the others
    /// start smallest first (A to Z, the most recently seen, the youngest, first).
    fn largest_first(self) -> bool {
        matches!(self, SortKey::Tokens | SortKey::Cost | SortKey::Pending | SortKey::Anomaly)
    }

    fn next(self) -> SortKey {
        let i = Self::ALL.iter().position(|k| *k == self).unwrap_or(0);
        Self::ALL.get((i + 1) % Self::ALL.len()).copied().unwrap_or(self)
    }

    /// One integer per row that orders like the column (ascending). Text columns are ranked
    /// through their distinct values, so sorting 100,000 rows compares integers, not strings.
    fn keys(self, rows: &[FleetRow], anomalies: &HashMap<String, RowAnomalies>) -> Vec<u64> {
        let text = |f: fn(&FleetRow) -> &str| -> Vec<u64> {
            let mut distinct: Vec<&str> = rows.iter().map(f).collect::<HashSet<&str>>().into_iter().collect();
            distinct.sort_unstable();
            let rank: HashMap<&str, u64> = distinct.into_iter().enumerate().map(|(i, s)| (s, i as u64)).collect();
            rows.iter().map(|r| rank.get(f(r)).copied().unwrap_or(0)).collect()
        };
        let desc = |v: u64| u64::MAX - v;
        match self {
            // Rows arrive in id order (the store sorts them): the index is the rank.
            SortKey::Id if rows.iter().zip(rows.iter().skip(1)).all(|(x, y)| x.session.id <= y.session.id) => {
                (0..rows.len() as u64).collect()
            }
            SortKey::Id => text(|r| &r.session.id),
            SortKey::Agent => text(|r| &r.agent),
            SortKey::Place => text(|r| &r.place),
            SortKey::Model => text(|r| &r.model),
            SortKey::State => rows.iter().map(|r| r.state as u64).collect(),
            SortKey::Step => rows.iter().map(|r| r.session.step).collect(),
            // Most recently seen, most tokens, most cost, most approvals first; reverse flips it.
            SortKey::LastSeen => rows.iter().map(|r| desc(time::to_micros(&r.session.last_seen) as u64)).collect(),
            SortKey::Tokens => rows.iter().map(|r| desc(r.tokens())).collect(),
            SortKey::Cost => rows.iter().map(|r| desc(r.session.cost_usd.max(0.0).to_bits())).collect(),
            SortKey::Pending => rows.iter().map(|r| desc(u64::from(r.pending))).collect(),
            // Most severe first.
            SortKey::Anomaly => rows.iter().map(|r| desc(RowAnomalies::rank(anomalies.get(&r.session.id)))).collect(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FleetState {
    pub rows: Vec<FleetRow>,
    /// Every row, in sort order (indices into `rows`).
    order: Vec<u32>,
    /// The rows that pass the filters, in sort order.
    pub visible: Vec<u32>,
    pub selected: usize,
    pub offset: usize,
    pub marked: BTreeSet<String>,
    pub filter: String,
    pub selector: Option<Selector>,
    pub sort: SortKey,
    pub descending: bool,
    /// Sessions per effective state, over the whole fleet (not just the filtered rows).
    pub counts: Vec<(SessionState, usize)>,
    /// Sessions whose record could not be read: their state is not known, so not in `counts`.
    pub unreadable: usize,
    pub fleet_control: Option<ControlRecord>,
    pub loaded: bool,
    pub taken_at: Option<Timestamp>,
    /// What the anomaly rules found, by session id (judged on their own thread, less often than
    /// snapshots arrive); `None` until the first judgement.
    pub anomalies: Option<HashMap<String, RowAnomalies>>,
    /// Why the last judgement failed (said once on the status line).
    pub anomalies_error: Option<String>,
    /// `:ns NAME`: only sessions that report this namespace.
    pub namespace: Option<String>,
}

impl Default for FleetState {
    fn default() -> Self {
        FleetState {
            rows: Vec::new(),
            order: Vec::new(),
            visible: Vec::new(),
            selected: 0,
            offset: 0,
            marked: BTreeSet::new(),
            filter: String::new(),
            selector: None,
            sort: SortKey::Id,
            descending: false,
            counts: Vec::new(),
            unreadable: 0,
            fleet_control: None,
            loaded: false,
            taken_at: None,
            anomalies: None,
            anomalies_error: None,
            namespace: None,
        }
    }
}

impl FleetState {
    pub fn selected_row(&self) -> Option<&FleetRow> {
        self.visible.get(self.selected).and_then(|&i| self.rows.get(i as usize))
    }

    pub fn selected_id(&self) -> Option<String> {
        self.selected_row().map(|r| r.session.id.clone())
    }

    pub fn row_at(&self, visible_index: usize) -> Option<&FleetRow> {
        self.visible.get(visible_index).and_then(|&i| self.rows.get(i as usize))
    }

    /// Replaces the data, keeping the cursor on the same session when it still exists.
    pub fn apply(&mut self, snapshot: Snapshot, now: Timestamp) {
        let keep = self.selected_id();
        let mut counts: Vec<(SessionState, usize)> = SessionState::ALL.iter().map(|s| (*s, 0)).collect();
        let mut unreadable = 0;
        for r in &snapshot.rows {
            if r.session.unreadable.is_some() {
                unreadable += 1;
            } else if let Some(c) = counts.iter_mut().find(|(s, _)| *s == r.state) {
                c.1 += 1;
            }
        }
        self.counts = counts;
        self.unreadable = unreadable;
        self.rows = snapshot.rows;
        self.fleet_control = snapshot.fleet_control;
        self.taken_at = Some(snapshot.taken_at);
        self.loaded = true;
        let live: BTreeSet<&str> = self.rows.iter().map(|r| r.session.id.as_str()).collect();
        self.marked.retain(|id| live.contains(id.as_str()));
        self.resort();
        self.refilter(now);
        self.reselect(keep.as_deref());
    }

    pub fn resort(&mut self) {
        let none = HashMap::new();
        let keys = self.sort.keys(&self.rows, self.anomalies.as_ref().unwrap_or(&none));
        // The index breaks ties, so the order is total and the same on every refresh.
        let mut keyed: Vec<(u64, u32)> = keys.into_iter().zip(0..self.rows.len() as u32).collect();
        keyed.sort_unstable();
        let mut order: Vec<u32> = keyed.into_iter().map(|(_, i)| i).collect();
        if self.descending {
            order.reverse();
        }
        self.order = order;
    }

    pub fn refilter(&mut self, now: Timestamp) {
        let needle = self.filter.to_lowercase();
        let rows = &self.rows;
        let sel = self.selector.as_ref();
        let anomalies = self.anomalies.as_ref();
        let ns = self.namespace.as_deref();
        self.visible = self
            .order
            .iter()
            .copied()
            .filter(|&i| {
                rows.get(i as usize).is_some_and(|r| {
                    // Looked up only when a filter needs it (100,000 rows refilter per keystroke).
                    let found = || anomalies.and_then(|a| a.get(&r.session.id));
                    let in_ns = ns.is_none_or(|ns| r.session.namespace.as_ref().is_some_and(|n| n.raw() == ns));
                    let text = || {
                        needle.is_empty()
                            || r.haystack.contains(&needle)
                            || found().is_some_and(|f| f.rules.iter().any(|id| id.as_str().contains(&needle)))
                    };
                    in_ns
                        && text()
                        && sel.is_none_or(|s| {
                            // Not yet judged: an `anomaly` requirement matches nothing.
                            let ids = match s.needs_anomalies() {
                                true => anomalies.map(|_| found().map_or(&[][..], |f| f.rules.as_slice())),
                                false => None,
                            };
                            s.matches_with(&r.session, now, ids)
                        })
                })
            })
            .collect();
    }

    /// What the anomaly rules found; re-sorts (when sorted by anomaly) and re-filters keeping
    /// the cursor on its session.
    pub fn set_anomalies(&mut self, found: HashMap<String, RowAnomalies>, now: Timestamp) {
        self.keep_cursor(|s| {
            s.anomalies = Some(found);
            if s.sort == SortKey::Anomaly {
                s.resort();
            }
            s.refilter(now);
        });
    }

    /// `:ns NAME` (`None`: every namespace).
    pub fn set_namespace(&mut self, namespace: Option<String>, now: Timestamp) {
        self.keep_cursor(|s| {
            s.namespace = namespace;
            s.refilter(now);
        });
    }

    /// The ids of the live sessions `selector` matches, anomalies as last judged; `None` before
    /// the first judgement.
    pub fn live_matching(&self, selector: &Selector, now: Timestamp) -> Option<Vec<String>> {
        let found = self.anomalies.as_ref()?;
        let ids = self.rows.iter().filter(|r| !r.session.state.is_terminal() && r.session.unreadable.is_none());
        let matching = ids.filter(|r| {
            let rules = found.get(&r.session.id).map_or(&[][..], |f| f.rules.as_slice());
            selector.matches_with(&r.session, now, Some(rules))
        });
        Some(matching.map(|r| r.session.id.clone()).collect())
    }

    pub fn row_anomalies(&self, id: &str) -> Option<&RowAnomalies> {
        self.anomalies.as_ref().and_then(|a| a.get(id))
    }

    fn reselect(&mut self, id: Option<&str>) {
        if let Some(id) = id {
            if let Some(pos) =
                self.visible.iter().position(|&i| self.rows.get(i as usize).is_some_and(|r| r.session.id == id))
            {
                self.selected = pos;
                return;
            }
        }
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
    }

    /// Re-sorts or re-filters keeping the cursor on the same session.
    pub fn keep_cursor(&mut self, f: impl FnOnce(&mut Self)) {
        let keep = self.selected_id();
        f(self);
        self.reselect(keep.as_deref());
    }

    pub fn cycle_sort(&mut self, now: Timestamp) {
        self.keep_cursor(|s| {
            s.sort = s.sort.next();
            s.resort();
            s.refilter(now);
        });
    }

    pub fn set_sort(&mut self, key: SortKey, now: Timestamp) {
        self.keep_cursor(|s| {
            s.sort = key;
            s.resort();
            s.refilter(now);
        });
    }

    /// The sort's one arrow, in the header and the info line alike: `↑` smallest first (A to Z,
    /// youngest first), `↓` largest first.
    pub fn sort_arrow(&self) -> &'static str {
        if self.sort.largest_first() != self.descending {
            "↓"
        } else {
            "↑"
        }
    }

    /// Sorts by a column (shift+letter); by the column already sorted on, reverses.
    pub fn sort_by(&mut self, key: SortKey, now: Timestamp) {
        if self.sort == key {
            self.reverse(now);
        } else {
            self.descending = false;
            self.set_sort(key, now);
        }
    }

    /// Where the cursor is among the rows shown: `(position from 1, rows)`, `(0, 0)` when none.
    pub fn position(&self) -> (usize, usize) {
        let n = self.visible.len();
        (if n == 0 { 0 } else { self.selected.min(n - 1) + 1 }, n)
    }

    pub fn reverse(&mut self, now: Timestamp) {
        self.keep_cursor(|s| {
            s.descending = !s.descending;
            s.resort();
            s.refilter(now);
        });
    }

    pub fn set_filter(&mut self, text: &str, now: Timestamp) {
        self.keep_cursor(|s| {
            s.filter = text.to_owned();
            s.refilter(now);
        });
    }

    pub fn set_selector(&mut self, selector: Option<Selector>, now: Timestamp) {
        self.keep_cursor(|s| {
            s.selector = selector;
            s.refilter(now);
        });
    }

    pub fn toggle_mark(&mut self) {
        if let Some(id) = self.selected_id() {
            if !self.marked.remove(&id) {
                self.marked.insert(id);
            }
        }
    }

    /// The namespaces that the whole fleet spans (for the header).
    pub fn total(&self) -> usize {
        self.rows.len()
    }
}

/// Moves a cursor within `len` rows, keeping it inside a window of `height` rows.
pub fn move_cursor(selected: &mut usize, offset: &mut usize, len: usize, delta: isize, height: usize) {
    if len == 0 {
        *selected = 0;
        *offset = 0;
        return;
    }
    let target = (*selected as isize + delta).clamp(0, len as isize - 1);
    *selected = target as usize;
    scroll_into_view(*selected, offset, height.max(1));
}

pub fn scroll_into_view(selected: usize, offset: &mut usize, height: usize) {
    if selected < *offset {
        *offset = selected;
    } else if selected >= *offset + height {
        *offset = selected + 1 - height;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time;

    fn session(id: &str, state: SessionState, step: u64, ns: &str) -> Session {
        let now = time::now();
        let mut s = Session::new(id, format!("agent-{id}"), now);
        s.state = state;
        s.step = step;
        s.namespace = Some(ns.into());
        s
    }

    fn fleet() -> FleetState {
        let now = time::now();
        let sessions = vec![
            session("a", SessionState::Running, 5, "prod"),
            session("b", SessionState::Paused, 9, "prod"),
            session("c", SessionState::Running, 1, "staging"),
        ];
        let mut f = FleetState::default();
        f.apply(Snapshot::build(sessions, None, vec![], now), now);
        f
    }

    fn ids(f: &FleetState) -> Vec<&str> {
        f.visible.iter().map(|&i| f.rows[i as usize].session.id.as_str()).collect()
    }

    #[test]
    fn sorts_filters_and_keeps_the_cursor_on_its_session() {
        let now = time::now();
        let mut f = fleet();
        assert_eq!(ids(&f), ["a", "b", "c"]);
        f.selected = 1; // b
        f.set_sort(SortKey::Step, now);
        assert_eq!(ids(&f), ["c", "a", "b"]);
        assert_eq!(f.selected_id().as_deref(), Some("b"));
        f.reverse(now);
        assert_eq!(ids(&f), ["b", "a", "c"]);
        f.set_sort(SortKey::Agent, now);
        assert_eq!(ids(&f), ["c", "b", "a"], "agent-c sorts last, reversed");
        f.rows[0].session.cost_usd = 2.5;
        f.rows[2].session.cost_usd = 0.5;
        f.descending = false;
        f.set_sort(SortKey::Cost, now);
        assert_eq!(ids(&f), ["a", "c", "b"], "most expensive first");
        f.set_filter("STAGING", now);
        assert_eq!(ids(&f), ["c"]);
        f.set_filter("", now);
        f.set_selector(Some(Selector::parse("state=running").unwrap()), now);
        assert_eq!(ids(&f), ["a", "c"]);
        assert_eq!(f.counts.iter().find(|(s, _)| *s == SessionState::Running).map(|c| c.1), Some(2));
    }

    fn found(rules: &[RuleId]) -> Vec<Anomaly> {
        rules.iter().map(|r| Anomaly::new(*r, Some(1), "x")).collect()
    }

    #[test]
    fn anomalies_sort_most_severe_first_and_filter_by_text_selector_and_namespace() {
        let now = time::now();
        let mut f = fleet();
        let mut map = HashMap::new();
        map.insert("c".to_owned(), RowAnomalies::of(&found(&[RuleId::ToolErrors])).unwrap());
        let b = RowAnomalies::of(&found(&[RuleId::UnexpectedTool, RuleId::BrokenChain, RuleId::UnexpectedTool]));
        map.insert("b".to_owned(), b.unwrap());
        assert_eq!(RowAnomalies::of(&[]), None);
        f.set_sort(SortKey::Anomaly, now);
        f.set_anomalies(map, now);
        assert_eq!(ids(&f), ["b", "c", "a"], "broken chain first, no finding last");
        assert_eq!(f.row_anomalies("b").map(|a| a.text.as_str()), Some("✘ chain broken +1"));
        let two = RowAnomalies::of(&found(&[RuleId::ToolErrors, RuleId::PromptInjection])).unwrap();
        assert_eq!((two.text.as_str(), two.worst), ("⚠ prompt_injection+1", Severity::High));
        assert_eq!(f.row_anomalies("c").map(|a| a.text.as_str()), Some("⚠ tool_errors"));
        f.reverse(now);
        assert_eq!(ids(&f), ["a", "c", "b"]);
        f.set_filter("unexpected_tool", now);
        assert_eq!(ids(&f), ["b"], "/ finds a rule id");
        f.set_filter("", now);
        f.set_selector(Some(Selector::parse("anomaly").unwrap()), now);
        assert_eq!(ids(&f), ["c", "b"]);
        f.set_selector(Some(Selector::parse("!anomaly").unwrap()), now);
        assert_eq!(ids(&f), ["a"]);
        f.set_selector(None, now);
        f.set_namespace(Some("staging".into()), now);
        assert_eq!(ids(&f), ["c"]);
        f.set_namespace(Some("nowhere".into()), now);
        assert!(ids(&f).is_empty());
        f.set_namespace(None, now);
        assert_eq!(ids(&f).len(), 3);
    }

    #[test]
    fn an_anomaly_selector_matches_nothing_until_anomalies_are_judged() {
        let now = time::now();
        let mut f = fleet();
        f.set_selector(Some(Selector::parse("!anomaly").unwrap()), now);
        assert!(ids(&f).is_empty());
    }

    #[test]
    fn the_text_filter_searches_every_field_not_only_the_columns() {
        let now = time::now();
        let mut s = session("d", SessionState::Failed, 3, "prod");
        s.tools = vec!["send_email".into()];
        s.detail = Some("gave up after 3 tool errors".into());
        let mut f = FleetState::default();
        f.apply(Snapshot::build(vec![s, session("e", SessionState::Running, 1, "prod")], None, vec![], now), now);
        for needle in ["send_email", "GAVE UP", "tools send"] {
            f.set_filter(needle, now);
            assert_eq!(ids(&f), ["d"], "{needle}");
        }
    }

    #[test]
    fn cursor_stays_in_the_window() {
        let (mut sel, mut off) = (0, 0);
        move_cursor(&mut sel, &mut off, 100, 30, 10);
        assert_eq!((sel, off), (30, 21));
        move_cursor(&mut sel, &mut off, 100, -25, 10);
        assert_eq!((sel, off), (5, 5));
        move_cursor(&mut sel, &mut off, 100, 1000, 10);
        assert_eq!((sel, off), (99, 90));
        move_cursor(&mut sel, &mut off, 0, 1, 10);
        assert_eq!((sel, off), (0, 0));
    }

    #[test]
    fn marks_of_vanished_sessions_are_dropped() {
        let now = time::now();
        let mut f = fleet();
        f.toggle_mark();
        assert!(f.marked.contains("a"));
        f.apply(Snapshot::build(vec![session("b", SessionState::Running, 1, "x")], None, vec![], now), now);
        assert!(f.marked.is_empty());
    }
}
