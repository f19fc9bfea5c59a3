// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! quell says what happened: a blank selector never means "everything", lifting the fleet hold
//! leaves sessions paused one by one paused, a resume under the fleet hold says the hold still
//! applies, and exit codes follow README's table (the real binary on the embedded store).

mod common;

use common::{quell, temp_store};
use quell::model::action::ActionKind;
use quell::model::approval::{Approval, ApprovalStatus, Risk};
use quell::model::control::{self, ControlTarget, Desired};
use quell::model::selector::Selector;
use quell::model::session::{Session, SessionState};
use quell::model::time;
use quell::model::untrusted::{Untrusted, UntrustedJson};
use quell::ports::{StoreError, Stores};
use quell::services::control::{plan, Target};
use serde_json::json;

/// Three live sessions and one finished one, as agents report them.
fn fleet(stores: &Stores) {
    let now = time::now();
    let mut sessions: Vec<Session> = ["s-a", "s-b", "s-c", "s-done"]
        .iter()
        .map(|id| {
            let mut s = Session::new(*id, "agent", now);
            s.namespace = Some("genai-prod".into());
            s
        })
        .collect();
    sessions[3].state = SessionState::Finished;
    stores.sessions.put_sessions(&sessions).expect("put sessions");
}

fn effective(stores: &Stores, id: &str) -> Desired {
    let fleet = stores.control.fleet_control().expect("fleet record");
    let own = stores.control.session_control(id).expect("session record");
    control::effective(fleet.as_ref(), own.as_ref())
}

