// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Benchmarks of the Kafka audit log, printing figures and ratios against what a user would use
//! instead: `kcat` for reading the topic and `jq` for picking one session out of it.
//!
//!     scripts/services/kafka.sh start && set -a && . <(scripts/services/kafka.sh env) && set +a
//!     cargo build --release --bin quell
//!     cargo run --release --example kafka_bench -- [--events 1000000] [--topic NAME] [--runs 3] [--only tails]
//!
//! Fills a new topic (3 partitions) on the test broker of `QUELL_TEST_KAFKA_BROKERS` with
//! `--events` sealed audit events (1,000 chains, keyed by chain, ~650 bytes each) through the
//! adapter, unless `--topic` names one that is already filled. Then, best of `--runs`:
//!
//! - replay: every event to /dev/null, one JSON object per line —
//!   `kcat -C -b B -t T -e -q` against `quell --kafka B --audit-topic T replay -o json` (the
//!   release binary) and against the adapter's scan in this process.
//! - one session: the events of one chain —
//!   `jq -c 'select(."gen_ai.conversation.id" == ID)'` over the same events saved to a file (and
//!   `kcat … | jq …` straight from the topic) against `quell replay ID -o json` and the adapter's
//!   chain read with verification of the chain.
//! - tail lookup: a new handle's `tail()` of the chain written last (its partition read
//!   backwards from the end) and of an absent chain (every partition read once), with the
//!   records each read.

use quell::adapters::kafka::{create_topic, KafkaAudit, KafkaConfig};
use quell::model::audit::{EventBody, EventKind, ToolCall};
use quell::model::chain::ChainTail;
use quell::model::untrusted::{Untrusted, UntrustedJson};
use quell::ports::{AuditLog, AuditQuery, SealedEvent};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHAINS: u64 = 1_000;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn fail(msg: &str) -> ! {
    eprintln!("kafka_bench: {msg}");
    std::process::exit(2)
}

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.unwrap_or_else(|| fail("no runs")))
}

