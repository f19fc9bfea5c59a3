//! Backends behind the storage ports.

pub mod embedded;
pub mod kafka;
pub mod kubernetes;
pub mod memory_cluster;
pub mod otlp;
pub mod redis;
