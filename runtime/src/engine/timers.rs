//! Timers of a running execution: durable deadlines (a resumed execution keeps the one it
//! recorded), sleeping until one unless the execution's own deadline comes first.

use chrono::{DateTime, Utc};

use super::driver::{Halt, Run};
use super::error::AslError;
use super::journal::Journal;
use crate::asl::ErrorName;
use crate::store::JournalRecord;

impl Run<'_> {
    pub(super) fn timed_out(&self) -> bool {
        self.deadline.is_some_and(|d| self.clock().now() >= d)
    }

    /// Makes a timer durable before waiting on it: a resumed execution gets the deadline it
    /// recorded the first time, not a new one.
    pub(super) async fn arm_timer(&self, addr: &str, until: DateTime<Utc>) -> Result<DateTime<Utc>, Halt> {
        let Some(j) = &self.journal else { return Ok(until) };
        if let Some(recorded) = j.deadline(addr) {
            return Ok(recorded);
        }
        j.record(JournalRecord::Deadline {
            addr: addr.to_string(),
            until,
        });
        self.durable(j).await?;
        Ok(until)
    }

    /// Waits for everything recorded so far to be durable; an execution whose progress cannot
    /// be recorded stops rather than act unrecorded.
    pub(super) async fn durable(&self, j: &Journal) -> Result<(), Halt> {
        j.flush().await.map_err(|e| {
            Halt::Failed(AslError::new(
                ErrorName::Runtime,
                format!("The execution's progress could not be recorded: {e}"),
            ))
        })
    }

    /// Sleeps until `t`, or fails the execution if its deadline comes first.
    pub(super) async fn sleep_until(&self, t: DateTime<Utc>) -> Result<(), Halt> {
        match self.deadline {
            Some(d) if t >= d => {
                self.clock().sleep_until(d).await;
                Err(Halt::TimedOut)
            }
            _ => {
                self.clock().sleep_until(t).await;
                Ok(())
            }
        }
    }
}
