//! The scheduler: starts one execution per due time of each enabled schedule, exactly once.
//! The execution's name comes from the schedule and the due time, and StartExecution with a
//! name that exists starts nothing, so a due time handled again — after a crash between the
//! start and the record of it, or by two nodes sharing a store — cannot start a second one.
//!
//! Missed due times (the daemon was down) follow one documented policy: the latest one missed
//! runs once, if it is younger than the target's `MaximumEventAgeInSeconds`; the others are
//! counted as misses. A start the store refuses for now is retried (up to the target's
//! `MaximumRetryAttempts`, within that age); one that can never work (no such state machine)
//! counts as a failure and the schedule moves on, as AWS's would to its dead-letter queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use sha2::{Digest, Sha256};

use super::schedules::{DEFAULT_GROUP, Schedule, TargetInput};
use crate::daemon::service::{Service, now_secs};
use crate::engine::{ACCOUNT, REGION};
use crate::store::ScheduleRecord;

/// How often the scheduler looks for due schedules when nothing wakes it sooner.
const TICK: Duration = Duration::from_secs(1);

/// Most schedules handled in one round.
const ROUND: usize = 200;

/// Most due times counted one by one when many were missed (beyond, the count stops).
const COUNT_MISSES: usize = 10_000;

/// A due time of a schedule: its group, name and time (whole seconds).
type DueTime = (String, String, i64);

/// A start refused for now: how many times so far, and when to try again.
type Retry = (u32, f64);

/// What the scheduler keeps between rounds.
#[derive(Default)]
pub struct Triggers {
    /// Woken when a schedule is created or changed.
    pub changed: tokio::sync::Notify,
    /// Starts refused for now, by schedule and due time: how many times, and when to retry.
    retries: Mutex<HashMap<DueTime, Retry>>,
}

/// The execution a due time starts: the schedule's name (its group's too, outside `default`)
/// and the due time in UTC, within AWS's 80 characters.
pub fn execution_name(group: &str, name: &str, due: f64) -> String {
    let base = if group == DEFAULT_GROUP {
        name.to_string()
    } else {
        format!("{group}.{name}")
    };
    let at = DateTime::from_timestamp(due.floor() as i64, 0).unwrap_or_default();
    let stamp = at.format("%Y%m%dT%H%M%SZ").to_string();
    let base = if base.len() + 1 + stamp.len() > 80 {
        let hash = Sha256::digest(base.as_bytes());
        let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("{}-{short}", &base[..54])
    } else {
        base
    };
    format!("{base}-{stamp}")
}

/// Where in a flexible window a due time fires: the same place every time it is computed (a
/// restart does not move it), spread over the window by the schedule and the time.
fn flexible_offset(s: &Schedule, due: f64) -> f64 {
    let Some(minutes) = s.window_minutes else {
        return 0.0;
    };
    let h = Sha256::digest(format!("{}@{due}", s.arn()).as_bytes());
    let n = u64::from_le_bytes(h[..8].try_into().unwrap_or_default());
    (n % (minutes as u64 * 60)) as f64
}

/// The input of the execution a due time starts: the schedule's, or EventBridge's "Scheduled
/// Event" for that time (the same every time it is made, so a start made again is the same
/// start), through the schedule's input path.
fn scheduled_input(s: &Schedule, due: f64) -> Result<String, String> {
    let path = match &s.target.input {
        TargetInput::Fixed(text) => return Ok(text.clone()),
        TargetInput::Event(path) => path,
    };
    let h = Sha256::digest(format!("{}@{due}", s.arn()).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&h[..16]);
    let time = DateTime::from_timestamp(due.floor() as i64, 0).unwrap_or_default();
    let event = serde_json::json!({
        "version": "0",
        "id": uuid::Builder::from_random_bytes(bytes).into_uuid().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": REGION,
        "resources": [s.arn()],
        "detail": {},
    });
    let selected = match path {
        None => event,
        Some(p) => crate::path::Path::parse(p)
            .map_err(|e| format!("InputPath: {e}"))?
            .value_in(&event)
            .map_err(|_| format!("InputPath {p} selects nothing from the scheduled event"))?,
    };
    Ok(selected.to_string())
}

/// How an attempt to start went.
enum Outcome {
    Started,
    /// An execution of that name exists: this due time was handled before.
    Handled,
    /// Try again later (the store cannot write now).
    Later(String),
    /// It can never work (no such state machine, bad input).
    Failed(String),
}

