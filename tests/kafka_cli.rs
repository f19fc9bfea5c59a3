// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The `quell` binary with its audit log on the real Kafka broker: `--kafka`, `--audit-topic`,
//! `QUELL_KAFKA`, the config file's `[kafka]` table; demo fills the topic, verify and replay read it.

mod kafka_support;

use kafka_support::*;
#[test]
fn demo_fills_a_real_topic_and_verify_and_replay_read_it() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    std::fs::write(dir.path().join("none.toml"), "").unwrap();
    let b = brokers();
    let t = topic(3, &[]);
    let demo = quell(
        dir.path(),
        &[
            "--kafka",
            &b,
            "--audit-topic",
            &t,
            "demo",
            "--headless",
            "--agents",
            "4",
            "--duration",
            "3",
            "--step-ms",
            "20-60",
            "--steps",
            "8",
        ],
        &[],
    );
    assert!(demo.status.success(), "demo: {}", text(&demo.stderr));

    // The same topic through the environment variables.
    let env = [("QUELL_KAFKA", b.as_str()), ("QUELL_AUDIT_TOPIC", t.as_str())];
    let verify = quell(dir.path(), &["verify", "-o", "json"], &env);
    assert!(verify.status.success(), "verify: {} {}", text(&verify.stdout), text(&verify.stderr));
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).expect("verify json");
    assert_eq!(report["intact"], true);
    let events = report["events"].as_u64().unwrap();
    assert!(events >= 4, "the demo wrote events: {report}");

    let replay = quell(dir.path(), &["replay", "-o", "json"], &env);
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    let lines: Vec<serde_json::Value> =
        text(&replay.stdout).lines().map(|l| serde_json::from_str(l).expect("one event per line")).collect();
    assert_eq!(lines.len() as u64, events);
    assert!(lines.iter().all(|e| e["hash"].as_str().is_some_and(|h| h.len() == 64)));

    // An operator action goes to the same topic.
    let pause = quell(dir.path(), &["pause", "--all", "--reason", "cli check", "--wait", "0"], &env);
    assert!(pause.status.success(), "{}", text(&pause.stderr));
    let ops = quell(dir.path(), &["replay", "--kind", "operator_action", "-o", "json"], &env);
    let ops: Vec<serde_json::Value> = text(&ops.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["identity"], "operator:tester");

    // A foreign record is reported on stderr by offset, and verification still passes.
    let raw = raw_producer();
    raw_send(&raw, &t, Some("x"), Some(b"not json \x1b]0;evil\x07"));
    let verify = quell(dir.path(), &["verify"], &env);
    let err = text(&verify.stderr);
    assert!(verify.status.success(), "{err}");
    assert!(err.contains("skipped 1 record on audit topic") && err.contains("offset"), "{err}");
    assert!(!err.contains('\u{1b}'));
}

#[test]
fn config_file_kafka_table_passes_settings_and_never_prints_secrets() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let t = topic(1, &[]);
    let cfg = format!(
        "audit_topic = \"{t}\"\n[kafka]\nbrokers = \"{}\"\nsecurity.protocol = \"sasl_plaintext-nope\"\n\
         sasl.mechanism = \"PLAIN\"\nsasl.username = \"quell\"\n\"sasl.password\" = \"topsecret-xyz\"\n",
        brokers()
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, cfg).unwrap();
    // The live state stays in the embedded store, which must exist.
    drop(quell::adapters::embedded::EmbeddedStore::open(&dir.path().join("quell.db")).expect("store"));
    let out = quell(dir.path(), &["--config", path.to_str().unwrap(), "verify"], &[]);
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success());
    assert!(e.contains("security.protocol"), "the bad setting is named: {e}");
    assert!(!o.contains("topsecret") && !e.contains("topsecret"), "{o}{e}");

    // Valid settings reach librdkafka: plaintext works, the topic comes from the file.
    let cfg =
        format!("audit_topic = \"{t}\"\n[kafka]\nbrokers = \"{}\"\nsecurity.protocol = \"plaintext\"\n", brokers());
    std::fs::write(&path, cfg).unwrap();
    let out = quell(dir.path(), &["--config", path.to_str().unwrap(), "verify"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ok: 0 events"), "{}", text(&out.stdout));
}

#[test]
fn missing_topic_and_unreachable_brokers_are_one_line_errors() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    std::fs::write(dir.path().join("none.toml"), "").unwrap();
    drop(quell::adapters::embedded::EmbeddedStore::open(&dir.path().join("quell.db")).expect("store"));
    let out = quell(dir.path(), &["--kafka", &brokers(), "--audit-topic", "quell-no-such-topic", "verify"], &[]);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("'quell-no-such-topic' does not exist"), "{e}");
    let out = quell(dir.path(), &["--kafka", "127.0.0.1:1", "replay"], &[]);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("127.0.0.1:1"), "{e}");
    let out = quell(dir.path(), &["--audit-topic", "t", "verify"], &[]);
    assert_eq!(out.status.code(), Some(2), "a topic without brokers is a usage error");
}
