//! The one confirmation dialog. Every destructive action (every [`ActionKind`]: pause, resume,
//! kill, the pod actions, approve, reject) passes through here: the exact scope from
//! `OperatorAction::describe()`, a required reason, and Cancel focused by default. Nothing else
//! in the console can start such an action. The dialog holds the operation it confirms, and
//! what it hands back on confirm is that operation, never the kind the plan happened to carry.

use super::theme::{Role, Theme};
use crate::model::action::{ActionKind, OperatorAction, Scope};
use crate::model::untrusted::Untrusted;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// The scope is resolved on a background thread; until then the dialog says so.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Resolving,
    Ready(OperatorAction),
    Failed(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Cancel,
    Reason,
    Confirm,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConfirmDialog {
    /// The operation being confirmed, with its parameters (a kill-pod's grace period).
    pub kind: ActionKind,
    pub plan: Plan,
    pub reason: String,
    pub focus: Focus,
    pub error: Option<String>,
    pub operator: String,
    /// What the operation takes, shown under the scope (a decision's requests with their tool and
    /// arguments), already neutralised.
    pub details: Vec<String>,
    /// Enter was pressed on the confirm button (with a reason) while the scope was still being
    /// resolved: the press is kept, and the dialog confirms the moment the scope is known. Until
    /// then only Esc (cancel) is taken; other keys are ignored, never typed into the reason.
    pub held: bool,
    /// Whether a held Enter may confirm once the scope is known. Off for a selector, whose
    /// sessions the operator has not seen yet: the dialog then waits on the confirm button.
    pub confirm_when_resolved: bool,
}

/// What a key did to the dialog.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Open,
    Cancelled,
    /// The action with the operator's reason, validated by `OperatorAction::new`.
    Confirmed(OperatorAction),
}

const MAX_REASON: usize = 500;

impl ConfirmDialog {
    pub fn new(kind: ActionKind, operator: &str) -> ConfirmDialog {
        ConfirmDialog {
            kind,
            plan: Plan::Resolving,
            reason: String::new(),
            focus: Focus::Cancel,
            error: None,
            operator: operator.to_owned(),
            details: Vec::new(),
            held: false,
            confirm_when_resolved: true,
        }
    }

    /// The resolved scope. A plan for another operation than the dialog's is refused: what is
    /// confirmed is what the dialog names. A held Enter confirms now (`Confirmed`), or, when it
    /// may not, leaves the focus on the confirm button for the operator to press again.
    pub fn planned(&mut self, plan: Result<OperatorAction, String>) -> Outcome {
        self.plan = match plan {
            Ok(a) if a.kind == self.kind => Plan::Ready(a),
            Ok(a) => Plan::Failed(format!("the scope was resolved for {}, not {}", a.kind, self.kind)),
            Err(e) => Plan::Failed(e),
        };
        if !std::mem::take(&mut self.held) {
            return Outcome::Open;
        }
        self.error = None;
        match self.plan {
            Plan::Ready(_) if self.confirm_when_resolved => self.confirm(),
            Plan::Ready(_) => {
                self.focus = Focus::Confirm;
                self.error = Some("scope resolved: check it, then enter confirms".into());
                Outcome::Open
            }
            _ => {
                self.focus = Focus::Cancel;
                Outcome::Open
            }
        }
    }

