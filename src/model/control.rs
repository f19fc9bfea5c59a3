//! Desired state: what operators asked sessions to do.

use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    Run,
    Pause,
    Kill,
}

impl Desired {
    pub fn as_str(self) -> &'static str {
        match self {
            Desired::Run => "run",
            Desired::Pause => "pause",
            Desired::Kill => "kill",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Desired::Run, Desired::Pause, Desired::Kill].into_iter().find(|d| d.as_str() == s)
    }
}

impl fmt::Display for Desired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "session_id")]
pub enum ControlTarget {
    Fleet,
    Session(String),
}

/// One desired-state record. `generation` increases with every change anywhere in the store,
/// so "acknowledged generation ≥ G" means "has seen every change up to G".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlRecord {
    pub target: ControlTarget,
    pub desired: Desired,
    pub operator: String,
    pub reason: String,
    pub at: Timestamp,
    pub generation: u64,
}

/// The state a session must be in given the fleet-wide and its own record: the stricter wins
/// (kill > pause > run). A fleet-wide pause holds every session, including new ones.
pub fn effective(fleet: Option<&ControlRecord>, session: Option<&ControlRecord>) -> Desired {
    let f = fleet.map(|r| r.desired).unwrap_or(Desired::Run);
    let s = session.map(|r| r.desired).unwrap_or(Desired::Run);
    f.max(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(desired: Desired) -> ControlRecord {
        ControlRecord {
            target: ControlTarget::Fleet,
            desired,
            operator: "o".into(),
            reason: "r".into(),
            at: crate::model::time::now(),
            generation: 1,
        }
    }

    #[test]
    fn stricter_wins() {
        assert_eq!(effective(None, None), Desired::Run);
        assert_eq!(effective(Some(&rec(Desired::Pause)), Some(&rec(Desired::Run))), Desired::Pause);
        assert_eq!(effective(Some(&rec(Desired::Pause)), Some(&rec(Desired::Kill))), Desired::Kill);
        assert_eq!(effective(Some(&rec(Desired::Run)), Some(&rec(Desired::Pause))), Desired::Pause);
    }
}
