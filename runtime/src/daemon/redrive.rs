//! RedriveExecution: a FAILED, TIMED_OUT or ABORTED Standard execution runs again from the
//! states that did not succeed, with its definition, input, ARN, version and alias, on the
//! handlers serving now (fixing a handler and redriving is the point). The engine replays what
//! finished from the journal; `store::redrive` keeps only that of it.

use std::sync::Arc;

use serde_json::Value;

use super::catalog::compile;
use super::error::{Result, error, unavailable};
use super::executions::ExecutionRow;
use super::service::{Service, now_secs};
use crate::asl::MachineType;
use crate::engine::driver::HISTORY_LIMIT;
use crate::store::Redrive;

/// How long after it stopped an execution can be redriven (AWS: 14 days).
const REDRIVE_WINDOW_SECS: f64 = 14.0 * 24.0 * 3600.0;
/// The most redrives of one execution (AWS's quota).
const MAX_REDRIVES: u32 = 1000;

/// What DescribeExecution says of an execution's redrive.
pub struct RedriveStatus {
    /// `REDRIVABLE` or `NOT_REDRIVABLE`.
    pub status: &'static str,
    /// Why not, when not.
    pub reason: Option<String>,
}

impl Service {
    /// Whether `row` can be redriven now, and why not (without reading its history).
    pub async fn redrive_status(&self, row: &ExecutionRow) -> RedriveStatus {
        match self.why_not_redrivable(row).await {
            None => RedriveStatus {
                status: "REDRIVABLE",
                reason: None,
            },
            Some(reason) => RedriveStatus {
                status: "NOT_REDRIVABLE",
                reason: Some(reason),
            },
        }
    }

    async fn why_not_redrivable(&self, row: &ExecutionRow) -> Option<String> {
        if !matches!(row.status.as_str(), "FAILED" | "TIMED_OUT" | "ABORTED") {
            return Some(format!("Execution is {} and cannot be redriven", row.status));
        }
        if row.stopped.is_some_and(|s| now_secs() - s > REDRIVE_WINDOW_SECS) {
            return Some("Execution cannot be redriven: it stopped more than 14 days ago".into());
        }
        if row.redrive_count >= MAX_REDRIVES {
            return Some(format!(
                "Execution cannot be redriven: it has been redriven {MAX_REDRIVES} times, the most allowed"
            ));
        }
        // The definition it ran must still exist: its version, or its state machine.
        let of = row.version_arn.as_deref().unwrap_or(&row.machine_arn);
        if self.resolve(of).await.is_err() {
            let what = if row.version_arn.is_some() {
                "state machine version"
            } else {
                "state machine"
            };
            return Some(format!(
                "Execution cannot be redriven: its {what} '{of}' no longer exists"
            ));
        }
        None
    }

    /// Redrives a stopped execution; returns the redrive's date. The same `clientToken` as
    /// the last redrive answers that redrive again.
    pub async fn redrive_execution(self: &Arc<Self>, arn: &str, token: Option<&str>) -> Result<f64> {
        let row = self.describe_execution(arn).await?;
        if let (Some(t), Some(last), Some(date)) = (token, &row.redrive_token, row.redrive_date)
            && t == last
        {
            return Ok(date);
        }
        if let Some(reason) = self.why_not_redrivable(&row).await {
            return Err(error("ExecutionNotRedrivable", reason));
        }
        // Its history must have room for the redrive's events.
        let events = self.store.event_keys(arn).await.map_err(unavailable)?;
        if events.values().max().is_some_and(|&n| n >= HISTORY_LIMIT - 1) {
            return Err(error(
                "ExecutionNotRedrivable",
                format!("Execution cannot be redriven: its history has {HISTORY_LIMIT} events, the most allowed"),
            ));
        }
        let compiled = compile(&row.definition, MachineType::Standard).map_err(|e| {
            error(
                "ExecutionNotRedrivable",
                format!(
                    "Execution cannot be redriven: its definition no longer loads: {}",
                    e.message
                ),
            )
        })?;
        let (handler_set, invoker) = self.pin(None);
        let date = now_secs();
        let redrive = Redrive {
            arn: arn.to_string(),
            status: row.status.clone(),
            count: row.redrive_count,
            date,
            handler_set,
            token: token.map(str::to_string),
        };
        if !self.store.redrive(&redrive).await.map_err(unavailable)? {
            // Another redrive (or node) got there first.
            return Err(error(
                "ExecutionNotRedrivable",
                format!("Execution '{arn}' changed while it was being redriven; describe it and try again"),
            ));
        }
        let row = self.describe_execution(arn).await?;
        let machine_name = row.machine_arn.rsplit(':').next().unwrap_or_default().to_string();
        self.metrics
            .executions_redriven
            .with_label_values(&[&machine_name])
            .inc();
        let input: Value = serde_json::from_str(&row.input).unwrap_or(Value::Null);
        self.spawn(machine_name, Arc::new(compiled), &row, input, true, invoker);
        Ok(date)
    }
}
