//! Session view state: the reasoning chain rebuilt by `services::forensics::timeline`, turned
//! into display items (neutralised text, anomalies marked) on the feed thread. Pure.

use super::text::{safe, thousands};
use crate::model::anomaly::{Anomaly, Rules};
use crate::model::audit::{AuditEvent, EventKind};
use crate::model::chain::ChainBreak;
use crate::model::checkpoint::{Checkpoint, Coverage};
use crate::model::session::Session;
use crate::model::time::{self, Timestamp};
use crate::model::untrusted::{Untrusted, UntrustedJson};
use crate::services::anomalies;
use crate::services::forensics::{self, Entry, Timeline, UnreadableEntry};
use serde_json::Value;

/// What an item is, for the replay's kind filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    Checkpoint,
    Event(EventKind),
    /// A checkpoint or event that could not be read (shown with its reason).
    Unreadable,
}

impl ItemKind {
    pub fn label(self) -> &'static str {
        match self {
            ItemKind::Checkpoint => "checkpoint",
            ItemKind::Event(k) => k.as_str(),
            ItemKind::Unreadable => "unreadable",
        }
    }
}

/// One line of the reasoning chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    pub seq: Option<u64>,
    pub step: u64,
    pub time: Option<Timestamp>,
    /// Neutralised one-line summary.
    pub summary: String,
    /// Why this is suspicious, if it is.
    pub anomaly: Option<String>,
    /// The whole entry, for the raw view (neutralised only when shown).
    pub raw: UntrustedJson,
    /// The checkpoint's content, for diffs.
    pub checkpoint: Option<UntrustedJson>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TimelineData {
    pub session: Option<Session>,
    pub items: Vec<Item>,
    pub integrity: Result<u64, ChainBreak>,
    /// Each checkpoint (step order) against the hash its audit event recorded.
    pub checkpoint_coverage: Vec<(u64, Coverage)>,
    /// A time window across sessions (replay), not one session's whole chain.
    pub window: bool,
    /// The window holds more events than were read (reads of a window are bounded).
    pub more: bool,
    /// What the shared rules found in the session, session-wide findings included (empty for
    /// a window).
    pub anomalies: Vec<Anomaly>,
}

fn attr(e: &AuditEvent, key: &str) -> String {
    match e.body.attributes.get(key) {
        Some(Value::String(s)) => Untrusted::new(s.as_str()).shown_line(),
        Some(v) => UntrustedJson::new(v.clone()).shown_line(),
        None => String::new(),
    }
}

fn opt(u: &Option<Untrusted>) -> String {
    u.as_ref().map(Untrusted::shown_line).unwrap_or_default()
}

fn summarize_event(e: &AuditEvent) -> String {
    let b = &e.body;
    match b.kind {
        EventKind::SessionStarted => format!("started by {}", b.identity.shown_line()),
        EventKind::LlmCall => {
            let model = b.model.as_ref().map(|m| m.shown_line()).unwrap_or_default();
            let tokens = match (b.input_tokens, b.output_tokens) {
                (Some(i), Some(o)) => format!(" · {i}→{o} tok"),
                _ => String::new(),
            };
            format!("{model}{tokens} · {}", opt(&b.output_summary))
        }
        EventKind::ToolCall => {
            let calls: Vec<String> =
                b.tool_calls.iter().map(|c| format!("{}({})", c.name.shown_line(), c.arguments.shown_line())).collect();
            if calls.is_empty() {
                opt(&b.tool)
            } else {
                calls.join(", ")
            }
        }
        EventKind::ToolResult => format!("{} → {}", opt(&b.tool), opt(&b.output_summary)),
        EventKind::ApprovalRequested => format!(
            "approval {} · {} risk · {}",
            attr(e, "quell.approval.id"),
            attr(e, "quell.approval.risk"),
            opt(&b.tool)
        ),
        EventKind::ApprovalDecided => {
            // An expired request has no approvers: "expired", never "expired by []".
            let by = match e.body.attributes.get("quell.approval.approvers") {
                None => String::new(),
                Some(Value::Array(a)) if a.is_empty() => String::new(),
                Some(Value::Array(a)) => {
                    let names: Vec<String> = a
                        .iter()
                        .map(|v| match v {
                            Value::String(s) => Untrusted::new(s.as_str()).shown_line(),
                            other => UntrustedJson::new(other.clone()).shown_line(),
                        })
                        .collect();
                    format!(" by {}", names.join(", "))
                }
                Some(_) => format!(" by {}", attr(e, "quell.approval.approvers")),
            };
            format!("approval {} {}{by}", attr(e, "quell.approval.id"), attr(e, "quell.approval.status"))
        }
        EventKind::Control => format!(
            "obeyed {} (by {}: {})",
            attr(e, "quell.control.desired"),
            attr(e, "quell.control.operator"),
            attr(e, "quell.control.reason")
        ),
        EventKind::Checkpoint => format!("checkpoint written (step {})", attr(e, "quell.checkpoint.step")),
        EventKind::Error => opt(&b.output_summary),
        EventKind::SessionEnded => format!("ended: {}", attr(e, "quell.final_state")),
        EventKind::OperatorAction => format!(
            "{} · {} · reason: {} · {}",
            b.identity.shown_line(),
            attr(e, "quell.scope.summary"),
            attr(e, "quell.reason"),
            attr(e, "quell.outcome")
        ),
    }
}

