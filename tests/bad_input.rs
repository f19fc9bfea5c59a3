// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Bad input: a corpus of malformed inputs for every parser that takes outside data, plus a
//! seeded random fuzzer that mutates valid inputs. Nothing may panic; errors must say what was
//! wrong; neutralised text must never contain a control character.

use quell::agent::rng::Xorshift as Rng;
use quell::model::canonical::to_canonical;
use quell::model::checkpoint::{parse_seed_key, Checkpoint};
use quell::model::selector::Selector;
use quell::model::time::{self, parse_time};
use quell::model::untrusted::{is_inert, neutralize, Lines, Untrusted};
use quell::ports::RawEvent;
use quell::services::forensics::UnreadableEntry;

const INTERESTING: &[&[u8]] = &[
    b"\x1b",
    b"\x1b[2J",
    b"\x1b]0;t\x07",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xae",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"(",
    b")",
    b"=",
    b"!",
    b"in",
    b"notin",
    b"-1",
    b"99999999999999999999999",
    b"1e400",
    b"null",
    b"\xf0\x9f\x98\x80",
    b"\xed\xa0\x80",
    b"\n",
    b"\t",
    b" ",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.remove(i);
            }
            1 => {
                let i = rng.below(v.len() + 1);
                let ins = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(i..i, ins.iter().copied());
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next_u64() as u8;
            }
            3 if v.len() > 2 => {
                let cut = rng.below(v.len());
                v.truncate(cut);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next_u64() as u8);
            }
        }
    }
    v
}

const SEED_CHECKPOINT: &str = r#"{"session_id": "s-1", "step": 10, "messages": [{"role": "user", "content": "hi"}], "tool_results": [], "plan": {"goal": "x"}, "created_at": "2026-02-20T10:00:00.123456"}"#;
const SEED_EVENT: &str = r#"{"seq":1,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","time":"2026-11-28T03:00:00.000000Z","gen_ai.conversation.id":"s-1","step":0,"kind":"llm_call","identity":"agent:a","tool_calls":[{"gen_ai.tool.name":"t","gen_ai.tool.call.arguments":{"a":[1,2.5,null]}}],"hash":"00"}"#;
const SELECTORS: &[&str] =
    &["state=running,model=gpt-4.1", "tool in (send_email, payments.execute)", "!pod,namespace", "agent notin (a,b)"];

