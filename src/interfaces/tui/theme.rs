//! Themes are data: TOML files in `themes/` (built in: dark, light, high-contrast,
//! colour-blind-safe), or any `NAME.toml` in the configured theme folder. `NO_COLOR` gives a
//! monochrome theme that still shows state through symbols, bold, underline and reverse.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

macro_rules! roles {
    ($($role:ident => $name:literal),* $(,)?) => {
        /// What a piece of the screen is, so a theme can style it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Role { $($role),* }

        impl Role {
            pub const ALL: &'static [Role] = &[$(Role::$role),*];

            pub fn name(self) -> &'static str {
                match self { $(Role::$role => $name),* }
            }
        }
    };
}

roles! {
    Base => "base",
    Header => "header",
    TableHeader => "table_header",
    Selected => "selected",
    Marked => "marked",
    Outstanding => "outstanding",
    Banner => "banner",
    Degraded => "degraded",
    KeyBarKey => "keybar_key",
    KeyBarText => "keybar_text",
    Status => "status",
    Error => "error",
    Ok => "ok",
    Dim => "dim",
    Dialog => "dialog",
    Button => "button",
    ButtonFocus => "button_focus",
    Input => "input",
    Running => "state_running",
    Paused => "state_paused",
    Waiting => "state_waiting",
    Killed => "state_killed",
    Finished => "state_finished",
    Failed => "state_failed",
    Stale => "state_stale",
    RiskLow => "risk_low",
    RiskMedium => "risk_medium",
    RiskHigh => "risk_high",
    RiskCritical => "risk_critical",
    DiffAdd => "diff_add",
    DiffDel => "diff_del",
    Anomaly => "anomaly",
}

pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../../themes/dark.toml")),
    ("light", include_str!("../../../themes/light.toml")),
    ("high-contrast", include_str!("../../../themes/high-contrast.toml")),
    ("colorblind", include_str!("../../../themes/colorblind.toml")),
];

#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    styles: Vec<Style>,
    pub mono: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    #[serde(default)]
    styles: BTreeMap<String, StyleSpec>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reverse: bool,
}

fn color(role: &str, text: &Option<String>) -> Result<Option<Color>, String> {
    text.as_deref()
        .map(|t| {
            Color::from_str(t).map_err(|_| format!("style {role}: '{t}' is not a colour (a name, #rrggbb or 0-255)"))
        })
        .transpose()
}

