use super::{bad_doc, doc_text, shown_text, EmbeddedStore};
use crate::model::checkpoint::{Checkpoint, UnreadableCheckpoint};
use crate::model::session::{validate_session_id, Session, SessionState};
use crate::model::time;
use crate::model::unreadable::{json_reason, reason};
use crate::ports::{Result, SessionStore};
use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension};

/// One stored session row. A document that is not UTF-8, not JSON or not a session, or that
/// names another (or an invalid) id, becomes a session marked unreadable with the reason: one
/// bad row never fails the listing, `verify` or the console's fleet.
fn parse_session(id: ValueRef<'_>, doc: ValueRef<'_>) -> Session {
    // Built only for a bad row: listing a big fleet pays nothing for it.
    let unreadable = |why: String| {
        let mut s = Session::new(shown_text(id), "?", time::from_micros(0));
        s.unreadable = Some(why);
        s
    };
    let raw_id = match id.as_str() {
        Ok(id) if validate_session_id(id).is_ok() => id,
        _ => return unreadable("the session row's id is not a valid session id".into()),
    };
    let parsed = doc_text(doc).map_err(|e| format!("session record {e}")).and_then(|d| {
        serde_json::from_str::<Session>(d).map_err(|e| format!("session record is not readable: {}", json_reason(&e)))
    });
    match parsed {
        Ok(s) if s.id == raw_id => s,
        Ok(s) => unreadable(format!("record says it is session {}", reason(&s.id))),
        Err(why) => unreadable(why),
    }
}

impl SessionStore for EmbeddedStore {
    fn put_sessions(&self, sessions: &[Session]) -> Result<()> {
        if sessions.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO sessions (id, state, last_seen_us, ack_generation, doc) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO UPDATE SET state = ?2, last_seen_us = ?3, ack_generation = ?4, doc = ?5",
                )
                .map_err(|e| self.err(e))?;
            for s in sessions {
                let doc = serde_json::to_string(s).map_err(|e| bad_doc(&self.path, "session", e))?;
                st.execute(params![
                    s.id,
                    s.state.as_str(),
                    time::to_micros(&s.last_seen),
                    s.ack_generation as i64,
                    doc
                ])
                .map_err(|e| self.err(e))?;
            }
            Ok(())
        })
    }

    fn session(&self, id: &str) -> Result<Option<Session>> {
        let conn = self.reader();
        conn.query_row("SELECT id, doc FROM sessions WHERE id = ?1", [id], |r| {
            Ok(parse_session(r.get_ref(0)?, r.get_ref(1)?))
        })
        .optional()
        .map_err(|e| self.err(e))
    }

    fn sessions(&self) -> Result<Vec<Session>> {
        let conn = self.reader();
        let mut st = conn.prepare_cached("SELECT id, doc FROM sessions ORDER BY id").map_err(|e| self.err(e))?;
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            out.push(parse_session(row.get_ref(0).map_err(|e| self.err(e))?, row.get_ref(1).map_err(|e| self.err(e))?));
        }
        Ok(out)
    }

    fn acknowledgements(&self) -> Result<Vec<(String, u64, SessionState)>> {
        let conn = self.reader();
        let mut st = conn.prepare_cached("SELECT id, ack_generation, state FROM sessions").map_err(|e| self.err(e))?;
        let rows: Vec<(String, i64, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|it| it.collect())
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(id, ack, state)| {
                let state = SessionState::parse(&state).ok_or_else(|| bad_doc(&self.path, "session state", &state))?;
                Ok((id, ack as u64, state))
            })
            .collect()
    }

    fn save_checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO checkpoints (session_id, step, doc) VALUES (?1, ?2, ?3)",
                params![cp.session_id, cp.step as i64, cp.to_json()],
            )
            .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    fn checkpoint_entries(
        &self,
        session_id: &str,
    ) -> Result<Vec<std::result::Result<Checkpoint, UnreadableCheckpoint>>> {
        let conn = self.reader();
        let mut st = conn
            .prepare_cached("SELECT step, doc FROM checkpoints WHERE session_id = ?1 ORDER BY step")
            .map_err(|e| self.err(e))?;
        st.query_map([session_id], |r| {
            let step = r.get::<_, i64>(0)? as u64;
            let read = doc_text(r.get_ref(1)?)
                .map_err(|e| format!("checkpoint {e}"))
                .and_then(|doc| Checkpoint::from_stored(session_id, step, doc).map_err(reason));
            Ok(read.map_err(|reason| UnreadableCheckpoint { session_id: session_id.to_owned(), step, reason }))
        })
        .and_then(|it| it.collect())
        .map_err(|e| self.err(e))
    }

    fn latest_checkpoint(&self, session_id: &str) -> Result<Option<Checkpoint>> {
        let conn = self.reader();
        let row: Option<(i64, String)> = conn
            .query_row(
                "SELECT step, doc FROM checkpoints WHERE session_id = ?1 ORDER BY step DESC LIMIT 1",
                [session_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|(step, doc)| {
            Checkpoint::from_stored(session_id, step as u64, &doc)
                .map_err(|e| bad_doc(&self.path, &format!("checkpoint {session_id} step {step}"), e))
        })
        .transpose()
    }
}
