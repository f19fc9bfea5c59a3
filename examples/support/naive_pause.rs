//! The naive pause that the benches compare `quell pause --all` against: the loop a user would
//! write without fleet control, one control write (one transaction, one round trip) per
//! session, then a wait for every acknowledgement. `bench_embedded` and `redis_bench` include
//! this file with `#[path]`, so both measure the same loop.

use quell::model::action::ActionKind;
use quell::model::control::{ControlTarget, Desired};
use quell::model::operator::Acting;
use quell::model::time;
use quell::ports::{Result, Stores};
use quell::services::control;
use std::time::{Duration, Instant};

/// What the naive loop took.
pub struct NaivePause {
    /// Sessions that acknowledged their pause.
    pub acknowledged: usize,
    /// From the first write to the last acknowledgement.
    pub total: Duration,
    /// The writes alone.
    pub writes: Duration,
}

/// Resumes the fleet the bench paused (and waits until every session runs again), then pauses
/// each of `ids` with a write of its own and waits until all of them acknowledge.
pub fn resume_then_pause_one_by_one(stores: &Stores, acting: &Acting, ids: &[String]) -> Result<NaivePause> {
    let resume = control::plan(stores, ActionKind::Resume, &control::Target::All, "bench", "bench")?;
    let issued = control::execute(stores, acting, &resume)?;
    control::await_ack(stores, &issued, Duration::from_secs(30))?;
    let t = Instant::now();
    let mut last = 0;
    for id in ids {
        last = stores.control.set_control(
            &[ControlTarget::Session(id.clone())],
            Desired::Pause,
            "bench",
            "naive",
            time::now(),
        )?;
    }
    let writes = t.elapsed();
    let naive = control::Issued {
        generation: last,
        desired: Desired::Pause,
        sessions: ids.to_vec(),
        audit_error: None,
        fleet_hold: None,
    };
    let report = control::await_ack(stores, &naive, Duration::from_secs(60))?;
    Ok(NaivePause { acknowledged: report.acknowledged.len(), total: t.elapsed(), writes })
}
