//! The agent side of the contract (see `docs/agent-contract.md`): a runtime library an agent
//! links to register, heartbeat, checkpoint, audit, obey control and ask for approval, and a
//! simulated fleet built on it.

pub mod rng;
pub mod runtime;
pub mod sim;

pub use runtime::{AgentRuntime, AgentSession, Gate, SessionSpec};
