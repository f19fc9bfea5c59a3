// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! One bad record never blinds a view (embedded store, real binary): a session document that is
//! not UTF-8, approvals that are not JSON or not UTF-8, an audit event nested 200 levels deep
//! (valid and correctly hashed) and a checkpoint nested 130 levels deep are each shown as
//! unreadable with the reason; every other record is shown, and the chains still verify.
//! Bad records are planted with rusqlite directly, as a damaged file or another writer would.

mod common;

use common::{pending_approval, quell, temp_store};
use quell::model::audit::{EventBody, EventKind};
use quell::model::chain::ChainTail;
use quell::model::checkpoint::Checkpoint;
use quell::model::session::Session;
use quell::model::time;
use quell::model::untrusted::{Untrusted, UntrustedJson};
use quell::ports::{SealedEvent, Stores};
use rusqlite::Connection;
use serde_json::json;
use std::path::Path;

fn nested(depth: usize) -> serde_json::Value {
    let mut v = json!("bottom");
    for _ in 0..depth {
        v = json!([v]);
    }
    v
}

/// Sessions `s-good` and `s-other`, a pending approval of `s-good`, and a chain of four events
/// on `s-good` whose second nests `depth` levels deep (0: not at all).
fn store(depth: usize) -> (std::path::PathBuf, Stores) {
    let (path, stores) = temp_store();
    let mut good = Session::new("s-good", "billing-agent", time::now());
    good.step = 3;
    stores.sessions.put_sessions(&[good, Session::new("s-other", "support-agent", time::now())]).expect("sessions");
    stores.approvals.request_approval(&pending_approval("ap-good", "s-good")).expect("approval");
    let mut tail = ChainTail::genesis();
    for i in 0..4u64 {
        let mut body = EventBody::new("s-good", i + 1, EventKind::ToolCall, "agent:billing").attr("i", i);
        body.tool = Some(Untrusted::new(format!("tool-{i}")));
        if i == 1 && depth > 0 {
            body = body.attr("deep", nested(depth));
        }
        let sealed = SealedEvent::seal(body, &tail).expect("seal");
        tail = sealed.event.tail();
        stores.audit.append(&[sealed]).expect("append");
    }
    (path, stores)
}

/// The JSON array a listing prints, checking it ran and how many it lists.
fn listed(path: &Path, args: &[&str], n: usize) -> Vec<serde_json::Value> {
    let r = quell(path, args);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    let list = r.json().as_array().cloned().unwrap_or_else(|| panic!("an array: {}", r.stdout));
    assert_eq!(list.len(), n, "{list:?}");
    list
}

fn raw(path: &Path) -> Connection {
    Connection::open(path).expect("open the store file")
}