fn sh(cmd: &str) -> (Duration, std::process::Output) {
    let t = Instant::now();
    let out =
        Command::new("bash").arg("-c").arg(cmd).stdin(Stdio::null()).output().unwrap_or_else(|e| fail(&e.to_string()));
    if !out.status.success() {
        fail(&format!("`{cmd}` failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    (t.elapsed(), out)
}

fn best_sh(runs: usize, cmd: &str) -> (Duration, String) {
    let mut best = Duration::MAX;
    let mut stdout = String::new();
    for _ in 0..runs {
        let (d, out) = sh(cmd);
        best = best.min(d);
        stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    }
    (best, stdout)
}

fn body(chain: &str, i: u64) -> EventBody {
    let kind = [EventKind::LlmCall, EventKind::ToolCall, EventKind::ToolResult][(i % 3) as usize];
    let mut b = EventBody::new(chain, i / 3, kind, "agent:support-bot");
    b.model = Some("gpt-4.1".into());
    b.input_hash = Some(quell::model::audit::hash_input(format!("{chain}/{i}").as_bytes()));
    b.output_summary =
        Some(Untrusted::new(format!("looked up order {} and drafted a reply to the customer", i * 7919)));
    b.tool = Some(Untrusted::new("web_search"));
    b.tool_calls = vec![ToolCall {
        name: Untrusted::new("web_search"),
        arguments: UntrustedJson::new(serde_json::json!({"query": format!("order status {i}"), "max_results": 5})),
    }];
    b.input_tokens = Some(900 + i % 300);
    b.output_tokens = Some(40 + i % 60);
    b
}

fn fill(audit: &KafkaAudit, events: u64) -> Duration {
    let per_chain = events.div_ceil(CHAINS);
    let mut tails: Vec<ChainTail> = vec![ChainTail::genesis(); CHAINS as usize];
    let started = Instant::now();
    let mut written = 0u64;
    let mut batch = Vec::with_capacity(20_000);
    'outer: for i in 0..per_chain {
        for c in 0..CHAINS {
            if written == events {
                break 'outer;
            }
            let chain = format!("s-bench-{c:04}");
            let sealed =
                SealedEvent::seal(body(&chain, i), &tails[c as usize]).unwrap_or_else(|e| fail(&e.to_string()));
            tails[c as usize] = sealed.event.tail();
            batch.push(sealed);
            written += 1;
            if batch.len() == 20_000 {
                audit.append(&batch).unwrap_or_else(|e| fail(&e.to_string()));
                batch.clear();
                eprint!("\rfilled {written} events");
            }
        }
    }
    audit.append(&batch).unwrap_or_else(|e| fail(&e.to_string()));
    eprintln!("\rfilled {written} events");
    started.elapsed()
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn main() {
    let brokers = std::env::var("QUELL_TEST_KAFKA_BROKERS").unwrap_or_else(|_| {
        fail("QUELL_TEST_KAFKA_BROKERS is not set: run scripts/services/kafka.sh start and export its env lines")
    });
    let events: u64 = arg("--events").map(|v| v.parse().unwrap_or_else(|_| fail("--events N"))).unwrap_or(1_000_000);
    let runs: usize = arg("--runs").map(|v| v.parse().unwrap_or_else(|_| fail("--runs N"))).unwrap_or(3);
    for tool in ["kcat", "jq"] {
        if Command::new(tool).arg("-V").output().is_err() && Command::new(tool).arg("--version").output().is_err() {
            fail(&format!("{tool} is not installed (scripts/services/kafka.sh start installs Debian's kcat; jq: apt-get install jq)"));
        }
    }
    let quell_bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("quell")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| fail("build the release binary first: cargo build --release --bin quell"));

    let topic = match arg("--topic") {
        Some(t) => t,
        None => {
            let t = format!("quell-bench-{}", std::process::id());
            create_topic(&KafkaConfig::new(&brokers, &t), 3, &[("cleanup.policy", "delete")])
                .unwrap_or_else(|e| fail(&e.to_string()));
            let audit = KafkaAudit::open(KafkaConfig::new(&brokers, &t)).unwrap_or_else(|e| fail(&e.to_string()));
            let took = fill(&audit, events);
            println!(
                "fill: {events} events through the adapter (sealed, acks=all, idempotent) in {} ({:.0} events/s)",
                secs(took),
                events as f64 / took.as_secs_f64()
            );
            t
        }
    };
    let store = std::env::temp_dir().join(format!("quell-bench-{}.db", std::process::id()));
    let quell = format!(
        "QUELL_STORE={} QUELL_CONFIG=/dev/null {} --kafka {brokers} --audit-topic {topic}",
        store.display(),
        quell_bin.display()
    );
    println!("topic {topic} on {brokers}; best of {runs} runs\n");
    if arg("--only").as_deref() == Some("tails") {
        tail_lookup(&brokers, &topic, runs);
        return;
    }

    // ---- replay everything
    let kcat = format!("kcat -C -b {brokers} -t {topic} -e -q");
    let (t_kcat, _) = best_sh(runs, &format!("{kcat} > /dev/null"));
    let (_, n_kcat) = sh(&format!("{kcat} | wc -l"));
    let n_kcat: u64 = String::from_utf8_lossy(&n_kcat.stdout).trim().parse().unwrap_or(0);
    let (t_cli, _) = best_sh(runs, &format!("{quell} replay -o json > /dev/null"));
    let (_, n_cli) = sh(&format!("{quell} replay -o json | wc -l"));
    let n_cli: u64 = String::from_utf8_lossy(&n_cli.stdout).trim().parse().unwrap_or(0);
    let audit = KafkaAudit::open(KafkaConfig::new(&brokers, &topic)).unwrap_or_else(|e| fail(&e.to_string()));
    let (t_scan, n_scan) = best(runs, || {
        let null = std::fs::File::create("/dev/null").unwrap_or_else(|e| fail(&format!("/dev/null: {e}")));
        let mut out = std::io::BufWriter::with_capacity(1 << 20, null);
        let mut n = 0u64;
        audit
            .scan(&AuditQuery::default(), &mut |raw| {
                n += 1;
                let _ = out.write_all(raw.json.as_bytes()).and_then(|_| out.write_all(b"\n"));
                Ok(())
            })
            .unwrap_or_else(|e| fail(&e.to_string()));
        n
    });
    if n_kcat != n_cli || n_cli != n_scan {
        fail(&format!("event counts differ: kcat {n_kcat}, quell replay {n_cli}, scan {n_scan}"));
    }
    println!("replay of {n_kcat} events to /dev/null:");
    println!("  kcat -C -e                        {}", secs(t_kcat));
    println!(
        "  quell replay -o json (binary)     {}   ratio kcat/quell = {:.2}",
        secs(t_cli),
        t_kcat.as_secs_f64() / t_cli.as_secs_f64()
    );
    println!(
        "  adapter scan (in process)         {}   ratio kcat/scan  = {:.2}",
        secs(t_scan),
        t_kcat.as_secs_f64() / t_scan.as_secs_f64()
    );

    // ---- one session
    let id = format!("s-bench-{:04}", CHAINS / 2);
    let file = std::env::temp_dir().join(format!("quell-bench-{}.jsonl", std::process::id()));
    sh(&format!("{kcat} > {}", file.display()));
    let filter = format!("jq -c 'select(.\"gen_ai.conversation.id\" == \"{id}\")'");
    let (t_jq, n_jq) = best_sh(runs, &format!("{filter} {} | wc -l", file.display()));
    let (t_kjq, n_kjq) = best_sh(runs, &format!("{kcat} | {filter} | wc -l"));
    let (t_cli1, n_cli1) = best_sh(runs, &format!("{quell} replay {id} -o json | wc -l"));
    let stores_dir = tempdir_path();
    let mut stores =
        quell::adapters::embedded::EmbeddedStore::open(&stores_dir).unwrap_or_else(|e| fail(&e.to_string())).stores();
    stores.audit = std::sync::Arc::new(audit);
    let (t_read, n_read) = best(runs, || {
        let events = stores
            .audit
            .read(&AuditQuery { chain: Some(id.clone()), ..Default::default() })
            .unwrap_or_else(|e| fail(&e.to_string()));
        let verdict =
            quell::services::forensics::verify_chain(&stores, &id, None).unwrap_or_else(|e| fail(&e.to_string()));
        if verdict.is_err() {
            fail(&format!("chain {id} does not verify: {verdict:?}"));
        }
        events.len() as u64
    });
    let counts = [n_jq.parse().unwrap_or(0u64), n_kjq.parse().unwrap_or(0), n_cli1.parse().unwrap_or(0), n_read];
    if counts.iter().any(|&c| c != counts[0]) || counts[0] == 0 {
        fail(&format!(
            "session event counts differ: jq {}, kcat|jq {}, quell replay {}, read {}",
            counts[0], counts[1], counts[2], counts[3]
        ));
    }
    println!("\none session ({id}, {} of {n_kcat} events):", counts[0]);
    println!("  jq select over a file of the events     {}", secs(t_jq));
    println!("  kcat -e | jq select                     {}", secs(t_kjq));
    println!(
        "  quell replay ID -o json (binary)        {}   ratio jq/quell = {:.1}, (kcat|jq)/quell = {:.1}",
        secs(t_cli1),
        t_jq.as_secs_f64() / t_cli1.as_secs_f64(),
        t_kjq.as_secs_f64() / t_cli1.as_secs_f64()
    );
    println!(
        "  adapter read + chain verify (in proc)   {}   ratio jq/read  = {:.1}, (kcat|jq)/read  = {:.1}",
        secs(t_read),
        t_jq.as_secs_f64() / t_read.as_secs_f64(),
        t_kjq.as_secs_f64() / t_read.as_secs_f64()
    );

    tail_lookup(&brokers, &topic, runs);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&store);
}

fn tempdir_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("quell-bench-{}-stores.db", std::process::id()))
}