impl Service {
    /// Runs the scheduler until the daemon stops.
    pub async fn run_schedules(self: Arc<Self>) {
        loop {
            if self.draining() {
                return;
            }
            if let Err(e) = self.schedule_round().await {
                tracing::warn!("the scheduler could not read due schedules: {e}");
            }
            tokio::select! {
                _ = self.triggers.changed.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    }

    /// Handles every schedule due now.
    pub async fn schedule_round(self: &Arc<Self>) -> Result<(), crate::store::StoreError> {
        let now = now_secs();
        for r in self.store.due_schedules(now, ROUND).await? {
            self.fire(&r, now).await;
        }
        Ok(())
    }

    async fn fire(self: &Arc<Self>, r: &ScheduleRecord, now: f64) {
        let Some(due) = r.due else { return };
        let labels = [r.group.as_str(), r.name.as_str()];
        let m = &self.metrics.triggers;
        let s = match Schedule::from_record(r) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(group = %r.group, schedule = %r.name, "a recorded schedule no longer validates: {}", e.message);
                m.schedule_failures.with_label_values(&labels).inc();
                self.store.advance_schedule(&r.group, &r.name, due, None);
                return;
            }
        };
        // The latest due time at or before now; those before it were missed.
        let mut latest = due;
        let mut missed = 0u64;
        while let Some(next) = s.next_after(latest).filter(|n| *n <= now) {
            latest = next;
            missed += 1;
            if missed as usize >= COUNT_MISSES {
                break;
            }
        }
        if latest + flexible_offset(&s, latest) > now {
            // Within its flexible window, before its place in it: not yet.
            return;
        }
        m.schedule_misses.with_label_values(&labels).inc_by(missed);
        let key = (r.group.clone(), r.name.clone(), latest as i64);
        if let Some((_, at)) = self.retry_state(&key)
            && at > now
        {
            return;
        }
        let outcome = if now - latest > s.target.max_age as f64 {
            tracing::warn!(group = %r.group, schedule = %r.name, "skipped a due time older than the target's maximum event age ({} s)", s.target.max_age);
            m.schedule_misses.with_label_values(&labels).inc();
            Outcome::Handled
        } else {
            self.start_for(&s, latest).await
        };
        match outcome {
            Outcome::Started => m.schedule_fires.with_label_values(&labels).inc(),
            Outcome::Handled => {}
            Outcome::Later(why) => {
                let (attempts, _) = self.retry_state(&key).unwrap_or((0, now));
                if attempts < s.target.max_attempts && now - latest < s.target.max_age as f64 {
                    // Backs off 1 s, 2 s, 4 s … up to a minute.
                    let wait = (1u64 << attempts.min(6)) as f64;
                    self.set_retry(key, Some((attempts + 1, now + wait)));
                    tracing::warn!(group = %r.group, schedule = %r.name, attempt = attempts + 1, "the scheduled execution could not start yet, retrying: {why}");
                    return;
                }
                tracing::error!(group = %r.group, schedule = %r.name, "the scheduled execution could not start, retries used up: {why}");
                m.schedule_failures.with_label_values(&labels).inc();
            }
            Outcome::Failed(why) => {
                tracing::error!(group = %r.group, schedule = %r.name, "the scheduled execution could not start: {why}");
                m.schedule_failures.with_label_values(&labels).inc();
            }
        }
        self.set_retry(key, None);
        let next = s.next_after(latest.max(now));
        if next.is_none() && s.delete_after {
            self.store.delete_schedule(&r.group, &r.name);
        } else {
            self.store.advance_schedule(&r.group, &r.name, due, next);
        }
        if let Err(e) = self.store.flush().await {
            tracing::warn!(group = %r.group, schedule = %r.name, "the schedule's next due time could not be recorded: {e}");
        }
    }

    async fn start_for(self: &Arc<Self>, s: &Schedule, due: f64) -> Outcome {
        let name = s
            .target
            .name
            .clone()
            .unwrap_or_else(|| execution_name(&s.group, &s.name, due));
        let input = match scheduled_input(s, due) {
            Ok(i) => i,
            Err(why) => return Outcome::Failed(why),
        };
        let before = now_secs();
        match self.start_execution(&s.target.state_machine, Some(&name), &input).await {
            // The same name and input while it runs answers the execution that is there: this
            // due time was handled before.
            Ok(row) if row.started < before => Outcome::Handled,
            Ok(_) => Outcome::Started,
            Err(e) if e.kind == "ExecutionAlreadyExists" => Outcome::Handled,
            Err(e) if e.kind == "ServiceUnavailable" || e.kind == "ExecutionLimitExceeded" => Outcome::Later(e.message),
            Err(e) => Outcome::Failed(format!("{}: {}", e.kind, e.message)),
        }
    }

    fn retry_state(&self, key: &DueTime) -> Option<Retry> {
        self.triggers
            .retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
    }

    fn set_retry(&self, key: DueTime, v: Option<Retry>) {
        let mut map = self.triggers.retries.lock().unwrap_or_else(|e| e.into_inner());
        match v {
            Some(v) => map.insert(key, v),
            None => map.remove(&key),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_are_deterministic_and_fit() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T20:15:00Z")
            .unwrap()
            .timestamp() as f64;
        assert_eq!(execution_name("default", "nightly", at), "nightly-20261207T201500Z");
        assert_eq!(
            execution_name("reports", "nightly", at),
            "reports.nightly-20261207T201500Z"
        );
        let long = "n".repeat(64);
        let a = execution_name("g".repeat(64).as_str(), &long, at);
        assert_eq!(a.len(), 80);
        assert_eq!(a, execution_name("g".repeat(64).as_str(), &long, at));
        assert_ne!(a, execution_name("h".repeat(64).as_str(), &long, at));
    }
}