fn summarize_checkpoint(c: &Checkpoint) -> String {
    format!("{} messages · {} tool results · plan {}", c.messages.len(), c.tool_results.len(), c.plan.shown_line())
}

fn to_raw<T: serde::Serialize>(value: &T) -> UntrustedJson {
    UntrustedJson::new(serde_json::to_value(value).unwrap_or(Value::Null))
}

/// The rules' findings as a line's tag: the one finding's detail, or the most severe rule's
/// id and how many more (the summary stays readable beside it).
fn anomaly_text(found: &[Anomaly]) -> Option<String> {
    let worst = found.iter().rev().max_by_key(|a| a.severity)?;
    Some(match found.len() {
        1 => worst.detail.clone(),
        n => format!("{} +{}", worst.rule, n - 1),
    })
}

fn event_item(e: &AuditEvent, found: &[Anomaly]) -> Item {
    Item {
        kind: ItemKind::Event(e.body.kind),
        seq: (!e.body.session_id.starts_with("operator:")).then_some(e.seq),
        step: e.body.step,
        time: Some(e.body.time),
        summary: summarize_event(e),
        anomaly: anomaly_text(found),
        raw: to_raw(e),
        checkpoint: None,
    }
}

fn checkpoint_item(c: &Checkpoint) -> Item {
    Item {
        kind: ItemKind::Checkpoint,
        seq: None,
        step: c.step,
        time: None,
        summary: summarize_checkpoint(c),
        anomaly: None,
        raw: to_raw(c),
        checkpoint: Some(to_raw(c)),
    }
}

/// One event of a time window, naming its session.
fn window_item(e: &AuditEvent, found: &[Anomaly]) -> Item {
    let mut item = event_item(e, found);
    if e.body.kind != EventKind::OperatorAction {
        item.summary = format!("{} · {}", safe(&e.body.session_id), item.summary);
    }
    item
}

/// An entry that could not be read, flagged as an anomaly, its reason in place of a summary.
fn unreadable_item(u: &UnreadableEntry, found: &[Anomaly]) -> Item {
    Item {
        kind: ItemKind::Unreadable,
        seq: u.seq,
        step: u.step.unwrap_or(0),
        time: u.time,
        summary: format!("{} at {}", u.what, safe(&u.position)),
        anomaly: anomaly_text(found),
        raw: to_raw(u),
        checkpoint: None,
    }
}

