// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! One bad record never blinds a view (Redis, real binary): approval keys of the wrong type or
//! not JSON, a session record that is not UTF-8 and a seed checkpoint nested 130 levels deep
//! are each shown as unreadable with the reason; `sessions`, `approvals` and `show` still work
//! and show every other record; deciding an unreadable approval is refused.
//! Database 11 of the test server.

#[path = "common/mod.rs"]
mod common;
#[path = "fixtures/redis/support.rs"]
mod support;

use common::{from_output, pending_approval, quell_cmd, Run};
use quell::model::session::Session;
use serde_json::json;

fn quell(url: &str, args: &[&str]) -> Run {
    let store = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep().join("quell.db");
    // The embedded store holds the (empty) audit log: `show` reads it, and only agents create it.
    quell::adapters::embedded::EmbeddedStore::open(&store).expect("create the audit store");
    from_output(quell_cmd(&store).env_remove("QUELL_REDIS").arg("--redis").arg(url).args(args).output().expect("run"))
}

fn nested(depth: usize) -> serde_json::Value {
    let mut v = json!("bottom");
    for _ in 0..depth {
        v = json!([v]);
    }
    v
}

#[test]
fn bad_approvals_sessions_and_checkpoints_are_listed_as_unreadable() {
    let url = support::flushed(11);
    let stores = support::stores_at(&url);
    let now = quell::model::time::now();
    let mut good = Session::new("s-good", "billing-agent", now);
    good.step = 3;
    stores.sessions.put_sessions(&[good]).expect("session");
    stores.approvals.request_approval(&pending_approval("ap-good", "s-good")).expect("approval");

    let mut raw = support::raw(&url);
    let index = |raw: &mut redis::Connection, key: &str, id: &str, score: i64| {
        redis::cmd("ZADD").arg(key).arg(score).arg(id).query::<()>(raw).expect("ZADD");
    };
    let far = quell::model::time::to_micros(&now) + 600_000_000;
    redis::cmd("HSET").arg("quell:a:{ap-hash}").arg("a").arg("b").query::<()>(&mut raw).expect("HSET");
    redis::cmd("SET").arg("quell:a:{ap-garbage}").arg("not json").query::<()>(&mut raw).expect("SET");
    for id in ["ap-hash", "ap-garbage"] {
        index(&mut raw, "quell:approvals", id, 1);
        index(&mut raw, "quell:approvals:pending", id, far);
    }
    redis::cmd("SET").arg("quell:s:{s-bytes}:doc").arg(&b"{\"id\":\"\xff\"}"[..]).query::<()>(&mut raw).expect("SET");
    index(&mut raw, "quell:sessions", "s-bytes", quell::model::time::to_micros(&now));
    let checkpoint = |step: u64, plan: serde_json::Value| {
        json!({"session_id": "s-good", "step": step, "messages": [{"role": "user", "content": format!("at {step}")}],
               "tool_results": [], "plan": plan, "created_at": "2026-02-20T10:00:00"})
        .to_string()
    };
    for (step, plan) in [(1, json!({"goal": "pay"})), (2, nested(130)), (3, json!({"goal": "done"}))] {
        redis::cmd("SET")
            .arg(format!("checkpoint:s-good:{step}"))
            .arg(checkpoint(step, plan))
            .query::<()>(&mut raw)
            .expect("SET");
    }

    let r = quell(&url, &["sessions"]);
    assert_eq!(r.code, 0, "sessions works whatever the approvals hold: {}", r.stderr);
    let good = r.stdout.lines().find(|l| l.starts_with("s-good")).unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(good.contains("billing-agent"), "{good}");
    let bytes = r.stdout.lines().find(|l| l.starts_with("s-bytes")).unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(bytes.contains("unreadable"), "{bytes}");
    assert!(r.stdout.contains("s-bytes: session record quell:s:{s-bytes}:doc: value is not UTF-8"), "{}", r.stdout);

    let r = quell(&url, &["approvals"]);
    assert_eq!(r.code, 0, "the listing works: {}", r.stderr);
    for id in ["ap-hash", "ap-garbage"] {
        let row = r.stdout.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id}: {}", r.stdout));
        assert!(row.contains("unreadable"), "{row}");
    }
    assert!(r.stdout.contains("ap-hash: key quell:a:{ap-hash}: holds a value of the wrong type"), "{}", r.stdout);
    assert!(r.stdout.contains("ap-garbage: key quell:a:{ap-garbage}: approval record is not readable"), "{}", r.stdout);
    let good = r.stdout.lines().find(|l| l.starts_with("ap-good")).expect("the good approval is listed");
    assert!(good.contains("send_email") && good.contains("pending"), "{good}");

    let r = quell(&url, &["approvals", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 3, "{list:?}");
    let bad = list.iter().find(|a| a["id"] == "ap-hash").expect("listed");
    assert!(bad["unreadable"].as_str().is_some_and(|u| u.contains("wrong type")), "{bad}");
    assert_eq!(bad["session_id"], json!(null), "the session is not known");
    assert_eq!(list.iter().find(|a| a["id"] == "ap-good").expect("listed")["unreadable"], json!(null));

    let r = quell(&url, &["approve", "ap-garbage", "--reason", "fine"]);
    assert_eq!(r.code, 4, "refused: {} {}", r.stdout, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("approval ap-garbage cannot be decided: its stored record is unreadable"),
        "{}",
        r.stderr
    );
    let stored: String = redis::cmd("GET").arg("quell:a:{ap-garbage}").query(&mut raw).expect("GET");
    assert_eq!(stored, "not json", "nothing was written over the record");
    let r = quell(&url, &["reject", "ap-hash", "--reason", "no"]);
    assert_eq!(r.code, 4, "{}", r.stderr);

    let r = quell(&url, &["show", "s-good"]);
    assert_eq!(r.code, 0, "show works: {} {}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("unreadable checkpoint at session s-good step 2: key checkpoint:s-good:2: checkpoint is nested deeper than 128 levels"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("checkpoint step 1: 1 messages") && r.stdout.contains("checkpoint step 3: 1 messages"));
}
