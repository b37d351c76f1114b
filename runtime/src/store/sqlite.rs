//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL` (every commit is
//! fsync'd). One writer thread owns the write connection and commits whatever has queued since
//! its last commit in one transaction (group commit); callers of `flush` wait for their batch.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rusqlite::{Connection, params};
use serde_json::Value;
use tokio::sync::oneshot;

use super::{ExecutionStore, JournalRecord, StoreError};

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 50_000;

/// How long the writer waits before trying a failed commit again, doubling up to the most.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MOST: Duration = Duration::from_secs(2);

enum Op {
    Event {
        execution: String,
        id: u64,
        key: Option<String>,
        body: String,
    },
    Journal {
        execution: String,
        body: String,
    },
    /// A catalog write (state machines, execution rows), ordered with the events.
    Sql {
        sql: &'static str,
        params: Vec<rusqlite::types::Value>,
    },
    Flush(oneshot::Sender<Result<(), StoreError>>),
    /// Give freed pages back to the file system once the batch is committed.
    Reclaim,
}

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Sender<Op>>,
    reader: Mutex<Connection>,
    health: Arc<WriteHealth>,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

const SCHEMA: &str = "
    PRAGMA auto_vacuum = INCREMENTAL;
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE TABLE IF NOT EXISTS events (
        execution TEXT NOT NULL,
        id INTEGER NOT NULL,
        key TEXT,
        body TEXT NOT NULL,
        PRIMARY KEY (execution, id)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX IF NOT EXISTS events_by_key ON events (execution, key) WHERE key IS NOT NULL;
    CREATE TABLE IF NOT EXISTS journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        execution TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS journal_by_execution ON journal (execution, seq);
    CREATE TABLE IF NOT EXISTS state_machines (
        arn TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        definition TEXT NOT NULL,
        role_arn TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL
    );
    CREATE TABLE IF NOT EXISTS executions (
        arn TEXT PRIMARY KEY,
        machine_arn TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        definition TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        cause TEXT,
        started REAL NOT NULL,
        stopped REAL,
        version_arn TEXT,
        handler_set INTEGER
    );
    CREATE INDEX IF NOT EXISTS executions_by_machine ON executions (machine_arn, started);
    CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status);
    CREATE INDEX IF NOT EXISTS executions_by_stopped ON executions (stopped);
    CREATE TABLE IF NOT EXISTS versions (
        machine_arn TEXT NOT NULL,
        version INTEGER NOT NULL,
        definition TEXT NOT NULL,
        role_arn TEXT NOT NULL,
        description TEXT,
        created REAL NOT NULL,
        PRIMARY KEY (machine_arn, version)
    );
    CREATE TABLE IF NOT EXISTS handler_sets (
        id INTEGER PRIMARY KEY,
        handlers TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS tags (
        resource TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (resource, key)
    );
";

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        // Files made before deleted rows gave their space back: switch them over once (the
        // setting takes effect with a VACUUM, which rewrites the file).
        let auto_vacuum: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).map_err(err)?;
        let has_tables: bool = conn
            .query_row("SELECT count(*) > 0 FROM sqlite_master", [], |r| r.get(0))
            .map_err(err)?;
        if auto_vacuum != 2 && has_tables {
            eprintln!(
                "upgrading {} to reclaim the space of deleted executions (once)",
                path.display()
            );
            conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
                .map_err(|e| StoreError(format!("cannot upgrade {}: {e}", path.display())))?;
        }
        conn.execute_batch(SCHEMA)
            .map_err(|e| StoreError(format!("cannot prepare {}: {e}", path.display())))?;
        // Databases made before executions recorded their version and their handlers: add
        // the columns.
        for (column, kind) in [("version_arn", "TEXT"), ("handler_set", "INTEGER")] {
            let has: bool = conn
                .prepare("SELECT 1 FROM pragma_table_info('executions') WHERE name = ?1")
                .and_then(|mut q| q.exists([column]))
                .map_err(err)?;
            if !has {
                conn.execute_batch(&format!("ALTER TABLE executions ADD COLUMN {column} {kind}"))
                    .map_err(|e| StoreError(format!("cannot upgrade {}: {e}", path.display())))?;
            }
        }
        let reader = Connection::open(path).map_err(err)?;
        let (tx, rx) = channel();
        let health = Arc::new(WriteHealth::default());
        let writer_health = health.clone();
        std::thread::Builder::new()
            .name("wasmstep-sqlite-writer".into())
            .spawn(move || writer(conn, rx, writer_health))
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
}