#[test]
fn corpus_of_bad_checkpoints_gives_reasons() {
    let cases: &[(&str, &str)] = &[
        ("", "not JSON"),
        ("{", "not JSON"),
        ("[]", "shape"),
        ("null", "shape"),
        (r#"{"session_id":"s","step":-1,"messages":[],"tool_results":[],"plan":{},"created_at":"x"}"#, "shape"),
        (r#"{"session_id":"s","step":"10","messages":[],"tool_results":[],"plan":{},"created_at":"x"}"#, "shape"),
        (r#"{"session_id":"s","step":1,"messages":{},"tool_results":[],"plan":{},"created_at":"x"}"#, "shape"),
        (r#"{"session_id":"s","step":1,"tool_results":[],"plan":{},"created_at":"x"}"#, "shape"),
        (r#"{"session_id":7,"step":1,"messages":[],"tool_results":[],"plan":{},"created_at":"x"}"#, "shape"),
    ];
    for (text, want) in cases {
        let err = Checkpoint::from_json(text).expect_err(text).to_string();
        assert!(err.contains(want), "{text:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn corpus_of_bad_events_is_rejected_not_trusted() {
    let cases = [
        "",
        "{}",
        "not json",
        r#"{"seq":"1"}"#,
        r#"{"seq":1,"prev_hash":"x","gen_ai.conversation.id":"s"}"#,
        r#"{"seq":1e400,"prev_hash":"x","gen_ai.conversation.id":"s","hash":"y"}"#,
        r#"{"seq":1,"prev_hash":"x","gen_ai.conversation.id":"s","n":123456789012345678901234567890,"hash":"y"}"#,
    ];
    for json in cases {
        let raw = RawEvent::new("test", json, None);
        match raw.link() {
            Ok((_, link)) => assert!(!link.intact, "{json}: a made-up hash never verifies"),
            Err(e) => assert!(!e.is_empty()),
        }
        assert!(raw.event().is_err(), "{json} is not a valid event");
    }
}

#[test]
fn corpus_of_bad_selectors_and_times() {
    for s in [
        "=",
        "state",
        "state=",
        "state==",
        "in (a)",
        "tool in ()",
        "tool in (a,",
        "tool notin a",
        "!",
        "!!pod",
        "a=b",
        "state=x)",
        "state=(x",
    ] {
        match Selector::parse(s) {
            Ok(sel) => assert!(!sel.is_empty() || s.trim().is_empty(), "{s:?} parsed to nothing"),
            Err(e) => assert_eq!(e.to_string().lines().count(), 1),
        }
    }
    assert!(Selector::parse("state").is_ok(), "bare field means exists");
    for t in ["", "-5m", "5", "m", "1y", "2026-13-01T00:00:00Z", "99999999999999999999s", "100000000d", "10 m"] {
        assert!(parse_time(t, time::now()).is_err(), "{t:?}");
    }
    assert_eq!(parse_seed_key("checkpoint:s:99999999999999999999999"), None, "step beyond u64 is no key");
}

/// A rejection as the operator reads it: one line (the CLI prints the first line of an error
/// only) that says what was wrong, with no raw control or bidi character (the input it quotes is
/// escaped).
fn assert_reason(input: &str, err: &str, names: &str) {
    assert_eq!(err.lines().count(), 1, "{input:?} is rejected with an empty or multi-line reason: {err:?}");
    assert!(err.contains(names), "{input:?} is rejected with {err:?}, which does not say {names:?}");
    assert!(is_inert(err), "{input:?} is rejected with raw control characters in {err:?}");
}

/// How often a parser accepted and rejected, so that neither half of a check is vacuous.
#[derive(Default, Debug)]
struct Tally {
    accepted: u32,
    rejected: u32,
}

impl Tally {
    fn count<T, E>(&mut self, r: &Result<T, E>) {
        match r {
            Ok(_) => self.accepted += 1,
            Err(_) => self.rejected += 1,
        }
    }
}

/// Every input a parser takes from outside either parses to something that reads back the same,
/// or is rejected with a reason (see [`assert_reason`]); nothing panics.
#[test]
fn fuzz_parsers_never_panic() {
    let mut rng = Rng::new(0x5eed_cafe_f00d_0001);
    let now = time::now();
    let (mut checkpoints, mut events, mut selectors, mut times, mut keys) =
        (Tally::default(), Tally::default(), Tally::default(), Tally::default(), Tally::default());
    for _ in 0..4000 {
        let cp = String::from_utf8_lossy(&mutate(&mut rng, SEED_CHECKPOINT.as_bytes())).into_owned();
        let parsed = Checkpoint::from_json(&cp);
        checkpoints.count(&parsed);
        match parsed {
            Ok(c) => assert_eq!(Checkpoint::from_json(&c.to_json()), Ok(c), "{cp:?} reads back the same"),
            Err(e) => assert_reason(&cp, &e.to_string(), "checkpoint"),
        }

        let ev = String::from_utf8_lossy(&mutate(&mut rng, SEED_EVENT.as_bytes())).into_owned();
        let raw = RawEvent::new("fuzz", &ev, None);
        if let Ok((_, link)) = raw.link() {
            assert!(!link.intact, "{ev:?}: a made-up hash never verifies");
        }
        let parsed = raw.event();
        events.count(&parsed);
        match parsed {
            Ok(e) => {
                let json = serde_json::to_string(&e).expect("an event serialises");
                assert_eq!(RawEvent::new("again", &json, None).event().as_ref(), Ok(&e), "{ev:?} reads back the same");
            }
            // Store text may be quoted raw in the error: what reaches the operator is the entry's
            // reason, which must still say why.
            Err(e) => {
                assert!(!e.trim().is_empty(), "{ev:?} is rejected without a reason");
                let entry = UnreadableEntry::event(&raw, &e);
                assert_reason(&ev, &entry.reason, &neutralize(&e, Lines::Escape));
            }
        }
        let raw = RawEvent::new("fuzz", &ev, Some("ab"));
        if let Ok((_, link)) = raw.link() {
            assert!(!link.intact, "{ev:?}: a made-up hash never verifies");
        }
        let object = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&ev);
        if object.is_ok_and(|o| !o.is_empty()) && ev.ends_with('}') {
            let whole: serde_json::Value = serde_json::from_str(&raw.to_json()).expect("to_json of an object is JSON");
            assert_eq!(whole.get("hash").and_then(|h| h.as_str()), Some("ab"), "{ev:?} with its hash");
        }

        let pick = SELECTORS[rng.below(SELECTORS.len())];
        let sel = String::from_utf8_lossy(&mutate(&mut rng, pick.as_bytes())).into_owned();
        let parsed = Selector::parse(&sel);
        selectors.count(&parsed);
        match parsed {
            Ok(s) => assert_eq!(Selector::parse(&s.to_string()), Ok(s), "{sel:?} reads back the same"),
            Err(e) => assert_reason(&sel, &e.to_string(), "selector"),
        }

        let t = String::from_utf8_lossy(&mutate(&mut rng, b"2026-11-28T03:00:00Z")).into_owned();
        let parsed = parse_time(&t, now);
        times.count(&parsed);
        match parsed {
            Ok(at) => {
                let back = parse_time(&time::format(&at), now).map(|b| time::to_micros(&b));
                assert_eq!(back, Ok(time::to_micros(&at)), "{t:?} reads back the same");
            }
            Err(e) => assert_reason(&t, &e.to_string(), "is not a time"),
        }

        let k = String::from_utf8_lossy(&mutate(&mut rng, b"checkpoint:s-1:10")).into_owned();
        let parsed = parse_seed_key(&k).ok_or(());
        keys.count(&parsed);
        if let Ok((session, step)) = parsed {
            let again = format!("checkpoint:{session}:{step}");
            assert_eq!(parse_seed_key(&again), Some((session, step)), "{k:?} reads back the same");
        }
    }
    for (what, tally) in
        [("checkpoints", checkpoints), ("events", events), ("selectors", selectors), ("times", times), ("keys", keys)]
    {
        eprintln!("{what}: {tally:?}");
        assert!(tally.accepted > 0 && tally.rejected > 0, "{what}: the fuzzer exercised both outcomes: {tally:?}");
    }
}

#[test]
fn fuzz_neutralised_text_is_always_inert() {
    let mut rng = Rng::new(0x5eed_cafe_f00d_0002);
    for _ in 0..4000 {
        let bytes = mutate(&mut rng, b"hello \x1b[31mworld\x1b[0m \xe2\x80\xae caf\xc3\xa9");
        let u = Untrusted::from_bytes(&bytes);
        for shown in [u.shown_line(), neutralize(u.raw(), Lines::Escape)] {
            assert!(is_inert(&shown), "{shown:?} from {bytes:?}");
            assert!(!shown.contains('\n'));
        }
        let multi = u.shown();
        assert!(multi.chars().all(|c| c == '\n' || !(c.is_control() || quell::model::untrusted::needs_escape(c))));
    }
}

#[test]
fn fuzz_canonical_json_round_trips() {
    let mut rng = Rng::new(0x5eed_cafe_f00d_0003);
    let mut checked = 0;
    for _ in 0..3000 {
        let text = String::from_utf8_lossy(&mutate(&mut rng, SEED_EVENT.as_bytes())).into_owned();
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let Ok(canonical) = to_canonical(&value) else { continue };
        let back: serde_json::Value = serde_json::from_str(&canonical).expect("canonical JSON parses");
        assert_eq!(back, value, "canonical form keeps the value");
        assert_eq!(to_canonical(&back).unwrap(), canonical, "canonical form is a fixed point");
        checked += 1;
    }
    assert!(checked > 100, "the fuzzer produced valid JSON often enough ({checked})");
}
