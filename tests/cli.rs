// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The real binary: JSON output, exit codes, one-line errors, nothing half-written.

mod approvals_bulk;
mod common;

use common::{from_output, quell, quell_cmd, temp_store};
use quell::agent::runtime::{AgentRuntime, AgentSession, SessionSpec};
use quell::model::approval::Risk;
use quell::model::audit::{EventKind, ToolCall};
use quell::model::untrusted::{Untrusted, UntrustedJson};
use quell::ports::Stores;
use serde_json::json;
use std::time::Duration;

/// Two sessions written by the real agent runtime: one waiting for approval of a payment
/// (two approvers) and of an e-mail (one), one finished.
fn fleet(stores: &Stores) -> (String, String) {
    let rt = AgentRuntime::start(stores.clone()).unwrap();
    let mut a = AgentSession::start(
        &rt,
        SessionSpec {
            id: Some("s-alpha".into()),
            agent: "billing-agent".into(),
            model: Some("gpt-4.1".into()),
            namespace: Some("genai-prod".into()),
            pod: Some("ai-agent-runtime-0".into()),
            allowed_tools: vec!["execute_payment".into()],
        },
    )
    .unwrap();
    a.begin_step();
    let mut llm = a.body(EventKind::LlmCall);
    llm.tool_calls = vec![ToolCall {
        name: Untrusted::new("execute_payment"),
        arguments: UntrustedJson::new(json!({"amount": 10})),
    }];
    a.emit(llm).unwrap();
    a.checkpoint(vec![json!({"role": "user", "content": "pay"})], vec![], json!({"goal": "pay"})).unwrap();
    let pay = a
        .request_approval("execute_payment", json!({"amount": 10}), Risk::Critical, Duration::from_secs(600), 2)
        .unwrap();
    let mail = a
        .request_approval("send_email", json!({"to": "x@example.com"}), Risk::High, Duration::from_secs(600), 1)
        .unwrap();
    let mut b = AgentSession::start(
        &rt,
        SessionSpec {
            id: Some("s-beta".into()),
            agent: "support-agent".into(),
            model: Some("claude-sonnet-4".into()),
            ..Default::default()
        },
    )
    .unwrap();
    b.begin_step();
    b.end(quell::model::session::SessionState::Finished, None).unwrap();
    rt.shutdown().unwrap();
    (pay.id, mail.id)
}

