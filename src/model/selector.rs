//! Kubernetes label-selector syntax over session fields:
//! `state=running,model=gpt-4.1,tool in (send_email,payments.execute),!pod`.
//!
//! Operators: `=`/`==`, `!=`, `in (…)`, `notin (…)`, `field` (has a value), `!field` (has none).
//! `tool` is multi-valued (every tool the session called): `tool=x` means "called x",
//! `tool!=x` means "never called x". `anomaly` is multi-valued too: the ids of the anomaly rules
//! the session breaks ([`super::anomaly`]); `anomaly` alone means "breaks any rule". It is judged
//! from the audit log, so a caller that matches a selector with [`Selector::needs_anomalies`]
//! passes them to [`Selector::matches_with`]; without them an `anomaly` requirement matches
//! nothing (never everything).
//!
//! `state` and `anomaly` take only the values a session can have: another value is an error
//! naming the valid ones, not a selector that silently matches nothing.

use super::anomaly::RuleId;
use super::session::{Session, SessionState};
use super::time::Timestamp;
use super::untrusted::Untrusted;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Id,
    Agent,
    Namespace,
    Pod,
    Model,
    State,
    Tool,
    Anomaly,
}

impl Field {
    pub const ALL: [(&'static str, Field); 8] = [
        ("id", Field::Id),
        ("agent", Field::Agent),
        ("namespace", Field::Namespace),
        ("pod", Field::Pod),
        ("model", Field::Model),
        ("state", Field::State),
        ("tool", Field::Tool),
        ("anomaly", Field::Anomaly),
    ];
}

impl Fields for Field {
    const NAMES: &'static [(&'static str, Self)] = &Self::ALL;

    /// `state` and `anomaly` take only the values a session can have.
    fn check_value(self, value: &str) -> Result<(), String> {
        let valid: Vec<&'static str> = match self {
            Field::State => SessionState::ALL.iter().map(|s| s.as_str()).collect(),
            Field::Anomaly => RuleId::names(),
            _ => return Ok(()),
        };
        if valid.contains(&value) {
            return Ok(());
        }
        // Escaped as the whole text is: the value is the operator's input.
        Err(format!("no {} is '{}' (valid: {})", self.name(), value.escape_debug(), valid.join(", ")))
    }
}

/// The fields a selector language names: sessions' ([`Field`]) or approvals'
/// ([`super::approval_selector::ApprovalField`]). One parser serves every such language.
pub(crate) trait Fields: Copy + PartialEq + 'static {
    const NAMES: &'static [(&'static str, Self)];

    fn parse(name: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, f)| *f == self).map(|(n, _)| *n).unwrap_or("?")
    }

    /// Refuses a value this field can never hold (a typo in a closed set such as a state),
    /// saying which values it can; any value by default.
    fn check_value(self, _value: &str) -> Result<(), String> {
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Requirement<F = Field> {
    pub(crate) field: F,
    pub(crate) op: Op,
}

/// A parsed selector: at least one requirement. `parse` refuses a blank text, because a
/// selector that matches everything turned `kill --where ''` into a fleet-wide kill; the whole
/// fleet is asked for by name (`--all`). `Default` (no requirements) exists for callers that
/// build one by hand, and the services refuse it as a target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
    source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("selector {text:?}: {message}")]
pub struct SelectorError {
    pub text: String,
    pub message: String,
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Why a blank selector is refused (the services say the same for a hand-built empty one).
pub const EMPTY: &str = "an empty selector would match every session; name the whole fleet with --all";

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let requirements = parse_requirements(text, EMPTY)?;
        Ok(Selector { requirements, source: text.trim().to_owned() })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// For a selector without an `anomaly` requirement (see [`Selector::needs_anomalies`]).
    pub fn matches(&self, session: &Session, now: Timestamp) -> bool {
        self.matches_with(session, now, None)
    }

