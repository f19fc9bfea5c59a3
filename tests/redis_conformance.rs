// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The conformance suite on the Redis store (sessions, control, approvals; the audit log stays
//! in the embedded store or Kafka). Each test gets its own key namespace on the real server.

#[macro_use]
mod conformance;
#[path = "fixtures/redis/support.rs"]
mod support;

session_suite!(support::fresh);
control_suite!(support::fresh);
approval_suite!(support::fresh);
