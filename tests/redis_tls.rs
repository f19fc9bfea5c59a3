// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Redis over TLS (`rediss://`) with an ACL user and password, against the TLS port of the real
//! test server (`scripts/services/redis.sh start` opens it with a throwaway CA; the env lines
//! `QUELL_TEST_REDIS_TLS_URL` and `QUELL_TEST_REDIS_CA`). The session conformance suite over
//! TLS; the CLI with the CA given by flag, environment and config file; an untrusted certificate,
//! a wrong password, a bad CA file and a CA with a plain URL each refused with one line that
//! never shows the password. Database 10 of the test server (0 for the suite's namespaces).

#[macro_use]
mod conformance;
#[path = "fixtures/redis/support.rs"]
mod support;

use quell::adapters::redis::RedisStore;
use quell::ports::Stores;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tls_url() -> String {
    match std::env::var("QUELL_TEST_REDIS_TLS_URL") {
        Ok(u) if u.starts_with("rediss://") => u.trim_end_matches('/').to_owned(),
        _ => panic!(
            "QUELL_TEST_REDIS_TLS_URL (rediss://…) is not set: {} (a test Redis started by an older \
             redis.sh gets its TLS port from `scripts/services/redis.sh start`)",
            support::HOW
        ),
    }
}

fn ca() -> PathBuf {
    match std::env::var("QUELL_TEST_REDIS_CA") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!("QUELL_TEST_REDIS_CA is not set: {}", support::HOW),
    }
}

/// The password of the TLS URL (it must never appear in quell's output).
fn password() -> String {
    let url = tls_url();
    let userinfo = url.trim_start_matches("rediss://").rsplit_once('@').expect("rediss://user:password@host").0;
    let pw = userinfo.split_once(':').expect("user:password").1.to_owned();
    assert!(pw.len() >= 8, "the test password is long enough to be recognisable");
    pw
}

/// The TLS URL with the password shown as quell shows it.
fn shown(db: u8) -> String {
    format!("{}/{db}", tls_url().replace(&password(), "***"))
}

fn tls_fresh() -> Stores {
    RedisStore::open_namespaced_with_ca(&tls_url(), &support::namespace(), Some(&ca()))
        .expect("open redis store over TLS")
        .stores(support::embedded_audit())
}

session_suite!(tls_fresh);

/// A raw TLS connection to database `db`, trusting the test CA.
fn raw_tls(db: u8) -> redis::Connection {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(ca()).expect("read the test CA");
    let certs = redis::TlsCertificates { client_tls: None, root_cert: Some(pem) };
    redis::Client::build_with_tls(format!("{}/{db}", tls_url()), certs)
        .expect("TLS client")
        .get_connection()
        .expect("connect to the test redis over TLS")
}

