// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The `quell` binary reading OpenTelemetry spans from the real Kafka broker (`--otlp-topic`):
//! `otlp_json` and `otlp_proto` records on one topic, and the bad-input corpus beside them
//! (not OTLP, truncated protobuf, spans without ids, an unknown attribute type, a 10 MB value),
//! each skipped and counted; sessions, show, replay and verify mark them otel/unverified, and
//! pause is refused. No quell store exists: these agents never ran quell's library.

mod kafka_support;

use kafka_support::*;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::time::Duration;

// A minimal protobuf writer: just what TracesData needs.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn len(field: u64, body: &[u8], out: &mut Vec<u8>) {
    varint(field << 3 | 2, out);
    varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

fn kv(key: &str, any: &[u8]) -> Vec<u8> {
    let mut kv = Vec::new();
    len(1, key.as_bytes(), &mut kv);
    len(2, any, &mut kv);
    kv
}

fn s(v: &str) -> Vec<u8> {
    let mut any = Vec::new();
    len(1, v.as_bytes(), &mut any);
    any
}

fn int(v: u64) -> Vec<u8> {
    let mut any = Vec::new();
    varint(3 << 3, &mut any);
    varint(v, &mut any);
    any
}

struct PbSpan<'a> {
    trace: [u8; 16],
    id: [u8; 8],
    start: u64,
    attrs: Vec<Vec<u8>>,
    name: &'a str,
}

fn proto_batch(resource: &[Vec<u8>], spans: &[PbSpan<'_>]) -> Vec<u8> {
    let mut scope = Vec::new();
    for sp in spans {
        let mut b = Vec::new();
        len(1, &sp.trace, &mut b);
        len(2, &sp.id, &mut b);
        len(5, sp.name.as_bytes(), &mut b);
        varint(7 << 3 | 1, &mut b);
        b.extend_from_slice(&sp.start.to_le_bytes());
        varint(8 << 3 | 1, &mut b);
        b.extend_from_slice(&(sp.start + 1_000_000).to_le_bytes());
        for a in &sp.attrs {
            len(9, a, &mut b);
        }
        len(2, &b, &mut scope);
    }
    let mut res = Vec::new();
    for a in resource {
        len(1, a, &mut res);
    }
    let mut rs = Vec::new();
    len(1, &res, &mut rs);
    len(2, &scope, &mut rs);
    let mut td = Vec::new();
    len(1, &rs, &mut td);
    td
}

fn json_batch(conv: &str, trace: &str, extra_attr: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"json-svc"}}}},
        {{"key":"k8s.pod.name","value":{{"stringValue":"json-pod-0"}}}},{{"key":"k8s.namespace.name","value":{{"stringValue":"genai"}}}}]}},
        "scopeSpans":[{{"scope":{{}},"spans":[
        {{"traceId":"{trace}","spanId":"1000000000000001","name":"chat fake","startTimeUnixNano":"1764756001000000000",
          "endTimeUnixNano":"1764756002000000000","status":{{}},"attributes":[
          {{"key":"gen_ai.operation.name","value":{{"stringValue":"chat"}}}},
          {{"key":"gen_ai.conversation.id","value":{{"stringValue":"{conv}"}}}},
          {{"key":"gen_ai.request.model","value":{{"stringValue":"fake-chat"}}}},
          {{"key":"gen_ai.usage.input_tokens","value":{{"intValue":"21"}}}},
          {{"key":"gen_ai.usage.output_tokens","value":{{"intValue":"4"}}}},
          {{"key":"gen_ai.input.messages","value":{{"stringValue":"SECRET-PROMPT-TEXT"}}}}{extra_attr}]}},
        {{"traceId":"{trace}","spanId":"1000000000000002","name":"execute_tool lookup","startTimeUnixNano":"1764756003000000000",
          "endTimeUnixNano":"1764756004000000000","status":{{"code":2,"message":"tool \u001b[31mfailed"}},"attributes":[
          {{"key":"gen_ai.operation.name","value":{{"stringValue":"execute_tool"}}}},
          {{"key":"gen_ai.tool.name","value":{{"stringValue":"lookup"}}}},
          {{"key":"gen_ai.tool.call.result","value":{{"stringValue":"ok \u001b]52;c;aGk=\u0007"}}}}]}}]}}]}}]}}"#
    )
}