/// What a new process reads before its first append to a chain: a new handle's `tail()` of the
/// chain written last, then of an absent chain.
fn tail_lookup(brokers: &str, topic: &str, runs: usize) {
    let last = format!("s-bench-{:04}", CHAINS - 1);
    let (mut t_tail, mut t_absent, mut n_tail, mut n_absent) = (Duration::MAX, Duration::MAX, 0, 0);
    for _ in 0..runs {
        let fresh = KafkaAudit::open(KafkaConfig::new(brokers, topic)).unwrap_or_else(|e| fail(&e.to_string()));
        let started = Instant::now();
        if fresh.tail(&last).unwrap_or_else(|e| fail(&e.to_string())).is_none() {
            fail(&format!("chain {last} not found"));
        }
        t_tail = t_tail.min(started.elapsed());
        n_tail = fresh.tail_records_read();
        let started = Instant::now();
        if fresh.tail("s-bench-absent").unwrap_or_else(|e| fail(&e.to_string())).is_some() {
            fail("an absent chain was found");
        }
        t_absent = t_absent.min(started.elapsed());
        n_absent = fresh.tail_records_read() - n_tail;
    }
    println!("\ntail lookup in a new handle (what a process reads before its first append to a chain):");
    println!("  {:<40}{}   {n_tail} records read", format!("chain written last ({last})"), secs(t_tail));
    println!("  {:<40}{}   {n_absent} more records read", "absent chain (then known absent)", secs(t_absent));
}
