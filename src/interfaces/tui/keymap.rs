//! Keys are data: one table of commands with their default keys, remappable from the config
//! file's `[keys]` section. Help, the bottom key bar and the `:` command words are generated
//! from it. An action's command *is* its operation ([`Cmd::Act`]): the console has no second
//! list of what a key does.

use super::fleet::SortKey;
use crate::model::action::ActionKind;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::fmt;

/// Where a command applies. View contexts are looked up before `Global`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    Global,
    Fleet,
    Session,
    Approvals,
    Replay,
}

impl Context {
    pub const ALL: [Context; 5] =
        [Context::Global, Context::Fleet, Context::Session, Context::Approvals, Context::Replay];

    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "everywhere",
            Context::Fleet => "fleet",
            Context::Session => "session",
            Context::Approvals => "approvals",
            Context::Replay => "replay",
        }
    }
}

/// Everything a key can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmd {
    Quit,
    Help,
    Command,
    Back,
    Open,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    ViewFleet,
    ViewApprovals,
    Filter,
    SelectorFilter,
    Sort,
    SortReverse,
    Mark,
    ClearMarks,
    /// Take an operation on the marked rows, else the selected row (the selected approval for a
    /// decision); on `:` its argument is a selector.
    Act(ActionKind),
    /// Take an operation on the whole fleet (pause and resume).
    ActFleet(ActionKind),
    Raw,
    Diff,
    Replay,
    Play,
    StepForward,
    StepBack,
    Faster,
    Slower,
    Anomaly,
    KindFilter,
    /// `:theme NAME` (no default key).
    Theme,
    /// Mark every visible row (the approvals queue).
    MarkAll,
    /// Keep the session view on its newest entry as entries arrive (`logs -f`).
    Follow,
    /// `:ns NAME`: the fleet shows only that namespace (no default key).
    Namespace,
    /// Sort the fleet by this column (shift+letter); again: reverse.
    SortBy(SortKey),
    /// Copy the selected session's full id to the terminal's clipboard (OSC 52).
    Copy,
}

impl Cmd {
    /// The operation this command starts, if it starts one.
    pub fn action(self) -> Option<ActionKind> {
        match self {
            Cmd::Act(kind) | Cmd::ActFleet(kind) => Some(kind),
            _ => None,
        }
    }
}

struct Spec {
    cmd: Cmd,
    name: &'static str,
    context: Context,
    help: &'static str,
    /// Shown in the bottom bar (space is short at 80 columns).
    bar: Option<&'static str>,
    keys: &'static [&'static str],
    /// Other `:` words for the command besides its name (`:q` for `:quit`).
    words: &'static [&'static str],
    /// Other views the command also applies in, with the same keys (pause in the session view).
    also: &'static [Context],
    /// What the `:` command takes after its word, as help shows it (`NAME`, `[SELECTOR]`).
    arg: &'static str,
}

const fn spec(
    cmd: Cmd,
    name: &'static str,
    context: Context,
    keys: &'static [&'static str],
    help: &'static str,
    bar: Option<&'static str>,
) -> Spec {
    Spec { cmd, name, context, help, bar, keys, words: &[], also: &[], arg: "" }
}

/// A fleet column's own sort command.
const fn sort_by(key: SortKey, name: &'static str, keys: &'static [&'static str], help: &'static str) -> Spec {
    spec(Cmd::SortBy(key), name, Context::Fleet, keys, help, None)
}

const fn arg(mut s: Spec, arg: &'static str) -> Spec {
    s.arg = arg;
    s
}

const fn words(mut s: Spec, words: &'static [&'static str]) -> Spec {
    s.words = words;
    s
}

const fn also(mut s: Spec, also: &'static [Context]) -> Spec {
    s.also = also;
    s
}

/// Where the operations on sessions apply besides the fleet: the open session, and the session
/// of the selected (or marked) approval requests.
const WHERE_YOU_LOOK: &[Context] = &[Context::Session, Context::Approvals];

use Context as C;

