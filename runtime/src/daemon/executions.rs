//! Standard executions: start (idempotent by name and input), describe, list, history, stop,
//! and resume after a restart; each runs in the background, durably on the store, and records
//! how it ended.

use std::sync::Arc;

use serde_json::Value;

use super::arns::{arn_rest, check_name, machine_arn};
use super::error::{Result, error, unavailable};
use super::handover::Gated;
use super::service::{Service, now_secs};
use crate::asl::{MachineType, StateMachine};
use crate::engine::history::{EventKind, History};
use crate::engine::task::TaskInvoker;
use crate::engine::{ACCOUNT, ExecutionResult, REGION, Status};
use crate::store::{ExecutionEnd, ExecutionStore, ExecutionsOf};

/// One execution's row, as the store keeps it.
pub type ExecutionRow = crate::store::ExecutionRecord;

pub(super) fn parse_input(input: &str) -> Result<Value> {
    serde_json::from_str(input).map_err(|e| {
        error(
            "InvalidExecutionInput",
            format!("Invalid State Machine Execution Input: '{e}'"),
        )
    })
}

impl Service {
    async fn execution_row(&self, arn: &str) -> Result<Option<ExecutionRow>> {
        self.store.execution(arn).await.map_err(unavailable)
    }

    pub async fn describe_execution(&self, arn: &str) -> Result<ExecutionRow> {
        arn_rest(arn, "execution")?;
        self.execution_row(arn)
            .await?
            .ok_or_else(|| error("ExecutionDoesNotExist", format!("Execution Does Not Exist: '{arn}'")))
    }

    /// Executions of a state machine, or of one version or alias when given its ARN; newest
    /// first.
    pub async fn list_executions(&self, machine_arn: &str, status: Option<&str>) -> Result<Vec<ExecutionRow>> {
        if crate::daemon::catalog::aliases::split_alias(machine_arn).is_some() {
            self.describe_alias(machine_arn).await.map_err(|_| {
                error(
                    "StateMachineDoesNotExist",
                    format!("State Machine Does Not Exist: '{machine_arn}'"),
                )
            })?;
            let of = ExecutionsOf::Alias(machine_arn.to_string());
            return self.store.executions(&of, status).await.map_err(unavailable);
        }
        self.resolve(machine_arn).await?;
        let of = match crate::daemon::catalog::versions::split_version(machine_arn) {
            Some(_) => ExecutionsOf::Version(machine_arn.to_string()),
            None => ExecutionsOf::Machine(machine_arn.to_string()),
        };
        self.store.executions(&of, status).await.map_err(unavailable)
    }

    pub async fn history(&self, arn: &str) -> Result<Vec<Value>> {
        self.describe_execution(arn).await?;
        self.store.events(arn).await.map_err(unavailable)
    }

