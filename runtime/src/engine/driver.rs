//! The async driver: runs one execution from its input to its end (in memory, or durably on a
//! store and resumed after a restart), owns the execution-wide facts (deadline, history,
//! journal, transition counts) and turns how the top scope ended into the execution's result.
//! The state walk is in `scope.rs`, handler calls in `call.rs`, timers in `timers.rs`,
//! Parallel and Map in `fanout.rs`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde_json::Value;

use super::clock::Clock;
use super::error::AslError;
use super::history::{EventKind, History, HistoryEvent};
use super::journal::Journal;
use super::outside::{Nowhere, Outside};
use super::step::Fault;
use super::task::TaskInvoker;
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::path::context::ExecutionInfo;
use crate::path::{Vars, json_size};
use crate::store::{ExecutionStore, StoreError};

/// Inline Map iterations AWS runs at once at most.
pub(super) const INLINE_MAP_CONCURRENCY: usize = 40;
/// Distributed Map children run at once at most.
pub(super) const DISTRIBUTED_MAP_CONCURRENCY: usize = 10_000;

/// How executions run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Payload limit in bytes (AWS: 256 KiB).
    pub payload_limit: usize,
    /// Keep history events (off for benchmarks).
    pub keep_history: bool,
    /// Most events one execution may have (AWS: 25,000 for Standard; Express has no cap).
    /// Reaching it fails the execution with `States.Runtime`.
    pub history_limit: Option<u64>,
}

/// AWS's cap on a Standard execution's history.
pub const HISTORY_LIMIT: u64 = 25_000;

impl EngineConfig {
    /// The history cap for a state machine type.
    pub fn history_limit_for(t: crate::asl::MachineType) -> Option<u64> {
        (t == crate::asl::MachineType::Standard).then_some(HISTORY_LIMIT)
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            payload_limit: 256 * 1024,
            keep_history: true,
            history_limit: Some(HISTORY_LIMIT),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        }
    }
}

/// How an execution ended.
#[derive(Debug)]
pub struct ExecutionResult {
    pub status: Status,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEvent>,
    /// States entered, Map iterations included.
    pub transitions: u64,
    /// The same, by state type (indexed by [`StateType::index`]).
    pub transitions_by_type: [u64; 8],
}

/// Runs executions of one state machine.
pub struct Executor {
    pub(super) machine: Arc<StateMachine>,
    pub(super) invoker: Arc<dyn TaskInvoker>,
    /// Where Tasks that wait for an answer from outside are answered.
    pub(super) outside: Arc<dyn Outside>,
    /// Where Distributed Maps read datasets and write results (`--buckets`), if anywhere.
    pub(super) buckets: Option<Arc<dyn crate::store::buckets::Buckets>>,
    /// Who is told about Map Runs (and may change their limits while they run).
    pub(super) map_runs: Arc<dyn super::map_runs::MapRunObserver>,
    clock: Arc<dyn Clock>,
    pub(super) config: EngineConfig,
}

/// Why a scope stopped without an output.
pub(super) enum Halt {
    Failed(AslError),
    TimedOut,
}

impl From<AslError> for Halt {
    fn from(e: AslError) -> Self {
        Halt::Failed(e)
    }
}

/// One running execution (or a Distributed Map child execution).
pub(super) struct Run<'e> {
    pub(super) ex: &'e Executor,
    pub(super) info: ExecutionInfo,
    pub(super) history: History,
    /// States entered, by [`StateType::index`].
    pub(super) transitions: &'e [AtomicU64; 8],
    pub(super) deadline: Option<DateTime<Utc>>,
    /// Durable executions record what they do and replay it after a restart.
    pub(super) journal: Option<Arc<Journal>>,
}