    pub fn handle(&mut self, key: &KeyEvent) -> Outcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return Outcome::Cancelled,
            KeyCode::Char('c') if ctrl => return Outcome::Cancelled,
            // A held Enter waits for the scope; nothing else is taken meanwhile.
            _ if self.held => {}
            // Nothing can be confirmed: Enter closes, and no key lands in the reason.
            KeyCode::Enter if matches!(self.plan, Plan::Failed(_)) => return Outcome::Cancelled,
            _ if matches!(self.plan, Plan::Failed(_)) => {
                self.error = Some("nothing to confirm: enter or esc closes".into());
            }
            KeyCode::Tab => self.focus = next(self.focus),
            KeyCode::BackTab => self.focus = prev(self.focus),
            KeyCode::Left | KeyCode::Right if self.focus != Focus::Reason => {
                self.focus = if self.focus == Focus::Cancel { Focus::Confirm } else { Focus::Cancel };
            }
            KeyCode::Enter => match self.focus {
                Focus::Cancel => return Outcome::Cancelled,
                Focus::Reason => self.focus = Focus::Confirm,
                Focus::Confirm => return self.confirm(),
            },
            KeyCode::Backspace if self.focus == Focus::Reason => {
                self.reason.pop();
            }
            KeyCode::Char('u') if ctrl && self.focus == Focus::Reason => self.reason.clear(),
            KeyCode::Char(c) if !ctrl && !c.is_control() => {
                // Typing goes to the reason wherever the focus was: it can never confirm.
                self.focus = Focus::Reason;
                if self.reason.chars().count() < MAX_REASON {
                    self.reason.push(c);
                }
                self.error = None;
            }
            _ => {}
        }
        Outcome::Open
    }

    fn confirm(&mut self) -> Outcome {
        let Plan::Ready(planned) = &self.plan else {
            if self.plan == Plan::Resolving && !self.reason.trim().is_empty() {
                self.held = true;
                self.error = Some("confirming as soon as the scope is resolved… (esc cancels)".into());
                return Outcome::Open;
            }
            self.error = Some(match &self.plan {
                Plan::Failed(_) => "nothing to confirm: the scope could not be resolved".into(),
                _ => "a reason is required: type it while the scope is resolved".into(),
            });
            self.focus = if self.plan == Plan::Resolving { Focus::Reason } else { Focus::Cancel };
            return Outcome::Open;
        };
        match OperatorAction::new(self.kind, planned.scope.clone(), &self.reason, &self.operator) {
            Ok(action) => Outcome::Confirmed(action),
            Err(e) => {
                self.error = Some(e.to_string().replace(" (--reason TEXT)", ""));
                self.focus = Focus::Reason;
                Outcome::Open
            }
        }
    }

    /// The scope in words, neutralised: it names namespaces and selectors that agents reported.
    pub fn scope_text(&self) -> String {
        match &self.plan {
            Plan::Resolving => format!("{}: resolving the exact scope…", self.kind),
            Plan::Ready(a) => {
                let mut text = Untrusted::new(a.describe()).shown_line();
                if matches!(&a.scope, Scope::Fleet { held, .. } if !held.is_empty()) {
                    text.push_str(" — resume them by name: mark their rows and resume, or :resume SELECTOR");
                }
                text
            }
            Plan::Failed(e) => format!("cannot {}: {}", self.kind, Untrusted::new(e.as_str()).shown_line()),
        }
    }

    pub fn render(&self, f: &mut Frame<'_>, area: Rect, theme: &Theme) {
        let widest = if self.details.is_empty() { 72 } else { 100 };
        let width = area.width.saturating_sub(4).clamp(20, widest);
        let [_, mid, _] = Layout::horizontal([Constraint::Fill(1), Constraint::Length(width), Constraint::Fill(1)])
            .flex(Flex::Center)
            .areas(area);
        let details_h = u16::try_from(self.details.len()).unwrap_or(u16::MAX).min(area.height.saturating_sub(12));
        // With the requests listed, the scope is one or two lines: they take its spare rows.
        let height = (10 + details_h.saturating_sub(2)).min(area.height);
        let [box_area] = Layout::vertical([Constraint::Length(height)]).flex(Flex::Center).areas(mid);
        f.render_widget(Clear, box_area);
        let title = if self.kind.is_irreversible() {
            format!(" confirm {} — cannot be undone ", self.kind)
        } else {
            format!(" confirm {} ", self.kind)
        };
        let block = Block::bordered()
            .border_type(BorderType::Double)
            .title(Span::styled(title, theme.style(Role::Error)))
            .style(theme.style(Role::Dialog));
        let inner = block.inner(box_area);
        f.render_widget(block, box_area);

        let [scope, details, reason_label, reason, err, buttons] = Layout::vertical([
            Constraint::Min(2),
            Constraint::Length(details_h),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let scope_style = match self.plan {
            Plan::Failed(_) => theme.style(Role::Error),
            _ => theme.style(Role::Dialog),
        };
        f.render_widget(Paragraph::new(Span::styled(self.scope_text(), scope_style)).wrap(Wrap { trim: false }), scope);
        let room = usize::from(details.width);
        let lines: Vec<Line> = self
            .details
            .iter()
            .map(|l| Line::styled(super::text::truncate(l, room).into_owned(), theme.style(Role::Dim)))
            .collect();
        f.render_widget(Paragraph::new(lines), details);
        f.render_widget(
            Paragraph::new("Reason (required, written to the audit log):").style(theme.style(Role::Dialog)),
            reason_label,
        );
        let shown = Untrusted::new(self.reason.as_str()).shown_line();
        let room = usize::from(reason.width.saturating_sub(3));
        let tail: String = {
            let skip = shown.chars().count().saturating_sub(room);
            shown.chars().skip(skip).collect()
        };
        let cursor = if self.focus == Focus::Reason { "▏" } else { "" };
        let marker = if self.focus == Focus::Reason { "> " } else { "  " };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(marker, theme.style(Role::Dialog)),
                if tail.is_empty() && self.focus != Focus::Reason {
                    Span::styled("(type the reason)", theme.style(Role::Dim))
                } else {
                    Span::styled(format!("{tail}{cursor}"), theme.style(Role::Input))
                },
            ])),
            reason,
        );
        if let Some(e) = &self.error {
            f.render_widget(Paragraph::new(Span::styled(e.as_str(), theme.style(Role::Error))), err);
        }
        let button = |label: &str, focused: bool| {
            let style = if focused { theme.style(Role::ButtonFocus) } else { theme.style(Role::Button) };
            let text = if focused { format!("[▸{label}◂]") } else { format!("[ {label} ]") };
            Span::styled(text, style)
        };
        let confirm_label = self.kind.verb().to_uppercase();
        let line = Line::from(vec![
            button("Cancel", self.focus == Focus::Cancel),
            Span::raw("   "),
            button(&confirm_label, self.focus == Focus::Confirm),
            Span::styled("   tab: next · esc: cancel", theme.style(Role::Dim)),
        ]);
        f.render_widget(Paragraph::new(line).centered(), buttons);
    }
}

