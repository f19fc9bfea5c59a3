// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The layers' import rule, read from the source (see `docs/architecture.md`, "Layers"):
//! imports flow toward the model, never away from it.
//!
//! - `src/model` imports only `src/model`;
//! - `src/ports` imports only the model and the ports;
//! - `src/adapters` imports only the model, the ports and the adapters;
//! - `src/services` and `src/agent` import only the model, the ports and themselves (never an
//!   adapter, an interface, or each other).
//!
//! Every `use` (multi-line groups included) and every `crate::…`, `super::…` and `self::…` path
//! in each file under `src/` is resolved to the module it names; a macro exported at the crate
//! root (`crate::shown!`) counts as the module that defines it. Comments and string literals are
//! not read. Code under `#[cfg(test)]` (and files declared as `#[cfg(test)] mod …;`) is not
//! checked: a unit test may use the reference adapter as a fixture without the product depending
//! on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of `src/` a layer may import; `None`: no constraint.
fn allowed(layer: &str) -> Option<&'static [&'static str]> {
    match layer {
        "model" => Some(&["model"]),
        "ports" => Some(&["model", "ports"]),
        "adapters" => Some(&["model", "ports", "adapters"]),
        "services" => Some(&["model", "ports", "services"]),
        "agent" => Some(&["model", "ports", "agent"]),
        _ => None,
    }
}

#[test]
fn imports_flow_toward_the_model() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&root.join("src"), root, &mut files);
    assert!(
        files.iter().any(|(p, _)| p == "src/model/mod.rs") && files.len() > 20,
        "src/ was not read: {} files",
        files.len()
    );
    let broken = violations(&files);
    assert!(
        broken.is_empty(),
        "{} import(s) against the layers (docs/architecture.md, \"Layers\"):\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn the_check_reads_groups_relative_paths_and_macros_and_skips_comments_strings_and_tests() {
    let files = vec![
        ("src/model/mod.rs".to_owned(), "pub mod a;\n".to_owned()),
        (
            "src/model/a.rs".to_owned(),
            "//! see crate::adapters::x\n\
             use crate::{\n    model::b,\n    ports::{\n        Stores,\n    },\n};\n\
             const S: &str = \"crate::services::y\";\n\
             const C: char = '\"';\n\
             fn f<'a>(x: &'a str) -> &'a str { crate::shown!(\"{x}\"); x }\n\
             #[cfg(test)]\nmod tests {\n    use crate::adapters::embedded::EmbeddedStore;\n}\n"
                .to_owned(),
        ),
        ("src/services/mod.rs".to_owned(), "pub mod k;\n#[cfg(test)]\nmod fixtures;\n".to_owned()),
        (
            "src/services/k.rs".to_owned(),
            "use super::super::adapters::kube;\nfn g() { let _ = crate::interfaces::cli::run; }\n\
             mod inner {\n    use super::super::control::X;\n}\n"
                .to_owned(),
        ),
        ("src/services/fixtures.rs".to_owned(), "use crate::adapters::embedded::EmbeddedStore;\n".to_owned()),
        ("src/interfaces/macros.rs".to_owned(), "#[macro_export]\nmacro_rules! shown { () => {} }\n".to_owned()),
    ];
    let got = violations(&files);
    assert_eq!(
        got,
        vec![
            "src/model/a.rs:5: `crate::ports::Stores` — model may import only model".to_owned(),
            "src/model/a.rs:10: `crate::shown!` (defined in src/interfaces/macros.rs) — model may import only model"
                .to_owned(),
            "src/services/k.rs:1: `super::super::adapters::kube` (= crate::adapters::kube) — services may import \
             only model, ports, services"
                .to_owned(),
            "src/services/k.rs:2: `crate::interfaces::cli::run` — services may import only model, ports, services"
                .to_owned(),
        ],
        "{got:#?}"
    );
}

/// Every `.rs` file under `dir`, as (path relative to the crate root with `/`, text).
fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => panic!("read {}: {e}", dir.display()),
    };
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, root, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push((rel, text));
        }
    }
}

