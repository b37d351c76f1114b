//! Graceful hand-over: a daemon told to stop lets the handler calls it has in flight finish
//! and their results be recorded, and stops every execution at its next durability barrier
//! (the flush an execution waits on before any timer, branch or end) or before its next call
//! is put on record, so that no execution makes a new call here and none loses a result. Its
//! leases are then released and other nodes (or this one at its next start, alone on SQLite)
//! resume them by replay with no call repeated. Only a killed daemon's in-flight calls are made
//! again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::Notify;

use crate::store::catalog::Read;
use crate::store::{CallPermit, ExecutionStore, JournalRecord, Store, StoreError};

/// Handler calls in flight (from just before one is put on record until its result is), and
/// whether executions may go on.
#[derive(Default)]
pub struct Gate {
    closed: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Gate {
    /// From now on, executions stop at their next barrier or call.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Counts a call in, unless the gate is closed. Counting in before looking (both
    /// sequentially consistent) means a closing daemon either sees the call or the call sees
    /// the gate closed.
    fn enter(&self) -> bool {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.closed() {
            self.release(1);
            return false;
        }
        true
    }

    fn release(&self, n: usize) {
        if n > 0 && self.in_flight.fetch_sub(n, Ordering::SeqCst) == n {
            self.idle.notify_waiters();
        }
    }

    /// Waits until no handler call is in flight, at most `limit`; true when none is.
    pub async fn drained(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let idle = self.idle.notified();
                if self.in_flight() == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

/// One execution's calls: those begun and not yet returned (`calling`), and those that
/// returned with their results queued but not yet durable (`returned`): both count as in
/// flight, the latter until the execution's next flush commits them (or the execution is gone).
struct Calls {
    gate: Arc<Gate>,
    calling: AtomicUsize,
    returned: AtomicUsize,
}

impl Drop for Calls {
    fn drop(&mut self) {
        self.gate.release(*self.returned.get_mut());
    }
}

/// The store as one execution sees it: every write goes through; once the gate is closed, or
/// the execution's lease is lost to another node, a flush (after committing) never returns and
/// no call begins, so the execution goes no further here.
pub struct Gated {
    inner: Arc<dyn Store>,
    execution: String,
    calls: Arc<Calls>,
}

impl Gated {
    pub fn new(inner: Arc<dyn Store>, gate: Arc<Gate>, execution: String) -> Gated {
        Gated {
            inner,
            calls: Arc::new(Calls {
                gate,
                calling: AtomicUsize::new(0),
                returned: AtomicUsize::new(0),
            }),
            execution,
        }
    }
}

impl ExecutionStore for Gated {
    fn append_event(&self, execution: &str, id: u64, key: Option<&str>, event: Value) {
        self.inner.append_event(execution, id, key, event);
    }

    fn append_journal(&self, execution: &str, record: JournalRecord) {
        self.inner.append_journal(execution, record);
    }

    fn flush(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        // Results recorded before this flush was asked for are durable once it returns.
        let recorded = self.calls.returned.swap(0, Ordering::SeqCst);
        let done = self.inner.flush();
        let calls = self.calls.clone();
        let (inner, execution) = (self.inner.clone(), self.execution.clone());
        Box::pin(async move {
            if let Err(e) = done.await {
                calls.returned.fetch_add(recorded, Ordering::SeqCst);
                return Err(e);
            }
            calls.gate.release(recorded);
            // Taken over: not here any more. Handed over: what it recorded is durable and
            // another node (or the next start) continues from there, unless a call of this
            // execution is under way (this may be the barrier that puts it on record): the
            // execution goes on until that call's result is recorded.
            let handed_over = calls.gate.closed() && calls.calling.load(Ordering::SeqCst) == 0;
            if handed_over || !inner.owns(&execution) {
                std::future::pending::<()>().await;
            }
            Ok(())
        })
    }

    fn begin_call(&self) -> BoxFuture<'static, CallPermit> {
        let stays = self.inner.owns(&self.execution) && self.calls.gate.enter();
        let calls = self.calls.clone();
        // Parking here: what it recorded (results of calls that returned since its last flush,
        // say those of a Parallel's branches) is made durable first, and counts out.
        let parked = (!stays).then(|| self.flush());
        Box::pin(async move {
            if let Some(flushed) = parked {
                let _ = flushed.await;
                std::future::pending::<()>().await;
            }
            calls.calling.fetch_add(1, Ordering::SeqCst);
            // The call returned and its result is queued: it is durable at the next flush.
            CallPermit::with(move || {
                calls.returned.fetch_add(1, Ordering::SeqCst);
                calls.calling.fetch_sub(1, Ordering::SeqCst);
            })
        })
    }

    fn events<'a>(&'a self, execution: &'a str) -> Read<'a, Vec<Value>> {
        self.inner.events(execution)
    }

    fn event_keys<'a>(&'a self, execution: &'a str) -> Read<'a, HashMap<String, u64>> {
        self.inner.event_keys(execution)
    }

    fn journal<'a>(&'a self, execution: &'a str) -> Read<'a, Vec<JournalRecord>> {
        self.inner.journal(execution)
    }

    fn owns(&self, execution: &str) -> bool {
        self.inner.owns(execution)
    }

    fn writable(&self) -> Result<(), StoreError> {
        self.inner.writable()
    }
}
