-- quell embedded store, schema version 1. One SQLite file in WAL mode, shared by the console
-- and agent processes on one machine.
CREATE TABLE IF NOT EXISTS quell_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO quell_meta (key, value) VALUES ('schema', 'quell'), ('version', '1');

CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    last_seen_us INTEGER NOT NULL,
    ack_generation INTEGER NOT NULL,
    doc TEXT NOT NULL
);

-- The seed's checkpoint JSON, verbatim, one row per (session, step).
CREATE TABLE IF NOT EXISTS checkpoints (
    session_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (session_id, step)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS control (
    target TEXT PRIMARY KEY,          -- '*' for the fleet, else a session id
    desired TEXT NOT NULL,
    operator TEXT NOT NULL,
    reason TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    generation INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS control_by_generation ON control (generation);
CREATE TABLE IF NOT EXISTS control_generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT OR IGNORE INTO control_generation (id, value) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_pending ON approvals (status, expires_us);

-- Append-only: body is the canonical JSON the hash covers (without "hash").
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    chain TEXT NOT NULL,
    seq INTEGER NOT NULL,
    time_us INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_chain ON audit (chain);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time_us);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
