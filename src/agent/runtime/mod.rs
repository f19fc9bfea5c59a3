//! Agent runtime. One [`AgentRuntime`] per process hosts any number of sessions:
//!
//! - a control watcher polls the store for control changes (one query for every hosted session);
//! - two writers commit in batches (group commit), so a crash loses at most the last few
//!   milliseconds: the **audit lane** stores events in order and each checkpoint after the events
//!   queued before it; the **state lane** stores session reports (heartbeats, states, control
//!   acknowledgements). The lanes are apart so an audit log that cannot be written (a broker
//!   down) does not stop pause and kill from being acknowledged. A failed append keeps its events
//!   and retries them (skipping what a partial write already stored), so nothing is lost while
//!   the process lives. A report never carries a chain head ahead of the stored events: while
//!   events are unstored, the head it carries is the last stored one;
//! - each [`AgentSession`] keeps its own chain tail and obeys control at step boundaries.
//!
//! The process side is `process` (its threads are in `watcher` and `writers`, what they share
//! in `outbox`); the per-session API is `session`.

mod outbox;
mod process;
mod session;
mod watcher;
mod writers;

#[cfg(test)]
mod tests;

pub use process::AgentRuntime;
pub use session::{new_id, AgentSession, ApprovalWait, Gate, SessionSpec};
