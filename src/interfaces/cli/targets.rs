//! What every acting command shares: a required reason and the sessions it names.

use super::outcome::Failure;
use crate::model::action::ActionKind;
use crate::model::selector::Selector;
use crate::services::control::Target;

/// The reason, or the one-line error every destructive command gives without one.
pub fn reason(kind: ActionKind, given: Option<&str>) -> Result<String, Failure> {
    match given.map(str::trim) {
        Some(r) if !r.is_empty() => Ok(r.to_owned()),
        _ => Err(Failure::usage(format!("{kind} needs --reason TEXT: it is written to the audit log"))),
    }
}

/// `--all`, `--where SELECTOR` or session ids (clap makes them exclusive).
pub fn target(all: bool, selector: Option<&str>, sessions: &[String]) -> Result<Target, Failure> {
    if all {
        return Ok(Target::All);
    }
    if let Some(sel) = selector {
        return Ok(Target::Selector(Selector::parse(sel).map_err(|e| Failure::usage(e.to_string()))?));
    }
    for id in sessions {
        crate::model::session::validate_session_id(id).map_err(|e| Failure::usage(format!("{id:?}: {e}")))?;
    }
    Ok(Target::Sessions(sessions.to_vec()))
}
