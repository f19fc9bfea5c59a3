//! Backends behind the storage ports.

pub mod embedded;
pub mod kafka;
pub mod kube;
pub mod redis;