impl Theme {
    /// Parses a theme file. Roles it does not name are left unstyled.
    pub fn parse(default_name: &str, text: &str) -> Result<Theme, String> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| format!("theme {default_name}: {}", e.message()))?;
        let mut styles = vec![Style::default(); Role::ALL.len()];
        for (name, spec) in &file.styles {
            let i = Role::ALL.iter().position(|r| r.name() == name).ok_or_else(|| {
                format!("theme {default_name}: unknown style '{name}' (known: {})", role_names().join(", "))
            })?;
            let mut style = Style::default();
            if let Some(c) = color(name, &spec.fg).map_err(|e| format!("theme {default_name}: {e}"))? {
                style = style.fg(c);
            }
            if let Some(c) = color(name, &spec.bg).map_err(|e| format!("theme {default_name}: {e}"))? {
                style = style.bg(c);
            }
            for (on, m) in [
                (spec.bold, Modifier::BOLD),
                (spec.dim, Modifier::DIM),
                (spec.italic, Modifier::ITALIC),
                (spec.underline, Modifier::UNDERLINED),
                (spec.reverse, Modifier::REVERSED),
            ] {
                if on {
                    style = style.add_modifier(m);
                }
            }
            if let Some(slot) = styles.get_mut(i) {
                *slot = style;
            }
        }
        Ok(Theme { name: file.name.unwrap_or_else(|| default_name.to_owned()), styles, mono: false })
    }

    pub fn builtin(name: &str) -> Option<Theme> {
        let (n, text) = BUILTIN.iter().find(|(n, _)| *n == name || (name == "colour-blind" && *n == "colorblind"))?;
        Theme::parse(n, text).ok()
    }

    /// The default dark theme.
    pub fn dark() -> Theme {
        Theme::builtin("dark").unwrap_or_else(Theme::mono)
    }

    /// No colour at all: state is carried by symbols and by bold, underline and reverse.
    pub fn mono() -> Theme {
        let styles = Role::ALL
            .iter()
            .map(|r| {
                let m = match r {
                    Role::Header | Role::TableHeader | Role::Paused | Role::Waiting => Modifier::BOLD,
                    Role::Selected | Role::ButtonFocus | Role::Banner | Role::Degraded | Role::KeyBarKey => {
                        Modifier::REVERSED
                    }
                    Role::Marked | Role::Error | Role::Failed | Role::RiskCritical | Role::Anomaly => Modifier::BOLD,
                    Role::Outstanding | Role::DiffAdd => Modifier::UNDERLINED,
                    Role::Dim | Role::Finished | Role::DiffDel => Modifier::DIM,
                    Role::Killed | Role::RiskHigh => Modifier::BOLD,
                    _ => Modifier::empty(),
                };
                Style::default().add_modifier(m)
            })
            .collect();
        Theme { name: "no-color".into(), styles, mono: true }
    }

    /// Finds a theme by name: the theme folder first (so a user can override a built-in), then
    /// the built-ins. Reads at most one small file.
    pub fn load(name: &str, dir: Option<&Path>) -> Result<Theme, String> {
        if name.contains(['/', '\\']) || name.ends_with(".toml") {
            // A path to a theme file, as `--theme ./mine.toml` gives it.
            let path = Path::new(name);
            let text = std::fs::read_to_string(path).map_err(|e| format!("theme {}: {e}", path.display()))?;
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("custom");
            return Theme::parse(stem, &text);
        }
        if name.is_empty() || name.starts_with('.') {
            return Err(format!("'{name}' is not a theme name"));
        }
        if let Some(dir) = dir {
            let path = dir.join(format!("{name}.toml"));
            match std::fs::read_to_string(&path) {
                Ok(text) => return Theme::parse(name, &text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("theme {}: {e}", path.display())),
            }
        }
        Theme::builtin(name).ok_or_else(|| {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            format!("no theme '{name}' (built in: {})", names.join(", "))
        })
    }

    pub fn style(&self, role: Role) -> Style {
        let base = self.styles.first().copied().unwrap_or_default();
        let i = Role::ALL.iter().position(|r| *r == role).unwrap_or(0);
        base.patch(self.styles.get(i).copied().unwrap_or_default())
    }
}

fn role_names() -> Vec<&'static str> {
    Role::ALL.iter().map(|r| r.name()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_styles_every_state() {
        for (name, text) in BUILTIN {
            let t = Theme::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
            for role in [Role::Selected, Role::Running, Role::Paused, Role::Failed, Role::Outstanding, Role::Banner] {
                assert_ne!(t.style(role), t.style(Role::Base), "{name}: {} looks like base", role.name());
            }
        }
    }

    #[test]
    fn mono_has_no_colour_but_marks_state() {
        let t = Theme::mono();
        for role in Role::ALL {
            assert_eq!(t.style(*role).fg, None);
            assert_eq!(t.style(*role).bg, None);
        }
        assert!(t.style(Role::Selected).add_modifier.contains(Modifier::REVERSED));
        assert!(t.style(Role::Outstanding).add_modifier.contains(Modifier::UNDERLINED));
    }

    #[test]
    fn theme_folder_and_paths_are_read() {
        let dir = std::env::temp_dir().join(format!("quell-theme-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("dark.toml"), "name = \"mine\"\n[styles]\nselected = { fg = \"red\" }").unwrap();
        let t = Theme::load("dark", Some(&dir)).unwrap();
        assert_eq!(t.name, "mine", "the folder overrides the built-in");
        assert_eq!(t.style(Role::Selected).fg, Some(Color::Red));
        let by_path = Theme::load(&dir.join("dark.toml").display().to_string(), None).unwrap();
        assert_eq!(by_path.name, "mine");
        assert_eq!(Theme::load("light", Some(&dir)).unwrap().name, "light");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_theme_files_say_why() {
        assert!(Theme::parse("x", "[styles]\nselectd = { fg = \"red\" }")
            .unwrap_err()
            .contains("unknown style 'selectd'"));
        assert!(Theme::parse("x", "[styles]\nbase = { fg = \"reddish\" }").unwrap_err().contains("not a colour"));
        assert!(Theme::load("../no/such/theme.toml", None).unwrap_err().contains("theme ../no/such/theme.toml"));
        assert!(Theme::load(".hidden", None).is_err());
        assert!(Theme::load("nope", None).unwrap_err().contains("built in: dark"));
    }
}
