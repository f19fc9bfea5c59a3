//! The Redis store: live sessions and the seed's checkpoints, control and approvals for a fleet
//! (the audit log stays in the embedded store or Kafka; [`RedisStore::stores`] mixes them).
//!
//! # Keys
//!
//! Everything below is prefixed by an optional namespace (empty in production; tests use one
//! per store so they can share a server).
//!
//! | key | type | written by |
//! | --- | --- | --- |
//! | `checkpoint:{session_id}:{step}` | string, the seed's JSON, `SETEX 86400` | the seed's Python agents and the quell agent library alike |
//! | `quell:s:{<session>}:doc` | string, the [`Session`](crate::model::session::Session) as JSON, 24 h TTL renewed by heartbeats | quell agent library |
//! | `quell:s:{<session>}:steps` | sorted set of checkpoint steps (the index that spares a `SCAN`) | quell agent library |
//! | `quell:sessions` | sorted set: session id scored by the time of its last report (µs) | quell agent library |
//! | `quell:c:{control}:gen` / `:rec` / `:chg` | counter / hash target → record / sorted set target by generation | operators |
//! | `quell:a:{<approval>}` | string, the approval as JSON | agents request, operators decide |
//! | `quell:approvals` | sorted set: approval id scored by request time | agents |
//! | `quell:approvals:pending` | sorted set: undecided approval ids scored by expiry | agents add, deciders remove |
//! | `checkpoint:{thread}:{ns}:{checkpoint_id}`, `checkpoint:{thread}:{ns}` | RedisJSON documents, **not read**: skipped and counted | LangGraph's own Redis checkpointer (langgraph-checkpoint-redis; full and shallow saver) |
//!
//! LangGraph's checkpointer shares the `checkpoint:` prefix with the seed. Its keys are told
//! apart by shape (the last part a UUID — a checkpoint id or a subgraph task's id — or the root
//! namespace, `__empty__` or empty; a seed key ends in a numeric step), and a seed-shaped key
//! whose value is a RedisJSON document (GET answers WRONGTYPE, `TYPE` says `ReJSON-RL`) is taken
//! for another writer's too. Neither is listed as a session nor fails a listing: each full
//! listing counts them ([`RedisStore::foreign_keys`]) and [`RedisStore::report_lines`] says so in
//! one line. A seed-shaped key of any other wrong type (a hash, say) is still shown as its
//! session's `unreadable` reason. Its other keys (`checkpoint_latest:…`, `checkpoint_write:…`,
//! `write_keys_zset:…`) do not match `checkpoint:*` and are never met.
//!
//! The seed's key is `checkpoint:` + session id + `:` + step, literally (its `{}` are Python
//! f-string fields, not hash tags): quell reads and writes exactly that. Every key quell adds
//! carries a hash tag, and every multi-key script touches one tag only — a session's keys, one
//! approval's keys, or the control keys — so the same layout is valid on Redis Cluster. (The
//! connection here is a single-node one; a Cluster client is not wired up yet.)
//!
//! Never `KEYS`: sessions come from the `quell:sessions` index plus an incremental `SCAN` for
//! sessions that only have seed checkpoints (written by agents that do not use the library).
//!
//! # Connections and TLS
//!
//! `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS (rustls). The server's
//! certificate is always verified, against the system's roots (rustls-native-certs, which also
//! honours `SSL_CERT_FILE` / `SSL_CERT_DIR`) or, when a CA file is given
//! ([`RedisStore::open_with_ca`]; in the CLI `--redis-ca PATH`, `QUELL_REDIS_CA`, or the config
//! key `redis_ca = "PATH"`), against the PEM certificates in that file only (the redis crate's
//! own `TlsCertificates::root_cert`). There is no switch that turns verification off (the redis
//! crate's `#insecure` URL fragment is refused, and its insecure feature is not built). A CA file
//! with a plain `redis://` URL is refused rather than silently ignored. `user:password` logs in
//! with `AUTH` (an ACL user, or `requirepass` without a user).
//!
//! # Failures
//!
//! Every error names the server by its URL with the password replaced by `***`; the password is
//! also scrubbed from any text the client library produces. A connection that fails is dropped
//! and the command retried once on a fresh one (this is what carries a client across a server
//! restart); writes that are not naturally idempotent check on the retry whether their first
//! attempt landed.
//!
//! Every call has a deadline (`wire::CALL_DEADLINE`, from the first byte sent to the last
//! reply byte read) and every reply a size bound (`wire::MAX_REPLY`), enforced by quell's own
//! transport (`wire`): a server that answers one byte per second, or announces a reply of a
//! terabyte, fails the call with "redis redis://host:port: no complete reply within 10 s" (or
//! "… a reply larger than 64 MiB") instead of hanging or filling memory. Such a call is not
//! retried: the server would do the same again.

