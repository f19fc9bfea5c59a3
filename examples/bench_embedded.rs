// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Benchmarks of the embedded store, printing figures and ratios against the naive way.
//!
//!     cargo run --release --example bench_embedded -- [pause|append|verify|all] [agents]
//!
//! - pause:  10,000 simulated agents (or `agents`); time from `quell pause --all` to every
//!   acknowledgement, against a naive loop that writes one control record per session (one
//!   transaction each, `support/naive_pause.rs`) and against Temporal's documented batch rate
//!   (50/s).
//! - append: audit append rate, batched (group commit, as the agent runtime does) and one
//!   transaction per event.
//! - verify: verify and replay 1,000,000 events; reconstruct one session against `jq` over the
//!   same events exported as JSON lines.

use quell::adapters::embedded::EmbeddedStore;
use quell::agent::sim::{Fleet, FleetConfig};
use quell::model::action::ActionKind;
use quell::model::audit::{EventBody, EventKind};
use quell::model::chain::ChainTail;
use quell::model::untrusted::Untrusted;
use quell::ports::{AuditQuery, SealedEvent, Stores};
use quell::services::{control, forensics};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "support/naive_pause.rs"]
mod naive_pause;

/// Errors end the benchmark with one line.
type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn fresh(name: &str) -> Res<(PathBuf, Stores)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("quell.db");
    let stores = EmbeddedStore::open(&path)?.stores();
    Ok((path, stores))
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn pause(n: usize) -> Res<()> {
    let (_, stores) = fresh("pause")?;
    let t = Instant::now();
    let config = FleetConfig {
        agents: n,
        step_ms: (1000, 3000),
        max_steps: None,
        misbehave: false,
        workers: 2,
        ..FleetConfig::default()
    };
    let fleet = Fleet::start(stores.clone(), config)?;
    println!("pause: {n} simulated agents registered in {}", secs(t.elapsed()));
    std::thread::sleep(Duration::from_secs(2));

    let t = Instant::now();
    let bench = quell::model::operator::Operator::new("bench").acting()?;
    let action = control::plan(&stores, ActionKind::Pause, &control::Target::All, "bench", "bench")?;
    let planned = t.elapsed();
    let issued = control::execute(&stores, &bench, &action)?;
    let report = control::await_ack(&stores, &issued, Duration::from_secs(30))?;
    let quell_time = t.elapsed();
    println!(
        "pause: quell pause --all: {} acknowledged, {} outstanding, in {} (plan {}, goal ≤ 1 s)",
        report.acknowledged.len(),
        report.outstanding.len(),
        secs(quell_time),
        secs(planned)
    );

    // resume, then the naive way: one control write (one transaction) per session
    let naive = naive_pause::resume_then_pause_one_by_one(&stores, &bench, fleet.session_ids())?;
    let naive_time = naive.total;
    println!(
        "pause: naive loop (one write per session): {} acknowledged in {} (writes alone {})",
        naive.acknowledged,
        secs(naive_time),
        secs(naive.writes)
    );
    println!(
        "pause: ratio naive/quell = {:.1}x; Temporal batch at 50/s would take {:.0} s ({:.0}x; computed from its documented rate, not measured)",
        naive_time.as_secs_f64() / quell_time.as_secs_f64(),
        n as f64 / 50.0,
        (n as f64 / 50.0) / quell_time.as_secs_f64()
    );
    fleet.stop()?;
    Ok(())
}

fn body(chain: &str, i: u64) -> EventBody {
    let mut b = EventBody::new(
        chain,
        i / 3,
        [EventKind::LlmCall, EventKind::ToolCall, EventKind::ToolResult][(i % 3) as usize],
        "agent:bench",
    );
    b.model = Some("gpt-4.1".into());
    b.input_hash = Some(quell::model::audit::hash_input(&i.to_le_bytes()));
    b.output_summary = Some(Untrusted::new(format!("decided to call web_search for item {i}")));
    b.tool = Some(Untrusted::new("web_search"));
    b.input_tokens = Some(1000 + i % 500);
    b.output_tokens = Some(40);
    b
}