/// One line per import against the rule, naming file, line and the path as written.
fn violations(files: &[(String, String)]) -> Vec<String> {
    let lexed: Vec<(&str, Vec<String>, Vec<Tok>)> =
        files.iter().filter_map(|(p, t)| module_of(p).map(|m| (p.as_str(), m, lex(t)))).collect();
    // Macros exported at the crate root, by name: the file that defines each.
    let mut macros = BTreeMap::new();
    for (path, _, toks) in &lexed {
        for i in 0..toks.len() {
            if toks[i].is_punct('#') && toks.get(i + 2).is_some_and(|t| t.is_ident("macro_export")) {
                if let Some(name) = exported_macro(toks, i) {
                    macros.insert(name, path.to_string());
                }
            }
        }
    }
    // Files declared under `#[cfg(test)]` (and everything below them) are test code.
    let mut test_modules = BTreeSet::new();
    let mut found = Vec::new();
    for (path, module, toks) in &lexed {
        let mut refs = Vec::new();
        let whole_file_test = toks.len() >= 7 && cfg_test_at(toks, 0, true);
        if !whole_file_test {
            scan(toks, module, &mut refs, &mut test_modules);
        }
        found.push((*path, module.clone(), refs));
    }
    let mut out = Vec::new();
    for (path, module, refs) in found {
        let layer = module.first().map_or("", String::as_str);
        let Some(may) = allowed(layer) else { continue };
        if (1..=module.len()).any(|n| test_modules.contains(&module[..n])) {
            continue;
        }
        for r in refs {
            let (target, defined_in) = match (&r.resolved[..], r.is_macro) {
                ([name], true) => match macros.get(name) {
                    Some(file) => match module_of(file).and_then(|m| m.first().cloned()) {
                        Some(top) => (top, Some(file.clone())),
                        None => continue,
                    },
                    None => (String::from("<unknown macro>"), None),
                },
                ([], _) => (String::from("<crate root>"), None),
                ([first, ..], _) => (first.clone(), None),
            };
            if may.contains(&target.as_str()) {
                continue;
            }
            let mut line = format!("{path}:{}: `{}", r.line, r.written.join("::"));
            if r.is_macro {
                line.push('!');
            }
            line.push('`');
            if let Some(file) = defined_in {
                line.push_str(&format!(" (defined in {file})"));
            } else if r.written.first().map(String::as_str) != Some("crate") {
                line.push_str(&format!(" (= crate::{})", r.resolved.join("::")));
            }
            line.push_str(&format!(" — {layer} may import only {}", may.join(", ")));
            out.push(line);
        }
    }
    out
}

/// The module path of a file under `src/` (`src/services/kube.rs` → `services::kube`,
/// `src/model/mod.rs` → `model`, `src/lib.rs` → the root); `None` for the binaries' roots, which
/// are crates of their own.
fn module_of(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix("src/")?;
    if rest == "main.rs" || rest.starts_with("bin/") {
        return None;
    }
    let rest = rest.strip_suffix(".rs")?;
    let mut parts: Vec<String> = rest.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    Some(parts)
}

/// A path the file names: as written, resolved to an absolute module path, and where.
struct Ref {
    written: Vec<String>,
    resolved: Vec<String>,
    is_macro: bool,
    line: usize,
}

#[derive(Debug)]
enum Kind {
    Ident,
    PathSep,
    Punct(char),
}

#[derive(Debug)]
struct Tok {
    kind: Kind,
    text: String,
    line: usize,
}

impl Tok {
    fn is_ident(&self, s: &str) -> bool {
        matches!(self.kind, Kind::Ident) && self.text == s
    }
    fn is_punct(&self, c: char) -> bool {
        matches!(self.kind, Kind::Punct(p) if p == c)
    }
    fn is_sep(&self) -> bool {
        matches!(self.kind, Kind::PathSep)
    }
}

