//! The domain model: pure types and rules, no I/O. Everything else depends on this; this depends
//! on nothing else in the crate.

pub mod action;
pub mod anomaly;
pub mod approval;
pub mod approval_selector;
pub mod audit;
pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod control;
pub mod operator;
pub mod otel;
pub mod selector;
pub mod session;
pub mod time;
pub mod unreadable;
pub mod untrusted;