impl TimelineData {
    /// Display items from the service's timeline, marked by the shared anomaly rules; operator
    /// actions are placed by time.
    pub fn from_timeline(t: Timeline, rules: &Rules) -> TimelineData {
        let found = anomalies::in_timeline(&t, rules);
        let mut items: Vec<Item> = Vec::with_capacity(t.entries.len() + t.operator_actions.len());
        for (entry, here) in t.entries.iter().zip(&found.per_entry) {
            items.push(match entry {
                Entry::Event(e) => event_item(e, here),
                Entry::Checkpoint(c) => {
                    let mut item = checkpoint_item(c);
                    // Integrity, shown where it is (the badge says it too), not a rule of its own.
                    item.anomaly = t
                        .checkpoint_coverage
                        .contains(&(c.step, Coverage::Edited))
                        .then(|| "checkpoint edited".to_owned());
                    item
                }
                Entry::Unreadable(u) => unreadable_item(u, here),
            });
        }
        for op in &t.operator_actions {
            let item = event_item(op, &[]);
            let at = items.iter().position(|i| i.time.is_some_and(|t| t > op.body.time)).unwrap_or(items.len());
            items.insert(at, item);
        }
        TimelineData {
            session: t.session,
            items,
            integrity: t.integrity,
            checkpoint_coverage: t.checkpoint_coverage,
            window: false,
            more: false,
            anomalies: found.all,
        }
    }

    /// Every session's events in a time window, each line naming its session, read leniently:
    /// an event that could not be read is an unreadable line, the rest of the window is shown.
    pub fn from_window_entries(entries: &[Entry], rules: &Rules) -> TimelineData {
        let found = anomalies::in_window(entries, rules);
        Self::window_of(
            entries
                .iter()
                .zip(&found)
                .map(|(e, here)| match e {
                    Entry::Event(e) => window_item(e, here),
                    Entry::Checkpoint(c) => checkpoint_item(c),
                    Entry::Unreadable(u) => unreadable_item(u, here),
                })
                .collect(),
        )
    }

    fn window_of(mut items: Vec<Item>) -> TimelineData {
        // Chains are stored one after another; a window reads best in time order.
        items.sort_by_key(|i| i.time);
        let n = items.len() as u64;
        TimelineData {
            session: None,
            items,
            integrity: Ok(n),
            checkpoint_coverage: Vec::new(),
            window: true,
            more: false,
            anomalies: Vec::new(),
        }
    }

    pub fn badge(&self) -> (bool, String) {
        if self.window && self.more {
            let n = thousands(self.items.len() as u64);
            return (false, format!("⚠ only the first {n} events of the window were read: replay a shorter window"));
        }
        if self.window {
            let n = self.items.len();
            let events = if n == 1 { "1 event".to_owned() } else { format!("{} events", thousands(n as u64)) };
            return (true, format!("{events} in the window (chains are verified per session)"));
        }
        match forensics::integrity_words(&self.integrity, &self.checkpoint_coverage) {
            Ok(words) => (true, format!("✔ {words}")),
            Err(words) => (false, format!("✘ {words}")),
        }
    }
}

/// A line of a checkpoint diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffLine {
    Same(String),
    Added(String),
    Removed(String),
    /// A run of unchanged lines left out.
    Skipped(usize),
}

/// Keeps `context` unchanged lines around each change; longer unchanged runs become `Skipped`.
pub fn with_context(lines: Vec<DiffLine>, context: usize) -> Vec<DiffLine> {
    let changed: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| !matches!(l, DiffLine::Same(_))).map(|(i, _)| i).collect();
    let near = |i: usize| changed.iter().any(|&c| c.abs_diff(i) <= context);
    let mut out = Vec::new();
    let mut skipped = 0;
    for (i, l) in lines.into_iter().enumerate() {
        if matches!(l, DiffLine::Same(_)) && !near(i) {
            skipped += 1;
            continue;
        }
        if skipped > 0 {
            out.push(DiffLine::Skipped(skipped));
            skipped = 0;
        }
        out.push(l);
    }
    if skipped > 0 {
        out.push(DiffLine::Skipped(skipped));
    }
    out
}