/// The one key list. Order is the order of help and of the key bar.
const SPECS: &[Spec] = &[
    words(spec(Cmd::Help, "help", C::Global, &["?"], "show this help", Some("help")), &["h"]),
    spec(Cmd::Command, "command", C::Global, &[":"], "command mode (tab completes, ↑ ↓ history)", Some("cmd")),
    words(spec(Cmd::Quit, "quit", C::Global, &["q"], "quit", Some("quit")), &["q", "exit"]),
    spec(Cmd::Back, "back", C::Global, &["esc"], "back to the previous view", None),
    arg(
        words(spec(Cmd::Open, "open", C::Global, &["enter"], "open the selected row", None), &["session", "s"]),
        "[ID]",
    ),
    spec(Cmd::Up, "up", C::Global, &["up", "k"], "move up", None),
    spec(Cmd::Down, "down", C::Global, &["down", "j"], "move down", None),
    spec(Cmd::PageUp, "page_up", C::Global, &["pageup", "ctrl-b"], "page up", None),
    spec(Cmd::PageDown, "page_down", C::Global, &["pagedown", "ctrl-f"], "page down", None),
    spec(Cmd::Top, "top", C::Global, &["home", "g"], "first row", None),
    spec(Cmd::Bottom, "bottom", C::Global, &["end", "G"], "last row", None),
    words(spec(Cmd::ViewFleet, "view_fleet", C::Global, &["F"], "fleet view", None), &["fleet", "f"]),
    words(
        spec(Cmd::ViewApprovals, "view_approvals", C::Global, &["A"], "approvals queue", Some("approvals")),
        &["approvals", "a"],
    ),
    arg(also(spec(Cmd::Filter, "filter", C::Fleet, &["/"], "filter by text", Some("filter")), &[C::Approvals]), "TEXT"),
    arg(
        also(
            words(
                spec(
                    Cmd::SelectorFilter,
                    "selector",
                    C::Fleet,
                    &["s"],
                    "filter by selector (state=running,tool in (send_email))",
                    Some("selector"),
                ),
                &["select"],
            ),
            &[C::Approvals],
        ),
        "SELECTOR",
    ),
    arg(spec(Cmd::Sort, "sort", C::Fleet, &["o"], "sort by the next column", None), "[KEY]"),
    spec(Cmd::SortReverse, "sort_reverse", C::Fleet, &["O"], "reverse the sort order", None),
    // Shift and the column's first letter; where that letter means something else already, the
    // next free letter of the column's title (agEnt, anomalY); step and approvals have none.
    sort_by(SortKey::Id, "sort_id", &["I"], "sort by id (again: reverse)"),
    sort_by(SortKey::Agent, "sort_agent", &["E"], "sort by agent (again: reverse)"),
    sort_by(SortKey::Place, "sort_namespace", &["N"], "sort by namespace/pod (again: reverse)"),
    sort_by(SortKey::Model, "sort_model", &["M"], "sort by model (again: reverse)"),
    sort_by(SortKey::State, "sort_state", &["S"], "sort by state (again: reverse)"),
    sort_by(SortKey::Anomaly, "sort_anomaly", &["Y"], "sort by anomaly, most severe first (again: reverse)"),
    sort_by(SortKey::Step, "sort_step", &[], "sort by step (again: reverse)"),
    sort_by(SortKey::LastSeen, "sort_seen", &["W"], "sort by when last seen, latest first (again: reverse)"),
    sort_by(SortKey::Tokens, "sort_tokens", &["T"], "sort by tokens, most first (again: reverse)"),
    sort_by(SortKey::Cost, "sort_cost", &["C"], "sort by cost, most first (again: reverse)"),
    sort_by(SortKey::Pending, "sort_approvals", &[], "sort by pending approvals, most first (again: reverse)"),
    also(
        spec(Cmd::Copy, "copy", C::Fleet, &["c"], "copy the session's full id to the clipboard (OSC 52)", Some("copy")),
        &[C::Session],
    ),
    also(spec(Cmd::Mark, "mark", C::Fleet, &["space"], "mark or unmark the row", Some("mark")), &[C::Approvals]),
    also(spec(Cmd::ClearMarks, "clear_marks", C::Fleet, &["u"], "clear all marks", None), &[C::Approvals]),
    arg(
        also(
            spec(
                Cmd::Act(ActionKind::Pause),
                "pause",
                C::Fleet,
                &["p"],
                "pause marked rows, else the selected session",
                Some("pause"),
            ),
            WHERE_YOU_LOOK,
        ),
        "[SELECTOR|all]",
    ),
    arg(
        also(
            spec(
                Cmd::Act(ActionKind::Resume),
                "resume",
                C::Fleet,
                &["r"],
                "resume marked rows, else the selected session",
                Some("resume"),
            ),
            WHERE_YOU_LOOK,
        ),
        "[SELECTOR|all]",
    ),
    arg(
        also(
            spec(
                Cmd::Act(ActionKind::Kill),
                "kill",
                C::Fleet,
                &["x"],
                "kill marked rows, else the selected session",
                Some("kill"),
            ),
            WHERE_YOU_LOOK,
        ),
        "[SELECTOR|all]",
    ),
    spec(Cmd::ActFleet(ActionKind::Pause), "pause_fleet", C::Fleet, &["P"], "pause the whole fleet", Some("pause all")),
    spec(Cmd::ActFleet(ActionKind::Resume), "resume_fleet", C::Fleet, &["R"], "resume the whole fleet", None),
    // Kubernetes: shown only when a kube context is configured and the API server says the user
    // may (SelfSubjectAccessReview).
    arg(
        also(
            spec(
                Cmd::Act(ActionKind::HardStop),
                "hard_stop",
                C::Fleet,
                &["H"],
                "hard stop: scale the StatefulSets of marked rows, else the selected session, to zero",
                Some("hard stop"),
            ),
            WHERE_YOU_LOOK,
        ),
        "[SELECTOR]",
    ),
    arg(
        also(
            spec(
                Cmd::Act(ActionKind::KillPod { grace: None }),
                "kill_pod",
                C::Fleet,
                &["K"],
                "kill the pods of marked rows, else the selected session",
                Some("kill pod"),
            ),
            WHERE_YOU_LOOK,
        ),
        "[SELECTOR]",
    ),
    arg(
        also(
            spec(
                Cmd::Act(ActionKind::Quarantine),
                "quarantine",
                C::Fleet,
                &["Q"],
                "quarantine the pods (deny-all NetworkPolicy) of marked rows, else the selected session",
                Some("quarantine"),
            ),
            WHERE_YOU_LOOK,
        ),
        "[SELECTOR]",
    ),
    arg(
        also(
            spec(
                Cmd::Act(ActionKind::Release),
                "release",
                C::Fleet,
                &["L"],
                "release the pods of marked rows, else the selected session, from quarantine",
                None,
            ),
            WHERE_YOU_LOOK,
        ),
        "[SELECTOR]",
    ),
    arg(
        also(
            spec(
                Cmd::Act(ActionKind::Restore),
                "restore",
                C::Fleet,
                &["U"],
                "undo a hard stop: scale the StatefulSets back to their remembered replica counts",
                None,
            ),
            WHERE_YOU_LOOK,
        ),
        "[SELECTOR]",
    ),
    arg(
        spec(
            Cmd::Act(ActionKind::Approve),
            "approve",
            C::Approvals,
            &["y"],
            "approve the marked requests, else the selected one",
            Some("approve"),
        ),
        "[ID]",
    ),
    arg(
        spec(
            Cmd::Act(ActionKind::Reject),
            "reject",
            C::Approvals,
            &["n"],
            "reject the marked requests, else the selected one",
            Some("reject"),
        ),
        "[ID]",
    ),
    spec(Cmd::MarkAll, "mark_all", C::Approvals, &["a"], "mark every visible request", Some("mark all")),
    spec(
        Cmd::Follow,
        "follow",
        C::Session,
        &["f"],
        "follow: keep the newest entry in view as entries arrive",
        Some("follow"),
    ),
    spec(Cmd::Raw, "raw", C::Session, &["v"], "show the selected entry whole (raw event)", Some("raw")),
    spec(Cmd::Diff, "diff", C::Session, &["d"], "diff this checkpoint against the previous one", Some("diff")),
    arg(
        words(spec(Cmd::Replay, "replay", C::Session, &["R"], "replay this session", Some("replay")), &["r"]),
        "[ID|AGE]",
    ),
    spec(Cmd::Play, "play", C::Replay, &["space"], "play or pause", Some("play")),
    spec(Cmd::StepForward, "step_forward", C::Replay, &["right", "l"], "one step forward", Some("step")),
    spec(Cmd::StepBack, "step_back", C::Replay, &["left", "h"], "one step back", None),
    spec(Cmd::Faster, "faster", C::Replay, &["+"], "play faster", None),
    spec(Cmd::Slower, "slower", C::Replay, &["-"], "play slower", None),
    spec(Cmd::Anomaly, "anomaly", C::Replay, &["a"], "jump to the next anomaly", Some("anomaly")),
    spec(Cmd::KindFilter, "kind_filter", C::Replay, &["f"], "cycle the event-kind filter", Some("kind")),
    // No default key: `:theme NAME`. Help and the key bar list only commands with a key.
    arg(spec(Cmd::Theme, "theme", C::Global, &[], "switch the theme", None), "NAME"),
    arg(
        spec(Cmd::Namespace, "ns", C::Fleet, &[], "show one namespace's sessions (alone: every namespace)", None),
        "[NAME]",
    ),
];