#[test]
fn json_and_proto_records_on_one_topic_become_marked_sessions_and_bad_records_are_counted() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    std::fs::write(dir.path().join("none.toml"), "").unwrap();
    let b = brokers();
    let t = topic(2, &[("max.message.bytes", "16777216")]);
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("message.max.bytes", "16777216")
        .create()
        .expect("producer");
    let send = |v: &[u8]| {
        p.send(BaseRecord::<'_, [u8], [u8]>::to(&t).payload(v)).map_err(|(e, _)| e).expect("send");
    };
    // A conversation in otlp_json.
    send(json_batch("conv-json", "0af7651916cd43dd8448eb211c80319c", "").as_bytes());
    // Another in otlp_proto: Traceloop-shaped (thread id in association properties).
    let proto = proto_batch(
        &[kv("service.name", &s("proto-svc")), kv("k8s.pod.name", &s("proto-pod-1"))],
        &[
            PbSpan {
                trace: [0x11; 16],
                id: [0x21; 8],
                start: 1_764_756_010_000_000_000,
                name: "ChatFake.chat",
                attrs: vec![
                    kv("llm.request.type", &s("chat")),
                    kv("traceloop.association.properties.thread_id", &s("conv-proto")),
                    kv("gen_ai.request.model", &s("fake-proto")),
                    kv("gen_ai.usage.prompt_tokens", &int(7)),
                    kv("gen_ai.usage.completion_tokens", &int(2)),
                    kv("gen_ai.completion.0.tool_calls.0.name", &s("search")),
                    kv("gen_ai.completion.0.tool_calls.0.arguments", &s("{\"q\":\"x\"}")),
                ],
            },
            PbSpan {
                trace: [0x11; 16],
                id: [0x22; 8],
                start: 1_764_756_011_000_000_000,
                name: "search.tool",
                attrs: vec![
                    kv("traceloop.span.kind", &s("tool")),
                    kv("traceloop.entity.name", &s("search")),
                    kv("traceloop.entity.output", &s("\"found\"")),
                ],
            },
        ],
    );
    send(&proto);
    // The bad-input corpus.
    send(b"this is not OTLP");
    send(&proto[..proto.len() / 2]);
    send(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"","spanId":"","name":"no ids"}]}]}]}"#);
    let mut odd = Vec::new();
    len(9, b"?", &mut odd);
    send(&proto_batch(
        &[],
        &[PbSpan {
            trace: [0x33; 16],
            id: [0x44; 8],
            start: 1_764_756_020_000_000_000,
            name: "chat odd",
            attrs: vec![kv("gen_ai.operation.name", &s("chat")), kv("weird", &odd)],
        }],
    ));
    let huge =
        format!(r#",{{"key":"gen_ai.system_instructions","value":{{"stringValue":"{}"}}}}"#, "z".repeat(10 << 20));
    send(json_batch("conv-huge", "5af7651916cd43dd8448eb211c80319c", &huge).as_bytes());
    p.flush(Duration::from_secs(60)).expect("flush");

    let common = ["--kafka", b.as_str(), "--otlp-topic", t.as_str()];
    let args = |rest: &[&'static str]| -> Vec<String> {
        common.iter().map(|s| s.to_string()).chain(rest.iter().map(|s| s.to_string())).collect()
    };
    let run = |rest: &[&'static str]| {
        let a = args(rest);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        quell(dir.path(), &refs, &[])
    };

    let list = run(&["sessions", "-o", "json"]);
    assert!(list.status.success(), "sessions: {}", text(&list.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("one JSON array");
    let rows = rows.as_array().expect("array");
    let by_id = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{id} in {rows:?}"));
    for id in ["conv-json", "conv-proto", "conv-huge"] {
        assert_eq!(by_id(id)["source"], "otel");
        assert_eq!(by_id(id)["integrity"], "unverified");
    }
    assert_eq!(by_id("conv-json")["pod"], "json-pod-0");
    assert_eq!(by_id("conv-json")["namespace"], "genai");
    assert_eq!(by_id("conv-json")["input_tokens"], 21);
    assert_eq!(by_id("conv-proto")["model"], "fake-proto");
    assert_eq!(by_id("conv-proto")["session_from"], "traceloop.association.properties.thread_id");
    assert_eq!(by_id("conv-proto")["agent"], "proto-svc", "service.name when no agent name");
    // The span with an attribute of unknown type is kept (its own trace id is its session).
    assert!(rows.iter().any(|r| r["id"] == "33".repeat(16)), "{rows:?}");
    let stderr = text(&list.stderr);
    for counted in [
        "1 not OTLP",
        "1 truncated protobuf",
        "1 spans without ids",
        "1 attributes of unknown type",
        "1 attribute values over 64 KiB",
    ] {
        assert!(stderr.contains(counted), "{counted} in: {stderr}");
    }
    assert!(stderr.contains("(7 records read)"), "{stderr}");

    let table = run(&["sessions"]);
    assert!(table.status.success(), "{}", text(&table.stderr));
    let out = text(&table.stdout);
    assert!(out.contains("sessions from OpenTelemetry spans"), "{out}");
    let line = out.lines().find(|l| l.starts_with("conv-json")).expect("conv-json row");
    assert!(line.contains("otel") && line.contains("unverified") && line.contains("genai/json-pod-0"), "{line}");

    let show = run(&["show", "conv-json"]);
    assert!(show.status.success(), "{}", text(&show.stderr));
    let out = text(&show.stdout);
    assert!(out.contains("integrity: unverified"), "{out}");
    for kind in ["llm_call", "tool_call", "tool_result", "error"] {
        assert!(out.lines().any(|l| l.contains(kind) && l.contains("otel/unverified")), "{kind} in {out}");
    }
    assert!(!out.contains('\u{1b}'), "raw escape in: {out:?}");
    assert!(!out.contains("SECRET-PROMPT-TEXT"), "message content printed");
    assert!(out.contains("^[]52;c;aGk=^G"), "neutralised tool result: {out}");

    let show_json = run(&["show", "conv-proto", "-o", "json"]);
    assert!(show_json.status.success(), "{}", text(&show_json.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&show_json.stdout).expect("json");
    let entries = doc["otel"]["entries"].as_array().expect("entries");
    let kinds: Vec<&str> = entries.iter().map(|e| e["kind"].as_str().unwrap_or("?")).collect();
    assert_eq!(kinds, ["llm_call", "tool_call", "tool_result"], "{doc}");
    assert_eq!(entries[0]["tool_calls"][0]["name"], "search");
    assert_eq!(entries[2]["result"], "\"found\"");
    assert!(entries.iter().all(|e| e["integrity"] == "unverified" && e["source"] == "otel"));

    let replay = run(&["replay", "conv-json", "--kind", "tool_result", "-o", "json"]);
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    let lines: Vec<serde_json::Value> =
        text(&replay.stdout).lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["session_id"], "conv-json");

    let verify = run(&["verify", "conv-json"]);
    assert_eq!(verify.status.code(), Some(5), "{}", text(&verify.stdout));
    assert!(text(&verify.stderr).contains("cannot verify session conv-json"), "{}", text(&verify.stderr));

    let pause = run(&["pause", "conv-json", "--reason", "test"]);
    assert_eq!(pause.status.code(), Some(4), "{}", text(&pause.stderr));
    let why = text(&pause.stderr);
    assert!(why.contains("pause refused") && why.contains("kill-pod") && why.contains("json-pod-0"), "{why}");
    let kill = run(&["kill", "conv-proto", "--reason", "test"]);
    assert_eq!(kill.status.code(), Some(4), "{}", text(&kill.stderr));

    // The environment variable names the topic too; --otlp-topic without brokers is refused.
    let env = quell(dir.path(), &["--kafka", &b, "sessions", "-o", "json"], &[("QUELL_OTLP_TOPIC", &t)]);
    assert!(text(&env.stdout).contains("conv-proto"), "{}", text(&env.stderr));
    let nobrokers = quell(dir.path(), &["--otlp-topic", &t, "sessions"], &[]);
    assert_eq!(nobrokers.status.code(), Some(2));
    assert!(text(&nobrokers.stderr).contains("needs Kafka brokers"), "{}", text(&nobrokers.stderr));

    // A span topic that does not exist is named as the OTLP topic, never as the audit topic.
    let missing = format!("{t}-missing");
    let gone = quell(dir.path(), &["--kafka", &b, "--otlp-topic", &missing, "sessions"], &[]);
    assert_ne!(gone.status.code(), Some(0));
    let err = text(&gone.stderr);
    assert!(err.contains(&format!("OTLP topic '{missing}'")) && err.contains("--otlp-topic"), "{err}");
    assert!(!err.contains("audit topic"), "{err}");
    // So is it when the brokers cannot be reached (nothing listens on port 1 of loopback).
    let down = quell(dir.path(), &["--kafka", "127.0.0.1:1", "--otlp-topic", &t, "sessions"], &[]);
    assert_eq!(down.status.code(), Some(6), "{}", text(&down.stderr));
    let err = text(&down.stderr);
    assert!(err.contains(&format!("OTLP topic '{t}'")) && !err.contains("audit topic"), "{err}");
}
