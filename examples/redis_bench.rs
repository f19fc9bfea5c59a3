// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Benchmarks of the Redis store, printing figures and ratios against the naive way.
//!
//!     scripts/services/redis.sh start && set -a && . <(scripts/services/redis.sh env) && set +a
//!     cargo run --release --example redis_bench -- [pause|approval|list|all] [agents]
//!
//! Uses the test server of `QUELL_TEST_REDIS_URL` and EMPTIES its databases 5 and 6 (never point
//! it at a server you care about).
//!
//! - pause:    10,000 simulated agents (or `agents`) on Redis (audit in an embedded store); time
//!   from `quell pause --all` (plan, one script, acknowledgements) to every acknowledgement,
//!   against one round trip per session (one control write each, `support/naive_pause.rs`).
//! - approval: request → visible in the pending list, and decision → seen by the waiting agent,
//!   p50/p99 over 1,000 round trips with 1 ms polling on both sides.
//! - list:     `sessions()` over 100,000 seed checkpoint keys (10,000 sessions × 10 steps, as
//!   redis-py writes them), against KEYS + one GET per session, and against the
//!   seed's own `load_latest` (KEYS per session) measured on 20 sessions.

use quell::adapters::embedded::EmbeddedStore;
use quell::adapters::redis::RedisStore;
use quell::agent::sim::{Fleet, FleetConfig};
use quell::model::action::ActionKind;
use quell::model::approval::{Approval, ApprovalStatus, Decision, Risk, Verdict};
use quell::model::time;
use quell::model::untrusted::{Untrusted, UntrustedJson};
use quell::ports::Stores;
use quell::services::control;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

#[path = "support/naive_pause.rs"]
mod naive_pause;

fn url() -> String {
    std::env::var("QUELL_TEST_REDIS_URL").map(|u| u.trim_end_matches('/').to_owned()).unwrap_or_else(|_| {
        eprintln!("QUELL_TEST_REDIS_URL is not set: run scripts/services/redis.sh start and export its env lines");
        std::process::exit(2)
    })
}

fn flushed(db: u8) -> String {
    let u = format!("{}/{db}", url());
    let mut c = redis::Client::open(u.as_str()).expect("url").get_connection().expect("connect");
    redis::cmd("FLUSHDB").query::<()>(&mut c).expect("FLUSHDB");
    u
}