/// Line diff (longest common subsequence) of two neutralised texts. Inputs are capped so a
/// huge checkpoint cannot stall the console.
pub fn diff_lines(old: &str, new: &str) -> Vec<DiffLine> {
    const CAP: usize = 600;
    let a: Vec<&str> = old.lines().take(CAP).collect();
    let b: Vec<&str> = new.lines().take(CAP).collect();
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: the length of the longest common subsequence of a[i..] and b[j..]. Outside the
    // table (past either end) it is 0.
    let mut lcs = vec![vec![0u16; m + 1]; n + 1];
    let at = |lcs: &[Vec<u16>], i: usize, j: usize| lcs.get(i).and_then(|row| row.get(j)).copied().unwrap_or(0);
    for (i, x) in a.iter().enumerate().rev() {
        for (j, y) in b.iter().enumerate().rev() {
            let len = if x == y { at(&lcs, i + 1, j + 1) + 1 } else { at(&lcs, i + 1, j).max(at(&lcs, i, j + 1)) };
            if let Some(cell) = lcs.get_mut(i).and_then(|row| row.get_mut(j)) {
                *cell = len;
            }
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        if x == y {
            out.push(DiffLine::Same((*x).to_owned()));
            i += 1;
            j += 1;
        } else if at(&lcs, i + 1, j) >= at(&lcs, i, j + 1) {
            out.push(DiffLine::Removed((*x).to_owned()));
            i += 1;
        } else {
            out.push(DiffLine::Added((*y).to_owned()));
            j += 1;
        }
    }
    out.extend(a.iter().skip(i).map(|l| DiffLine::Removed((*l).to_owned())));
    out.extend(b.iter().skip(j).map(|l| DiffLine::Added((*l).to_owned())));
    out
}

/// When a live view re-reads its timeline: one read at a time, and never more than a third of the
/// time reading (after a read that took t, the next starts no sooner than 2t later), as the feed
/// paces its own reads. Pure: times come from the console's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reread {
    /// When the read under way was asked for.
    asked_at: Option<Timestamp>,
    /// No new read before this.
    not_before: Option<Timestamp>,
}

impl Reread {
    /// Whether a new read may start now.
    pub fn due(&self, now: Timestamp) -> bool {
        self.asked_at.is_none() && self.not_before.is_none_or(|t| now >= t)
    }

    pub fn start(&mut self, now: Timestamp) {
        self.asked_at = Some(now);
    }

    pub fn in_flight(&self) -> bool {
        self.asked_at.is_some()
    }

    /// The read came back (or failed): the next waits twice as long as this one took.
    pub fn done(&mut self, now: Timestamp) {
        if let Some(asked) = self.asked_at.take() {
            let took = (now - asked).max(chrono::Duration::zero());
            self.not_before = Some(now + took * 2);
        }
    }
}