mod approvals;
mod control;
mod sessions;
mod wire;

pub use sessions::{parse_created_at, ForeignKeys};

use crate::ports::{AuditLog, Result, StoreError, Stores};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

const MAX_IDLE: usize = 16;

/// The seed's checkpoint TTL (`SETEX … 86400`), also used for session records and the index.
pub const TTL_SECS: u64 = 86_400;

/// One Redis server. Cheap to share (`Arc`); holds a small pool of connections.
pub struct RedisStore {
    /// Where and how to log in, parsed from the URL by the redis crate.
    info: redis::ConnectionInfo,
    /// How a `rediss://` server is verified.
    tls: Option<Arc<rustls::ClientConfig>>,
    idle: Mutex<Vec<wire::Wire>>,
    shown: String,
    secret: Option<String>,
    keys: Keys,
    /// Seed-only session ids seen by the last full scan, and when (see `sessions.rs`).
    seed_ids: Mutex<Option<(std::time::Instant, std::collections::HashSet<String>)>>,
    /// Keys under `checkpoint:` the last full scan skipped as another writer's.
    foreign: Mutex<ForeignKeys>,
}

/// Key names. See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    ns: String,
}

impl Keys {
    pub(crate) fn checkpoint(&self, session_id: &str, step: u64) -> String {
        format!("{}checkpoint:{session_id}:{step}", self.ns)
    }
    pub(crate) fn checkpoint_prefix(&self) -> String {
        format!("{}checkpoint:", self.ns)
    }
    pub(crate) fn session(&self, id: &str) -> String {
        format!("{}quell:s:{{{id}}}:doc", self.ns)
    }
    pub(crate) fn steps(&self, id: &str) -> String {
        format!("{}quell:s:{{{id}}}:steps", self.ns)
    }
    pub(crate) fn sessions_index(&self) -> String {
        format!("{}quell:sessions", self.ns)
    }
    pub(crate) fn control_generation(&self) -> String {
        format!("{}quell:c:{{control}}:gen", self.ns)
    }
    pub(crate) fn control_records(&self) -> String {
        format!("{}quell:c:{{control}}:rec", self.ns)
    }
    pub(crate) fn control_changes(&self) -> String {
        format!("{}quell:c:{{control}}:chg", self.ns)
    }
    pub(crate) fn approval(&self, id: &str) -> String {
        format!("{}quell:a:{{{id}}}", self.ns)
    }
    pub(crate) fn approvals_index(&self) -> String {
        format!("{}quell:approvals", self.ns)
    }
    pub(crate) fn approvals_pending(&self) -> String {
        format!("{}quell:approvals:pending", self.ns)
    }
}

/// Splits `scheme://userinfo@rest` at the LAST `@` (a password may contain `/`, `?` or `@`).
fn split_url(url: &str) -> Option<(&str, Option<&str>, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    Some(match rest.rfind('@') {
        Some(at) => (scheme, Some(&rest[..at]), &rest[at + 1..]),
        None => (scheme, None, rest),
    })
}

