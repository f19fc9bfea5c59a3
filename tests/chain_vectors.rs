// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The audit-chain test vectors (tests/vectors/chain.json) reproduced by quell, and by an
//! independent Python implementation of docs/audit-chain.md.

use quell::model::audit::AuditEvent;
use quell::model::canonical::to_canonical;
use quell::model::chain::{canonical_bytes, rehash_value, sha256_hex};
use serde_json::Value;
use std::path::Path;

fn vectors() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/chain.json");
    let text = std::fs::read_to_string(&path).expect("read vectors");
    let doc: Value = serde_json::from_str(&text).expect("vectors are JSON");
    doc["vectors"].as_array().expect("vectors array").clone()
}

#[test]
fn quell_reproduces_every_vector() {
    let vecs = vectors();
    assert_eq!(vecs.len(), 6);
    for v in vecs {
        let name = v["name"].as_str().unwrap_or("?");
        let event = v["event"].clone();
        assert_eq!(to_canonical(&event).unwrap(), v["canonical"].as_str().unwrap(), "canonical form of {name}");
        let (_, computed) = rehash_value(event.clone()).unwrap();
        assert_eq!(computed, v["hash"].as_str().unwrap(), "hash of {name}");
        assert_eq!(sha256_hex(v["canonical"].as_str().unwrap().as_bytes()), computed);

        // The typed path (what agents seal with) gives the same bytes as the generic one.
        let mut sealed = event.clone();
        sealed["hash"] = v["hash"].clone();
        let typed: AuditEvent = serde_json::from_value(sealed).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(typed.is_intact(), "{name} verifies as a typed event");
        let bytes = canonical_bytes(typed.seq, &typed.prev_hash, &typed.body).unwrap();
        assert_eq!(bytes, v["canonical"].as_str().unwrap(), "typed canonical form of {name}");

        // A checkpoint event's checkpoint_hash is the SHA-256 of the checkpoint text as stored.
        if let Some(text) = v["checkpoint"].as_str() {
            assert_eq!(typed.body.checkpoint_hash.as_deref(), Some(sha256_hex(text.as_bytes()).as_str()), "{name}");
            let cp = quell::model::checkpoint::Checkpoint::from_stored("s-7f3a", 2, text).expect("the seed's shape");
            let events = [typed.clone()];
            assert_eq!(quell::model::checkpoint::coverage(&cp, &events), quell::model::checkpoint::Coverage::Verified);
        }
    }
}

#[test]
fn the_first_two_vectors_form_a_chain() {
    let vecs = vectors();
    assert_eq!(vecs[0]["event"]["prev_hash"], "0".repeat(64));
    assert_eq!(vecs[1]["event"]["prev_hash"], vecs[0]["hash"]);
}

#[test]
fn an_independent_python_implementation_agrees() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(root.join("tests/vectors/jcs.py"))
        .arg("check")
        .arg(root.join("tests/vectors/chain.json"))
        .output()
        .expect("python3 must be installed to cross-check the vectors");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python check failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("6 passed, 0 failed"), "{stdout}");
}
