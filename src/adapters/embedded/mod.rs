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

impl EmbeddedStore {
    /// Opens (creating when missing) the store at `path`. A file that is not a quell store is
    /// refused with a one-line reason and left untouched.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("cannot create store folder {}: {e}", parent.display()))
            })?;
        }
        let existed = path.exists();
        if existed {
            check_header(path)?;
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
        Ok(EmbeddedStore {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            tails: Mutex::new(audit::TailCache::default()),
        })
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

fn check_foreign(conn: &Connection, path: &Path, existed: bool) -> Result<()> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| sql_error(path, e))?;
    if tables.iter().any(|t| t == "quell_meta") {
        let version: Option<String> = conn
            .query_row("SELECT value FROM quell_meta WHERE key = 'version'", [], |r| r.get(0))
            .map_err(|e| sql_error(path, e))?;
        return match version.as_deref() {
            Some(SCHEMA_VERSION) => Ok(()),
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
    Ok(())
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
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen | ErrorCode::ReadOnly)
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