fn next(f: Focus) -> Focus {
    match f {
        Focus::Cancel => Focus::Reason,
        Focus::Reason => Focus::Confirm,
        Focus::Confirm => Focus::Cancel,
    }
}

fn prev(f: Focus) -> Focus {
    match f {
        Focus::Cancel => Focus::Confirm,
        Focus::Reason => Focus::Cancel,
        Focus::Confirm => Focus::Reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ready() -> ConfirmDialog {
        let mut d = ConfirmDialog::new(ActionKind::Pause, "alice");
        let scope = Scope::Sessions { sessions: vec!["s1".into()], namespaces: Default::default(), selector: None };
        d.planned(Ok(OperatorAction::new(ActionKind::Pause, scope, "placeholder", "alice").unwrap()));
        d
    }

    #[test]
    fn cancel_is_the_default_and_enter_cancels() {
        let mut d = ready();
        assert_eq!(d.focus, Focus::Cancel);
        assert_eq!(d.handle(&key(KeyCode::Enter)), Outcome::Cancelled);
    }

    #[test]
    fn a_reason_is_required_and_typing_never_confirms() {
        let mut d = ready();
        d.focus = Focus::Confirm;
        assert_eq!(d.handle(&key(KeyCode::Enter)), Outcome::Open);
        assert!(d.error.as_deref().unwrap_or("").contains("needs a reason"));
        assert_eq!(d.focus, Focus::Reason);
        for c in "runaway  ".chars() {
            assert_eq!(d.handle(&key(KeyCode::Char(c))), Outcome::Open);
        }
        assert_eq!(d.handle(&key(KeyCode::Enter)), Outcome::Open, "enter in the reason moves to the button");
        assert_eq!(d.focus, Focus::Confirm);
        match d.handle(&key(KeyCode::Enter)) {
            Outcome::Confirmed(a) => {
                assert_eq!(a.reason, "runaway");
                assert_eq!(a.operator, "alice");
                assert_eq!(a.describe(), "pause session s1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_dialog_confirms_its_own_operation_only() {
        let scope = Scope::Sessions { sessions: vec!["s1".into()], namespaces: Default::default(), selector: None };
        let mut d = ConfirmDialog::new(ActionKind::Restore, "alice");
        d.planned(Ok(OperatorAction::new(ActionKind::Resume, scope.clone(), "placeholder", "alice").unwrap()));
        assert!(matches!(&d.plan, Plan::Failed(e) if e.contains("resolved for resume, not restore")), "{:?}", d.plan);
        d.planned(Ok(OperatorAction::new(ActionKind::Restore, scope, "placeholder", "alice").unwrap()));
        d.reason = "fixed".into();
        d.focus = Focus::Confirm;
        match d.handle(&key(KeyCode::Enter)) {
            Outcome::Confirmed(a) => {
                assert_eq!((a.kind, a.describe().as_str()), (ActionKind::Restore, "restore session s1"))
            }
            other => panic!("{other:?}"),
        }
    }

    fn pause_of(session: &str) -> OperatorAction {
        let scope = Scope::Sessions { sessions: vec![session.into()], namespaces: Default::default(), selector: None };
        OperatorAction::new(ActionKind::Pause, scope, "placeholder", "alice").unwrap()
    }

    #[test]
    fn cannot_confirm_before_the_scope_is_known() {
        let mut d = ConfirmDialog::new(ActionKind::Kill, "alice");
        d.reason = "x".into();
        d.focus = Focus::Confirm;
        assert_eq!(d.handle(&key(KeyCode::Enter)), Outcome::Open);
        assert!(d.held, "the press is kept");
        assert_eq!(d.planned(Err("no session s9".into())), Outcome::Open, "a failed plan confirms nothing");
        assert!(!d.held && d.focus == Focus::Cancel);
        assert!(d.scope_text().contains("no session s9"));
        for c in "jjk".chars() {
            assert_eq!(d.handle(&key(KeyCode::Char(c))), Outcome::Open);
        }
        assert_eq!(d.reason, "x", "keys after a failed plan never land in the reason");
        assert_eq!(d.handle(&key(KeyCode::Enter)), Outcome::Cancelled, "enter closes a dialog with nothing to confirm");
    }

    #[test]
    fn enter_pressed_while_resolving_is_kept_and_confirms_when_the_scope_is_known() {
        let mut d = ConfirmDialog::new(ActionKind::Pause, "alice");
        for c in "runaway".chars() {
            d.handle(&key(KeyCode::Char(c)));
        }
        assert_eq!(d.handle(&key(KeyCode::Enter)), Outcome::Open, "reason → button");
        assert_eq!(d.handle(&key(KeyCode::Enter)), Outcome::Open, "held: the scope is not known yet");
        assert!(d.held);
        // The next keys (the operator moving on) are not typed into the reason.
        for c in "jF".chars() {
            assert_eq!(d.handle(&key(KeyCode::Char(c))), Outcome::Open);
        }
        assert_eq!(d.reason, "runaway");
        match d.planned(Ok(pause_of("s1"))) {
            Outcome::Confirmed(a) => {
                assert_eq!((a.describe().as_str(), a.reason.as_str()), ("pause session s1", "runaway"))
            }
            other => panic!("the held enter confirms: {other:?}"),
        }
        // Without a reason the press is not kept: the reason is asked for.
        let mut d = ConfirmDialog::new(ActionKind::Pause, "alice");
        d.focus = Focus::Confirm;
        assert_eq!(d.handle(&key(KeyCode::Enter)), Outcome::Open);
        assert!(!d.held && d.focus == Focus::Reason);
        assert_eq!(d.planned(Ok(pause_of("s1"))), Outcome::Open);
        // Esc still cancels a held dialog.
        let mut d = ConfirmDialog::new(ActionKind::Pause, "alice");
        d.reason = "r".into();
        d.focus = Focus::Confirm;
        d.handle(&key(KeyCode::Enter));
        assert_eq!(d.handle(&key(KeyCode::Esc)), Outcome::Cancelled);
    }

    #[test]
    fn a_held_enter_on_a_selector_waits_for_the_operator_to_see_the_scope() {
        let mut d = ConfirmDialog::new(ActionKind::Pause, "alice");
        d.confirm_when_resolved = false;
        d.reason = "r".into();
        d.focus = Focus::Confirm;
        assert_eq!(d.handle(&key(KeyCode::Enter)), Outcome::Open);
        assert_eq!(d.planned(Ok(pause_of("s1"))), Outcome::Open, "not confirmed unseen");
        assert_eq!(d.focus, Focus::Confirm);
        assert!(matches!(d.handle(&key(KeyCode::Enter)), Outcome::Confirmed(_)));
    }
}