/// Applies writes in one transaction.
fn apply(conn: &mut Connection, ops: &[Op]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    {
        let mut ev = tx.prepare_cached("INSERT INTO events (execution, id, key, body) VALUES (?1, ?2, ?3, ?4)")?;
        let mut jr = tx.prepare_cached("INSERT INTO journal (execution, body) VALUES (?1, ?2)")?;
        for op in ops {
            match op {
                Op::Event {
                    execution,
                    id,
                    key,
                    body,
                } => {
                    ev.execute(params![execution, *id as i64, key, body])?;
                }
                Op::Journal { execution, body } => {
                    jr.execute(params![execution, body])?;
                }
                Op::Sql { sql, params } => {
                    tx.prepare_cached(sql)?
                        .execute(rusqlite::params_from_iter(params.iter()))?;
                }
                Op::Flush(_) | Op::Reclaim => {}
            }
        }
    }
    tx.commit()
}

/// Whether the last commit went through, shared by the writer and the store's readers
/// (`/healthz`, the API's fail-fast check).
#[derive(Default)]
struct WriteHealth {
    failing: AtomicBool,
    reason: Mutex<String>,
}

impl WriteHealth {
    fn failed(&self, e: &StoreError) {
        *self.reason.lock().unwrap_or_else(|p| p.into_inner()) = e.0.clone();
        self.failing.store(true, Ordering::Release);
    }

    fn recovered(&self) {
        self.failing.store(false, Ordering::Release);
    }
}

/// A failure that goes away by itself (space freed, lock released): the writes are kept and
/// tried again, and whoever waits on them keeps waiting. Anything else is the write's own fault
/// (a constraint broken by a bug) and loses only that write.
fn transient(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(
            DiskFull
                | SystemIoFailure
                | DatabaseBusy
                | DatabaseLocked
                | OutOfMemory
                | CannotOpen
                | ReadOnly
                | FileLockingProtocolFailed
        )
    )
}

/// Commits `writes`, removing what is done from the front. `Err` when the store cannot write
/// for now: what remains stays queued. `Ok` carries the first lost write's error, if any.
fn commit(conn: &mut Connection, writes: &mut VecDeque<Op>) -> Result<Result<(), StoreError>, StoreError> {
    let failure = |e: rusqlite::Error| StoreError(format!("cannot record to the store: {e}"));
    match apply(conn, writes.make_contiguous()) {
        Ok(()) => {
            writes.clear();
            return Ok(Ok(()));
        }
        Err(e) if transient(&e) => return Err(failure(e)),
        Err(_) => {}
    }
    // A write of the batch is bad: apply them one by one, so that it loses only itself.
    let mut lost = Ok(());
    while let Some(op) = writes.front() {
        match apply(conn, std::slice::from_ref(op)) {
            Ok(()) => {}
            Err(e) if transient(&e) => return Err(failure(e)),
            Err(e) => {
                if lost.is_ok() {
                    lost = Err(failure(e));
                }
            }
        }
        writes.pop_front();
    }
    Ok(lost)
}

/// Steps a statement to its end, whatever rows it returns.
fn while_rows(rows: &mut rusqlite::Rows<'_>) -> rusqlite::Result<()> {
    while rows.next()?.is_some() {}
    Ok(())
}

