// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The broker restarts while agents produce: nothing lost, nothing duplicated. Its own test
//! binary, because the restart would disturb every other test talking to the broker.

#[macro_use]
mod conformance;
mod kafka_support;

use kafka_support::*;
use quell::model::chain::ChainTail;
use quell::ports::{AuditLog, AuditQuery};
use quell::services::forensics;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn produce_and_replay_with_counts_across_a_broker_restart() {
    let ctl = ctl();
    let t = topic(3, &[]);
    let audit = open(&t);
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (audit, stop, produced) = (audit.clone(), stop.clone(), produced.clone());
            std::thread::spawn(move || {
                let chains: Vec<String> = (0..3).map(|c| format!("s-w{w}-c{c}")).collect();
                let mut tails = vec![ChainTail::genesis(); chains.len()];
                let mut rounds = 0u64;
                let mut slowest = Duration::ZERO;
                while !stop.load(Ordering::Acquire) || rounds < 20 {
                    let mut batch = Vec::new();
                    for (c, chain) in chains.iter().enumerate() {
                        let evs = conformance::events(chain, &tails[c], 2, rounds as i64);
                        tails[c] = evs[1].event.tail();
                        batch.extend(evs);
                    }
                    let started = Instant::now();
                    audit.append(&batch).unwrap_or_else(|e| panic!("writer {w} round {rounds}: append failed: {e}"));
                    slowest = slowest.max(started.elapsed());
                    produced.fetch_add(batch.len() as u64, Ordering::AcqRel);
                    rounds += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                slowest
            })
        })
        .collect();
    while produced.load(Ordering::Acquire) < 200 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new(&ctl).arg("restart").status().expect("run kafka restart");
    assert!(status.success(), "{ctl} restart failed");
    let at_restart_done = produced.load(Ordering::Acquire);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    let slowest: Vec<Duration> = writers.into_iter().map(|h| h.join().expect("writer")).collect();
    let produced = produced.load(Ordering::Acquire);
    assert!(produced > at_restart_done, "writers went on after the restart");
    assert!(
        slowest.iter().any(|d| *d > Duration::from_secs(1)),
        "some append waited out the restart (slowest per writer: {slowest:?})"
    );

    // A fresh reader (another process, as far as the topic knows) replays everything.
    let reader = open(&t);
    let mut seen = HashSet::new();
    let mut total = 0u64;
    reader
        .scan(&AuditQuery::default(), &mut |raw| {
            let (chain, link) = raw.link().expect("link");
            assert!(link.intact);
            assert!(seen.insert((chain, link.seq)), "duplicate event at {}", raw.position);
            total += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(total, produced, "every acknowledged event replays exactly once");
    assert!(reader.skipped().is_empty());
    let report = forensics::verify(&stores_with(reader), None).unwrap();
    assert!(report.intact(), "{:?}", report.breaks);
    assert_eq!((report.chains, report.events), (12, produced));
    eprintln!("produced and replayed {produced} events across the restart; slowest append per writer {slowest:?}");
}
