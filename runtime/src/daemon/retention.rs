//! Retention: finished executions are kept for a while (AWS: 90 days after they close), then
//! deleted with their history in the background; the executions of a deleted state machine go
//! once they end, as on AWS (after a minute's grace, so a client polling one sees its end). Deletion runs in small batches through the store's writer,
//! so running executions never wait behind it, and the file's freed pages are given back
//! (incremental vacuum, WAL truncation) so the database stops growing under steady load.

use std::sync::Arc;
use std::time::Duration;

use super::service::{Service, now_secs};

/// How many executions one deletion transaction removes.
const BATCH: usize = 200;

/// How long a deleted state machine's execution is kept after it ends (at most the retention).
const DELETED_GRACE: Duration = Duration::from_secs(60);

/// The background sweeper.
pub struct Retention {
    svc: Arc<Service>,
    keep: Duration,
}

impl Retention {
    pub fn new(svc: Arc<Service>, keep: Duration) -> Arc<Retention> {
        Arc::new(Retention { svc, keep })
    }

    /// Sweeps now and then every `keep / 10` (at least every second, at most hourly), or when
    /// woken; stops when the returned task is aborted.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let every = (me.keep / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
        tokio::spawn(async move {
            loop {
                match me.sweep().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "retention: finished executions deleted"),
                    Err(e) => tracing::warn!(error = %e, "retention sweep failed; trying again later"),
                }
                // Woken early when a state machine is deleted or one of its executions ends.
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = me.svc.sweep.notified() => {}
                }
            }
        })
    }

    /// Deletes every finished execution past its retention, or whose state machine is gone;
    /// returns how many.
    pub async fn sweep(&self) -> Result<usize, String> {
        let now = now_secs();
        // A deleted state machine's executions stay a little while after they end, so whoever
        // polls one sees how it ended before it goes.
        let grace = self.keep.min(DELETED_GRACE).as_secs_f64();
        let mut deleted = 0;
        loop {
            // Past their retention, or left by a deleted state machine (after the grace).
            let mut arns = self
                .svc
                .store
                .expired_executions(now - self.keep.as_secs_f64(), BATCH)
                .await
                .map_err(|e| e.to_string())?;
            if arns.len() < BATCH {
                let more = self
                    .svc
                    .store
                    .orphaned_executions(now - grace, BATCH - arns.len())
                    .await
                    .map_err(|e| e.to_string())?;
                arns.extend(more.into_iter().filter(|a| !arns.contains(a)).collect::<Vec<_>>());
            }
            for arn in &arns {
                self.svc.store.delete_execution(arn);
            }
            self.svc.store.flush().await.map_err(|e| e.to_string())?;
            deleted += arns.len();
            if arns.len() < BATCH {
                break;
            }
            // Let executions' own commits in between.
            tokio::task::yield_now().await;
        }
        // The outbox keeps status events as long as executions are kept: a notify target down
        // for longer than that misses them.
        self.svc.store.prune_status_events(now - self.keep.as_secs_f64());
        if deleted > 0 {
            self.svc.store.reclaim();
            self.svc.store.flush().await.map_err(|e| e.to_string())?;
        }
        Ok(deleted)
    }
}