/// The password of a Redis URL (or the lone userinfo, which the server would take as one).
fn url_secret(url: &str) -> Option<String> {
    let (_, userinfo, _) = split_url(url)?;
    let userinfo = userinfo?;
    let secret = userinfo.split_once(':').map(|(_, p)| p).unwrap_or(userinfo);
    (!secret.is_empty()).then(|| secret.to_owned())
}

/// `redis://user:secret@host:6379/0` → `redis://user:***@host:6379/0`. Query strings (which may
/// carry a password) are elided; anything that does not look like a URL is shown as
/// `<redis url>` rather than risk echoing a secret.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, userinfo, rest)) = split_url(url) else {
        return "<redis url>".into();
    };
    let rest = match rest.split_once('?') {
        Some((p, _)) => format!("{p}?…"),
        None => rest.to_owned(),
    };
    match userinfo {
        Some(u) if u.contains(':') => {
            let user = u.split_once(':').map(|(user, _)| user).unwrap_or_default();
            format!("{scheme}://{user}:***@{rest}")
        }
        Some("") => format!("{scheme}://{rest}"),
        Some(_) => format!("{scheme}://:***@{rest}"),
        None => format!("{scheme}://{rest}"),
    }
}

fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

impl RedisStore {
    /// Connects to `url` (`redis://[user:password@]host:port[/db]`, or `rediss://` for TLS,
    /// verified against the system's roots). Fails with a one-line error naming the (redacted)
    /// address.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_namespaced(url, "")
    }

    /// Like [`RedisStore::open`]; for a `rediss://` URL, `ca_file` (PEM) replaces the system's
    /// roots as the certificates the server's certificate must chain to.
    pub fn open_with_ca(url: &str, ca_file: Option<&Path>) -> Result<Self> {
        Self::open_namespaced_with_ca(url, "", ca_file)
    }

    /// Like [`RedisStore::open`], with every key prefixed by `namespace` (tests, or several
    /// quell installations on one server).
    pub fn open_namespaced(url: &str, namespace: &str) -> Result<Self> {
        Self::open_namespaced_with_ca(url, namespace, None)
    }

    /// [`RedisStore::open_namespaced`] with [`RedisStore::open_with_ca`]'s CA file.
    pub fn open_namespaced_with_ca(url: &str, namespace: &str, ca_file: Option<&Path>) -> Result<Self> {
        let shown = redact_url(url);
        if namespace.contains(['{', '}']) {
            return Err(StoreError::Invalid(format!("redis namespace {namespace:?} must not contain '{{' or '}}'")));
        }
        let secret = url_secret(url);
        let scrub = |text: String| match &secret {
            Some(s) => text.replace(s.as_str(), "***"),
            None => text,
        };
        let tls = url.starts_with("rediss://");
        if tls && split_url(url).is_some_and(|(_, _, rest)| rest.contains('#')) {
            return Err(StoreError::Invalid(format!(
                "redis {shown}: certificate verification cannot be turned off (no #insecure); give the \
                 server's CA with --redis-ca, QUELL_REDIS_CA or redis_ca in the config file"
            )));
        }
        if tls {
            // rustls needs a process-wide crypto provider; ring is the one in the tree. An
            // error only means one is installed already.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let pem = match ca_file {
            None => None,
            Some(path) => {
                if !tls {
                    return Err(StoreError::Invalid(format!(
                        "redis {shown}: a CA file ({}) is set but the URL is not rediss:// (TLS)",
                        path.display()
                    )));
                }
                let pem = std::fs::read(path).map_err(|e| {
                    StoreError::Invalid(format!("redis {shown}: cannot read the CA file {}: {e}", path.display()))
                })?;
                if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                    return Err(StoreError::Invalid(format!(
                        "redis {shown}: the CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                        path.display()
                    )));
                }
                Some((path, pem))
            }
        };
        let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(|e| {
            StoreError::Invalid(scrub(one_line(&format!("redis {shown}: not a usable Redis URL: {e}"))))
        })?;
        let tls = match (tls, &pem) {
            (false, _) => None,
            (true, None) => {
                Some(wire::tls_config(None).map_err(|e| StoreError::Invalid(format!("redis {shown}: {e}")))?)
            }
            (true, Some((path, pem))) => Some(
                wire::tls_config(Some(pem))
                    .map_err(|e| StoreError::Invalid(format!("redis {shown}: the CA file {}: {e}", path.display())))?,
            ),
        };
        let store = RedisStore {
            info,
            tls,
            idle: Mutex::new(Vec::new()),
            shown,
            secret,
            keys: Keys { ns: namespace.to_owned() },
            seed_ids: Mutex::new(None),
            foreign: Mutex::new(ForeignKeys::default()),
        };
        let conn = store.connect()?;
        store.put_back(conn);
        Ok(store)
    }

    /// The server address with the password hidden.
    pub fn address(&self) -> &str {
        &self.shown
    }

    /// Sessions, control and approvals here; the audit log from `audit`.
    pub fn stores(self, audit: Arc<dyn AuditLog>) -> Stores {
        Self::shared_stores(&Arc::new(self), audit)
    }

    /// [`RedisStore::stores`] for a store the caller keeps a handle on (to ask it for
    /// [`RedisStore::report_lines`] after a command).
    pub fn shared_stores(this: &Arc<Self>, audit: Arc<dyn AuditLog>) -> Stores {
        Stores { sessions: this.clone(), control: this.clone(), approvals: this.clone(), audit }
    }

    /// What an operator should see after a command: when the last full listing skipped keys
    /// under `checkpoint:` as another writer's, one line saying how many, naming a few. Safe to
    /// print (the keys are neutralised).
    pub fn report_lines(&self) -> Vec<String> {
        let foreign = self.foreign_keys();
        if foreign.count == 0 {
            return Vec::new();
        }
        let more = if foreign.count > foreign.examples.len() { ", …" } else { "" };
        vec![format!(
            "redis {}: skipped {} key(s) under {}* that are not the seed's checkpoints (LangGraph's Redis \
             checkpointer or another RedisJSON writer): {}{more}",
            self.shown,
            foreign.count,
            shown_key(&self.keys.checkpoint_prefix()),
            foreign.examples.join(", ")
        )]
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    fn idle(&self) -> MutexGuard<'_, Vec<wire::Wire>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn connect(&self) -> Result<wire::Wire> {
        wire::connect(&self.info, self.tls.as_ref()).map_err(|(e, overrun)| match overrun {
            Some(why) => self.overran(why),
            None => self.unavailable(&e),
        })
    }

    fn put_back(&self, conn: wire::Wire) {
        use redis::ConnectionLike;
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE && conn.is_open() {
            idle.push(conn);
        }
    }

    /// Runs `f` on a pooled connection. On a connection failure every pooled connection is
    /// dropped (they are most likely dead too, e.g. after a server restart) and `f` runs once
    /// more on a fresh connection; `retried` tells `f` it is the second attempt. A call that
    /// overran its deadline or size bound is not retried.
    pub(crate) fn run<T>(&self, mut f: impl FnMut(&mut wire::Wire, bool) -> redis::RedisResult<T>) -> Result<T> {
        let mut retried = false;
        loop {
            let pooled = self.idle().pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => self.connect()?,
            };
            match f(&mut conn, retried) {
                Ok(v) => {
                    self.put_back(conn);
                    return Ok(v);
                }
                Err(e) => {
                    if let Some(why) = conn.overrun() {
                        self.idle().clear();
                        return Err(self.overran(why));
                    }
                    if is_connection_error(&e) {
                        self.idle().clear();
                        if retried {
                            return Err(self.unavailable(&e));
                        }
                        retried = true;
                        continue;
                    }
                    // A reply that could not be parsed closed the connection; put_back drops it.
                    self.put_back(conn);
                    return Err(self.server_error(&e));
                }
            }
        }
    }

    /// A call cut off by its deadline or size bound (see [`wire`]).
    fn overran(&self, why: wire::Overrun) -> StoreError {
        StoreError::Unavailable(format!("redis {}: {why}", self.shown))
    }

    pub(crate) fn scrub(&self, text: String) -> String {
        match &self.secret {
            Some(s) => text.replace(s.as_str(), "***"),
            None => text,
        }
    }

    fn unavailable(&self, e: &redis::RedisError) -> StoreError {
        let text = e.to_string();
        let what = if text.contains("invalid peer certificate") {
            "TLS: the server's certificate is not trusted (give its CA with --redis-ca, QUELL_REDIS_CA or \
             redis_ca in the config file)"
                .to_owned()
        } else if e.kind() == redis::ErrorKind::AuthenticationFailed {
            "authentication failed (wrong user or password)".to_owned()
        } else if e.is_connection_refusal() {
            "cannot connect".to_owned()
        } else if e.is_timeout() {
            "timed out".to_owned()
        } else {
            "connection failed".to_owned()
        };
        StoreError::Unavailable(self.scrub(format!("redis {}: {what}: {}", self.shown, one_line(&text))))
    }

    fn server_error(&self, e: &redis::RedisError) -> StoreError {
        let text = self.scrub(format!("redis {}: {}", self.shown, one_line(&e.to_string())));
        if e.code() == Some("WRONGTYPE") || text.contains("WRONGTYPE") {
            StoreError::Corrupt(text)
        } else {
            StoreError::Unavailable(text)
        }
    }

    /// A stored value that is not what quell wrote.
    pub(crate) fn corrupt(&self, key: &str, what: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(self.scrub(format!("redis {}: key {}: {what}", self.shown, shown_key(key))))
    }
}

