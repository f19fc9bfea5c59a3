// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Bad data in Redis: keys of the wrong type, checkpoints that are not JSON or not the seed's
//! shape, keys whose step is not a number, garbage session records. Each affected session is
//! listed as unreadable with the reason; every other session reads normally; nothing panics.
//! Database 2 of the test server.

#[path = "fixtures/redis/support.rs"]
mod support;

use quell::adapters::redis::RedisStore;
use quell::model::control::{ControlTarget, Desired};
use quell::model::time;
use quell::ports::{ControlStore, SessionStore, StoreError};

#[test]
fn bad_keys_make_only_their_session_unreadable() {
    let url = support::flushed(2);
    support::seed_agent(&url, &["write", "good", "1", "2", "9", "10"]);
    support::seed_agent(&url, &["raw", "checkpoint:wrongtype:3", "hash"]);
    support::seed_agent(&url, &["raw", "checkpoint:notjson:2", "notjson"]);
    support::seed_agent(&url, &["raw", "checkpoint:shape:1", "shape"]);
    let mut raw = support::raw(&url);
    let set = |raw: &mut redis::Connection, k: &str, v: &str| {
        redis::cmd("SET").arg(k).arg(v).query::<()>(raw).expect("SET");
    };
    set(&mut raw, "checkpoint:badstep:abc", "{}");
    set(&mut raw, "checkpoint:\u{1b}[2Jevil:4", "{}");
    // A quell session record that is garbage, and one of the wrong type.
    set(&mut raw, "quell:s:{garbled}:doc", "not a session");
    redis::cmd("HSET").arg("quell:s:{hashed}:doc").arg("a").arg("b").query::<()>(&mut raw).expect("HSET");
    for id in ["garbled", "hashed"] {
        redis::cmd("ZADD").arg("quell:sessions").arg(1).arg(id).query::<()>(&mut raw).expect("ZADD");
    }

    let store = RedisStore::open(&url).expect("open");
    let sessions = store.sessions().expect("a listing, whatever the keyspace holds");
    let reason = |id: &str| -> Option<String> {
        sessions.iter().find(|s| s.id == id).unwrap_or_else(|| panic!("{id} listed: {sessions:?}")).unreadable.clone()
    };
    let good = sessions.iter().find(|s| s.id == "good").expect("good listed");
    assert_eq!((good.step, good.unreadable.as_deref()), (10, None), "the good session is unaffected");
    let wrong = reason("wrongtype").expect("wrongtype unreadable");
    assert!(wrong.contains("checkpoint:wrongtype:3") && wrong.contains("wrong type"), "{wrong}");
    let notjson = reason("notjson").expect("notjson unreadable");
    assert!(notjson.contains("not JSON"), "{notjson}");
    let shape = reason("shape").expect("shape unreadable");
    assert!(shape.contains("shape"), "{shape}");
    let badstep = reason("badstep").expect("badstep unreadable");
    assert!(badstep.contains("numeric step") && badstep.contains("checkpoint:badstep:abc"), "{badstep}");
    assert!(reason("garbled").expect("garbled unreadable").contains("not readable"));
    assert!(reason("hashed").expect("hashed unreadable").contains("wrong type"));
    let evil = sessions.iter().find(|s| s.id.contains("evil")).expect("the hostile id is listed");
    assert!(!evil.id.contains('\u{1b}'), "a hostile id is neutralised: {:?}", evil.id);
    assert!(evil.unreadable.as_deref().unwrap_or_default().contains("invalid session id"));
    assert_eq!(sessions.len(), 8);
    for s in &sessions {
        if let Some(r) = &s.unreadable {
            assert!(!r.contains('\n') && !r.contains('\u{1b}'), "one clean line: {r:?}");
        }
    }

    // Reading a bad session's checkpoints is a clear error, not a panic.
    match store.checkpoints("notjson") {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("checkpoint:notjson:2") && m.contains("not JSON"), "{m}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(matches!(store.latest_checkpoint("wrongtype"), Err(StoreError::Corrupt(_))));
    assert_eq!(store.checkpoints("good").expect("good checkpoints").len(), 4);
}

#[test]
fn control_keys_of_the_wrong_type_are_a_clear_error() {
    let url = support::url();
    let ns = support::namespace();
    let mut raw = support::raw(&url);
    redis::cmd("HSET")
        .arg(format!("{ns}quell:c:{{control}}:gen"))
        .arg("x")
        .arg("y")
        .query::<()>(&mut raw)
        .expect("HSET");
    redis::cmd("SET").arg(format!("{ns}quell:c:{{control}}:chg")).arg("x").query::<()>(&mut raw).expect("SET");
    let store = RedisStore::open_namespaced(&url, &ns).expect("open");
    match store.set_control(&[ControlTarget::Fleet], Desired::Pause, "op", "r", time::now()) {
        Err(StoreError::Corrupt(m)) | Err(StoreError::Unavailable(m)) => {
            assert!(m.contains("WRONGTYPE") && !m.contains('\n'), "{m}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(store.control_changes(0).is_err());
    assert!(store.fleet_control().is_err());
}
