//! quell: the console an on-call engineer opens when AI agents misbehave in production.
//!
//! Layers, imports flowing one way toward the model:
//! `model` (pure) ← `ports` (storage traits) ← `adapters` (embedded SQLite, …) ←
//! `services` (forensics, control, approvals) and `agent` (the agent-side runtime and the
//! simulated fleet) ← `interfaces` (CLI, console).

pub mod adapters;
pub mod agent;
pub mod interfaces;
pub mod model;
pub mod ports;
pub mod services;