/// Drains the queue into one transaction at a time; answers every flush in the batch after
/// the commit. When the store cannot write (disk full, I/O error), the batch is kept and tried
/// again, with whatever queues meanwhile, until it goes through: flushes wait, so executions
/// stop moving rather than run unrecorded, and continue once space is back.
fn writer(mut conn: Connection, rx: Receiver<Op>, health: Arc<WriteHealth>) {
    // A lost write is reported to the next flush even when no flush was in its batch.
    let mut unreported: Option<StoreError> = None;
    let mut writes: VecDeque<Op> = VecDeque::new();
    let mut waiters = Vec::new();
    let mut backoff = RETRY_FIRST;
    let mut open = true;
    loop {
        let first = if writes.is_empty() && waiters.is_empty() {
            match rx.recv() {
                Ok(op) => Some(op),
                Err(_) => return,
            }
        } else if health.failing.load(Ordering::Acquire) {
            // Waiting to try again: take what arrives meanwhile.
            match rx.recv_timeout(backoff) {
                Ok(op) => Some(op),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    None
                }
            }
        } else {
            None
        };
        let mut taken = 0;
        let mut next = first;
        let mut reclaim = false;
        while let Some(op) = next {
            match op {
                Op::Flush(w) => waiters.push(w),
                Op::Reclaim => reclaim = true,
                op => writes.push_back(op),
            }
            taken += 1;
            next = if taken < MAX_BATCH { rx.try_recv().ok() } else { None };
        }
        match commit(&mut conn, &mut writes) {
            Err(e) => {
                if !health.failing.load(Ordering::Acquire) {
                    eprintln!("error: {e}; writes are kept and tried again until the store accepts them");
                }
                health.failed(&e);
                backoff = (backoff * 2).min(RETRY_MOST);
                if !open {
                    // The store is gone and cannot write: what is queued was never
                    // acknowledged, and executions resume from what was.
                    return;
                }
                continue;
            }
            Ok(mut result) => {
                if reclaim {
                    // Freed pages back to the file system, and the WAL file cut back; a reader
                    // in the way only postpones it to the next time.
                    for pragma in ["PRAGMA incremental_vacuum", "PRAGMA wal_checkpoint(TRUNCATE)"] {
                        let run = conn
                            .prepare(pragma)
                            .and_then(|mut q| q.query([]).and_then(|mut rows| while_rows(&mut rows)));
                        if let Err(e) = run {
                            eprintln!("warning: {pragma}: {e}");
                        }
                    }
                }
                if health.failing.load(Ordering::Acquire) {
                    eprintln!("the store accepts writes again");
                }
                health.recovered();
                backoff = RETRY_FIRST;
                if waiters.is_empty() {
                    if let Err(e) = result {
                        unreported = Some(e);
                    }
                } else {
                    if let Some(e) = unreported.take() {
                        result = Err(e);
                    }
                    for w in waiters.drain(..) {
                        let _ = w.send(result.clone());
                    }
                }
            }
        }
        if !open {
            return;
        }
    }
}

impl SqliteStore {
    /// Gives the pages freed by deletions back to the file system (after the next commit).
    pub fn reclaim(&self) {
        self.send(Op::Reclaim);
    }

    /// Queues a catalog write (applied in order with events; durable after `flush`).
    pub fn write(&self, sql: &'static str, params: Vec<rusqlite::types::Value>) {
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
    pub fn read<T>(
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

impl ExecutionStore for SqliteStore {
    fn append_event(&self, execution: &str, id: u64, key: Option<&str>, event: Value) {
        self.send(Op::Event {
            execution: execution.to_string(),
            id,
            key: key.map(str::to_string),
            body: event.to_string(),
        });
    }

    fn append_journal(&self, execution: &str, record: JournalRecord) {
        let body = serde_json::to_string(&record).unwrap_or_default();
        self.send(Op::Journal {
            execution: execution.to_string(),
            body,
        });
    }

    fn flush(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Flush(tx));
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(StoreError("the store's writer stopped".into())))
        })
    }

    fn events(&self, execution: &str) -> Result<Vec<Value>, StoreError> {
        self.bodies("SELECT body FROM events WHERE execution = ?1 ORDER BY id", execution)
    }

    fn event_keys(&self, execution: &str) -> Result<std::collections::HashMap<String, u64>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = conn
            .prepare_cached("SELECT key, id FROM events WHERE execution = ?1 AND key IS NOT NULL")
            .map_err(err)?;
        let rows = st
            .query_map(params![execution], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(err)?;
        rows.map(|r| r.map_err(err)).collect()
    }

    fn journal(&self, execution: &str) -> Result<Vec<JournalRecord>, StoreError> {
        self.bodies("SELECT body FROM journal WHERE execution = ?1 ORDER BY seq", execution)
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.health.failing.load(Ordering::Acquire) {
            let reason = self.health.reason.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return Err(StoreError(reason));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert_eq!(s.events("e1").unwrap().len(), 2);
        assert_eq!(s.event_keys("e1").unwrap().get("/0:entered"), Some(&2));
        assert_eq!(s.journal("e1").unwrap()[0].addr(), "/0");
        assert!(s.events("other").unwrap().is_empty());
    }
}
