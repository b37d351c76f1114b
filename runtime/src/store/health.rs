//! Whether a backend's writes go through now, shared by its writer and its readers
//! (`/healthz`, the API's fail-fast check); and what both backends' writers owe the flushes
//! they were asked for.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::oneshot;

use super::StoreError;

/// How long a writer waits before trying a failed commit again, doubling up to the most.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MOST: Duration = Duration::from_secs(2);

/// Answers a flush: once its writer has committed everything queued before it.
pub(crate) type FlushReply = oneshot::Sender<Result<(), StoreError>>;

/// A flush as the caller sees it: `stopped` says what is wrong when the writer is gone.
pub(crate) fn flushed(
    rx: oneshot::Receiver<Result<(), StoreError>>,
    stopped: &'static str,
) -> BoxFuture<'static, Result<(), StoreError>> {
    Box::pin(async move { rx.await.unwrap_or_else(|_| Err(StoreError(stopped.into()))) })
}

/// The flushes a writer has taken and not yet answered, the write it lost that no flush has
/// heard of yet, and how long to wait before trying a failed commit again.
pub(crate) struct Flushes {
    waiting: Vec<FlushReply>,
    /// A lost write is reported to the next flush even when no flush was in its batch.
    unreported: Option<StoreError>,
    backoff: Duration,
}

impl Default for Flushes {
    fn default() -> Self {
        Flushes {
            waiting: Vec::new(),
            unreported: None,
            backoff: RETRY_FIRST,
        }
    }
}

impl Flushes {
    pub(crate) fn push(&mut self, reply: FlushReply) {
        self.waiting.push(reply);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// How long to wait for more writes before trying again after a failed commit.
    pub(crate) fn backoff(&self) -> Duration {
        self.backoff
    }

    /// The commit failed (and will be tried again): wait longer next time.
    pub(crate) fn failed(&mut self) {
        self.backoff = (self.backoff * 2).min(RETRY_MOST);
    }

    /// The batch is committed; `result` carries the first write it lost, if any. Every flush
    /// taken is answered (with an earlier lost write no flush heard of, if there is one).
    pub(crate) fn committed(&mut self, mut result: Result<(), StoreError>) {
        self.backoff = RETRY_FIRST;
        if self.waiting.is_empty() {
            if let Err(e) = result {
                self.unreported = Some(e);
            }
            return;
        }
        if let Some(e) = self.unreported.take() {
            result = Err(e);
        }
        for w in self.waiting.drain(..) {
            let _ = w.send(result.clone());
        }
    }
}

/// Whether the last commit went through.
#[derive(Default)]
pub(crate) struct WriteHealth {
    pub(crate) failing: AtomicBool,
    pub(crate) reason: Mutex<String>,
}

impl WriteHealth {
    pub(crate) fn failed(&self, e: &StoreError) {
        *self.reason.lock().unwrap_or_else(|p| p.into_inner()) = e.0.clone();
        self.failing.store(true, Ordering::Release);
    }

    pub(crate) fn recovered(&self) {
        self.failing.store(false, Ordering::Release);
    }

    /// `Err(why)` while commits fail.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::Acquire) {
            return Err(StoreError(
                self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            ));
        }
        Ok(())
    }
}