fn stores(url: &str, name: &str) -> Stores {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-redis").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let audit = Arc::new(EmbeddedStore::open(&dir.join("audit.db")).expect("embedded"));
    RedisStore::open(url).expect("redis").stores(audit)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn pause(n: usize) {
    let url = flushed(5);
    let stores = stores(&url, "pause");
    let t = Instant::now();
    let config = FleetConfig {
        agents: n,
        step_ms: (1000, 3000),
        max_steps: None,
        misbehave: false,
        workers: 2,
        ..FleetConfig::default()
    };
    let fleet = Fleet::start(stores.clone(), config).expect("fleet");
    println!("pause: {n} simulated agents registered in Redis in {}", secs(t.elapsed()));
    std::thread::sleep(Duration::from_secs(2));

    let t = Instant::now();
    let bench = quell::model::operator::Operator::new("bench").acting().expect("may act");
    let action = control::plan(&stores, ActionKind::Pause, &control::Target::All, "bench", "bench").expect("plan");
    let planned = t.elapsed();
    let issued = control::execute(&stores, &bench, &action).expect("execute");
    let written = t.elapsed();
    let report = control::await_ack(&stores, &issued, Duration::from_secs(30)).expect("ack");
    let quell_time = t.elapsed();
    println!(
        "pause: quell pause --all: {} acknowledged, {} outstanding, in {} (plan {}, issued by {}, goal ≤ 1 s)",
        report.acknowledged.len(),
        report.outstanding.len(),
        secs(quell_time),
        secs(planned),
        secs(written)
    );
    let t = Instant::now();
    let listed = stores.sessions.sessions().expect("sessions").len();
    println!("pause: one sessions() refresh of the {listed} live sessions: {}", ms(t.elapsed()));

    let naive = naive_pause::resume_then_pause_one_by_one(&stores, &bench, fleet.session_ids()).expect("naive pause");
    let (naive_time, writes) = (naive.total, naive.writes);
    println!(
        "pause: naive (one round trip per session): {} acknowledged in {} (the {n} writes alone {})",
        naive.acknowledged,
        secs(naive_time),
        secs(writes)
    );
    println!(
        "pause: ratio naive/quell = {:.1}x to full acknowledgement, {:.0}x to issue; Temporal's batch at 50/s: {:.0} s (computed from its documented rate, not measured)",
        naive_time.as_secs_f64() / quell_time.as_secs_f64(),
        writes.as_secs_f64() / (written - planned).as_secs_f64().max(1e-6),
        n as f64 / 50.0
    );
    let _ = fleet.stop();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn approval() {
    let rounds = 1000;
    let url = url();
    let ns = format!("bench-{}:", std::process::id());
    let agent = Arc::new(RedisStore::open_namespaced(&url, &ns).expect("agent store"));
    let console = Arc::new(RedisStore::open_namespaced(&url, &ns).expect("console store"));
    let poll = Duration::from_millis(1);
    let start = Arc::new(Barrier::new(2));
    let mut visible = Vec::with_capacity(rounds);
    let mut reached = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let id = format!("ap-{i}");
        let (a, b) = (agent.clone(), start.clone());
        let agent_id = id.clone();
        let waiter = std::thread::spawn(move || {
            use quell::ports::ApprovalStore;
            let now = time::now();
            let ap = Approval {
                id: agent_id.clone(),
                session_id: "s-bench".into(),
                step: 1,
                tool: Untrusted::new("send_email"),
                arguments: UntrustedJson::new(serde_json::json!({"to": "x@example.com"})),
                risk: Risk::High,
                requested_at: now,
                expires_at: now + chrono::Duration::seconds(60),
                required_approvers: 1,
                decisions: vec![],
                status: ApprovalStatus::Pending,
                unreadable: None,
            };
            b.wait();
            let requested = Instant::now();
            a.request_approval(&ap).expect("request");
            loop {
                let got = a.approval(&agent_id).expect("poll").expect("exists");
                if got.status.is_final() {
                    return (requested, Instant::now());
                }
                std::thread::sleep(poll);
            }
        });
        use quell::ports::ApprovalStore;
        start.wait();
        let t0 = Instant::now();
        loop {
            if console.approvals(true, time::now()).expect("list").iter().any(|a| a.id == id) {
                break;
            }
            std::thread::sleep(poll);
        }
        let seen = Instant::now();
        let decision =
            Decision { approver: "bench".into(), verdict: Verdict::Approve, reason: "bench".into(), at: time::now() };
        let decided = Instant::now();
        console.decide(&id, decision).expect("decide");
        let (requested, agent_saw) = waiter.join().expect("agent thread");
        visible.push(seen.saturating_duration_since(requested.max(t0)));
        reached.push(agent_saw.saturating_duration_since(decided));
    }
    visible.sort();
    reached.sort();
    println!(
        "approval: request → visible in the pending list: p50 {} p99 {} ({rounds} rounds, 1 ms polling)",
        ms(percentile(&visible, 0.5)),
        ms(percentile(&visible, 0.99))
    );
    println!(
        "approval: decision → seen by the waiting agent: p50 {} p99 {} (goal ≤ 10 ms p99)",
        ms(percentile(&reached, 0.5)),
        ms(percentile(&reached, 0.99))
    );
    let mut c = redis::Client::open(url.as_str()).expect("url").get_connection().expect("connect");
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{ns}*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut c)
            .expect("scan");
        if !keys.is_empty() {
            redis::cmd("DEL").arg(&keys).query::<()>(&mut c).expect("cleanup");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

fn list() {
    let (sessions, steps) = (10_000usize, 10u64);
    let url = flushed(6);
    let mut c = redis::Client::open(url.as_str()).expect("url").get_connection().expect("connect");
    let t = Instant::now();
    for s in 0..sessions {
        let mut pipe = redis::pipe();
        for step in 1..=steps {
            let id = format!("seed-{s:05}");
            let doc = serde_json::json!({
                "session_id": id, "step": step,
                "messages": [{"role": "user", "content": "Investigate the 5xx spike"}, {"role": "assistant", "content": format!("step {step}")}],
                "tool_results": [{"tool": "kubectl_logs", "output": "ok"}],
                "plan": {"goal": "root cause", "next_step": step + 1},
                "created_at": "2026-11-28T03:00:00.123456",
            });
            pipe.cmd("SETEX").arg(format!("checkpoint:{id}:{step}")).arg(86_400).arg(doc.to_string()).ignore();
        }
        pipe.query::<()>(&mut c).expect("plant");
    }
    println!("list: planted {} seed checkpoint keys in {}", sessions as u64 * steps, secs(t.elapsed()));

    let store = RedisStore::open(&url).expect("open");
    use quell::ports::SessionStore;
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..5 {
        let t = Instant::now();
        n = store.sessions().expect("sessions").len();
        times.push(t.elapsed());
    }
    times.sort();
    let quell_time = times[2];
    println!(
        "list: quell sessions() → {n} sessions from {} keys: median {} of 5",
        sessions as u64 * steps,
        ms(quell_time)
    );

    // The floor: the SCAN alone and one pipelined GET of every latest checkpoint, no parsing.
    let t = Instant::now();
    let (mut cursor, mut scanned) = (0u64, 0usize);
    loop {
        let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("checkpoint:*")
            .arg("COUNT")
            .arg(5000)
            .query(&mut c)
            .expect("SCAN");
        scanned += page.len();
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let scan = t.elapsed();
    let t = Instant::now();
    let mut pipe = redis::pipe();
    for s in 0..sessions {
        pipe.cmd("GET").arg(format!("checkpoint:seed-{s:05}:{steps}"));
    }
    let _: Vec<Option<String>> = pipe.query(&mut c).expect("GET");
    println!(
        "list: floor: SCAN of {scanned} keys {}, one pipelined GET of {sessions} checkpoints {}",
        ms(scan),
        ms(t.elapsed())
    );

    let t = Instant::now();
    let keys: Vec<String> = redis::cmd("KEYS").arg("checkpoint:*").query(&mut c).expect("KEYS");
    let mut latest: std::collections::BTreeMap<String, (u64, String)> = Default::default();
    for k in &keys {
        if let Some((sid, step)) = quell::model::checkpoint::parse_seed_key(k) {
            let e = latest.entry(sid.to_owned()).or_insert((0, String::new()));
            if step >= e.0 {
                *e = (step, k.clone());
            }
        }
    }
    for (_, key) in latest.values() {
        let _: Option<String> = redis::cmd("GET").arg(key).query(&mut c).expect("GET");
    }
    let naive = t.elapsed();
    println!(
        "list: naive KEYS + one GET per session: {} ({:.1}x quell; and KEYS blocks the server for everyone)",
        ms(naive),
        naive.as_secs_f64() / quell_time.as_secs_f64()
    );

    let sample = 20;
    let t = Instant::now();
    for s in 0..sample {
        let mut keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("checkpoint:seed-{s:05}:*")).query(&mut c).expect("KEYS");
        keys.sort();
        let _: Option<String> = redis::cmd("GET").arg(keys.last()).query(&mut c).expect("GET");
    }
    let per = t.elapsed() / sample;
    println!(
        "list: the seed's load_latest (KEYS per session): {} per session → {} for {sessions} ({:.0}x quell), measured on {sample}",
        ms(per),
        secs(per * sessions as u32),
        (per * sessions as u32).as_secs_f64() / quell_time.as_secs_f64()
    );
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let agents = match std::env::args().nth(2).map(|a| a.parse::<usize>()) {
        None => 10_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("the number of agents is a positive integer");
            std::process::exit(2);
        }
    };
    match which.as_str() {
        "pause" => pause(agents),
        "approval" => approval(),
        "list" => list(),
        "all" => {
            list();
            approval();
            pause(agents);
        }
        other => {
            eprintln!("unknown benchmark {other:?}: pause, approval, list or all");
            std::process::exit(2);
        }
    }
}