fn one_line(text: &str) -> String {
    text.split(['\n', '\r']).filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join(" ")
}

/// A key for messages: keys may come from other writers, so neutralise them.
pub(crate) fn shown_key(key: &str) -> String {
    crate::model::untrusted::neutralize(key, crate::model::untrusted::Lines::Escape)
}

/// Escapes `*?[]\` for a `SCAN … MATCH` pattern.
pub(crate) fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One reply of a pipeline run with `ignore_errors`: a string, nothing, or the reason it is not
/// a string.
pub(crate) enum Reply {
    Text(String),
    Missing,
    Bad(String),
}

pub(crate) fn reply(value: redis::Value) -> Reply {
    match value {
        redis::Value::Nil => Reply::Missing,
        redis::Value::BulkString(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Reply::Text(s),
            Err(e) => Reply::Bad(format!("value is not UTF-8: {e}")),
        },
        redis::Value::SimpleString(s) => Reply::Text(s),
        redis::Value::VerbatimString { text, .. } => Reply::Text(text),
        redis::Value::ServerError(e) if e.code() == "WRONGTYPE" => {
            Reply::Bad("holds a value of the wrong type (not a string)".into())
        }
        redis::Value::ServerError(e) => Reply::Bad(format!("server error: {e}")),
        other => Reply::Bad(format!("unexpected reply {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact_url("redis://:hunter2@h:1/3"), "redis://:***@h:1/3");
        assert_eq!(redact_url("rediss://alice:hunter2@h:1"), "rediss://alice:***@h:1");
        assert_eq!(redact_url("redis://hunter2@h:1"), "redis://:***@h:1");
        assert_eq!(redact_url("redis://h:1/0?password=hunter2"), "redis://h:1/0?…");
        assert_eq!(redact_url("hunter2"), "<redis url>");
        assert_eq!(redact_url("redis://a:p@ss@h:1"), "redis://a:***@h:1");
        assert_eq!(redact_url("redis://a:p/w?x@h:1/2"), "redis://a:***@h:1/2");
        assert_eq!(url_secret("redis://a:p/w?x@h:1/2").as_deref(), Some("p/w?x"));
        assert_eq!(url_secret("redis://h:1"), None);
    }

    #[test]
    fn glob_is_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