/// Appends `chains × per_chain` events in batches of `batch`; returns the elapsed time.
fn fill(stores: &Stores, chains: usize, per_chain: u64, batch: usize) -> Res<Duration> {
    let mut tails: Vec<ChainTail> = vec![ChainTail::genesis(); chains];
    let names: Vec<String> = (0..chains).map(|c| format!("s-{c:05}")).collect();
    let t = Instant::now();
    let mut pending = Vec::with_capacity(batch);
    for i in 0..per_chain {
        for c in 0..chains {
            let sealed = SealedEvent::seal(body(&names[c], i), &tails[c])?;
            tails[c] = sealed.event.tail();
            pending.push(sealed);
            if pending.len() == batch {
                stores.audit.append(&pending)?;
                pending.clear();
            }
        }
    }
    stores.audit.append(&pending)?;
    Ok(t.elapsed())
}

fn append() -> Res<()> {
    let t = Instant::now();
    let mut tail = ChainTail::genesis();
    for i in 0..100_000u64 {
        let sealed = SealedEvent::seal(body("s-1", i), &tail)?;
        tail = sealed.event.tail();
    }
    println!("append: sealing alone (canonical JSON + SHA-256): {:.0} events/s", 100_000.0 / t.elapsed().as_secs_f64());
    let (_, stores) = fresh("append")?;
    let n = 200_000u64;
    let d = fill(&stores, 1000, n / 1000, 1000)?;
    println!(
        "append: batched (1,000 per transaction): {n} events in {} = {:.0} events/s (goal ≥ 50,000/s)",
        secs(d),
        n as f64 / d.as_secs_f64()
    );
    let (_, stores) = fresh("append-single")?;
    let n = 20_000u64;
    let d = fill(&stores, 100, n / 100, 1)?;
    println!(
        "append: one transaction per event: {n} events in {} = {:.0} events/s",
        secs(d),
        n as f64 / d.as_secs_f64()
    );
    Ok(())
}

fn verify() -> Res<()> {
    let (path, stores) = fresh("verify")?;
    let n = 1_000_000u64;
    let d = fill(&stores, 1000, n / 1000, 5000)?;
    println!("verify: wrote {n} events in 1,000 chains in {}", secs(d));

    let t = Instant::now();
    let report = forensics::verify(&stores, None)?;
    let dv = t.elapsed();
    println!(
        "verify: {} events, {} chains, intact={} in {} (goal ≤ 2 s)",
        report.events,
        report.chains,
        report.intact(),
        secs(dv)
    );

    let t = Instant::now();
    let mut out = std::io::BufWriter::new(std::io::sink());
    let mut count = 0u64;
    stores.audit.scan(&AuditQuery::default(), &mut |raw| {
        count += 1;
        let _ = out.write_all(raw.to_json().as_bytes());
        let _ = out.write_all(b"\n");
        Ok(())
    })?;
    println!("replay: {count} events as JSON lines in {} (goal ≤ 2 s)", secs(t.elapsed()));

    // Reconstruct one session: quell vs jq over the same events as JSON lines.
    let jsonl = path.with_file_name("events.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&jsonl)?);
    stores.audit.scan(&AuditQuery::default(), &mut |raw| {
        let _ = f.write_all(raw.to_json().as_bytes());
        let _ = f.write_all(b"\n");
        Ok(())
    })?;
    drop(f);
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/quell");
    let t = Instant::now();
    let q = std::process::Command::new(&bin)
        .arg("--store")
        .arg(&path)
        .args(["replay", "s-00042", "-o", "json"])
        .output()?;
    let dq = t.elapsed();
    let t = Instant::now();
    let j = std::process::Command::new("jq")
        .args(["-c", r#"select(."gen_ai.conversation.id" == "s-00042")"#])
        .arg(&jsonl)
        .output();
    let dj = t.elapsed();
    match j {
        Ok(j) if j.status.success() => {
            let ql = q.stdout.iter().filter(|b| **b == b'\n').count();
            let jl = j.stdout.iter().filter(|b| **b == b'\n').count();
            println!(
                "reconstruct one session of {n}: quell replay {} ({ql} events) vs jq {} ({jl} events): {:.0}x (goal ≥ 10x)",
                secs(dq),
                secs(dj),
                dj.as_secs_f64() / dq.as_secs_f64()
            );
        }
        _ => println!("reconstruct: jq not available; quell replay took {}", secs(dq)),
    }
    Ok(())
}

fn run(what: &str, agents: usize) -> Res<()> {
    if what == "pause" || what == "all" {
        pause(agents)?;
    }
    if what == "append" || what == "all" {
        append()?;
    }
    if what == "verify" || what == "all" {
        verify()?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let agents = match std::env::args().nth(2).map(|a| a.parse::<usize>()) {
        None => 10_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("bench_embedded: the number of agents is a positive integer");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&what, agents) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_embedded: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
