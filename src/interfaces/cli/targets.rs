//! What every acting command shares: a required reason and the sessions it names.

use super::context::Context;
use super::outcome::{exit, Failure};
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

/// A `--where` that names `anomaly`: the services match selectors on session records, which do
/// not carry anomalies, so the live sessions it matches now are judged here and named by id (the
/// audit record lists them). Any other target is returned as it is.
pub fn resolve_anomalies(ctx: &mut Context, target: Target) -> Result<Target, Failure> {
    let Target::Selector(sel) = &target else { return Ok(target) };
    if !sel.needs_anomalies() {
        return Ok(target);
    }
    let stores = ctx.stores()?;
    let live: Vec<_> = stores.sessions.sessions()?.into_iter().filter(|s| !s.state.is_terminal()).collect();
    let (chosen, _) = crate::services::anomalies::select(&stores, live, sel, &ctx.rules, crate::model::time::now())?;
    if chosen.is_empty() {
        return Err(Failure { code: exit::NOT_FOUND, message: format!("no live session matches {sel}") });
    }
    Ok(Target::Sessions(chosen.into_iter().map(|s| s.id).collect()))
}