fn quell(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quell"));
    c.env_remove("QUELL_REDIS").env_remove("QUELL_REDIS_CA").env_remove("QUELL_CONFIG");
    // Only the CA given to quell may make the test CA trusted.
    c.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    c.env("QUELL_STORE", dir.join("quell.db")).env("HOME", dir).env("XDG_CONFIG_HOME", dir);
    c
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn tmp() -> PathBuf {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep()
}

fn assert_no_password(o: &Output) {
    let (out, err) = text(o);
    let pw = password();
    assert!(!out.contains(&pw) && !err.contains(&pw), "the password is never shown:\n{out}\n{err}");
}

/// A failure: exit `code`, one line on stderr naming the redacted address, no password.
fn assert_one_line_failure(o: &Output, code: i32, db: u8, says: &str) -> String {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(code), "exit {code}: {err}{out}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(&shown(db)), "names the address {} : {err}", shown(db));
    assert!(err.contains(says), "says {says:?}: {err}");
    assert_no_password(o);
    err
}

#[test]
fn cli_lists_sessions_over_tls_with_the_ca_from_flag_env_or_config() {
    let mut raw = raw_tls(10);
    redis::cmd("FLUSHDB").query::<()>(&mut raw).expect("FLUSHDB");
    let checkpoint = serde_json::json!({
        "session_id": "tls-seed",
        "step": 7,
        "messages": [{"role": "user", "content": "over TLS"}],
        "tool_results": [],
        "plan": {"goal": "g"},
        "created_at": "2026-01-02T03:04:05.123456",
    });
    redis::cmd("SETEX")
        .arg("checkpoint:tls-seed:7")
        .arg(86_400)
        .arg(checkpoint.to_string())
        .query::<()>(&mut raw)
        .expect("SETEX");

    let dir = tmp();
    let url = format!("{}/10", tls_url());
    let ca = ca();
    let ca = ca.to_str().expect("utf-8 CA path");
    let by_flag =
        quell(&dir).args(["--redis", &url, "--redis-ca", ca, "sessions", "-o", "json"]).output().expect("run");
    let by_env = quell(&dir)
        .env("QUELL_REDIS", &url)
        .env("QUELL_REDIS_CA", ca)
        .args(["sessions", "-o", "json"])
        .output()
        .expect("run");
    let config = dir.join("quell").join("config.toml");
    std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
    std::fs::write(&config, format!("redis = {url:?}\nredis_ca = {ca:?}\n")).expect("config");
    let by_file = quell(&dir).args(["sessions", "-o", "json"]).output().expect("run");
    std::fs::remove_file(&config).expect("rm config");
    for o in [&by_flag, &by_env, &by_file] {
        let (out, err) = text(o);
        assert!(o.status.success(), "sessions over TLS: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let list = v.as_array().or_else(|| v["sessions"].as_array()).expect("a list of sessions");
        assert_eq!(list.len(), 1, "{out}");
        assert_eq!(list[0]["id"], "tls-seed");
        assert_eq!(list[0]["step"], 7);
        assert_no_password(o);
    }

    // Writes over TLS land in Redis: a fleet-wide pause is read back over a second connection.
    let pause = quell(&dir)
        .args(["--redis", &url, "--redis-ca", ca, "pause", "--all", "--reason", "tls test", "--wait", "0"])
        .output()
        .expect("run pause");
    let (out, err) = text(&pause);
    assert!(pause.status.success(), "pause over TLS: {err}{out}");
    assert_no_password(&pause);
    let n: u64 = redis::cmd("HLEN").arg("quell:c:{control}:rec").query(&mut raw_tls(10)).expect("HLEN");
    assert_eq!(n, 1, "the fleet-wide pause is stored");
}

#[test]
fn untrusted_certificate_is_one_line_exit_6_without_the_password() {
    let dir = tmp();
    let url = format!("{}/10", tls_url());
    // No CA: the system's roots do not include the throwaway test CA.
    let o = quell(&dir).args(["--redis", &url, "sessions"]).output().expect("run");
    assert_one_line_failure(&o, 6, 10, "certificate is not trusted");

    // A CA that did not sign the server's certificate.
    let other = dir.join("other-ca.pem");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=not the test CA"])
        .arg("-keyout")
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .expect("run openssl (Debian package openssl)");
    assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
    let o = quell(&dir).args(["--redis", &url, "sessions"]).env("QUELL_REDIS_CA", &other).output().expect("run");
    assert_one_line_failure(&o, 6, 10, "certificate is not trusted");
}

#[test]
fn wrong_password_bad_ca_file_and_plain_url_are_refused_without_secrets() {
    let dir = tmp();
    let ca = ca();

    // A wrong password over TLS: refused by the server, the attempted password never shown.
    let wrong = "wr0ng-pw-5ecret";
    let bad_url = format!("{}/10", tls_url().replace(&password(), wrong));
    let o = quell(&dir).args(["--redis", &bad_url, "sessions"]).arg("--redis-ca").arg(&ca).output().expect("run");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(6), "exit 6: {err}{out}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(&shown(10)), "names the address: {err}");
    assert!(err.contains("authentication failed"), "says why: {err}");
    assert!(!err.contains(wrong) && !out.contains(wrong), "the wrong password is not shown either: {err}");
    assert_no_password(&o);

    // Verification cannot be turned off with the redis crate's `#insecure` URL fragment.
    let insecure = format!("{}/10#insecure", tls_url());
    let o = quell(&dir).args(["--redis", &insecure, "sessions"]).output().expect("run");
    assert_one_line_failure(&o, 2, 10, "certificate verification cannot be turned off");

    // A CA file that is not PEM: a usage error naming the file.
    let garbage = dir.join("not-a-ca.pem");
    std::fs::write(&garbage, "hello\n").expect("write");
    let url = format!("{}/10", tls_url());
    let o = quell(&dir).args(["--redis", &url, "sessions"]).arg("--redis-ca").arg(&garbage).output().expect("run");
    let err = assert_one_line_failure(&o, 2, 10, "no PEM certificate");
    assert!(err.contains("not-a-ca.pem"), "names the file: {err}");

    // A missing CA file.
    let o = quell(&dir)
        .args(["--redis", &url, "sessions"])
        .arg("--redis-ca")
        .arg(dir.join("missing.pem"))
        .output()
        .expect("run");
    assert_one_line_failure(&o, 2, 10, "cannot read the CA file");

    // A CA with a plain redis:// URL is refused, not silently ignored.
    let o = quell(&dir)
        .args(["--redis", &support::db_url(10), "sessions"])
        .arg("--redis-ca")
        .arg(&ca)
        .output()
        .expect("run");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "exit 2: {err}{out}");
    assert!(err.contains("not rediss://"), "{err}");
}