#[test]
fn a_blank_selector_is_refused_and_changes_nothing() {
    let (path, stores) = temp_store();
    fleet(&stores);
    for args in [
        vec!["kill", "--where", "", "--reason", "x"],
        vec!["kill", "--where", "   ", "--reason", "x"],
        vec!["pause", "--where", "\t", "--reason", "x"],
        vec!["resume", "--where", "", "--reason", "x"],
        vec!["sessions", "--where", ""],
        vec!["sessions", "--where", " ", "-o", "json"],
    ] {
        let r = quell(&path, &args);
        assert_eq!(r.code, 2, "{args:?}: {} {}", r.stdout, r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains("--all"), "the error says how to mean the whole fleet: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    assert!(stores.control.control_changes(0).expect("changes").is_empty(), "nothing written");
    let live = stores.sessions.sessions().expect("sessions");
    assert!(live.iter().all(|s| s.state != SessionState::Killed));

    // A selector built without parsing (as an interface might) is refused by the service too.
    match plan(&stores, ActionKind::Kill, &Target::Selector(Selector::default()), "x", "alice") {
        Err(StoreError::Invalid(m)) => assert!(m.contains("--all"), "{m}"),
        other => panic!("an empty selector must not plan a kill: {other:?}"),
    }
}

#[test]
fn resume_all_lifts_the_fleet_hold_but_not_individual_holds() {
    let (path, stores) = temp_store();
    fleet(&stores);
    let held = quell(&path, &["pause", "s-a", "--reason", "runaway", "--wait", "0"]);
    assert_eq!(held.code, 0, "{}", held.stderr);
    let all = quell(&path, &["pause", "--all", "--reason", "INC-7", "--wait", "0", "--as", "alice"]);
    assert_eq!(all.code, 0, "{}", all.stderr);

    let r = quell(&path, &["resume", "--all", "--reason", "over", "--wait", "0", "-o", "json"]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["held"], json!(["s-a"]), "{doc}");
    let scope = doc["scope"].as_str().expect("scope");
    assert!(scope.contains("session s-a stays paused"), "{scope}");
    assert_eq!(effective(&stores, "s-a"), Desired::Pause, "the individual hold stays");
    assert_eq!(effective(&stores, "s-b"), Desired::Run, "the fleet hold is lifted");
    let own = stores.control.session_control("s-a").expect("read").expect("kept");
    assert_eq!((own.desired, own.reason.as_str()), (Desired::Pause, "runaway"));

    // The text output names each one and how to release it.
    let again = quell(&path, &["resume", "--all", "--reason", "over", "--wait", "0"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("`quell resume s-a` releases it"), "{}", again.stdout);
    let one = quell(&path, &["resume", "s-a", "--reason", "fixed", "--wait", "0"]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert_eq!(effective(&stores, "s-a"), Desired::Run);
}

#[test]
fn a_resume_under_the_fleet_hold_says_the_hold_still_applies() {
    let (path, stores) = temp_store();
    fleet(&stores);
    let all = quell(&path, &["pause", "--all", "--reason", "INC-8", "--wait", "0", "--as", "alice"]);
    assert_eq!(all.code, 0, "{}", all.stderr);

    let r = quell(&path, &["resume", "--where", "namespace=genai-prod", "--reason", "x", "--wait", "0"]);
    assert_eq!(r.code, 4, "the resume cannot take effect: {} {}", r.stdout, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("fleet hold still applies") && r.stderr.contains("alice"), "{}", r.stderr);
    assert!(r.stderr.contains("quell resume --all"), "{}", r.stderr);
    let j = quell(&path, &["resume", "s-b", "--reason", "x", "--wait", "0", "-o", "json"]);
    assert_eq!(j.code, 4, "{}", j.stderr);
    let doc = j.json();
    assert_eq!(doc["fleet_hold"]["operator"], "alice", "{doc}");
    assert_eq!(doc["fleet_hold"]["desired"], "pause", "{doc}");
    assert_eq!(effective(&stores, "s-b"), Desired::Pause, "still paused, as reported");

    // `quell sessions` shows the hold: a line in text, a field on each JSON object.
    let table = quell(&path, &["sessions"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let first = table.stdout.lines().next().unwrap_or_default();
    assert!(first.contains("fleet paused by alice") && first.contains("INC-8"), "{}", table.stdout);
    let list = quell(&path, &["sessions", "-o", "json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let arr = list.json();
    let arr = arr.as_array().expect("still a JSON array");
    assert_eq!(arr.len(), 4);
    assert!(arr.iter().all(|s| s["fleet_hold"]["reason"] == "INC-8"), "{arr:?}");
    assert!(list.stderr.contains("fleet paused by alice"), "{}", list.stderr);

    let lifted = quell(&path, &["resume", "--all", "--reason", "over", "--wait", "0"]);
    assert_eq!(lifted.code, 0, "{}", lifted.stderr);
    let list = quell(&path, &["sessions", "-o", "json"]);
    assert!(list.json().as_array().expect("array").iter().all(|s| s["fleet_hold"].is_null()));
    assert!(list.stderr.is_empty(), "{}", list.stderr);
    let r = quell(&path, &["resume", "s-b", "--reason", "x", "--wait", "0"]);
    assert_eq!(r.code, 0, "no hold, no conflict: {}", r.stderr);
}

#[test]
fn killing_an_ended_or_killed_session_is_a_conflict() {
    let (path, stores) = temp_store();
    fleet(&stores);
    let r = quell(&path, &["kill", "s-done", "--reason", "x", "--wait", "0"]);
    assert_eq!(r.code, 4, "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("s-done has ended (finished)"), "{}", r.stderr);
    assert!(stores.control.control_changes(0).expect("changes").is_empty(), "nothing written");

    let mut s = stores.sessions.session("s-c").expect("read").expect("exists");
    s.state = SessionState::Killed;
    stores.sessions.put_sessions(&[s]).expect("put");
    let r = quell(&path, &["kill", "s-c", "--reason", "x", "--wait", "0"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("s-c was already killed"), "{}", r.stderr);
    let live = quell(&path, &["kill", "s-a", "--reason", "x", "--wait", "0"]);
    assert_eq!(live.code, 0, "{}", live.stderr);
    assert_eq!(
        stores.control.session_control("s-a").expect("read").map(|r| (r.target, r.desired)),
        Some((ControlTarget::Session("s-a".into()), Desired::Kill))
    );
}

fn approval(id: &str, expires_in: i64) -> Approval {
    let now = time::now();
    Approval {
        id: id.into(),
        session_id: "s-a".into(),
        step: 1,
        tool: Untrusted::new("send_email"),
        arguments: UntrustedJson::new(json!({"to": "x@example.com"})),
        risk: Risk::High,
        requested_at: now - chrono::Duration::seconds(10),
        expires_at: now + chrono::Duration::seconds(expires_in),
        required_approvers: 1,
        decisions: vec![],
        status: ApprovalStatus::Pending,
        unreadable: None,
    }
}

#[test]
fn a_refused_decision_prints_json_saying_why() {
    let (path, stores) = temp_store();
    fleet(&stores);
    stores.approvals.request_approval(&approval("ap-1", 600)).expect("request");
    stores.approvals.request_approval(&approval("ap-old", -5)).expect("request");
    let ok = quell(&path, &["approve", "ap-1", "--reason", "fine", "--as", "alice"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);

    for verb in ["reject", "approve"] {
        let r = quell(&path, &[verb, "ap-1", "--reason", "no", "--as", "bob", "-o", "json"]);
        assert_eq!(r.code, 4, "{verb}: {}", r.stderr);
        let doc = r.json();
        assert_eq!(doc["conflict"], "already_decided", "{doc}");
        assert_eq!((doc["decided_by"].as_str(), doc["status"].as_str()), (Some("alice"), Some("approved")));
        assert_eq!(doc["recorded"], false);
        assert_eq!(doc["action"], verb);
        assert!(r.stderr.contains("already approved by alice"), "{}", r.stderr);
    }
    let r = quell(&path, &["approve", "ap-old", "--reason", "late", "-o", "json"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let doc = r.json();
    assert_eq!((doc["conflict"].as_str(), doc["status"].as_str()), (Some("expired"), Some("expired")), "{doc}");
    assert!(doc["expired_at"].is_string(), "{doc}");
    let decided = stores.approvals.approval("ap-1").expect("read").expect("exists");
    assert_eq!(decided.decisions.len(), 1, "nothing more recorded");
}

#[test]
fn an_unknown_theme_is_a_usage_error() {
    let (path, _) = temp_store();
    let r = quell(&path, &["--theme", "nosuch"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no theme 'nosuch'"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1);
}

/// Read-only is a capability: a read-only operator gets no `Acting`, and without one no service
/// executes anything. The CLI's `--readonly` (flag, environment or config file) is that operator:
/// every acting command is refused with exit 2 and nothing is written.
#[test]
fn a_read_only_operator_cannot_act() {
    use quell::model::operator::{CannotAct, Operator};
    let (path, stores) = temp_store();
    fleet(&stores);
    stores.approvals.request_approval(&common::pending_approval("a-1", "s-a")).expect("approval");
    assert_eq!(Operator::read_only("alice").acting().map(|_| ()), Err(CannotAct::ReadOnly));
    assert_eq!(Operator::with_read_only("alice", true).acting().map(|_| ()), Err(CannotAct::ReadOnly));
    let acting = Operator::new("alice").acting().expect("an operator who may act");
    assert_eq!(acting.name(), "alice");
    for args in [
        vec!["pause", "--all", "--reason", "x", "--wait", "0"],
        vec!["kill", "s-a", "--reason", "x", "--wait", "0"],
        vec!["approve", "a-1", "--reason", "x"],
        vec!["quarantine", "s-a", "--reason", "x"],
    ] {
        let mut with = args.clone();
        with.push("--readonly");
        let r = quell(&path, &with);
        assert_eq!(r.code, 2, "{with:?}: {} {}", r.stdout, r.stderr);
        assert!(r.stderr.contains("refused: quell is in read-only mode"), "{}", r.stderr);
    }
    let mut env = common::quell_cmd(&path);
    env.args(["resume", "--all", "--reason", "x", "--wait", "0"]).env("QUELL_READONLY", "true");
    let r = common::from_output(env.output().expect("run quell"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(stores.control.control_changes(0).expect("changes").is_empty(), "nothing written");
    let a = stores.approvals.approval("a-1").expect("read").expect("there");
    assert_eq!(a.status, ApprovalStatus::Pending, "nothing decided");
}
