//! The embedded store: one SQLite file (bundled SQLite) in WAL mode. The default backend and the
//! reference implementation of every port.

mod approvals;
mod audit;
mod control;
mod sessions;

use crate::ports::{Result, StoreError, Stores};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const SCHEMA: &str = include_str!("schema.sql");
const SCHEMA_VERSION: &str = "1";

/// One store file. Cheap to share (`Arc`); several processes may open the same file.
pub struct EmbeddedStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Chain tails as of our own last commit, valid while `PRAGMA data_version` on the writer
    /// connection is unchanged (it changes only when another connection commits).
    tails: Mutex<audit::TailCache>,
}

/// How a command opens the store file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file (and its folder) when missing: for what starts a store on purpose (the
    /// demo, an agent).
    Create,
    /// An existing store, read and written (actions). A missing file is `no such store PATH`.
    Existing,
    /// An existing store, only read (listings, forensics, the read-only console): works on a
    /// file and folder the user may only read. Nothing is written, not even the schema.
    ReadOnly,
}

impl EmbeddedStore {
    /// Opens (creating when missing) the store at `path`. A file that is not a quell store is
    /// refused with a one-line reason and left untouched.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, OpenMode::Create)
    }

    /// Opens the store at `path` as `mode` says. A file that is not a quell store is refused
    /// with a one-line reason and left untouched.
    pub fn open_with(path: &Path, mode: OpenMode) -> Result<Self> {
        if mode == OpenMode::Create {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create store folder {}: {e}", parent.display()))
                })?;
            }
        } else if !path.exists() {
            return Err(missing(path));
        }
        let existed = path.exists();
        if existed {
            check_header(path)?;
        }
        if mode == OpenMode::ReadOnly {
            return Self::open_read_only(path);
        }
        // Inspect before any pragma: switching to WAL rewrites the header of a foreign file.
        let inspect =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
                .map_err(|e| sql_error(path, e))?;
        inspect.busy_timeout(Duration::from_secs(10)).map_err(|e| sql_error(path, e))?;
        check_foreign(&inspect, path, existed)?;
        drop(inspect);
        let writer = connect(path)?;
        init_schema(&writer, path)?;
        let reader = connect(path)?;
        Ok(Self::with(path, writer, reader))
    }

    fn with(path: &Path, writer: Connection, reader: Connection) -> Self {
        EmbeddedStore {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            tails: Mutex::new(audit::TailCache::default()),
        }
    }

    /// Both connections read-only; every write fails ("attempt to write a readonly database").
    fn open_read_only(path: &Path) -> Result<Self> {
        let reader = connect_read_only(path)?;
        if !check_foreign(&reader, path, true)? {
            return Err(StoreError::Corrupt(format!("{} is empty, not a quell store yet", path.display())));
        }
        let writer = connect_read_only(path)?;
        Ok(Self::with(path, writer, reader))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All four ports on this one file.
    pub fn stores(self) -> Stores {
        let this = Arc::new(self);
        Stores { sessions: this.clone(), control: this.clone(), approvals: this.clone(), audit: this }
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` in an IMMEDIATE transaction (takes the write lock up front, so concurrent
    /// processes serialise instead of failing on upgrade).
    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.err(e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        sql_error(&self.path, e)
    }
}

fn check_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut header = [0u8; 16];
    let mut file = std::fs::File::open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open store {}: {e}", path.display())))?;
    let n = file
        .read(&mut header)
        .map_err(|e| StoreError::Unavailable(format!("cannot read store {}: {e}", path.display())))?;
    if n > 0 && (n < 16 || &header != b"SQLite format 3\0") {
        return Err(StoreError::Corrupt(format!("{} is not a quell store (not an SQLite database)", path.display())));
    }
    Ok(())
}

fn connect(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, e))?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(|e| sql_error(path, e))?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| sql_error(path, e))?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| sql_error(path, e))?;
    conn.pragma_update(None, "cache_size", -65536).map_err(|e| sql_error(path, e))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// `no such store PATH`: what every command but the demo and an agent says for a missing file.
pub fn missing(path: &Path) -> StoreError {
    StoreError::Unavailable(format!("no such store {}", path.display()))
}

/// A read-only connection. SQLite reads a WAL database read-only when its `-shm` and `-wal`
/// files exist (a writer has it open) or can be created. When neither holds (the folder is not
/// ours to write and no writer has the store open, so there is no `-wal`), the file is opened
/// `immutable`: without a `-wal` the database file holds every commit, and no writer can start
/// without creating one. Changes a writer makes after that are not seen by this connection.
fn connect_read_only(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let probe = |conn: &Connection| conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0));
    let first = Connection::open_with_flags(path, flags).and_then(|conn| probe(&conn).map(|_| conn));
    let conn = match first {
        Ok(conn) => conn,
        Err(e) if !wal_path(path).exists() => {
            let uri = format!("file:{}?immutable=1", uri_path(path));
            Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
                .and_then(|conn| probe(&conn).map(|_| conn))
                .map_err(|_| sql_error(path, e))?
        }
        Err(e) => return Err(sql_error(path, e)),
    };
    conn.busy_timeout(Duration::from_secs(10)).map_err(|e| sql_error(path, e))?;
    conn.pragma_update(None, "cache_size", -65536).map_err(|e| sql_error(path, e))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// `path` for an SQLite `file:` URI: everything but unreserved characters and `/` escaped.
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Refuses a file that is not a quell store of this schema version; `true` when it is one
/// (`false`: an empty database, which only a creator may initialise).
fn check_foreign(conn: &Connection, path: &Path, existed: bool) -> Result<bool> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| sql_error(path, e))?;
    if tables.iter().any(|t| t == "quell_meta") {
        let version: Option<String> = conn
            .query_row("SELECT value FROM quell_meta WHERE key = 'version'", [], |r| r.get(0))
            .map_err(|e| sql_error(path, e))?;
        return match version.as_deref() {
            Some(SCHEMA_VERSION) => Ok(true),
            other => Err(StoreError::Corrupt(format!(
                "{} is a quell store of schema version {}, this quell reads version {SCHEMA_VERSION}",
                path.display(),
                other.unwrap_or("unknown")
            ))),
        };
    }
    if existed && !tables.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "{} is an SQLite database but not a quell store (it has tables: {})",
            path.display(),
            tables.join(", ")
        )));
    }
    Ok(false)
}

/// Creates the schema when missing (idempotent; concurrent creators serialise on the lock).
fn init_schema(conn: &Connection, path: &Path) -> Result<()> {
    conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;")).map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        sql_error(path, e)
    })
}

fn sql_error(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    let code = e.sqlite_error_code();
    let msg = format!("store {}: {e}", path.display());
    match code {
        Some(ErrorCode::NotADatabase) => {
            StoreError::Corrupt(format!("{} is not a quell store (not an SQLite database)", path.display()))
        }
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt(msg),
        // A file (or folder) this user may only read: say so, not only SQLite's wording.
        Some(ErrorCode::ReadOnly) => {
            StoreError::Unavailable(format!("store {} cannot be written by this user: {e}", path.display()))
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen)
        | Some(ErrorCode::SystemIoFailure | ErrorCode::DiskFull | ErrorCode::PermissionDenied) => {
            StoreError::Unavailable(msg)
        }
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(msg),
        _ => StoreError::Unavailable(msg),
    }
}

/// A stored document column as text, or why it is not (invalid UTF-8 planted in the file, a
/// blob, a number): one bad row becomes an unreadable entry, never an error for the whole read.
fn doc_text(value: rusqlite::types::ValueRef<'_>) -> std::result::Result<&str, String> {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Text(b) | ValueRef::Blob(b) => {
            std::str::from_utf8(b).map_err(|e| format!("is not valid UTF-8 ({e})"))
        }
        ValueRef::Null => Err("is NULL".into()),
        ValueRef::Integer(_) | ValueRef::Real(_) => Err("is a number, not a JSON document".into()),
    }
}

/// A key column (an id) for display: whatever bytes the file holds, neutralised.
fn shown_text(value: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Text(b) | ValueRef::Blob(b) => crate::model::unreadable::reason(String::from_utf8_lossy(b)),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(x) => x.to_string(),
        ValueRef::Null => "?".into(),
    }
}

fn bad_doc(path: &Path, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("store {}: unreadable {what}: {e}", path.display()))
}

/// The audit log of a store file that does not exist (with Redis holding the live state, the
/// embedded store holds only the audit log): every call says `no such store PATH`, so a listing
/// that never reads the log works and nothing claims to have read or written it.
pub struct AbsentAuditLog {
    path: PathBuf,
}

impl AbsentAuditLog {
    pub fn new(path: &Path) -> Self {
        AbsentAuditLog { path: path.to_owned() }
    }
}

impl crate::ports::AuditLog for AbsentAuditLog {
    fn append(&self, _: &[crate::ports::SealedEvent]) -> Result<()> {
        Err(missing(&self.path))
    }

    fn tail(&self, _: &str) -> Result<Option<crate::model::chain::ChainTail>> {
        Err(missing(&self.path))
    }

    fn health(&self) -> Result<()> {
        Err(missing(&self.path))
    }

    fn scan(
        &self,
        _: &crate::ports::AuditQuery,
        _: &mut dyn FnMut(crate::ports::RawEvent<'_>) -> Result<()>,
    ) -> Result<()> {
        Err(missing(&self.path))
    }
}
