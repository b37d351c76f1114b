//! The SQLite writer: one thread owns the write connection and commits whatever has queued
//! since its last commit in one transaction (group commit); callers of `flush` wait for their
//! batch. When the file cannot be written (disk full, I/O error), the batch is kept and tried
//! again until it goes through.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};

use rusqlite::{Connection, params};

use crate::store::StoreError;
use crate::store::health::{FlushReply, Flushes, WriteHealth};

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 50_000;

pub(super) enum Op {
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
    Flush(FlushReply),
    /// Give freed pages back to the file system once the batch is committed.
    Reclaim,
}

/// Applies writes in one transaction.
pub(super) fn apply(conn: &mut Connection, ops: &[Op]) -> Result<(), rusqlite::Error> {
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
pub(super) fn writer(mut conn: Connection, rx: Receiver<Op>, health: Arc<WriteHealth>) {
    let mut writes: VecDeque<Op> = VecDeque::new();
    let mut flushes = Flushes::default();
    let mut open = true;
    loop {
        let first = if writes.is_empty() && flushes.is_empty() {
            match rx.recv() {
                Ok(op) => Some(op),
                Err(_) => return,
            }
        } else if health.failing.load(Ordering::Acquire) {
            // Waiting to try again: take what arrives meanwhile.
            match rx.recv_timeout(flushes.backoff()) {
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
                Op::Flush(w) => flushes.push(w),
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
                flushes.failed();
                if !open {
                    // The store is gone and cannot write: what is queued was never
                    // acknowledged, and executions resume from what was.
                    return;
                }
                continue;
            }
            Ok(result) => {
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
                flushes.committed(result);
            }
        }
        if !open {
            return;
        }
    }
}
