//! Services: what operators do, built on the ports. Interfaces (CLI, console, plugin) call these
//! and nothing below them.

pub mod anomalies;
pub mod approvals;
pub mod cluster;
pub mod control;
pub mod forensics;
pub mod operator_log;
pub mod otel;

pub use crate::ports::{Result, StoreError};