/// Rust source as identifiers, `::` and single punctuation; comments, strings, char literals,
/// lifetimes and numbers are dropped.
fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |j: usize| c.get(j).copied().unwrap_or('\0');
    // Skips a quoted string whose opening quote is at `j` (escapes honoured); returns the index
    // after the closing quote.
    let skip_string = |mut j: usize, line: &mut usize| {
        j += 1;
        while j < c.len() && c[j] != '"' {
            if c[j] == '\\' {
                j += 1;
            }
            if at(j) == '\n' {
                *line += 1;
            }
            j += 1;
        }
        j + 1
    };
    // Skips a raw string r##"…"## whose first `#` or `"` is at `j`.
    let skip_raw = |mut j: usize, line: &mut usize| {
        let mut hashes = 0;
        while at(j) == '#' {
            hashes += 1;
            j += 1;
        }
        j += 1;
        while j < c.len() {
            if c[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#') {
                return j + 1 + hashes;
            }
            if c[j] == '\n' {
                *line += 1;
            }
            j += 1;
        }
        j
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(i, &mut line);
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
            }
        } else if ch.is_ascii_digit() {
            while at(i).is_alphanumeric() || at(i) == '_' || (at(i) == '.' && at(i + 1).is_ascii_digit()) {
                i += 1;
            }
        } else if ch.is_alphabetic() || ch == '_' || (ch == '$' && at(i + 1).is_alphabetic()) {
            let start = i;
            i += 1;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            match (word.as_str(), at(i)) {
                ("r" | "br" | "cr", '"') => i = skip_raw(i, &mut line),
                ("r" | "br" | "cr", '#') if matches!(at(i + 1), '"' | '#') => i = skip_raw(i, &mut line),
                ("b" | "c", '"') => i = skip_string(i, &mut line),
                ("b", '\'') => {
                    i += 1;
                    if at(i) == '\\' {
                        i += 1;
                    }
                    i += 1;
                    while i < c.len() && c[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                }
                ("r", '#') => {
                    // A raw identifier: r#type.
                    let s = i + 1;
                    i += 1;
                    while at(i).is_alphanumeric() || at(i) == '_' {
                        i += 1;
                    }
                    toks.push(Tok { kind: Kind::Ident, text: c[s..i].iter().collect(), line });
                }
                _ => toks.push(Tok { kind: Kind::Ident, text: word, line }),
            }
        } else if ch == ':' && at(i + 1) == ':' {
            toks.push(Tok { kind: Kind::PathSep, text: "::".into(), line });
            i += 2;
        } else {
            toks.push(Tok { kind: Kind::Punct(ch), text: ch.to_string(), line });
            i += 1;
        }
    }
    toks
}

/// Whether `#[cfg(test)]` (or `#![cfg(test)]` when `inner`) starts at `i`.
fn cfg_test_at(toks: &[Tok], i: usize, inner: bool) -> bool {
    let mut j = i;
    let is = |j: usize, f: &dyn Fn(&Tok) -> bool| toks.get(j).is_some_and(f);
    if !is(j, &|t| t.is_punct('#')) {
        return false;
    }
    j += 1;
    if inner {
        if !is(j, &|t| t.is_punct('!')) {
            return false;
        }
        j += 1;
    }
    is(j, &|t| t.is_punct('['))
        && is(j + 1, &|t| t.is_ident("cfg"))
        && is(j + 2, &|t| t.is_punct('('))
        && is(j + 3, &|t| t.is_ident("test"))
        && is(j + 4, &|t| t.is_punct(')'))
        && is(j + 5, &|t| t.is_punct(']'))
}

/// The name of the `macro_rules!` that the `#[macro_export]` at `i` exports.
fn exported_macro(toks: &[Tok], i: usize) -> Option<String> {
    let mut j = i;
    while j < toks.len() && !toks[j].is_ident("macro_rules") {
        if toks[j].is_punct('{') || toks[j].is_punct(';') {
            return None;
        }
        j += 1;
    }
    match (toks.get(j + 1), toks.get(j + 2)) {
        (Some(bang), Some(name)) if bang.is_punct('!') && matches!(name.kind, Kind::Ident) => Some(name.text.clone()),
        _ => None,
    }
}

/// Index just past the item starting at `i`: up to a `;` outside brackets, or past the first
/// `{…}` block.
fn skip_item(toks: &[Tok], mut i: usize) -> usize {
    let mut depth = 0i32;
    while i < toks.len() {
        let t = &toks[i];
        if t.is_punct('(') || t.is_punct('[') {
            depth += 1;
        } else if t.is_punct(')') || t.is_punct(']') {
            depth -= 1;
        } else if depth == 0 && t.is_punct(';') {
            return i + 1;
        } else if depth == 0 && t.is_punct('{') {
            return skip_group(toks, i, '{', '}');
        }
        i += 1;
    }
    i
}

/// Index just past the attribute `#[…]` starting at `i`.
fn skip_attribute(toks: &[Tok], i: usize) -> usize {
    skip_group(toks, i, '[', ']')
}

