//! Retention: finished executions are kept for a while (AWS: 90 days after they close), then
//! deleted with their history in the background; the executions of a deleted state machine go
//! once they end, as on AWS (after a minute's grace, so a client polling one sees its end). Deletion runs in small batches through the store's writer,
//! so running executions never wait behind it, and the file's freed pages are given back
//! (incremental vacuum, WAL truncation) so the database stops growing under steady load.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::types::Value as Sql;

use super::service::{Service, now_secs};
use crate::store::ExecutionStore;

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
        for (sql, cutoff) in [
            (
                format!(
                    "SELECT arn FROM executions WHERE stopped IS NOT NULL AND stopped < ?1 AND status != 'RUNNING' LIMIT {BATCH}"
                ),
                now - self.keep.as_secs_f64(),
            ),
            (
                format!(
                    "SELECT e.arn FROM executions e WHERE e.status != 'RUNNING' AND e.stopped < ?1 \
                     AND NOT EXISTS (SELECT 1 FROM state_machines m WHERE m.arn = e.machine_arn) LIMIT {BATCH}"
                ),
                now - grace,
            ),
        ] {
            loop {
                let arns = self
                    .svc
                    .store
                    .read(&sql, &[Sql::Real(cutoff)], |r| r.get::<_, String>(0))
                    .map_err(|e| e.to_string())?;
                for arn in &arns {
                    for delete in [
                        "DELETE FROM events WHERE execution = ?1",
                        "DELETE FROM journal WHERE execution = ?1",
                        "DELETE FROM executions WHERE arn = ?1",
                    ] {
                        self.svc.store.write(delete, vec![Sql::Text(arn.clone())]);
                    }
                }
                self.svc.store.flush().await.map_err(|e| e.to_string())?;
                deleted += arns.len();
                if arns.len() < BATCH {
                    break;
                }
                // Let executions' own commits in between.
                tokio::task::yield_now().await;
            }
        }
        if deleted > 0 {
            self.svc.store.reclaim();
            self.svc.store.flush().await.map_err(|e| e.to_string())?;
        }
        Ok(deleted)
    }
}