#[test]
fn a_session_document_that_is_not_utf8_is_one_unreadable_row() {
    let (path, _stores) = store(0);
    raw(&path)
        .execute(
            "INSERT INTO sessions (id, state, last_seen_us, ack_generation, doc)
             VALUES ('s-broken', 'running', 0, 0, CAST(x'7b226964223a22ff22' AS TEXT))",
            [],
        )
        .expect("plant");
    // A row whose document is another session's, and one whose id is hostile.
    raw(&path)
        .execute_batch(
            "INSERT INTO sessions (id, state, last_seen_us, ack_generation, doc)
               SELECT 's-liar', state, last_seen_us, ack_generation, doc FROM sessions WHERE id = 's-good';
             INSERT INTO sessions (id, state, last_seen_us, ack_generation, doc)
               VALUES (char(27) || '[2Jevil', 'running', 0, 0, '{}');",
        )
        .expect("plant");

    let r = quell(&path, &["sessions"]);
    assert_eq!(r.code, 0, "the listing works: {}", r.stderr);
    assert!(r.stdout.contains("s-liar: record says it is session s-good"), "{}", r.stdout);
    assert!(r.stdout.contains("^[[2Jevil: the session row's id is not a valid session id"), "{}", r.stdout);
    assert!(!r.stdout.contains('\u{1b}'), "a hostile id never reaches the terminal: {:?}", r.stdout);
    let row = r.stdout.lines().find(|l| l.starts_with("s-broken")).unwrap_or_else(|| panic!("{}", r.stdout));
    let after: Vec<&str> = row.split_whitespace().skip_while(|c| *c != "unreadable").skip(1).collect();
    assert_eq!(after, ["?", "?", "?", "?", "0"], "no placeholder step, age, tokens or cost: {row}");
    assert!(r.stdout.contains("s-broken: session record is not valid UTF-8"), "the reason: {}", r.stdout);
    assert!(r.stdout.contains("s-good") && r.stdout.contains("billing-agent") && r.stdout.contains("s-other"));

    let list = listed(&path, &["sessions", "-o", "json"], 5);
    let broken = list.iter().find(|s| s["id"] == "s-broken").expect("listed");
    assert!(broken["unreadable"].as_str().is_some_and(|u| u.contains("UTF-8")), "{broken}");
    for field in ["agent", "state", "step", "started_at", "last_seen", "cost_usd"] {
        assert_eq!(broken[field], json!(null), "{field} is not known: {broken}");
    }
    let good = list.iter().find(|s| s["id"] == "s-good").expect("listed");
    assert_eq!(
        (good["unreadable"].clone(), good["step"].clone(), good["pending_approvals"].clone()),
        (json!(null), json!(3), json!(1))
    );

    let r = quell(&path, &["verify"]);
    assert_eq!(r.code, 0, "verify reads the sessions' anchors, and one bad row does not stop it: {}", r.stderr);
    assert!(r.stdout.contains("4 events in 1 chains, every chain intact"), "{}", r.stdout);
    let r = quell(&path, &["verify", "s-broken"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = quell(&path, &["show", "s-broken"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("session s-broken: unreadable: session record is not valid UTF-8"), "{}", r.stdout);
    let r = quell(&path, &["show", "s-broken", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let session = r.json()["session"].clone();
    assert_eq!(session["id"], "s-broken");
    assert!(session["unreadable"].as_str().is_some_and(|u| u.contains("UTF-8")), "{session}");
    assert!(session.get("state").is_none(), "no placeholder state: {session}");
}

#[test]
fn unreadable_approvals_are_listed_and_cannot_be_decided() {
    let (path, _stores) = store(0);
    let c = raw(&path);
    let plant = |id: &str, doc: &str| {
        c.execute(
            &format!(
                "INSERT INTO approvals (id, session_id, status, requested_us, expires_us, doc)
                 VALUES (?1, 's-other', 'pending', 1, 9223372036854775807, {doc})"
            ),
            [id],
        )
        .expect("plant");
    };
    plant("ap-notjson", "'not json'");
    plant("ap-bytes", "CAST(x'ff' AS TEXT)");

    let r = quell(&path, &["approvals"]);
    assert_eq!(r.code, 0, "the listing works: {}", r.stderr);
    for id in ["ap-notjson", "ap-bytes"] {
        let row = r.stdout.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id}: {}", r.stdout));
        assert!(row.contains("unreadable") && row.contains("s-other"), "{row}");
    }
    assert!(r.stdout.contains("ap-notjson: approval record is not readable: expected"), "{}", r.stdout);
    assert!(r.stdout.contains("ap-bytes: approval record is not valid UTF-8"), "{}", r.stdout);
    let good = r.stdout.lines().find(|l| l.starts_with("ap-good")).expect("the good approval is listed");
    assert!(good.contains("send_email") && good.contains("pending"), "{good}");

    let list = listed(&path, &["approvals", "--all", "-o", "json"], 3);
    let bad = list.iter().find(|a| a["id"] == "ap-notjson").expect("listed");
    assert!(bad["unreadable"].as_str().is_some_and(|u| u.contains("not readable")), "{bad}");
    assert_eq!(
        (bad["session_id"].clone(), bad["risk"].clone(), bad["tool"].clone()),
        (json!("s-other"), json!(null), json!(null))
    );
    let good = list.iter().find(|a| a["id"] == "ap-good").expect("listed");
    assert_eq!((good["unreadable"].clone(), good["tool"].clone()), (json!(null), json!("send_email")));

    let r = quell(&path, &["sessions", "-o", "json"]);
    assert_eq!(r.code, 0, "sessions counts pending approvals, unreadable ones included: {}", r.stderr);
    let list = r.json();
    let other = list.as_array().and_then(|l| l.iter().find(|s| s["id"] == "s-other")).expect("listed").clone();
    assert_eq!(other["pending_approvals"], 2);

    let r = quell(&path, &["approve", "ap-notjson", "--reason", "looks fine"]);
    assert_eq!(r.code, 4, "refused: {} {}", r.stdout, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("approval ap-notjson cannot be decided: its stored record is unreadable"),
        "{}",
        r.stderr
    );
    let r = quell(&path, &["reject", "ap-bytes", "--reason", "no"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let doc: String = c.query_row("SELECT doc FROM approvals WHERE id = 'ap-notjson'", [], |r| r.get(0)).expect("row");
    assert_eq!(doc, "not json", "nothing was written over the record");
    // A selector cannot read them: it says so, and the readable request is still decided.
    let r = quell(&path, &["approvals", "--where", "tool=send_email", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json().as_array().map(|l| l.len()), Some(1), "{}", r.stdout);
    assert!(r.stderr.contains("2 approval records cannot be read, so no selector matches them"), "{}", r.stderr);
    let r = quell(&path, &["approve", "--where", "tool=send_email", "--reason", "ok", "-o", "json"]);
    assert_eq!(r.code, 0, "the good one is decided as usual: {}", r.stderr);
    assert_eq!(r.json()["results"][0]["id"], "ap-good");
    assert!(r.stderr.contains("`quell approvals` lists them"), "{}", r.stderr);
    let doc: String = c.query_row("SELECT doc FROM approvals WHERE id = 'ap-notjson'", [], |r| r.get(0)).expect("row");
    assert_eq!(doc, "not json", "a selector wrote nothing over the record");
}

#[test]
fn an_event_nested_200_levels_deep_is_one_unreadable_entry_and_still_verified() {
    let (path, _stores) = store(200);

    let r = quell(&path, &["show", "s-good"]);
    assert_eq!(r.code, 0, "show works: {} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("integrity: chain verified (4 events)"), "its hash is still checked: {}", r.stdout);
    let line = r.stdout.lines().find(|l| l.contains("unreadable event")).unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(line.contains("#2 step 2: nested deeper than 128 levels"), "{line}");
    for tool in ["tool-0", "tool-2", "tool-3"] {
        assert!(r.stdout.contains(tool), "{tool} shown: {}", r.stdout);
    }
    let order: Vec<usize> = ["tool-0", "unreadable event", "tool-2"].iter().filter_map(|n| r.stdout.find(n)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]) && order.len() == 3, "in chain order: {}", r.stdout);

    let r = quell(&path, &["show", "s-good", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    assert_eq!(doc["integrity"]["intact"], true);
    let entries = doc["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[1]["entry"], "unreadable");
    assert_eq!((entries[1]["seq"].clone(), entries[1]["what"].clone()), (json!(2), json!("event")));
    assert_eq!(entries[1]["reason"], "nested deeper than 128 levels");
    assert!(entries[1]["time"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 27), "{}", entries[1]);

    let r = quell(&path, &["replay", "s-good"]);
    assert_eq!(r.code, 0, "replay works: {}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 4, "{}", r.stdout);
    assert!(r.stdout.contains("nested deeper than 128 levels") && r.stdout.contains("tool-3"), "{}", r.stdout);
    let r = quell(&path, &["replay", "s-good", "-o", "json"]);
    assert_eq!((r.code, r.stdout.lines().count()), (0, 4), "the JSON replay is the stored text: {}", r.stderr);

    let r = quell(&path, &["verify"]);
    assert_eq!(r.code, 0, "not reported broken: {} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("every chain intact"), "{}", r.stdout);
}

#[test]
fn a_checkpoint_nested_130_levels_deep_is_one_unreadable_entry() {
    let (path, stores) = store(0);
    for step in [1, 3] {
        let cp = Checkpoint {
            session_id: "s-good".into(),
            step,
            messages: vec![UntrustedJson::new(json!({"role": "user", "content": format!("at step {step}")}))],
            tool_results: vec![],
            plan: UntrustedJson::new(json!({"goal": "pay"})),
            created_at: "2026-02-20T10:00:00".into(),
            stored_hash: None,
        };
        stores.sessions.save_checkpoint(&cp).expect("checkpoint");
    }
    let deep = json!({
        "session_id": "s-good", "step": 2, "messages": [], "tool_results": [],
        "plan": nested(130), "created_at": "2026-02-20T10:00:00"
    });
    raw(&path)
        .execute("INSERT INTO checkpoints (session_id, step, doc) VALUES ('s-good', 2, ?1)", [deep.to_string()])
        .expect("plant");

    let r = quell(&path, &["show", "s-good"]);
    assert_eq!(r.code, 0, "show works: {} {}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("unreadable checkpoint at session s-good step 2: checkpoint is nested deeper than 128 levels"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("checkpoint step 1: 1 messages") && r.stdout.contains("checkpoint step 3: 1 messages"));
    // The checkpoints were planted without covering events: said so, the 4 events verified.
    assert!(
        r.stdout.contains("integrity: checkpoint not covered by an audit event at steps 1, 3 (4 events verified)"),
        "{}",
        r.stdout
    );
    let r = quell(&path, &["show", "s-good", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    let unreadable: Vec<&serde_json::Value> =
        doc["entries"].as_array().expect("entries").iter().filter(|e| e["entry"] == "unreadable").collect();
    assert_eq!(unreadable.len(), 1, "{doc}");
    assert_eq!((unreadable[0]["what"].clone(), unreadable[0]["step"].clone()), (json!("checkpoint"), json!(2)));
}

/// A record that holds its hash (Kafka's form, `…,"hash":"…"}`) nested 200 levels deep is
/// verified on its text; the same record altered is not intact; a readable record whose keys are
/// not in canonical order still verifies by re-canonicalisation.
#[test]
fn a_record_holding_its_hash_nested_deep_is_verified_on_its_text() {
    use quell::ports::RawEvent;
    let body = EventBody::new("s-k", 1, EventKind::ToolResult, "agent:k").attr("deep", nested(200));
    let sealed = SealedEvent::seal(body, &ChainTail::genesis()).expect("seal");
    let c = &sealed.canonical;
    let record = format!("{},\"hash\":\"{}\"}}", &c[..c.len() - 1], sealed.event.hash);
    let raw = RawEvent::new("p0/o0", &record, None);
    let (chain, link) = raw.link().expect("its link is read without building values");
    assert_eq!((chain.as_str(), link.seq, link.intact), ("s-k", 1, true));
    assert!(raw.event().is_err(), "too deep to display");

    let altered = record.replace("\"bottom\"", "\"b0ttom\"");
    let altered = RawEvent::new("p0/o1", &altered, None);
    assert!(!altered.link().is_ok_and(|(_, l)| l.intact), "an altered record is never intact");

    let shallow =
        SealedEvent::seal(EventBody::new("s-k", 2, EventKind::Error, "agent:k"), &sealed.event.tail()).expect("seal");
    let mut value: serde_json::Value = serde_json::from_str(&shallow.canonical).expect("json");
    value["hash"] = json!(shallow.event.hash);
    let pretty = serde_json::to_string_pretty(&value).expect("json");
    let (_, link) = RawEvent::new("p0/o2", &pretty, None).link().expect("link");
    assert!(link.intact, "re-canonicalised");
}