/// A key with its modifiers, normalised (shift is part of the character).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn from_event(ev: &KeyEvent) -> Key {
        Key {
            code: ev.code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        }
    }

    pub fn parse(text: &str) -> Result<Key, String> {
        let mut rest = text.trim();
        let (mut ctrl, mut alt) = (false, false);
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-").or_else(|| rest.strip_prefix("C-")) {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-").or_else(|| rest.strip_prefix("M-")) {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "space" => KeyCode::Char(' '),
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) => {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            s => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if !c.is_control() => KeyCode::Char(c),
                    _ => return Err(format!("'{text}' is not a key (examples: p, P, ctrl-p, space, enter, f1)")),
                }
            }
        };
        Ok(Key { code, ctrl, alt })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("del"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::F(n) => write!(f, "f{n}"),
            _ => f.write_str("?"),
        }
    }
}

/// One binding as help shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub cmd: Cmd,
    pub name: &'static str,
    pub context: Context,
    pub help: &'static str,
    pub bar: Option<&'static str>,
    /// Starts an operation (hidden and refused with `--readonly`): `cmd.action()` is `Some`.
    pub destructive: bool,
    pub keys: Vec<Key>,
    /// `:` words besides the name.
    pub words: &'static [&'static str],
    /// Views besides `context` where the same keys start the same command.
    pub also: &'static [Context],
    /// What the `:` command takes after its word (`NAME`, `[SELECTOR]`), for help.
    pub arg: &'static str,
}