    /// Starts a durable (Standard) execution; same name and input while running returns the
    /// same execution.
    pub async fn start_execution(
        self: &Arc<Self>,
        machine_arn: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<ExecutionRow> {
        let (m, alias) = self.resolve_start(machine_arn).await?;
        let base_arn = self::machine_arn(&m.name);
        let input_value = parse_input(input)?;
        let name = match name {
            Some(n) => {
                check_name(n)?;
                n.to_string()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        if m.machine_type == MachineType::Express {
            return Ok(self.start_express(m, name, input, input_value));
        }
        let arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{}:{name}", m.name);
        if let Some(existing) = self.execution_row(&arn).await? {
            return same_name(existing, input);
        }
        let started = now_secs();
        let (handler_set, invoker) = self.pin(None);
        let row = ExecutionRow {
            arn: arn.clone(),
            machine_arn: base_arn.clone(),
            name: name.clone(),
            status: "RUNNING".into(),
            definition: m.definition.clone(),
            input: input.to_string(),
            output: None,
            error: None,
            cause: None,
            started,
            stopped: None,
            version_arn: (m.arn != base_arn).then(|| m.arn.clone()),
            handler_set,
            redrive_count: 0,
            redrive_date: None,
            redrive_token: None,
            alias_arn: alias,
        };
        self.store.insert_execution(&row);
        let flushed = self.store.flush().await;
        // A flush answers for its batch, not for this write: a start of the same name (on this
        // node or another) may have got there first even when it says Ok, and this one may be
        // on record when it reports another write's failure. What is on record decides.
        match self.execution_row(&arn).await? {
            Some(r) if r.started == started && r.input == input => {}
            Some(existing) => return same_name(existing, input),
            None => {
                return Err(unavailable(flushed.err().unwrap_or_else(|| {
                    crate::store::StoreError(format!("{arn} was not recorded"))
                })));
            }
        }
        self.metrics.executions_started.with_label_values(&[&m.name]).inc();
        self.spawn(m.name.clone(), m.compiled.clone(), &row, input_value, false, invoker);
        Ok(row)
    }

    /// Runs (or resumes) an execution in the background and records how it ended.
    pub(super) fn spawn(
        self: &Arc<Self>,
        machine_name: String,
        compiled: Arc<StateMachine>,
        row: &ExecutionRow,
        input: Value,
        resume: bool,
        invoker: Arc<dyn TaskInvoker>,
    ) {
        let info = self.info(row, &machine_name, &input);
        let me = self.clone();
        let arn = row.arn.clone();
        let started = row.started;
        self.metrics.executions_running.inc();
        // Registered before the task can run: `finish` only records an end it finds here.
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let task = self.engine().spawn(async move {
            let exec = me.executor(compiled, invoker, MachineType::Standard);
            let store: Arc<dyn ExecutionStore> = Arc::new(Gated::new(me.store.clone(), me.gate.clone(), arn.clone()));
            let result = exec.execute_durable(info, input, store.clone(), resume).await;
            me.finish(&arn, &machine_name, started, result).await;
            // The last result counts as in flight until the end is on record.
            drop(store);
        });
        running.insert(row.arn.clone(), task);
        self.metrics.node.executions_owned.set(running.len() as i64);
    }

    /// Takes an execution out of those running here (to record its end, or because it stopped
    /// or went to another node); `None` when it was not (any more).
    pub(super) fn take_running(&self, arn: &str) -> Option<tokio::task::JoinHandle<()>> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let task = running.remove(arn);
        self.metrics.node.executions_owned.set(running.len() as i64);
        task
    }

    async fn finish(
        &self,
        arn: &str,
        machine_name: &str,
        started: f64,
        result: std::result::Result<ExecutionResult, crate::store::StoreError>,
    ) {
        // Whoever takes the execution out of `running` records how it ended: here, or
        // StopExecution if it got there first.
        if self.take_running(arn).is_none() {
            return;
        }
        let (status, output, err, cause, transitions) = match result {
            Ok(r) => (
                r.status,
                r.output.map(|o| o.to_string()),
                r.error,
                r.cause,
                Some(r.transitions_by_type),
            ),
            Err(e) => (
                Status::Failed,
                None,
                Some("States.Runtime".into()),
                Some(e.to_string()),
                None,
            ),
        };
        let stopped = now_secs();
        self.store.end_execution(
            arn,
            &ExecutionEnd {
                status: status.as_str().into(),
                output,
                error: err,
                cause,
                stopped,
            },
        );
        // The end counts once it is on record (a store that cannot write makes this wait), so
        // the metrics never run ahead of what DescribeExecution says.
        if let Err(e) = self.store.flush().await {
            tracing::error!(execution = %arn, "the end of the execution could not be recorded: {e}");
        }
        // Its tokens take no answer any more; a parent waiting for it is answered.
        self.tokens_end(arn, false).await;
        if let Some(t) = transitions {
            self.metrics.count_transitions(machine_name, &t);
        }
        self.metrics.count_end(machine_name, status, stopped - started);
        // Last: a scrape that sees it no longer running sees how it ended.
        self.metrics.executions_running.dec();
        if !self.machines().contains_key(&machine_arn(machine_name)) {
            // Its state machine was deleted while it ran: it goes with it now.
            self.sweep.notify_one();
        }
    }

    /// Stops a running execution: ExecutionAborted, status ABORTED.
    pub async fn stop_execution(&self, arn: &str, err: Option<&str>, cause: Option<&str>) -> Result<f64> {
        let row = self.describe_execution(arn).await?;
        let handle = self.take_running(arn);
        let stopped = now_secs();
        if row.status != "RUNNING" {
            return Ok(row.stopped.unwrap_or(stopped));
        }
        let Some(h) = handle else {
            // Running on another node: take it over (that node's writes for it are fenced from
            // now on), then record the stop here.
            if self.store.take_over(arn).await.map_err(unavailable)? {
                return self.record_stop(&row, err, cause, stopped).await;
            }
            // The execution is finishing on its own and records its end; report that.
            for _ in 0..1000 {
                let row = self.describe_execution(arn).await?;
                if row.status != "RUNNING" {
                    return Ok(row.stopped.unwrap_or(stopped));
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            return Err(error(
                "ServiceUnavailable",
                format!("{arn} is still finishing; try again"),
            ));
        };
        h.abort();
        // Wait until the task is gone, so nothing it queued can follow ExecutionAborted, and
        // commit what it queued before reading the last event id.
        let _ = h.await;
        self.store.flush().await.map_err(unavailable)?;
        self.metrics.executions_running.dec();
        self.record_stop(&row, err, cause, stopped).await
    }

    /// Records ExecutionAborted after the execution's last event, and its end.
    async fn record_stop(
        &self,
        row: &ExecutionRow,
        err: Option<&str>,
        cause: Option<&str>,
        stopped: f64,
    ) -> Result<f64> {
        let arn = row.arn.as_str();
        let machine_name = row.machine_arn.rsplit(':').next().unwrap_or_default().to_string();
        self.metrics
            .executions_aborted
            .with_label_values(&[&machine_name])
            .inc();
        self.metrics
            .execution_duration
            .observe((stopped - row.started).max(0.0));
        let keys = self.store.event_keys(arn).await.map_err(unavailable)?;
        let store: Arc<dyn ExecutionStore> = self.store.clone();
        let history = History::durable(false, store, arn, keys.clone()).with_generation(row.redrive_count);
        let last = keys.values().max().copied().unwrap_or(0);
        // Keyed as the run's end would be: a redrive's events follow it.
        history.record_keyed(last, self.clock.now(), Some("execution:end".into()), || {
            EventKind::ExecutionAborted {
                error: err.map(str::to_string),
                cause: cause.map(str::to_string),
            }
        });
        self.store.end_execution(
            arn,
            &ExecutionEnd {
                status: "ABORTED".into(),
                output: None,
                error: err.map(str::to_string),
                cause: cause.map(str::to_string),
                stopped,
            },
        );
        self.store.flush().await.map_err(unavailable)?;
        self.tokens_end(arn, true).await;
        Ok(stopped)
    }
}

/// StartExecution with the name of an execution that exists: the same execution while it runs
/// with the same input (idempotent, as AWS), else ExecutionAlreadyExists.
fn same_name(existing: ExecutionRow, input: &str) -> Result<ExecutionRow> {
    if existing.status == "RUNNING" && existing.input == input {
        return Ok(existing);
    }
    Err(error(
        "ExecutionAlreadyExists",
        format!("Execution Already Exists: '{}'", existing.arn),
    ))
}