    /// Whether the session meets every requirement but those on `anomaly` (to narrow a listing
    /// before anomalies are judged).
    pub fn matches_ignoring_anomalies(&self, session: &Session, now: Timestamp) -> bool {
        self.requirements.iter().filter(|r| r.field != Field::Anomaly).all(|r| r.matches(session, now, None))
    }

    /// Whether matching needs the session's anomalies (an `anomaly` requirement).
    pub fn needs_anomalies(&self) -> bool {
        self.requirements.iter().any(|r| r.field == Field::Anomaly)
    }

    /// Why the selector must be refused as a target: a value named by `!=`/`notin` on a
    /// free-text field that no session (live or ended) holds excludes nothing as written, so a
    /// typo (`agent!=biling-agent`) would select the whole fleet. `state` and `anomaly` values
    /// are checked when parsed; unreadable records hold nothing.
    pub fn vacuous_negation(&self, sessions: &[Session], now: Timestamp) -> Option<String> {
        let negated = self.requirements.iter().filter(|r| r.op.is_negative());
        for r in negated.filter(|r| !matches!(r.field, Field::State | Field::Anomaly)) {
            for v in r.op.values() {
                let held = Requirement { field: r.field, op: Op::Eq(v.clone()) };
                if !sessions.iter().any(|s| s.unreadable.is_none() && held.matches(s, now, None)) {
                    return Some(format!(
                        "no session has {} '{}', so '{}' would exclude nothing and select every session; check the spelling",
                        r.field.name(),
                        v.escape_debug(),
                        self.source.escape_debug()
                    ));
                }
            }
        }
        None
    }

    /// Matches with the rules the session breaks; `None`: not known, and then an `anomaly`
    /// requirement matches nothing.
    pub fn matches_with(&self, session: &Session, now: Timestamp, anomalies: Option<&[RuleId]>) -> bool {
        self.requirements.iter().all(|r| r.matches(session, now, anomalies))
    }
}

/// The requirements of a selector over the fields `F`; `empty` is why a blank text is refused.
pub(crate) fn parse_requirements<F: Fields>(text: &str, empty: &str) -> Result<Vec<Requirement<F>>, SelectorError> {
    let err = |message: String| SelectorError { text: text.to_owned(), message };
    let mut requirements = Vec::new();
    let mut p = Parser { s: text, pos: 0, fields: std::marker::PhantomData };
    p.skip_ws();
    if p.at_end() {
        return Err(err(empty.to_owned()));
    }
    loop {
        requirements.push(p.requirement().map_err(err)?);
        p.skip_ws();
        if p.at_end() {
            break;
        }
        if !p.eat(",") {
            return Err(err(format!("expected ',' at position {}", p.pos + 1)));
        }
    }
    Ok(requirements)
}

impl Op {
    /// Whether a field holding `values` (none, one, or several) satisfies this operator.
    pub(crate) fn holds(&self, values: &[&str]) -> bool {
        match self {
            Op::Eq(v) => values.iter().any(|x| x == v),
            Op::NotEq(v) => !values.iter().any(|x| x == v),
            Op::In(set) => values.iter().any(|x| set.iter().any(|v| v == x)),
            Op::NotIn(set) => !values.iter().any(|x| set.iter().any(|v| v == x)),
            Op::Exists => values.iter().any(|x| !x.is_empty()),
            Op::NotExists => values.iter().all(|x| x.is_empty()),
        }
    }

    /// The values the operator names (none for `field` and `!field`).
    pub(crate) fn values(&self) -> &[String] {
        match self {
            Op::Eq(v) | Op::NotEq(v) => std::slice::from_ref(v),
            Op::In(set) | Op::NotIn(set) => set,
            Op::Exists | Op::NotExists => &[],
        }
    }

    /// Selects by what a field does not hold (`!=`, `notin`).
    pub(crate) fn is_negative(&self) -> bool {
        matches!(self, Op::NotEq(_) | Op::NotIn(_))
    }
}