impl Binding {
    /// Whether the binding's keys mean its command in view `ctx` (its own view or one of `also`).
    pub fn applies(&self, ctx: Context) -> bool {
        self.context == ctx || self.also.contains(&ctx)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = SPECS
            .iter()
            .map(|s| Binding {
                cmd: s.cmd,
                name: s.name,
                context: s.context,
                help: s.help,
                bar: s.bar,
                destructive: s.cmd.action().is_some(),
                words: s.words,
                also: s.also,
                arg: s.arg,
                // The defaults are constants checked by a test.
                keys: s.keys.iter().filter_map(|k| Key::parse(k).ok()).collect(),
            })
            .collect();
        Keymap { bindings }
    }
}

impl Keymap {
    /// The defaults with the config file's `[keys]` applied: `pause = "p"` or
    /// `pause = ["p", "ctrl-p"]`. Unknown commands, bad keys and clashes are errors.
    pub fn with_overrides(table: &toml::Table) -> Result<Keymap, String> {
        let mut map = Keymap::default();
        for (name, value) in table {
            let binding = map.bindings.iter_mut().find(|b| b.name == name.as_str()).ok_or_else(|| {
                let known: Vec<&str> = SPECS.iter().map(|s| s.name).collect();
                format!("[keys] {name}: no such command (known: {})", known.join(", "))
            })?;
            let texts: Vec<&str> = match value {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().ok_or_else(|| format!("[keys] {name}: keys must be strings")))
                    .collect::<Result<_, _>>()?,
                _ => return Err(format!("[keys] {name}: expected a key like \"p\" or a list [\"p\", \"ctrl-p\"]")),
            };
            if texts.is_empty() {
                return Err(format!("[keys] {name}: needs at least one key"));
            }
            binding.keys = texts
                .iter()
                .map(|t| Key::parse(t).map_err(|e| format!("[keys] {name}: {e}")))
                .collect::<Result<_, _>>()?;
        }
        map.check_clashes()?;
        Ok(map)
    }

    /// A key may mean one thing per view: a view's key may not also be a global key.
    fn check_clashes(&self) -> Result<(), String> {
        for (i, a) in self.bindings.iter().enumerate() {
            for b in self.bindings.iter().skip(i + 1) {
                let overlap = a.context == Context::Global
                    || b.context == Context::Global
                    || Context::ALL.iter().any(|c| a.applies(*c) && b.applies(*c));
                if !overlap {
                    continue;
                }
                if let Some(k) = a.keys.iter().find(|k| b.keys.contains(k)) {
                    return Err(format!("[keys] '{k}' is bound to both {} and {}", a.name, b.name));
                }
            }
        }
        Ok(())
    }

    /// The command a key means in a view.
    pub fn lookup(&self, context: Context, key: &Key) -> Option<Cmd> {
        let find = |ctx: Context| self.bindings.iter().find(|b| b.applies(ctx) && b.keys.contains(key)).map(|b| b.cmd);
        find(context).or_else(|| find(Context::Global))
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    pub fn binding(&self, cmd: Cmd) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.cmd == cmd)
    }

    /// The command a `:` word names: a command's name (`-` and `_` alike: `:hard-stop`) or
    /// one of its other words (`:q`).
    pub fn command(&self, word: &str) -> Option<Cmd> {
        let name = word.replace('-', "_");
        self.bindings.iter().find(|b| b.name == name || b.words.contains(&word)).map(|b| b.cmd)
    }

    /// The `:` word of a command as help and messages show it (`hard-stop`).
    pub fn word_of(&self, cmd: Cmd) -> Option<String> {
        self.binding(cmd).map(|b| b.name.replace('_', "-"))
    }

    /// Every `:` word (names as typed, `hard-stop`, then the other words), for completion.
    pub fn command_words(&self) -> impl Iterator<Item = String> + '_ {
        self.bindings
            .iter()
            .flat_map(|b| std::iter::once(b.name.replace('_', "-")).chain(b.words.iter().map(|w| (*w).to_owned())))
    }

    /// The first key of a command, for hints ("press P to pause the fleet").
    pub fn key_of(&self, cmd: Cmd) -> String {
        self.binding(cmd).and_then(|b| b.keys.first()).map(ToString::to_string).unwrap_or_else(|| "?".into())
    }

    /// What the bottom bar shows in a view: (key, label), view commands first.
    pub fn bar(&self, context: Context, readonly: bool) -> Vec<(String, &'static str)> {
        self.bar_where(context, |b| !(readonly && b.destructive))
    }

    /// The bottom bar with only the bindings `shown` keeps (read-only, Kubernetes permissions).
    pub fn bar_where(&self, context: Context, shown: impl Fn(&Binding) -> bool) -> Vec<(String, &'static str)> {
        let shown = &shown;
        // The view's own commands, then those it shares with other views, then the global ones.
        let pick = |ctx: Context, own: bool| {
            self.bindings
                .iter()
                .filter(move |b| if own { b.context == ctx } else { b.context != ctx && b.applies(ctx) })
                .filter(move |b| shown(b))
                .filter_map(|b| Some((b.keys.first()?.to_string(), b.bar?)))
        };
        let global = if context == Context::Global { None } else { Some(Context::Global) };
        pick(context, true).chain(pick(context, false)).chain(global.into_iter().flat_map(|g| pick(g, true))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_do_not_clash() {
        for s in SPECS {
            for k in s.keys {
                assert!(Key::parse(k).is_ok(), "{k}");
            }
        }
        let map = Keymap::default();
        assert!(map.check_clashes().is_ok());
        assert_eq!(map.lookup(Context::Fleet, &Key::parse("P").unwrap()), Some(Cmd::ActFleet(ActionKind::Pause)));
        assert_eq!(map.lookup(Context::Session, &Key::parse("R").unwrap()), Some(Cmd::Replay));
        assert_eq!(map.lookup(Context::Replay, &Key::parse("space").unwrap()), Some(Cmd::Play));
        assert_eq!(map.lookup(Context::Fleet, &Key::parse("space").unwrap()), Some(Cmd::Mark));
        assert_eq!(map.lookup(Context::Approvals, &Key::parse("j").unwrap()), Some(Cmd::Down));
    }

    #[test]
    fn overrides_remap_and_errors_say_why() {
        let table: toml::Table = toml::from_str("pause_fleet = \"ctrl-p\"\nquit = [\"q\", \"f10\"]").unwrap();
        let map = Keymap::with_overrides(&table).unwrap();
        assert_eq!(map.lookup(Context::Fleet, &Key::parse("ctrl-p").unwrap()), Some(Cmd::ActFleet(ActionKind::Pause)));
        assert_eq!(map.lookup(Context::Fleet, &Key::parse("P").unwrap()), None);
        assert_eq!(map.lookup(Context::Replay, &Key::parse("f10").unwrap()), Some(Cmd::Quit));
        assert_eq!(map.key_of(Cmd::ActFleet(ActionKind::Pause)), "ctrl-p");

        let bad: toml::Table = toml::from_str("paws = \"p\"").unwrap();
        assert!(Keymap::with_overrides(&bad).unwrap_err().contains("no such command"));
        let clash: toml::Table = toml::from_str("kill = \"q\"").unwrap();
        assert!(Keymap::with_overrides(&clash).unwrap_err().contains("bound to both"));
        let badkey: toml::Table = toml::from_str("kill = \"ctrl-\"").unwrap();
        assert!(Keymap::with_overrides(&badkey).unwrap_err().contains("not a key"));
    }

    #[test]
    fn command_words_are_the_command_names() {
        let map = Keymap::default();
        let mut seen = std::collections::HashSet::new();
        for b in map.bindings() {
            let word = map.word_of(b.cmd).unwrap_or_default();
            assert_eq!(map.command(&word), Some(b.cmd), ":{word}");
            assert_eq!(map.command(b.name), Some(b.cmd), ":{}", b.name);
            for w in std::iter::once(b.name).chain(b.words.iter().copied()) {
                assert!(seen.insert(w), ":{w} names two commands");
            }
        }
        // Every operation is one command word, the same word as its verb.
        for kind in ActionKind::ALL {
            assert_eq!(map.command(kind.verb()), Some(Cmd::Act(kind)), ":{kind}");
        }
        assert_eq!(map.command("hard-stop"), Some(Cmd::Act(ActionKind::HardStop)));
        assert_eq!(map.command("restore"), Some(Cmd::Act(ActionKind::Restore)));
        assert_eq!(map.command("q"), Some(Cmd::Quit));
        assert_eq!(map.command("pause-fleet"), Some(Cmd::ActFleet(ActionKind::Pause)));
        assert_eq!(map.command("paws"), None);
    }

    #[test]
    fn session_actions_have_the_same_keys_where_the_operator_looks_and_clashes_there_are_refused() {
        let map = Keymap::default();
        for ctx in [Context::Fleet, Context::Session, Context::Approvals] {
            assert_eq!(map.lookup(ctx, &Key::parse("p").unwrap()), Some(Cmd::Act(ActionKind::Pause)), "{ctx:?}");
            assert_eq!(map.lookup(ctx, &Key::parse("x").unwrap()), Some(Cmd::Act(ActionKind::Kill)), "{ctx:?}");
            assert_eq!(map.lookup(ctx, &Key::parse("K").unwrap()), Some(Cmd::Act(ActionKind::KillPod { grace: None })));
        }
        assert_eq!(map.lookup(Context::Replay, &Key::parse("p").unwrap()), None, "the replay has no session actions");
        assert_eq!(map.lookup(Context::Approvals, &Key::parse("space").unwrap()), Some(Cmd::Mark));
        assert_eq!(map.lookup(Context::Session, &Key::parse("f").unwrap()), Some(Cmd::Follow));
        // The session view's `v` (raw) may not also be pause, since pause applies there too.
        let clash: toml::Table = toml::from_str("pause = \"v\"").unwrap();
        let err = Keymap::with_overrides(&clash).unwrap_err();
        assert!(err.contains("bound to both pause and raw") || err.contains("bound to both raw and pause"), "{err}");
        let bar: Vec<&str> = map.bar(Context::Approvals, false).into_iter().map(|(_, l)| l).collect();
        assert_eq!(&bar[..3], ["approve", "reject", "mark all"], "the view's own commands first: {bar:?}");
    }

    #[test]
    fn readonly_bar_hides_destructive_commands() {
        let map = Keymap::default();
        let labels = |ro| map.bar(Context::Fleet, ro).into_iter().map(|(_, l)| l).collect::<Vec<_>>();
        assert!(labels(false).contains(&"pause all"));
        assert!(!labels(true).contains(&"pause all"));
        assert!(!labels(true).contains(&"kill"));
        assert!(labels(true).contains(&"filter"));
    }
}
