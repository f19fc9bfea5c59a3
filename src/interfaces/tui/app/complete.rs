//! The `:` line's habits: Tab completes a command word, or its argument where the values are a
//! closed set (theme names, `:sort` keys, the namespaces seen in the fleet); Up and Down walk
//! the commands entered in this console run.

use super::App;
use crate::interfaces::tui::fleet::SortKey;
use crate::interfaces::tui::keymap::Cmd;
use crate::interfaces::tui::theme::BUILTIN;
use crate::model::untrusted::is_inert;
use std::collections::BTreeSet;

/// What Tab made of the line: the new text and, when more than one value fits, the candidates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    pub candidates: Vec<String>,
}

/// Completes `text` (the `:` line without the colon).
pub fn complete(app: &App, text: &str) -> Completion {
    let (head, prefix, values) = match text.split_once(char::is_whitespace) {
        None => ("", text, app.keymap.command_words().collect::<BTreeSet<String>>()),
        Some((word, rest)) => {
            let values = match app.keymap.command(word) {
                Some(Cmd::Theme) => BUILTIN.iter().map(|(n, _)| (*n).to_owned()).collect(),
                Some(Cmd::Sort) => SortKey::ALL.iter().map(|k| k.name().to_owned()).collect(),
                // Agent-chosen names: only those that are plain text are offered (one with a
                // control character could not be shown nor typed).
                Some(Cmd::Namespace) => app
                    .fleet
                    .rows
                    .iter()
                    .filter_map(|r| r.session.namespace.as_ref().map(|n| n.raw()))
                    .filter(|n| is_inert(n) && !n.contains(char::is_whitespace))
                    .map(str::to_owned)
                    .collect(),
                _ => BTreeSet::new(),
            };
            (word, rest.trim_start(), values)
        }
    };
    let fits: Vec<String> = values.into_iter().filter(|v| v.starts_with(prefix)).collect();
    let done = |v: &str| if head.is_empty() { format!("{v} ") } else { format!("{head} {v}") };
    match fits.as_slice() {
        [] => Completion { text: text.to_owned(), candidates: Vec::new() },
        [one] => Completion { text: done(one), candidates: Vec::new() },
        [first, rest @ ..] => {
            let common = rest.iter().fold(first.as_str(), |acc, v| common_prefix(acc, v));
            let text = if common.len() > prefix.len() {
                if head.is_empty() {
                    common.to_owned()
                } else {
                    format!("{head} {common}")
                }
            } else {
                text.to_owned()
            };
            Completion { text, candidates: fits.clone() }
        }
    }
}

fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let n = a
        .char_indices()
        .zip(b.chars())
        .take_while(|((_, x), y)| x == y)
        .last()
        .map_or(0, |((i, c), _)| i + c.len_utf8());
    a.get(..n).unwrap_or_default()
}

/// The `:` commands entered in this console run, newest last, and where Up has walked to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    lines: Vec<String>,
    /// The line being shown (`None`: the one being typed).
    at: Option<usize>,
    /// What was typed before Up was first pressed, given back by Down past the newest.
    draft: String,
}

/// A console run keeps this many commands.
const HISTORY: usize = 200;

impl History {
    /// Records an entered command (not twice in a row) and leaves the walk.
    pub fn push(&mut self, line: &str) {
        self.at = None;
        if !line.is_empty() && self.lines.last().map(String::as_str) != Some(line) {
            self.lines.push(line.to_owned());
            if self.lines.len() > HISTORY {
                self.lines.remove(0);
            }
        }
    }

    /// The line closed without being entered: the next Up starts from the newest again.
    pub fn reset(&mut self) {
        self.at = None;
    }

    /// Up: the command before the one shown, or `None` when there is none.
    pub fn older(&mut self, typed: &str) -> Option<&str> {
        let at = match self.at {
            None if self.lines.is_empty() => return None,
            None => {
                self.draft = typed.to_owned();
                self.lines.len() - 1
            }
            Some(i) => i.saturating_sub(1),
        };
        self.at = Some(at);
        self.lines.get(at).map(String::as_str)
    }

    /// Down: the command after the one shown, then what was being typed.
    pub fn newer(&mut self) -> Option<&str> {
        let i = self.at?;
        if i + 1 < self.lines.len() {
            self.at = Some(i + 1);
            self.lines.get(i + 1).map(String::as_str)
        } else {
            self.at = None;
            Some(self.draft.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_walks_back_and_forth_and_gives_back_the_draft() {
        let mut h = History::default();
        assert_eq!(h.older("x"), None, "nothing entered yet");
        for line in ["fleet", "sort state", "sort state", "ns prod"] {
            h.push(line);
        }
        assert_eq!(h.older("the"), Some("ns prod"));
        assert_eq!(h.older("ignored"), Some("sort state"), "a repeat is kept once");
        assert_eq!(h.older(""), Some("fleet"));
        assert_eq!(h.older(""), Some("fleet"), "the oldest stays");
        assert_eq!(h.newer(), Some("sort state"));
        assert_eq!(h.newer(), Some("ns prod"));
        assert_eq!(h.newer(), Some("the"), "past the newest: what was being typed");
        assert_eq!(h.newer(), None);
        h.older("");
        h.reset();
        assert_eq!(h.older(""), Some("ns prod"), "a closed line starts from the newest again");
    }

    #[test]
    fn common_prefix_respects_characters() {
        assert_eq!(common_prefix("replay", "resume"), "re");
        assert_eq!(common_prefix("ärger", "äpfel"), "ä");
        assert_eq!(common_prefix("a", "b"), "");
    }
}