impl Executor {
    pub fn new(
        machine: Arc<StateMachine>,
        invoker: Arc<dyn TaskInvoker>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Self {
        Executor {
            machine,
            invoker,
            outside: Arc::new(Nowhere),
            buckets: None,
            map_runs: Arc::new(super::map_runs::Unobserved),
            clock,
            config,
        }
    }

    /// Tasks that wait for an answer (task tokens, activities, nested executions) are answered
    /// through `outside`.
    pub fn with_outside(mut self, outside: Arc<dyn Outside>) -> Self {
        self.outside = outside;
        self
    }

    /// Distributed Maps read their datasets from and write their results to `buckets`.
    pub fn with_buckets(mut self, buckets: Option<Arc<dyn crate::store::buckets::Buckets>>) -> Self {
        self.buckets = buckets;
        self
    }

    /// Map Runs are reported to `observer`.
    pub fn with_map_runs(mut self, observer: Arc<dyn super::map_runs::MapRunObserver>) -> Self {
        self.map_runs = observer;
        self
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    /// Runs one execution to its end (in memory only).
    pub async fn execute(&self, info: ExecutionInfo, input: Value) -> ExecutionResult {
        self.execute_with(info, input, None, Default::default()).await
    }

    /// Runs a durable execution: every history event and journal record goes to `store`, and
    /// side effects wait for what precedes them to be durable. With `resume`, the execution
    /// continues from what the store holds: finished states and handler results are replayed,
    /// timers keep their deadlines, a handler call in flight at the crash is made again.
    pub async fn execute_durable(
        &self,
        info: ExecutionInfo,
        input: Value,
        store: Arc<dyn ExecutionStore>,
        resume: bool,
    ) -> Result<ExecutionResult, StoreError> {
        let recorded = if resume {
            store.event_keys(&info.id).await?
        } else {
            Default::default()
        };
        let journal = Journal::open(store, &info.id, resume).await?;
        let result = self.execute_with(info, input, Some(Arc::new(journal)), recorded).await;
        Ok(result)
    }

    async fn execute_with(
        &self,
        info: ExecutionInfo,
        input: Value,
        journal: Option<Arc<Journal>>,
        recorded: std::collections::HashMap<String, u64>,
    ) -> ExecutionResult {
        let transitions: [AtomicU64; 8] = Default::default();
        let now = self.clock.now();
        // A resumed execution keeps the deadline it started with; a redrive starts it afresh.
        let start = chrono::DateTime::parse_from_rfc3339(info.redrive_time.as_deref().unwrap_or(&info.start_time))
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now);
        let generation = info.redrive_count;
        let history = match &journal {
            Some(j) => History::durable(self.config.keep_history, j.store().clone(), &info.id, recorded.clone()),
            None => History::new(self.config.keep_history),
        }
        .with_limit(self.config.history_limit)
        .with_generation(generation);
        let run = Run {
            ex: self,
            info,
            history,
            transitions: &transitions,
            deadline: self
                .machine
                .timeout_seconds
                .map(|t| start + chrono::Duration::seconds(t as i64)),
            journal,
        };
        // A resumed execution continues after the last event it recorded.
        let last = recorded.values().max().copied();
        let key = |k: &str| run.journal.as_ref().map(|_| k.to_string());
        let started = if generation == 0 {
            run.history
                .record_keyed(0, now, key("execution:started"), || EventKind::ExecutionStarted {
                    input: input.clone(),
                    role_arn: run.info.role_arn.clone(),
                })
        } else {
            // A redrive continues the history after the end of the run before it.
            run.history
                .record_keyed(last.unwrap_or(0), now, key("execution:redriven"), || {
                    EventKind::ExecutionRedriven {
                        redrive_count: generation,
                    }
                })
        };
        let mut prev = last.unwrap_or(started).max(started);
        let size = json_size(&input);
        let result = if size > self.config.payload_limit {
            Err(Halt::Failed(AslError::new(
                ErrorName::DataLimitExceeded,
                format!(
                    "The execution input has {size} bytes, over the payload limit of {} bytes.",
                    self.config.payload_limit
                ),
            )))
        } else {
            let mut vars = Vars::default();
            let body = run.run_scope(self.machine.root.start, input, &mut vars, &mut prev, "");
            // A bug must fail this one execution (States.Runtime), never the process.
            let body = AssertUnwindSafe(body).catch_unwind().map(|r| {
                r.unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Err(Halt::Failed(AslError::new(
                        ErrorName::Runtime,
                        format!("Internal error in wasmstep: {what}"),
                    )))
                })
            });
            match self.machine.timeout_seconds {
                // The clock check at each transition covers virtual time; this covers a
                // handler that never returns.
                Some(t) => match tokio::time::timeout(std::time::Duration::from_secs(t), body).await {
                    Ok(r) => r,
                    Err(_) => Err(Halt::TimedOut),
                },
                None => body.await,
            }
        };
        let now = self.clock.now();
        let (status, output, error, cause) = match result {
            Ok(output) => {
                run.history.record_end(
                    prev,
                    now,
                    run.journal.as_ref().map(|_| "execution:end".to_string()),
                    || EventKind::ExecutionSucceeded { output: output.clone() },
                );
                (Status::Succeeded, Some(output), None, None)
            }
            Err(Halt::Failed(e)) => {
                let error = Some(e.name.as_str().to_string()).filter(|s| !s.is_empty());
                let cause = e.cause.clone();
                run.history.record_end(
                    prev,
                    now,
                    run.journal.as_ref().map(|_| "execution:end".to_string()),
                    || EventKind::ExecutionFailed {
                        error: error.clone(),
                        cause: cause.clone(),
                    },
                );
                (Status::Failed, None, error, cause)
            }
            Err(Halt::TimedOut) => {
                let error = Some(ErrorName::Timeout.as_str().to_string());
                run.history.record_end(
                    prev,
                    now,
                    run.journal.as_ref().map(|_| "execution:end".to_string()),
                    || EventKind::ExecutionTimedOut {
                        error: error.clone(),
                        cause: None,
                    },
                );
                (Status::TimedOut, None, error, None)
            }
        };
        if let Some(j) = &run.journal
            && let Err(e) = j.flush().await
        {
            eprintln!("error: execution {} could not be recorded: {e}", run.info.id);
        }
        ExecutionResult {
            status,
            output,
            error,
            cause,
            history: run.history.into_events(),
            transitions: transitions.iter().map(|t| t.load(Ordering::Relaxed)).sum(),
            transitions_by_type: transitions.each_ref().map(|t| t.load(Ordering::Relaxed)),
        }
    }
}