/// Index just past the `close` that matches the first `open` at or after `i`.
fn skip_group(toks: &[Tok], mut i: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    while i < toks.len() {
        if toks[i].is_punct(open) {
            depth += 1;
        } else if toks[i].is_punct(close) {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
        i += 1;
    }
    i
}

/// Collects the paths a file names, outside test code, and the modules it declares as test code.
fn scan(toks: &[Tok], file_module: &[String], refs: &mut Vec<Ref>, test_modules: &mut BTreeSet<Vec<String>>) {
    // Inline modules (`mod name { … }`): the brace depth each opened at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    let module = |inline: &[(String, usize)]| {
        let mut m = file_module.to_vec();
        m.extend(inline.iter().map(|(n, _)| n.clone()));
        m
    };
    while i < toks.len() {
        let t = &toks[i];
        if cfg_test_at(toks, i, false) {
            let mut j = skip_attribute(toks, i);
            while toks.get(j).is_some_and(|t| t.is_punct('#')) {
                j = skip_attribute(toks, j);
            }
            // `#[cfg(test)] mod name;` declares a file of test code.
            let vis = usize::from(toks.get(j).is_some_and(|t| t.is_ident("pub")));
            if toks.get(j + vis).is_some_and(|t| t.is_ident("mod"))
                && toks.get(j + vis + 2).is_some_and(|t| t.is_punct(';'))
            {
                if let Some(name) = toks.get(j + vis + 1) {
                    let mut m = module(&inline);
                    m.push(name.text.clone());
                    test_modules.insert(m);
                }
            }
            i = skip_item(toks, j);
            continue;
        }
        if t.is_punct('{') {
            braces += 1;
        } else if t.is_punct('}') {
            braces = braces.saturating_sub(1);
            if inline.last().is_some_and(|(_, d)| *d == braces) {
                inline.pop();
            }
        } else if t.is_ident("mod") && toks.get(i + 2).is_some_and(|t| t.is_punct('{')) {
            if let Some(name) = toks.get(i + 1) {
                inline.push((name.text.clone(), braces));
            }
            braces += 1;
            i += 3;
            continue;
        } else if t.is_ident("use") {
            let here = module(&inline);
            let mut j = i + 1;
            use_tree(toks, &mut j, Vec::new(), &here, refs);
            while j < toks.len() && !toks[j].is_punct(';') {
                j += 1;
            }
            i = j + 1;
            continue;
        } else if matches!(t.text.as_str(), "crate" | "$crate" | "super" | "self")
            && toks.get(i + 1).is_some_and(Tok::is_sep)
            && !(i > 0 && toks[i - 1].is_sep())
        {
            let mut written = vec![t.text.clone()];
            let mut j = i + 1;
            while toks.get(j).is_some_and(Tok::is_sep) && toks.get(j + 1).is_some_and(|t| matches!(t.kind, Kind::Ident))
            {
                written.push(toks[j + 1].text.clone());
                j += 2;
            }
            let is_macro = toks.get(j).is_some_and(|t| t.is_punct('!'));
            if let Some(resolved) = resolve(&written, &module(&inline)) {
                refs.push(Ref { written, resolved, is_macro, line: t.line });
            }
            i = j;
            continue;
        }
        i += 1;
    }
}

/// Reads one use tree at `*j` (after `use`, or inside a `{…}` group) with the segments above it.
fn use_tree(toks: &[Tok], j: &mut usize, mut prefix: Vec<String>, module: &[String], refs: &mut Vec<Ref>) {
    let mut line = toks.get(*j).map_or(0, |t| t.line);
    if toks.get(*j).is_some_and(Tok::is_sep) {
        // `use ::name::…`: an external crate.
        return;
    }
    loop {
        match toks.get(*j) {
            Some(t) if matches!(t.kind, Kind::Ident) && t.text != "as" => {
                line = t.line;
                prefix.push(t.text.clone());
                *j += 1;
            }
            Some(t) if t.is_sep() => *j += 1,
            Some(t) if t.is_punct('{') => {
                *j += 1;
                loop {
                    match toks.get(*j) {
                        None => return,
                        Some(t) if t.is_punct('}') => {
                            *j += 1;
                            return;
                        }
                        Some(t) if t.is_punct(',') => *j += 1,
                        Some(_) => {
                            let before = *j;
                            use_tree(toks, j, prefix.clone(), module, refs);
                            if *j == before {
                                *j += 1;
                            }
                        }
                    }
                }
            }
            _ => break,
        }
    }
    // The leaf ends here, perhaps with `*` or `as name`.
    if toks.get(*j).is_some_and(|t| t.is_punct('*')) {
        *j += 1;
    } else if toks.get(*j).is_some_and(|t| t.is_ident("as")) {
        *j += 2;
    }
    if let Some(resolved) = resolve(&prefix, module) {
        refs.push(Ref { written: prefix, resolved, is_macro: false, line });
    }
}

/// An absolute module path for a path written in `module`; `None` when it does not start at
/// the crate (`std::…`, another crate, a child module's name).
fn resolve(written: &[String], module: &[String]) -> Option<Vec<String>> {
    let (first, rest) = written.split_first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" | "$crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => module.get(..module.len().checked_sub(1)?)?.to_vec(),
        _ => return None,
    };
    let mut rest = rest.iter().peekable();
    while rest.peek().is_some_and(|s| *s == "super") {
        base.pop()?;
        rest.next();
    }
    base.extend(rest.filter(|s| *s != "self").cloned());
    Some(base)
}
