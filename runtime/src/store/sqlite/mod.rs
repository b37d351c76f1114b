//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL` (every commit is
//! fsync'd). Writes go through one writer thread (group commit, `writer.rs`); reads use a
//! connection of their own. The schema is versioned (`schema.rs`).

mod aliases;
mod catalog;
mod journal;
mod map_runs;
mod redrive;
mod schema;
mod tokens;
mod triggers;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

use self::writer::Op;
use super::StoreError;
use super::catalog::Read;
use super::health::WriteHealth;

pub use self::schema::LATEST as SCHEMA_VERSION;

pub struct SqliteStore {
    path: PathBuf,
    node: String,
    /// Never woken: no other node leaves work or changes the catalog.
    hints: Arc<tokio::sync::Notify>,
    /// The running executions were claimed (at start-up, once: alone, the daemon runs them all).
    claimed: std::sync::atomic::AtomicBool,
    writer: Mutex<Sender<Op>>,
    reader: Mutex<Connection>,
    health: Arc<WriteHealth>,
    /// Held across a token's read, write and flush: the daemon is the file's only writer, so
    /// this makes each change conditional on what it read (`tokens.rs`).
    tokens: tokio::sync::Mutex<()>,
    /// Likewise for redrives (`redrive.rs`).
    redrives: tokio::sync::Mutex<()>,
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
        Self::open_as(path, "local")
    }

    /// As `open`, for the daemon whose node id is `node`.
    pub fn open_as(path: &Path, node: &str) -> Result<SqliteStore, StoreError> {
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
            node: node.to_string(),
            hints: Arc::new(tokio::sync::Notify::new()),
            claimed: Default::default(),
            writer: Mutex::new(tx),
            reader: Mutex::new(reader),
            health,
            tokens: tokio::sync::Mutex::new(()),
            redrives: tokio::sync::Mutex::new(()),
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