impl Requirement {
    fn matches(&self, s: &Session, now: Timestamp, anomalies: Option<&[RuleId]>) -> bool {
        let state;
        let values: Vec<&str> = match self.field {
            Field::Id => vec![s.id.as_str()],
            Field::Agent => vec![s.agent.raw()],
            Field::Namespace => s.namespace.iter().map(Untrusted::raw).collect(),
            Field::Pod => s.pod.iter().map(Untrusted::raw).collect(),
            Field::Model => s.model.iter().map(Untrusted::raw).collect(),
            Field::State => {
                state = s.effective_state(now);
                vec![state.as_str()]
            }
            Field::Tool => s.tools.iter().map(Untrusted::raw).collect(),
            Field::Anomaly => match anomalies {
                Some(ids) => ids.iter().map(|id| id.as_str()).collect(),
                None => return false,
            },
        };
        self.op.holds(&values)
    }
}

struct Parser<'a, F> {
    s: &'a str,
    pos: usize,
    fields: std::marker::PhantomData<F>,
}

impl<F: Fields> Parser<'_, F> {
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.s.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> &str {
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '=' | '!'))
            .unwrap_or(self.rest().len());
        self.pos += len;
        &self.s[start..self.pos]
    }

    fn field(&mut self) -> Result<F, String> {
        let at = self.pos + 1;
        let name = self.word().to_owned();
        if name.is_empty() {
            return Err(format!("expected a field name at position {at}"));
        }
        F::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = F::NAMES.iter().map(|(n, _)| *n).collect();
            // Escaped as the whole text is (`{text:?}`): the name is the operator's input.
            format!("unknown field '{}' (known: {})", name.escape_debug(), known.join(", "))
        })
    }

    fn value(&mut self) -> Result<String, String> {
        self.skip_ws();
        let at = self.pos + 1;
        let v = self.word().to_owned();
        if v.is_empty() {
            return Err(format!("expected a value at position {at}"));
        }
        Ok(v)
    }

    fn requirement(&mut self) -> Result<Requirement<F>, String> {
        self.skip_ws();
        if self.eat("!") {
            self.skip_ws();
            let field = self.field()?;
            return Ok(Requirement { field, op: Op::NotExists });
        }
        let field = self.field()?;
        self.skip_ws();
        let op = if self.eat("==") || self.eat("=") {
            Op::Eq(self.value()?)
        } else if self.eat("!=") {
            Op::NotEq(self.value()?)
        } else if self.rest().starts_with("notin") && !self.rest()[5..].starts_with(|c: char| c.is_alphanumeric()) {
            self.pos += 5;
            Op::NotIn(self.set()?)
        } else if self.rest().starts_with("in") && !self.rest()[2..].starts_with(|c: char| c.is_alphanumeric()) {
            self.pos += 2;
            Op::In(self.set()?)
        } else if self.at_end() || self.rest().starts_with(',') {
            Op::Exists
        } else {
            return Err(format!("expected =, !=, in or notin after '{}' at position {}", field.name(), self.pos + 1));
        };
        for v in op.values() {
            field.check_value(v)?;
        }
        Ok(Requirement { field, op })
    }

    fn set(&mut self) -> Result<Vec<String>, String> {
        self.skip_ws();
        if !self.eat("(") {
            return Err(format!("expected '(' at position {}", self.pos + 1));
        }
        let mut values = Vec::new();
        loop {
            values.push(self.value()?);
            self.skip_ws();
            if self.eat(")") {
                return Ok(values);
            }
            if !self.eat(",") {
                return Err(format!("expected ',' or ')' at position {}", self.pos + 1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::session::SessionState;
    use crate::model::time;

    fn session() -> Session {
        let mut s = Session::new("s-1", "billing-agent", time::now());
        s.model = Some("gpt-4.1".into());
        s.namespace = Some("genai-prod".into());
        s.tools = vec!["web_search".into(), "send_email".into()];
        s
    }

    fn m(sel: &str) -> bool {
        Selector::parse(sel).unwrap().matches(&session(), time::now())
    }

    #[test]
    fn equality_sets_and_existence() {
        assert!(m("state=running,model=gpt-4.1"));
        assert!(m("state==running"));
        assert!(!m("state!=running"));
        assert!(m("tool in (send_email, payments.execute)"));
        assert!(!m("tool notin (send_email)"));
        assert!(m("tool=web_search"));
        assert!(!m("tool!=web_search"));
        assert!(m("namespace"));
        assert!(m("!pod"));
        assert!(!m("pod"));
        assert!(m(" agent = billing-agent , namespace in (genai-prod,x) "));
    }

    #[test]
    fn stale_state_is_matchable() {
        let mut s = session();
        s.last_seen = time::now() - chrono::Duration::seconds(120);
        assert!(Selector::parse("state=stale").unwrap().matches(&s, time::now()));
        assert_eq!(s.effective_state(time::now()), SessionState::Stale);
    }

    #[test]
    fn anomaly_matches_the_rules_a_session_breaks_and_nothing_when_they_are_unknown() {
        let sel = |t: &str| Selector::parse(t).unwrap();
        let (s, now) = (session(), time::now());
        let broke = [RuleId::UnexpectedTool, RuleId::TerminalEscape];
        assert!(sel("anomaly").matches_with(&s, now, Some(&broke)));
        assert!(!sel("anomaly").matches_with(&s, now, Some(&[])));
        assert!(sel("!anomaly").matches_with(&s, now, Some(&[])));
        assert!(sel("anomaly=unexpected_tool").matches_with(&s, now, Some(&broke)));
        assert!(!sel("anomaly=broken_chain").matches_with(&s, now, Some(&broke)));
        assert!(sel("anomaly in (broken_chain, terminal_escape),state=running").matches_with(&s, now, Some(&broke)));
        assert!(sel("anomaly!=broken_chain").matches_with(&s, now, Some(&broke)));
        // Unknown anomalies: neither `anomaly` nor `!anomaly` matches (never the whole fleet).
        for t in ["anomaly", "!anomaly", "anomaly!=tool_errors", "anomaly notin (tool_errors)"] {
            assert!(sel(t).needs_anomalies());
            assert!(!sel(t).matches(&s, now), "{t}");
        }
        assert!(!sel("state=running,tool=send_email").needs_anomalies());
    }

    #[test]
    fn a_value_an_enumerated_field_can_never_have_is_an_error_naming_the_valid_ones() {
        let e = Selector::parse("state=runing").unwrap_err();
        assert!(e.message.contains("no state is 'runing' (valid: running, paused, waiting_approval,"), "{e}");
        let e = Selector::parse("state in (running, stopped)").unwrap_err();
        assert!(e.message.contains("no state is 'stopped'"), "{e}");
        let e = Selector::parse("anomaly=unexpected-tool").unwrap_err();
        assert!(e.message.contains("no anomaly is 'unexpected-tool' (valid: unexpected_tool,"), "{e}");
        assert!(Selector::parse("state!=stale,anomaly notin (tool_errors)").is_ok());
        // Free-text fields take any value.
        assert!(Selector::parse("model=gpt-9,agent=nobody").is_ok());
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let e = Selector::parse("colour=red").unwrap_err();
        assert!(e.message.contains("unknown field 'colour'"), "{e}");
        assert!(Selector::parse("state=").unwrap_err().message.contains("expected a value"));
        assert!(Selector::parse("tool in (a,b").unwrap_err().message.contains("expected ',' or ')'"));
        assert!(Selector::parse("tool in a").unwrap_err().message.contains("expected '('"));
        assert!(Selector::parse("state=running model=x").unwrap_err().message.contains("expected ','"));
        assert!(Selector::parse("state > 3").is_err());
        assert!(Selector::parse(",").is_err());
        for blank in ["", "   ", "\t\n"] {
            let e = Selector::parse(blank).unwrap_err();
            assert!(e.message.contains("--all"), "{blank:?}: {e}");
        }
    }
}
