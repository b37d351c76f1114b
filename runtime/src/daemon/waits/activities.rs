//! Activities: CreateActivity, DescribeActivity, ListActivities, DeleteActivity, and
//! GetActivityTask, the long poll a worker anywhere makes for the next task of an activity.
//! Tasks go to pollers oldest first, each to one worker, handed out durably (a daemon killed
//! after handing one out still takes the worker's answer after its restart).

use std::time::Duration;

use crate::daemon::arns::{arn_rest, check_name};
use crate::daemon::error::{Result, error, unavailable};
use crate::daemon::service::{Service, now_secs};
use crate::engine::{ACCOUNT, REGION};
use crate::store::{ActivityRecord, TokenRecord};

/// How long GetActivityTask waits for a task (AWS: 60 s).
pub const LONG_POLL: Duration = Duration::from_secs(60);
/// Pollers one activity may have at once (AWS: 1,000).
const MAX_POLLERS: usize = 1000;
/// How often a poller looks again without being woken (a task queued by another node).
const POLL_AGAIN: Duration = Duration::from_secs(1);

pub fn activity_arn(name: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:activity:{name}")
}

/// Counts a poller of an activity while it waits.
struct Poller<'a>(&'a Service, String);

impl Drop for Poller<'_> {
    fn drop(&mut self) {
        let mut pollers = self.0.pollers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = pollers.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                pollers.remove(&self.1);
            }
        }
    }
}

impl Service {
    /// CreateActivity: idempotent for the same name (and tags); the activity as recorded.
    pub async fn create_activity(&self, name: &str, tags: &[(String, String)]) -> Result<ActivityRecord> {
        check_name(name)?;
        let arn = activity_arn(name);
        if let Some(a) = self.activity(&arn).await? {
            let had = self.store.tags(&arn).await.map_err(unavailable)?;
            if tags.iter().all(|t| had.contains(t)) {
                return Ok(a);
            }
            return Err(error(
                "ActivityAlreadyExists",
                format!("Activity already exists with different tags: '{arn}'"),
            ));
        }
        let a = ActivityRecord {
            arn: arn.clone(),
            name: name.to_string(),
            created: now_secs(),
        };
        self.store.put_activity(&a);
        for (k, v) in tags {
            self.store.put_tag(&arn, k, v);
        }
        self.store.flush().await.map_err(unavailable)?;
        Ok(a)
    }

    async fn activity(&self, arn: &str) -> Result<Option<ActivityRecord>> {
        let all = self.store.activities().await.map_err(unavailable)?;
        Ok(all.into_iter().find(|a| a.arn == arn))
    }

    pub(crate) async fn activity_exists(&self, arn: &str) -> std::result::Result<bool, crate::store::StoreError> {
        Ok(self.store.activities().await?.iter().any(|a| a.arn == arn))
    }

    /// DescribeActivity: ActivityDoesNotExist when there is none.
    pub async fn describe_activity(&self, arn: &str) -> Result<ActivityRecord> {
        arn_rest(arn, "activity")?;
        self.activity(arn)
            .await?
            .ok_or_else(|| error("ActivityDoesNotExist", format!("Activity Does Not Exist: '{arn}'")))
    }

    pub async fn list_activities(&self) -> Result<Vec<ActivityRecord>> {
        self.store.activities().await.map_err(unavailable)
    }

    /// DeleteActivity: the tasks already scheduled stay until their Tasks time out.
    pub async fn delete_activity(&self, arn: &str) -> Result<()> {
        arn_rest(arn, "activity")?;
        self.store.delete_activity(arn);
        self.store.flush().await.map_err(unavailable)
    }

    /// GetActivityTask: the next task of the activity, handed to `worker`, or `None` after
    /// `wait` (AWS: 60 s) without one, or sooner when the daemon stops.
    pub async fn get_activity_task(&self, arn: &str, worker: &str, wait: Duration) -> Result<Option<TokenRecord>> {
        self.describe_activity(arn).await?;
        let _poller = {
            let mut pollers = self.pollers.lock().unwrap_or_else(|e| e.into_inner());
            let n = pollers.entry(arn.to_string()).or_default();
            if *n >= MAX_POLLERS {
                return Err(error(
                    "ActivityWorkerLimitExceeded",
                    format!("The activity has {MAX_POLLERS} pollers already: '{arn}'"),
                ));
            }
            *n += 1;
            Poller(self, arn.to_string())
        };
        let until = tokio::time::Instant::now() + wait;
        let queued = self.waits.activity_notify(arn);
        loop {
            if self.draining() {
                return Ok(None);
            }
            if let Some(t) = self
                .store
                .take_activity_task(arn, worker, now_secs())
                .await
                .map_err(unavailable)?
            {
                // The Task records ActivityStarted (and starts its heartbeat clock); another
                // poller looks for the next task, if there is one.
                self.waits.token_changed(&t.token);
                queued.notify_one();
                return Ok(Some(t));
            }
            let now = tokio::time::Instant::now();
            if now >= until {
                return Ok(None);
            }
            let _ = tokio::time::timeout((until - now).min(POLL_AGAIN), queued.notified()).await;
        }
    }
}
