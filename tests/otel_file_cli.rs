// Test code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! `--otlp-file` with the embedded store, in plain `cargo test`: a conversation that has both a
//! quell audit chain (a real `quell agent` run) and spans is shown with both, each with its own
//! integrity; verify checks the chain and says the spans are not verified; control on it is not
//! refused (quell controls it), but on a span-only session it is; a missing file is one line.

mod common;

use common::*;

fn span_line(conv: &str, trace: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}]}},"scopeSpans":[{{"spans":[
        {{"traceId":"{trace}","spanId":"1000000000000001","name":"chat m","startTimeUnixNano":"1764756001000000000","endTimeUnixNano":"1764756002000000000",
          "attributes":[{{"key":"gen_ai.operation.name","value":{{"stringValue":"chat"}}}},{{"key":"gen_ai.conversation.id","value":{{"stringValue":"{conv}"}}}},
          {{"key":"gen_ai.request.model","value":{{"stringValue":"span-model"}}}}],"status":{{}}}}]}}]}}]}}"#
    )
    .replace('\n', "")
}

#[test]
fn a_conversation_with_a_chain_and_spans_shows_both_each_with_its_integrity() {
    let (path, _stores) = temp_store();
    let run = quell(&path, &["agent", "--session", "s-both", "--steps", "3", "--step-ms", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let file = path.parent().unwrap().join("spans.jsonl");
    let lines = [
        span_line("s-both", "0af7651916cd43dd8448eb211c80319c"),
        span_line("s-spans-only", "1af7651916cd43dd8448eb211c80319c"),
        "garbage".to_owned(),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let f = file.to_str().unwrap();

    let show = quell(&path, &["--otlp-file", f, "show", "s-both"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("integrity: unverified"), "{}", show.stdout);
    let chain = show.stdout.lines().filter(|l| l.starts_with("integrity:")).count();
    assert_eq!(chain, 2, "the chain's integrity and the spans': {}", show.stdout);
    assert!(show.stdout.contains("otel/unverified span 1000000000000001 llm_call"), "{}", show.stdout);
    assert!(show.stderr.contains("skipped 1 not OTLP"), "{}", show.stderr);

    let json = quell(&path, &["--otlp-file", f, "show", "s-both", "-o", "json"]).json();
    assert_eq!(json["integrity"]["intact"], true, "{json}");
    assert_eq!(json["otel"]["integrity"], "unverified");
    assert_eq!(json["otel"]["also_quell_chain"], true);

    let list = quell(&path, &["--otlp-file", f, "sessions", "-o", "json"]).json();
    let rows = list.as_array().unwrap();
    assert!(rows.iter().any(|r| r["id"] == "s-both" && r.get("source").is_none()), "quell's row: {list}");
    assert!(rows.iter().any(|r| r["id"] == "s-both" && r["source"] == "otel"), "the spans' row: {list}");
    assert!(rows.iter().any(|r| r["id"] == "s-spans-only" && r["also_quell_chain"] == false), "{list}");

    let verify = quell(&path, &["--otlp-file", f, "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    assert!(verify.stdout.contains("not verified: 2 sessions from OpenTelemetry spans"), "{}", verify.stdout);
    let verify = quell(&path, &["--otlp-file", f, "verify", "s-spans-only"]);
    assert_eq!(verify.code, 5, "{}", verify.stdout);

    let pause = quell(&path, &["--otlp-file", f, "pause", "s-spans-only", "--reason", "r"]);
    assert_eq!(pause.code, 4, "{}", pause.stderr);
    assert!(pause.stderr.contains("pod is not known"), "{}", pause.stderr);
    assert!(
        pause.stderr.contains("skipped 1 not OTLP"),
        "a refusal still says what the span read skipped: {}",
        pause.stderr
    );
    let approve = quell(&path, &["--otlp-file", f, "approve", "s-spans-only", "--reason", "r"]);
    assert_eq!(approve.code, 4, "{}", approve.stderr);
    assert!(approve.stderr.contains("approve refused"), "{}", approve.stderr);

    let missing = quell(&path, &["--otlp-file", "/nonexistent/spans.jsonl", "sessions"]);
    assert_ne!(missing.code, 0);
    assert_eq!(missing.stderr.lines().count(), 1, "{}", missing.stderr);
    assert!(missing.stderr.contains("--otlp-file"), "{}", missing.stderr);
}
