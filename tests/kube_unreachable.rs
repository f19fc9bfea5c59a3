// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Kubernetes errors name the context and the API server quell could not reach, never the
//! token; a connect is bounded. Kubeconfigs are written here and point at loopback ports that
//! are closed, that never answer or that drip their answer, so no apiserver is needed.

mod common;

use common::{quell_cmd, temp_store};
use quell::model::session::Session;
use quell::model::time;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "SECRET-TOKEN-7c1e9a";

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Two contexts: `ctx-a` (the current one) and `ctx-b`, each on its own server.
fn kubeconfig(dir: &Path, server_a: &str, server_b: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: ctx-a\n\
             clusters:\n- name: cluster-a\n  cluster:\n    server: {server_a}\n\
             - name: cluster-b\n  cluster:\n    server: {server_b}\n\
             users:\n- name: u\n  user:\n    token: {TOKEN}\n\
             contexts:\n- name: ctx-a\n  context:\n    cluster: cluster-a\n    user: u\n\
             - name: ctx-b\n  context:\n    cluster: cluster-b\n    user: u\n    namespace: genai-prod\n"
        ),
    )
    .expect("write kubeconfig");
    path
}

/// Runs quell to the end, at most `limit` (then kills it and fails): exit code and stderr.
fn run_bounded(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            return (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("quell still running after {limit:?} against an API server that never answers");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn quell(store: &Path, args: &[&str]) -> (Option<i32>, String) {
    let child = quell_cmd(store)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn quell");
    run_bounded(child, Duration::from_secs(60))
}

fn assert_names_context_and_server(err: &str, context: &str, server: &str, other: &str) {
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(&format!("context \"{context}\"")), "names the context: {err}");
    assert!(err.contains(server), "names the server {server}: {err}");
    assert!(!err.contains(other), "not the other context's server {other}: {err}");
    assert!(!err.contains(TOKEN), "never the token: {err}");
}

#[test]
fn an_unreachable_context_is_named_with_its_server_and_never_the_token() {
    let (store, stores) = temp_store();
    let mut s = Session::new("s-pod", "browser-agent", time::now());
    s.namespace = Some("genai-prod".into());
    s.pod = Some("ai-agent-runtime-0".into());
    stores.sessions.put_sessions(&[s]).expect("session");
    let dir = store.parent().expect("dir");
    let (a, b) = (format!("https://127.0.0.1:{}", closed_port()), format!("https://127.0.0.1:{}", closed_port()));
    let kc = kubeconfig(dir, &a, &b);
    let kc = kc.to_str().expect("utf8");

    // The listing still works; its warning names ctx-b and ctx-b's server.
    let (code, err) = quell(&store, &["--kubeconfig", kc, "--context", "ctx-b", "sessions"]);
    assert_eq!(code, Some(0), "the listing does not need the cluster: {err}");
    assert!(err.starts_with("quell: warning: no pod columns:"), "{err}");
    assert!(err.contains("cannot reach the API server"), "says what failed: {err}");
    assert_names_context_and_server(&err, "ctx-b", &b, &a);

    // A pod action fails (exit 6, backend unavailable) with the same naming.
    let (code, err) =
        quell(&store, &["--kubeconfig", kc, "--context", "ctx-b", "kill-pod", "s-pod", "--reason", "runaway"]);
    assert_eq!(code, Some(6), "unreachable: exit 6: {err}");
    assert_names_context_and_server(&err, "ctx-b", &b, &a);

    // The current context when none is given.
    let (_, err) = quell(&store, &["--kubeconfig", kc, "sessions"]);
    assert_names_context_and_server(&err, "ctx-a", &a, &b);
}

#[test]
fn an_api_server_that_accepts_and_never_answers_is_given_up_on_in_bounded_time() {
    let (store, _stores) = temp_store();
    // The kernel accepts connections into the backlog; nothing ever reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let b = format!("https://127.0.0.1:{}", silent.local_addr().expect("addr").port());
    let a = format!("https://127.0.0.1:{}", closed_port());
    let kc = kubeconfig(store.parent().expect("dir"), &a, &b);
    let (code, err) = quell(&store, &["--kubeconfig", kc.to_str().expect("utf8"), "--context", "ctx-b", "sessions"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.starts_with("quell: warning: no pod columns:"), "{err}");
    assert_names_context_and_server(&err, "ctx-b", &b, &a);
    drop(silent);
}

#[test]
fn an_api_server_that_drips_its_answer_is_given_up_on_per_request() {
    let (store, _stores) = temp_store();
    // Plain HTTP: headers at once, then a body of one byte a second, forever (per-read timeouts
    // never fire on it; only a deadline on the whole request does).
    let drip = TcpListener::bind("127.0.0.1:0").expect("bind");
    let b = format!("http://127.0.0.1:{}", drip.local_addr().expect("addr").port());
    std::thread::spawn(move || {
        for conn in drip.incoming().flatten() {
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut conn = conn;
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n";
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
                while conn.write_all(b" ").is_ok() {
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
    });
    let a = format!("https://127.0.0.1:{}", closed_port());
    let kc = kubeconfig(store.parent().expect("dir"), &a, &b);
    let child = quell_cmd(&store)
        .args(["--kubeconfig", kc.to_str().expect("utf8"), "--context", "ctx-b", "sessions"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn quell");
    // Discovery makes two requests one after the other (runtime classes, then pods): 2 × 30 s.
    let (code, err) = run_bounded(child, Duration::from_secs(150));
    assert_eq!(code, Some(0), "the listing does not need the cluster: {err}");
    assert!(err.contains("no complete answer within 30 s"), "says the deadline passed: {err}");
    assert_names_context_and_server(&err, "ctx-b", &b, &a);
}