impl<'e> Run<'e> {
    /// Turns a fault into the error that stops the state; a JSONata failure is also recorded
    /// as an EvaluationFailed event, as AWS does.
    pub(super) fn halt(&self, f: Fault, state: &str, entered: u64) -> Halt {
        let location = match &f {
            Fault::Query { location, .. } => Some(location.clone().unwrap_or_default()),
            _ => None,
        };
        let e = f.into_error(state, entered);
        if let Some(location) = location {
            self.history.record_keyed(
                entered,
                self.clock().now(),
                self.journal.as_ref().map(|_| format!("e{entered}:evaluation-failed")),
                || EventKind::EvaluationFailed {
                    error: e.name.to_string(),
                    cause: e.cause.clone().unwrap_or_default(),
                    location,
                    state: state.to_string(),
                },
            );
        }
        Halt::Failed(e)
    }

    pub(super) fn clock(&self) -> &dyn Clock {
        &*self.ex.clock
    }

    /// Records an event after `*prev`. `key` names it within the execution (state address and
    /// event): a resumed execution does not record again what it recorded before the restart.
    pub(super) fn record(&self, prev: &mut u64, key: impl FnOnce() -> String, make: impl FnOnce() -> EventKind) -> u64 {
        let key = self.journal.as_ref().map(|_| key());
        let id = self.history.record_keyed(*prev, self.clock().now(), key, make);
        *prev = id;
        id
    }
}
