//! Who takes an action, and whether they may: read-only is a capability, not a flag each caller
//! remembers to check. The services' execute functions take an [`Acting`], and the only way to
//! get one is [`Operator::acting`], which a read-only operator refuses.

use std::fmt;

/// The person at the console or the command line, as the interfaces resolved them from
/// `--as`, the environment and `--readonly`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    name: String,
    read_only: bool,
}

/// Why an operator cannot act.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CannotAct {
    #[error("quell is in read-only mode")]
    ReadOnly,
    /// No name to record in the audit log.
    #[error("no operator identity to record")]
    NoIdentity,
}

/// Proof that an operator may act, with the name their actions are recorded under. It has no
/// public constructor: only [`Operator::acting`] makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acting {
    name: String,
}

impl Operator {
    /// An operator who may act (when they have a name).
    pub fn new(name: &str) -> Operator {
        Operator { name: name.to_owned(), read_only: false }
    }

    /// An operator who may look but never act.
    pub fn read_only(name: &str) -> Operator {
        Operator { name: name.to_owned(), read_only: true }
    }

    /// `--readonly` given or not.
    pub fn with_read_only(name: &str, read_only: bool) -> Operator {
        Operator { name: name.to_owned(), read_only }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The capability to act, or why there is none. Every action asks here and nowhere else.
    pub fn acting(&self) -> Result<Acting, CannotAct> {
        if self.read_only {
            return Err(CannotAct::ReadOnly);
        }
        if self.name.trim().is_empty() {
            return Err(CannotAct::NoIdentity);
        }
        Ok(Acting { name: self.name.clone() })
    }
}

impl Acting {
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_operator_who_may_act_gets_the_capability() {
        assert_eq!(Operator::read_only("alice").acting(), Err(CannotAct::ReadOnly));
        assert_eq!(Operator::with_read_only("alice", true).acting(), Err(CannotAct::ReadOnly));
        assert_eq!(Operator::new(" ").acting(), Err(CannotAct::NoIdentity));
        let acting = Operator::new("alice").acting().expect("may act");
        assert_eq!(acting.name(), "alice");
    }
}