/// What the lower pane of the session view shows.
#[derive(Clone, Debug, PartialEq)]
pub enum Detail {
    None,
    Raw,
    Diff { from_step: u64, to_step: u64, lines: Vec<DiffLine> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SessionView {
    pub id: String,
    pub data: Option<Result<TimelineData, String>>,
    pub selected: usize,
    pub offset: usize,
    pub detail: Detail,
    pub detail_scroll: usize,
    /// Follow mode (`logs -f`): the cursor stays on the newest entry as entries arrive.
    pub follow: bool,
    /// The view is live: its timeline is re-read on the fleet's refreshes, paced by this.
    pub reread: Reread,
}

impl SessionView {
    pub fn new(id: &str) -> SessionView {
        SessionView {
            id: id.to_owned(),
            data: None,
            selected: 0,
            offset: 0,
            detail: Detail::None,
            detail_scroll: 0,
            follow: false,
            reread: Reread::default(),
        }
    }

    /// A newly read timeline: entries stored since the last read appear; the cursor stays on
    /// its entry (on the newest one in follow mode). A failed re-read keeps what is shown.
    pub fn reload(&mut self, data: Result<TimelineData, String>) {
        if data.is_err() && matches!(self.data, Some(Ok(_))) {
            return;
        }
        self.data = Some(data);
        let n = self.items().len();
        self.selected = if self.follow { n.saturating_sub(1) } else { self.selected.min(n.saturating_sub(1)) };
    }

    /// Turns follow mode on or off; on, the cursor goes to the newest entry at once.
    pub fn toggle_follow(&mut self) -> bool {
        self.follow = !self.follow;
        if self.follow {
            self.selected = self.items().len().saturating_sub(1);
            self.detail = Detail::None;
        }
        self.follow
    }

    pub fn items(&self) -> &[Item] {
        match &self.data {
            Some(Ok(d)) => &d.items,
            _ => &[],
        }
    }

    pub fn selected_item(&self) -> Option<&Item> {
        self.items().get(self.selected)
    }

    /// Diff of the selected checkpoint against the previous checkpoint.
    pub fn diff_selected(&self) -> Result<Detail, String> {
        let items = self.items();
        let cur = items.get(self.selected).ok_or("nothing selected")?;
        let new = cur.checkpoint.as_ref().ok_or("select a checkpoint to diff it against the previous one")?;
        let prev = items
            .iter()
            .take(self.selected)
            .rev()
            .find(|i| i.checkpoint.is_some())
            .ok_or("this is the first checkpoint: nothing to diff against")?;
        let old = prev.checkpoint.as_ref().map(UntrustedJson::shown_pretty).unwrap_or_default();
        Ok(Detail::Diff {
            from_step: prev.step,
            to_step: cur.step,
            lines: with_context(diff_lines(&old, &new.shown_pretty()), 1),
        })
    }
}

/// `HH:MM:SS` of a time, for compact columns.
pub fn clock(t: &Timestamp) -> String {
    time::format(t).get(11..19).unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_badge_says_chain_verified_only_when_every_checkpoint_verifies_too() {
        let data = |coverage: Vec<(u64, Coverage)>| TimelineData {
            session: None,
            items: Vec::new(),
            integrity: Ok(7),
            checkpoint_coverage: coverage,
            window: false,
            more: false,
            anomalies: Vec::new(),
        };
        assert_eq!(data(vec![(1, Coverage::Verified)]).badge(), (true, "✔ chain verified (7 events)".into()));
        let (ok, text) = data(vec![(1, Coverage::Verified), (3, Coverage::Edited)]).badge();
        assert!(!ok && text.starts_with("✘ checkpoint edited at step 3"), "{text}");
        let (ok, text) = data(vec![(1, Coverage::NotCovered), (3, Coverage::NotCovered)]).badge();
        assert!(!ok && text.starts_with("✘ checkpoint not covered by an audit event at steps 1, 3"), "{text}");
    }

    #[test]
    fn a_live_view_reads_one_at_a_time_and_at_most_a_third_of_the_time() {
        let t0 = time::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let mut r = Reread::default();
        assert!(r.due(t0));
        r.start(t0);
        assert!(!r.due(at(10)) && r.in_flight(), "one read at a time");
        r.done(at(3)); // it took 3 s
        assert!(!r.due(at(8)), "no new read within twice the time the last one took");
        assert!(r.due(at(9)));
        r.done(at(20));
        assert!(r.due(at(9)), "a reply with no read under way changes nothing");
    }

    #[test]
    fn a_decided_approval_names_its_approvers_and_an_expired_one_names_none() {
        use crate::model::chain::{seal, ChainTail};
        let decided = |approvers: Value, status: &str| {
            let body = crate::model::audit::EventBody::new("s1", 4, EventKind::ApprovalDecided, "agent:x")
                .attr("quell.approval.id", "a-1")
                .attr("quell.approval.status", status)
                .attr("quell.approval.approvers", approvers);
            summarize_event(&seal(body, &ChainTail::genesis()).unwrap().0)
        };
        assert_eq!(decided(serde_json::json!([]), "expired"), "approval a-1 expired", "never \"expired by []\"");
        assert_eq!(
            decided(serde_json::json!(["alice", "bob\u{1b}"]), "approved"),
            "approval a-1 approved by alice, bob^["
        );
    }

    #[test]
    fn context_leaves_out_long_unchanged_runs() {
        let old = "a\nb\nc\nd\ne\nf";
        let new = "a\nb\nc\nd\ne\nF";
        let d = with_context(diff_lines(old, new), 1);
        assert_eq!(
            d,
            vec![
                DiffLine::Skipped(4),
                DiffLine::Same("e".into()),
                DiffLine::Removed("f".into()),
                DiffLine::Added("F".into())
            ]
        );
    }

    #[test]
    fn diff_marks_added_and_removed_lines() {
        let d = diff_lines("a\nb\nc", "a\nc\nd");
        assert_eq!(
            d,
            vec![
                DiffLine::Same("a".into()),
                DiffLine::Removed("b".into()),
                DiffLine::Same("c".into()),
                DiffLine::Added("d".into())
            ]
        );
    }
}
