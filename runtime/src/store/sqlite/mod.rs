//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL` (every commit is
//! fsync'd). Writes go through one writer thread (group commit, `writer.rs`); reads use a
//! connection of their own. The schema is versioned (`schema.rs`).

mod catalog;
mod journal;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

use self::writer::{Op, WriteHealth};
use super::StoreError;
use super::catalog::Read;

pub use self::schema::LATEST as SCHEMA_VERSION;

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Sender<Op>>,
    reader: Mutex<Connection>,
    health: Arc<WriteHealth>,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// A read answered at once (SQLite reads are local and short).
fn ready<'a, T: Send + 'a>(r: Result<T, StoreError>) -> Read<'a, T> {
    Box::pin(std::future::ready(r))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, bringing its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut conn =
            Connection::open(path).map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        schema::migrate(&mut conn, path)?;
        let reader = Connection::open(path).map_err(err)?;
        let (tx, rx) = channel();
        let health = Arc::new(WriteHealth::default());
        let writer_health = health.clone();
        std::thread::Builder::new()
            .name("wasmstep-sqlite-writer".into())
            .spawn(move || writer::writer(conn, rx, writer_health))
            .map_err(err)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(tx),
            reader: Mutex::new(reader),
            health,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, op: Op) {
        // The writer only stops when the store is dropped; a send cannot fail before that.
        let _ = self.writer.lock().unwrap_or_else(|e| e.into_inner()).send(op);
    }

    /// Queues a write (applied in order with events; durable after `flush`).
    fn write(&self, sql: &'static str, params: Vec<rusqlite::types::Value>) {
        self.send(Op::Sql { sql, params });
    }

    /// One execution's JSON `body` column, decoded, in the query's order.
    fn bodies<T: serde::de::DeserializeOwned>(&self, sql: &str, execution: &str) -> Result<Vec<T>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = conn.prepare_cached(sql).map_err(err)?;
        let rows = st
            .query_map(params![execution], |r| r.get::<_, String>(0))
            .map_err(err)?;
        rows.map(|r| r.map_err(err).and_then(|b| serde_json::from_str(&b).map_err(err)))
            .collect()
    }

    /// Runs a read-only query on the reader connection.
    fn read<T>(
        &self,
        sql: &str,
        params: &[rusqlite::types::Value],
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = conn.prepare_cached(sql).map_err(err)?;
        let rows = st
            .query_map(rusqlite::params_from_iter(params.iter()), row)
            .map_err(err)?;
        rows.map(|r| r.map_err(err)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ExecutionStore, JournalRecord};
    use serde_json::json;

    #[tokio::test]
    async fn appends_are_durable_after_flush_and_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("wasmstep-sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store.db");
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
        {
            let s = SqliteStore::open(&path).unwrap();
            s.append_event("e1", 1, Some("execution:started"), json!({"type": "ExecutionStarted"}));
            s.append_journal(
                "e1",
                JournalRecord::Deadline {
                    addr: "/0".into(),
                    until: chrono::Utc::now(),
                },
            );
            s.append_event("e1", 2, Some("/0:entered"), json!({"type": "PassStateEntered"}));
            s.flush().await.unwrap();
            // A duplicate id is a bug and the flush says so.
            s.append_event("e1", 2, None, json!({}));
            assert!(s.flush().await.is_err());
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.events("e1").await.unwrap().len(), 2);
        assert_eq!(s.event_keys("e1").await.unwrap().get("/0:entered"), Some(&2));
        assert_eq!(s.journal("e1").await.unwrap()[0].addr(), "/0");
        assert!(s.events("other").await.unwrap().is_empty());
    }
}