#[test]
fn sessions_json_has_stable_fields_and_selectors_filter() {
    let (path, stores) = temp_store();
    fleet(&stores);
    let r = quell(&path, &["sessions", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list = r.json();
    let arr = list.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    let alpha = arr.iter().find(|s| s["id"] == "s-alpha").unwrap();
    for field in [
        "id",
        "agent",
        "namespace",
        "pod",
        "model",
        "state",
        "step",
        "started_at",
        "last_seen",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "tools",
        "pending_approvals",
        "ack_generation",
        "audit_seq",
    ] {
        assert!(alpha.get(field).is_some(), "field {field} missing: {alpha}");
    }
    assert_eq!(alpha["state"], "waiting_approval");
    assert_eq!(alpha["pending_approvals"], 2);
    assert_eq!(alpha["namespace"], "genai-prod");

    let r = quell(&path, &["sessions", "--where", "state=finished", "-o", "json"]);
    let doc = r.json();
    let ids: Vec<&str> = doc.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["s-beta"]);
    let r = quell(&path, &["sessions", "--where", "model in (gpt-4.1, x),namespace", "-o", "json"]);
    assert_eq!(r.json().as_array().unwrap().len(), 1);

    let table = quell(&path, &["sessions"]);
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(table.stdout.contains("s-alpha") && table.stdout.contains("billing-agent"));
}

#[test]
fn bad_selector_and_bad_times_are_usage_errors() {
    let (path, _) = temp_store();
    let r = quell(&path, &["sessions", "--where", "colour=red"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr.lines().count(), 1);
    assert!(r.stderr.contains("unknown field 'colour'"), "{}", r.stderr);
    let r = quell(&path, &["replay", "--since", "yesterday"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--since") && r.stderr.contains("yesterday"), "{}", r.stderr);
    let r = quell(&path, &["replay", "--kind", "tool_cal"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown event kind 'tool_cal'"), "{}", r.stderr);
}

#[test]
fn show_merges_checkpoints_and_events() {
    let (path, stores) = temp_store();
    fleet(&stores);
    let r = quell(&path, &["show", "s-alpha", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    assert_eq!(doc["integrity"]["intact"], true);
    let entries = doc["entries"].as_array().unwrap();
    let kinds: Vec<String> = entries
        .iter()
        .map(|e| {
            if e["entry"] == "checkpoint" {
                format!("cp{}", e["step"])
            } else {
                e["kind"].as_str().unwrap().to_owned()
            }
        })
        .collect();
    assert_eq!(
        kinds,
        vec!["session_started", "llm_call", "checkpoint", "cp1", "approval_requested", "approval_requested"],
        "checkpoint of step 1 follows the events that led to it"
    );
    let text = quell(&path, &["show", "s-alpha"]);
    assert!(text.stdout.contains("integrity: chain verified (5 events)"), "{}", text.stdout);
    let missing = quell(&path, &["show", "s-nope"]);
    assert_eq!(missing.code, 3);
    assert!(missing.stderr.contains("no session s-nope"));
}

#[test]
fn replay_filters_by_session_time_and_kind() {
    let (path, stores) = temp_store();
    fleet(&stores);
    let all = quell(&path, &["replay", "-o", "json"]);
    assert_eq!(all.code, 0);
    assert_eq!(all.stdout.lines().count(), 7, "5 events of s-alpha, 2 of s-beta");
    for line in all.stdout.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["hash"].as_str().map(str::len), Some(64));
    }
    let one = quell(&path, &["replay", "s-beta", "-o", "json"]);
    assert_eq!(one.stdout.lines().count(), 2);
    let kinds = quell(&path, &["replay", "--kind", "approval_requested", "-o", "json"]);
    assert_eq!(kinds.stdout.lines().count(), 2);
    let future = quell(&path, &["replay", "--since", "2099-01-01T00:00:00Z"]);
    assert_eq!((future.code, future.stdout.as_str()), (0, ""));
    let recent = quell(&path, &["replay", "--since", "1h", "--until", "2099-01-01T00:00:00Z", "-o", "json"]);
    assert_eq!(recent.stdout.lines().count(), 7);
    let unknown = quell(&path, &["replay", "s-nope"]);
    assert_eq!(unknown.code, 3);
}

#[test]
fn destructive_commands_need_a_reason_and_write_nothing_without_one() {
    let (path, stores) = temp_store();
    fleet(&stores);
    for args in [vec!["pause", "--all"], vec!["kill", "s-alpha"], vec!["resume", "--all", "--reason", "  "]] {
        let r = quell(&path, &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("needs --reason"), "{}", r.stderr);
    }
    let r = quell(&path, &["approve", "ap-x"]);
    assert_eq!(r.code, 2);
    assert!(stores.control.control_changes(0).unwrap().is_empty(), "nothing written");
    let r = quell(&path, &["pause", "s-nope", "--reason", "x"]);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("no session s-nope"));
    assert!(stores.control.control_changes(0).unwrap().is_empty(), "nothing written");
    let r = quell(&path, &["pause", "--all", "s-alpha", "--reason", "x"]);
    assert_eq!(r.code, 2, "a target is one of ids, --all or --where");
}

#[test]
fn pause_records_the_operator_and_reports_acknowledgements() {
    let (path, stores) = temp_store();
    fleet(&stores);
    let r = quell(
        &path,
        &["pause", "s-alpha", "--reason", "INC-1 payments", "--as", "alice", "--wait", "0.3", "-o", "json"],
    );
    assert_eq!(r.code, 7, "nobody acknowledges: {} {}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["outstanding"], json!(["s-alpha"]));
    assert_eq!(doc["scope"], "pause session s-alpha in namespace genai-prod");
    let rec = stores.control.session_control("s-alpha").unwrap().unwrap();
    assert_eq!((rec.operator.as_str(), rec.reason.as_str()), ("alice", "INC-1 payments"));
    let ops = quell(&path, &["replay", "operator:alice", "-o", "json"]);
    let ev: serde_json::Value = serde_json::from_str(ops.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(ev["kind"], "operator_action");
    assert_eq!(ev["identity"], "operator:alice");
    assert_eq!(ev["attributes"]["quell.reason"], "INC-1 payments");
    assert_eq!(ev["attributes"]["quell.action"], "pause");
    let nowait = quell(&path, &["resume", "s-alpha", "--reason", "ok", "--wait", "0"]);
    assert_eq!(nowait.code, 0, "{}", nowait.stderr);
    let killed_finished = quell(&path, &["resume", "s-beta", "--reason", "x"]);
    assert_eq!(killed_finished.code, 4, "{}", killed_finished.stderr);
}

#[test]
fn approvals_are_decided_once_with_two_distinct_approvers() {
    let (path, stores) = temp_store();
    let (pay, mail) = fleet(&stores);
    let list = quell(&path, &["approvals", "-o", "json"]);
    assert_eq!(list.json().as_array().unwrap().len(), 2);

    let ok = quell(&path, &["approve", &mail, "--reason", "customer asked", "--as", "alice"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("approved by alice"), "{}", ok.stdout);
    let again = quell(&path, &["reject", &mail, "--reason", "no", "--as", "bob"]);
    assert_eq!(again.code, 4);
    assert!(again.stderr.contains("already approved by alice"), "{}", again.stderr);

    let first = quell(&path, &["approve", &pay, "--reason", "ok", "--as", "alice"]);
    assert_eq!(first.code, 0);
    assert!(first.stdout.contains("another, different approver is needed"), "{}", first.stdout);
    let same = quell(&path, &["approve", &pay, "--reason", "ok", "--as", "alice"]);
    assert_eq!(same.code, 4);
    assert!(same.stderr.contains("second, different approver"), "{}", same.stderr);
    let second = quell(&path, &["approve", &pay, "--reason", "ok", "--as", "carol", "-o", "json"]);
    assert_eq!(second.code, 0);
    assert_eq!(second.json()["status"], "approved");
    assert_eq!(quell(&path, &["approvals", "-o", "json"]).json(), json!([]));
    let unknown = quell(&path, &["approve", "ap-nope", "--reason", "x"]);
    assert_eq!(unknown.code, 3);
}

#[test]
fn concurrent_processes_decide_an_approval_exactly_once() {
    let (path, stores) = temp_store();
    let (_, mail) = fleet(&stores);
    let children: Vec<_> = (0..8)
        .map(|i| {
            quell_cmd(&path)
                .args([
                    if i % 2 == 0 { "approve" } else { "reject" },
                    &mail,
                    "--reason",
                    "race",
                    "--as",
                    &format!("op{i}"),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let runs: Vec<_> = children.into_iter().map(|c| from_output(c.wait_with_output().unwrap())).collect();
    let winners: Vec<_> = runs.iter().filter(|r| r.code == 0).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one decision: {:?}",
        runs.iter().map(|r| (r.code, &r.stderr)).collect::<Vec<_>>()
    );
    let decided = stores.approvals.approval(&mail).unwrap().unwrap();
    assert_eq!(decided.decisions.len(), 1);
    let who = &decided.decisions[0].approver;
    for r in runs.iter().filter(|r| r.code != 0) {
        assert_eq!(r.code, 4);
        assert!(r.stderr.contains(&format!("by {who}")), "loser is told who decided: {}", r.stderr);
    }
}

#[test]
fn corrupt_and_foreign_files_are_refused_untouched() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap().keep();
    let junk = dir.join("junk.db");
    std::fs::write(&junk, b"this is not a database at all, just text\n").unwrap();
    let r = quell(&junk, &["sessions"]);
    assert_eq!(r.code, 6);
    assert_eq!(r.stderr.lines().count(), 1);
    assert!(r.stderr.contains("is not a quell store"), "{}", r.stderr);
    assert!(std::fs::read(&junk).unwrap() == b"this is not a database at all, just text\n", "file untouched");

    let foreign = dir.join("foreign.db");
    rusqlite::Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE customers(id INTEGER)").unwrap();
    let before = std::fs::read(&foreign).unwrap();
    let r = quell(&foreign, &["pause", "--all", "--reason", "x"]);
    assert_eq!(r.code, 6);
    assert!(r.stderr.contains("not a quell store (it has tables: customers)"), "{}", r.stderr);
    assert!(std::fs::read(&foreign).unwrap() == before, "foreign file untouched");
}

#[test]
fn readonly_refuses_actions() {
    let (path, stores) = temp_store();
    let (_, mail) = fleet(&stores);
    let r = quell(&path, &["--readonly", "kill", "s-alpha", "--reason", "x"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("read-only"), "{}", r.stderr);
    let r = quell(&path, &["approve", &mail, "--reason", "x", "--readonly"]);
    assert_eq!(r.code, 2);
    assert!(stores.control.control_changes(0).unwrap().is_empty());
    assert_eq!(stores.approvals.approval(&mail).unwrap().unwrap().decisions.len(), 0);
}

#[test]
fn global_options_come_from_flags_env_and_config_file() {
    let (path, stores) = temp_store();
    fleet(&stores);
    // flag after the subcommand
    let out = from_output(
        std::process::Command::new(env!("CARGO_BIN_EXE_quell"))
            .args(["sessions", "-o", "json", "--store"])
            .arg(&path)
            .output()
            .unwrap(),
    );
    assert_eq!(out.json().as_array().unwrap().len(), 2);
    // environment
    let out = from_output(
        std::process::Command::new(env!("CARGO_BIN_EXE_quell"))
            .env("QUELL_STORE", &path)
            .args(["sessions", "-o", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.json().as_array().unwrap().len(), 2);
    // config file
    let cfg = path.parent().unwrap().join("quell.toml");
    std::fs::write(&cfg, format!("store = {:?}\nas = \"from-config\"\n", path.to_str().unwrap())).unwrap();
    let out = from_output(
        std::process::Command::new(env!("CARGO_BIN_EXE_quell"))
            .env_remove("QUELL_STORE")
            .args(["--config"])
            .arg(&cfg)
            .args(["pause", "s-alpha", "--reason", "cfg", "--wait", "0"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(stores.control.session_control("s-alpha").unwrap().unwrap().operator, "from-config");
    std::fs::write(&cfg, "stor = 1\n").unwrap();
    let bad = from_output(
        std::process::Command::new(env!("CARGO_BIN_EXE_quell"))
            .arg("--config")
            .arg(&cfg)
            .arg("sessions")
            .output()
            .unwrap(),
    );
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("unknown field `stor`"), "{}", bad.stderr);
}

/// `quell` with `envs` set (and no other `QUELL_*` variable of the caller's).
fn quell_env(envs: &[(&str, &std::path::Path)], args: &[&str]) -> common::Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_quell"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("QUELL_")) {
        cmd.env_remove(k);
    }
    from_output(cmd.envs(envs.iter().copied()).args(args).output().unwrap())
}

#[test]
fn flags_from_the_environment_are_not_shown_as_required_and_bad_values_are_named() {
    let (path, stores) = temp_store();
    fleet(&stores);
    // A missing argument's usage line shows the command as typed, not `--store <PATH>` because
    // QUELL_STORE is set.
    let r = quell_env(&[("QUELL_STORE", &path)], &["pause"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("Usage: quell pause <SESSION|--all|--where <SELECTOR>>"), "{}", r.stderr);
    assert!(!r.stderr.contains("--store"), "{}", r.stderr);
    // A safety switch with a value that is neither true nor false is refused, naming the variable.
    let odd = std::path::Path::new("maybe\u{1b}[2J");
    let r = quell_env(&[("QUELL_STORE", &path), ("QUELL_READONLY", odd)], &["kill", "s-alpha", "--reason", "x"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("QUELL_READONLY must be true or false"), "{}", r.stderr);
    assert!(!r.stderr.contains('\u{1b}'), "the value is shown neutralised: {:?}", r.stderr);
    let yes = std::path::Path::new("yes");
    let r = quell_env(&[("QUELL_STORE", &path), ("QUELL_READONLY", yes)], &["kill", "s-alpha", "--reason", "x"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("read-only"), "{}", r.stderr);
    assert!(stores.control.control_changes(0).unwrap().is_empty(), "nothing was issued");
    // The command line wins over the environment; an empty variable counts as unset.
    let elsewhere = path.parent().unwrap().join("absent.db");
    let r = quell_env(&[("QUELL_STORE", &elsewhere)], &["--store", path.to_str().unwrap(), "sessions", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let empty = std::path::Path::new("");
    let r = quell_env(&[("QUELL_STORE", &path), ("QUELL_AS", empty)], &["sessions", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Runs the demo until its agents have asked for an approval, then stops it; returns the
/// request's expiry in seconds.
fn demo_approval_ttl(extra: &[&str], env: &[(&str, &str)]) -> i64 {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap().keep();
    let path = dir.join("quell.db");
    let mut cmd = quell_cmd(&path);
    cmd.args(["demo", "--headless", "--agents", "20", "--step-ms", "5-20", "--steps", "0"]).args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let found = loop {
        let listed = path
            .exists()
            .then(|| quell::adapters::embedded::EmbeddedStore::open(&path).ok())
            .flatten()
            .and_then(|s| s.stores().approvals.approvals(false, quell::model::time::now()).ok())
            .and_then(|all| all.into_iter().next());
        if let Some(a) = listed {
            break Some(a);
        }
        if std::time::Instant::now() >= deadline || child.try_wait().unwrap().is_some() {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let a = found.expect("the demo's agents ask for an approval");
    (a.expires_at - a.requested_at).num_seconds()
}

#[test]
fn the_demo_gives_a_person_ten_minutes_to_decide_and_says_how_to_change_it() {
    assert_eq!(demo_approval_ttl(&[], &[]), 600, "default: 10 minutes");
    assert_eq!(demo_approval_ttl(&[], &[("QUELL_DEMO_APPROVAL_TTL", "90s")]), 90);
    assert_eq!(demo_approval_ttl(&["--approval-ttl", "20m"], &[("QUELL_DEMO_APPROVAL_TTL", "90s")]), 1200);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap().keep();
    let path = dir.join("quell.db");
    let r = quell(&path, &["demo", "--headless", "--duration", "1", "--approval-ttl", "0s"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("--approval-ttl") && r.stderr.contains("'0s'"), "{}", r.stderr);
    assert!(!path.exists(), "a bad value starts nothing");
    let help = quell(&path, &["demo", "--help"]);
    assert!(
        help.stdout.contains("[default: 10m]") && help.stdout.contains("QUELL_DEMO_APPROVAL_TTL"),
        "{}",
        help.stdout
    );
}

#[test]
fn the_approval_queue_is_cleared_by_selector_and_by_ids_exactly_once() {
    let (path, stores) = temp_store();
    approvals_bulk::scenario(&|| quell_cmd(&path), &stores);
}

fn ids_of(r: &common::Run) -> Vec<String> {
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json().as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn sessions_name_their_anomalies_and_select_on_them() {
    let (path, stores) = temp_store();
    fleet(&stores);
    // s-alpha may call only execute_payment and asks for approval to send an e-mail.
    let r = quell(&path, &["sessions", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    let by_id = |id: &str| doc.as_array().unwrap().iter().find(|s| s["id"] == id).unwrap().clone();
    assert_eq!(
        by_id("s-alpha")["anomalies"],
        json!([{"rule": "unexpected_tool", "severity": "high", "count": 1,
                "detail": "unexpected approval asked for tool send_email"}])
    );
    assert_eq!(by_id("s-beta")["anomalies"], json!([]));

    assert_eq!(ids_of(&quell(&path, &["sessions", "--where", "anomaly", "-o", "json"])), vec!["s-alpha"]);
    assert_eq!(ids_of(&quell(&path, &["sessions", "--where", "!anomaly", "-o", "json"])), vec!["s-beta"]);
    let r = quell(&path, &["sessions", "--where", "anomaly=unexpected_tool,agent=billing-agent", "-o", "json"]);
    assert_eq!(ids_of(&r), vec!["s-alpha"]);
    assert!(ids_of(&quell(&path, &["sessions", "--where", "anomaly=broken_chain", "-o", "json"])).is_empty());
    let table = quell(&path, &["sessions", "--where", "anomaly in (unexpected_tool, tool_errors)"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("s-alpha") && !table.stdout.contains("s-beta"), "{}", table.stdout);

    let show = quell(&path, &["show", "s-alpha"]);
    assert!(show.stdout.contains("anomalies: 1\n"), "{}", show.stdout);
    assert!(show.stdout.contains("high     unexpected_tool  unexpected approval asked for tool send_email  at #"));
    let show = quell(&path, &["show", "s-alpha", "-o", "json"]).json();
    assert_eq!(show["anomalies"][0]["rule"], "unexpected_tool");
    assert!(quell(&path, &["show", "s-beta"]).stdout.contains("anomalies: none"));

    // Acting on them: the live sessions that break the rule now, named by id.
    let r = quell(&path, &["pause", "--where", "!anomaly", "--reason", "clean ones", "--wait", "0"]);
    assert_eq!(r.code, 3, "s-beta has ended: no live session matches: {}", r.stderr);
    assert!(r.stderr.contains("no live session matches !anomaly"), "{}", r.stderr);
    let args = ["pause", "--where", "anomaly=unexpected_tool", "--reason", "injected", "--wait", "0", "-o", "json"];
    let r = quell(&path, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["sessions"], 1);
    assert!(r.json()["scope"].as_str().unwrap().contains("s-alpha"), "{}", r.stdout);
    let r = quell(&path, &["kill-pod", "--where", "anomaly", "--reason", "x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn a_selector_value_no_session_can_have_is_a_usage_error_naming_the_valid_ones() {
    let (path, stores) = temp_store();
    fleet(&stores);
    for (sel, says) in [
        (
            "state=runing",
            "no state is 'runing' (valid: running, paused, waiting_approval, killed, finished, failed, stale)",
        ),
        ("state in (running,stoped)", "no state is 'stoped'"),
        ("anomaly=unexpected-tool", "no anomaly is 'unexpected-tool' (valid: unexpected_tool, prompt_injection,"),
    ] {
        let r = quell(&path, &["sessions", "--where", sel]);
        assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{sel}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains(says), "{sel}: {}", r.stderr);
        // The same selector never reaches an action.
        let r = quell(&path, &["pause", "--where", sel, "--reason", "typo"]);
        assert_eq!(r.code, 2, "{sel}: {}", r.stderr);
    }
    assert!(stores.control.control_changes(0).unwrap().is_empty(), "nothing was paused");
}

#[test]
fn a_negated_value_no_session_holds_is_refused_rather_than_acting_on_every_session() {
    let (path, stores) = temp_store();
    fleet(&stores);
    for sel in ["agent!=biling-agent", "namespace notin (genai-prod, genai-prdo)"] {
        let r = quell(&path, &["pause", "--where", sel, "--reason", "typo", "--wait", "0"]);
        assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{sel}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains("would exclude nothing and select every session"), "{sel}: {}", r.stderr);
    }
    assert!(stores.control.control_changes(0).unwrap().is_empty(), "nothing was paused");
    // A negation of a value some session holds selects as written, even one held only by an
    // ended session (s-beta): the live s-alpha.
    let args = ["pause", "--where", "agent!=support-agent", "--reason", "the others", "--wait", "0", "-o", "json"];
    let r = quell(&path, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["sessions"], 1, "{}", r.stdout);
}

#[test]
fn the_demo_fleets_injected_agents_are_found_by_their_approval_request() {
    use quell::agent::sim::{Fleet, FleetConfig};
    let (path, stores) = temp_store();
    // Agent 3 of every 20 reads an injected page, then asks to e-mail the attacker.
    let config = FleetConfig {
        agents: 4,
        step_ms: (5, 20),
        max_steps: Some(4),
        approval_ttl: Duration::from_secs(600),
        ..FleetConfig::default()
    };
    let fleet = Fleet::start(stores.clone(), config).unwrap();
    let injected = fleet.session_ids()[3].clone();
    let asked = || {
        let q = quell::ports::AuditQuery { chain: Some(injected.clone()), ..Default::default() };
        stores.audit.read(&q).unwrap().iter().any(|e| e.body.kind == EventKind::ApprovalRequested)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !asked() {
        assert!(std::time::Instant::now() < deadline, "the injected agent never asked for approval");
        std::thread::sleep(Duration::from_millis(20));
    }
    fleet.stop().unwrap();
    let r = quell(&path, &["sessions", "--where", "anomaly=unexpected_tool", "-o", "json"]);
    assert_eq!(ids_of(&r), vec![injected.clone()]);
    let found = &r.json()[0]["anomalies"];
    let rules: Vec<&str> = found.as_array().unwrap().iter().map(|a| a["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, vec!["unexpected_tool", "prompt_injection", "terminal_escape"], "{found}");
    let show = quell(&path, &["show", &injected]);
    assert!(show.stdout.contains("unexpected approval asked for tool send_email"), "{}", show.stdout);
}

#[test]
fn namespace_flag_narrows_sessions_with_or_without_a_kube_context() {
    use quell::model::session::Session;
    let (path, stores) = temp_store();
    let now = quell::model::time::now();
    let mut put = vec![];
    for (id, ns) in [("s-prod-1", Some("genai-prod")), ("s-sandbox-1", Some("agent-sandbox-prod")), ("s-none", None)] {
        let mut s = Session::new(id, "browser-agent", now);
        s.namespace = ns.map(Into::into);
        put.push(s);
    }
    stores.sessions.put_sessions(&put).unwrap();
    let no_kube = path.parent().unwrap().join("no-kubeconfig");
    let run = |bin: &str, env_ns: Option<&str>, args: &[&str]| {
        let mut c = std::process::Command::new(bin);
        c.env_remove("QUELL_STORE").env_remove("QUELL_NAMESPACE").env("USER", "tester");
        c.env("XDG_CONFIG_HOME", path.parent().unwrap()).env("KUBECONFIG", &no_kube).env("HOME", &no_kube);
        if let Some(ns) = env_ns {
            c.env("QUELL_NAMESPACE", ns);
        }
        from_output(c.arg("--store").arg(&path).args(args).output().unwrap())
    };
    let quell_bin = env!("CARGO_BIN_EXE_quell");
    let plugin = env!("CARGO_BIN_EXE_kubectl-quell");
    for r in [
        run(quell_bin, None, &["-n", "genai-prod", "sessions", "-o", "json"]),
        run(quell_bin, None, &["sessions", "--namespace", "genai-prod", "-o", "json"]),
        run(quell_bin, Some("genai-prod"), &["sessions", "-o", "json"]),
        run(plugin, None, &["-n", "genai-prod", "sessions", "-o", "json"]),
    ] {
        // No kubeconfig: no pod columns (said on stderr), and still only that namespace.
        assert_eq!(ids_of(&r), vec!["s-prod-1"], "{}", r.stderr);
        assert!(r.stderr.contains("no pod columns"), "{}", r.stderr);
    }
    let table = run(quell_bin, None, &["-n", "agent-sandbox-prod", "sessions"]);
    assert!(table.stdout.contains("s-sandbox-1") && !table.stdout.contains("s-prod-1"), "{}", table.stdout);
    assert!(ids_of(&run(quell_bin, None, &["-n", "nowhere", "sessions", "-o", "json"])).is_empty());
    let mut all = ids_of(&run(quell_bin, None, &["sessions", "-o", "json"]));
    all.sort();
    assert_eq!(all, vec!["s-none", "s-prod-1", "s-sandbox-1"], "without -n every namespace is listed");
}

#[test]
fn pinned_models_and_thresholds_come_from_the_config_files_anomaly_table() {
    let (path, stores) = temp_store();
    fleet(&stores);
    let config = path.parent().unwrap().join("quell").join("config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let rules = |r: &common::Run, id: &str| -> Vec<String> {
        assert_eq!(r.code, 0, "{}", r.stderr);
        let doc = r.json();
        let s = doc.as_array().unwrap().iter().find(|s| s["id"] == id).cloned().unwrap();
        s["anomalies"].as_array().unwrap().iter().map(|a| a["rule"].as_str().unwrap().to_owned()).collect()
    };
    std::fs::write(
        &config,
        "[anomaly.pinned_models]\nbilling-agent = \"gpt-4o\"\nsupport-agent = \"claude-sonnet-4\"\n",
    )
    .unwrap();
    let r = quell(&path, &["sessions", "-o", "json"]);
    assert_eq!(rules(&r, "s-alpha"), vec!["unexpected_tool", "unpinned_model"]);
    assert!(rules(&r, "s-beta").is_empty(), "support-agent runs its pinned model");
    let show = quell(&path, &["show", "s-alpha"]).stdout;
    assert!(show.contains("unpinned_model   model gpt-4.1 instead of the pinned gpt-4o  at #2"), "{show}");

    std::fs::write(&config, "[anomaly]\nmax_tool_errors = 3\nmax_tokens_per_hour = 5\n").unwrap();
    let r = quell(&path, &["sessions"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("max_tokens_per_hour"), "the unknown key is named: {}", r.stderr);
}
