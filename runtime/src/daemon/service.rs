//! The daemon's state: the catalog of state machines, the executions running now, the store
//! under them, the handlers they call and the metrics. Each concept keeps its `impl Service`
//! in its own file (`catalog/`, `executions.rs`, `express.rs`); this one holds what they share:
//! opening the service on a store, the handlers an execution keeps, an executor for it, its
//! context facts, and health.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::catalog::Machine;
use super::executions::ExecutionRow;
use super::metrics::Metrics;
use crate::asl::{self, Diagnostic, MachineType, Severity, Source, StateMachine, Syntax};
use crate::engine::clock::{Clock, SystemClock};
use crate::engine::task::TaskInvoker;
use crate::engine::{ACCOUNT, EngineConfig, Executor};
use crate::path::context::{ExecutionInfo, iso};
use crate::store::Store;

/// Now, as the API's timestamps: seconds since the epoch, with microseconds.
pub(super) fn now_secs() -> f64 {
    Utc::now().timestamp_micros() as f64 / 1e6
}

/// The daemon: what the API, the reloader and the resumer work on.
pub struct Service {
    pub store: Arc<dyn Store>,
    pub invoker: Arc<dyn TaskInvoker>,
    pub metrics: Arc<Metrics>,
    pub(super) machines: Mutex<HashMap<String, Arc<Machine>>>,
    /// Compiled versions, by version ARN (filled on first use; versions never change).
    pub(super) versions: Mutex<HashMap<String, Arc<Machine>>>,
    pub(super) running: Mutex<HashMap<String, JoinHandle<()>>>,
    pub(super) clock: Arc<dyn Clock>,
    draining: std::sync::atomic::AtomicBool,
    /// Wakes the retention sweeper (`retention.rs`) before its next round.
    pub(super) sweep: tokio::sync::Notify,
    /// Handler calls in flight, and whether executions may go on (closed at a hand-over).
    pub gate: Arc<super::handover::Gate>,
    /// The store's catalog version this node's cache of state machines reflects.
    pub(super) catalog_seen: std::sync::atomic::AtomicI64,
    /// Who to wake when a task token or an activity's queue changes (`waits/`).
    pub waits: super::waits::Waits,
    /// The scheduler's wake-up and retries (`triggers/`).
    pub(super) triggers: super::triggers::scheduler::Triggers,
    /// Pollers of each activity waiting now (GetActivityTask).
    pub(super) pollers: Mutex<HashMap<String, usize>>,
    /// The engine's door to task tokens, activities and nested executions.
    outside: Arc<dyn crate::engine::outside::Outside>,
    /// Where executions run: the daemon gives them a runtime of their own, so a state that
    /// computes for seconds (a JSONata expression near its time limit) never holds up a
    /// request; without one, the runtime the service was opened on.
    engine: std::sync::OnceLock<tokio::runtime::Handle>,
    /// Where Distributed Maps read datasets and write results (`--buckets`), if anywhere.
    buckets: std::sync::OnceLock<Arc<dyn crate::store::buckets::Buckets>>,
    /// The Map Runs going on here (`map_runs.rs`).
    pub map_runs: Arc<super::map_runs::MapRunBook>,
}

impl Service {
    /// Opens the service on a store, loading the state machines it holds.
    pub async fn open(
        store: Arc<dyn Store>,
        invoker: Arc<dyn TaskInvoker>,
        metrics: Arc<Metrics>,
    ) -> std::result::Result<Arc<Service>, String> {
        let catalog_seen = store.catalog_version().await.map_err(|e| e.to_string())?;
        let rows = store.machines().await.map_err(|e| e.to_string())?;
        let mut machines = HashMap::new();
        for r in rows {
            let m = Machine::from_record(r)?;
            machines.insert(m.arn.clone(), Arc::new(m));
        }
        let gate = Arc::new(super::handover::Gate::default());
        let invoker: Arc<dyn TaskInvoker> = Arc::new(crate::daemon::metrics::MeteredInvoker {
            inner: invoker,
            metrics: metrics.clone(),
        });
        let shared = store.shared();
        Ok(Arc::new_cyclic(|me| Service {
            waits: Default::default(),
            pollers: Default::default(),
            triggers: Default::default(),
            outside: Arc::new(super::waits::Door {
                svc: me.clone(),
                shared,
            }),
            map_runs: Arc::new(super::map_runs::MapRunBook::new(store.clone())),
            store,
            invoker,
            metrics,
            machines: Mutex::new(machines),
            versions: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            clock: Arc::new(SystemClock),
            draining: Default::default(),
            gate,
            catalog_seen: catalog_seen.into(),
            sweep: tokio::sync::Notify::new(),
            engine: std::sync::OnceLock::new(),
            buckets: std::sync::OnceLock::new(),
        }))
    }

    /// The handlers one execution keeps until it ends, and their number to record: a reload
    /// while it runs does not switch it to a new module half-way. Given the number recorded
    /// before a restart, the same handlers again when they can still be had.
    pub(super) fn pin(&self, recorded: Option<i64>) -> (Option<i64>, Arc<dyn TaskInvoker>) {
        if let Some(set) = recorded {
            match self.invoker.repin(set as u64) {
                Some(invoker) => return (Some(set), invoker),
                None => tracing::warn!(
                    handler_set = set,
                    "the handlers this execution started with are gone; it resumes on those serving now"
                ),
            }
        }
        match self.invoker.pin() {
            Some((set, invoker)) => (Some(set as i64), invoker),
            None => (None, self.invoker.clone()),
        }
    }

    /// The engine for one execution: its handlers, the daemon's clock; history goes to the
    /// store, not memory.
    pub(super) fn executor(
        &self,
        compiled: Arc<StateMachine>,
        invoker: Arc<dyn TaskInvoker>,
        t: MachineType,
    ) -> Executor {
        Executor::new(
            compiled,
            invoker,
            self.clock.clone(),
            EngineConfig {
                keep_history: false,
                history_limit: EngineConfig::history_limit_for(t),
                ..EngineConfig::default()
            },
        )
        .with_outside(self.outside.clone())
        .with_buckets(self.buckets.get().cloned())
        .with_map_runs(self.map_runs.clone())
    }

    pub(super) fn info(&self, row: &ExecutionRow, machine_name: &str, input: &Value) -> ExecutionInfo {
        let start = chrono::DateTime::from_timestamp_micros((row.started * 1e6) as i64).unwrap_or_else(Utc::now);
        ExecutionInfo {
            id: row.arn.clone(),
            name: row.name.clone(),
            input: Arc::new(input.clone()),
            start_time: iso(start),
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/wasmstep"),
            state_machine_id: row.machine_arn.clone(),
            state_machine_name: machine_name.to_string(),
            redrive_count: row.redrive_count,
            redrive_time: row
                .redrive_date
                .and_then(|d| chrono::DateTime::from_timestamp_micros((d * 1e6) as i64))
                .map(iso),
        }
    }

    /// Whether the store answers.
    pub async fn healthy(&self) -> bool {
        self.store.ping().await.is_ok()
    }

    /// Why the store cannot take writes now, if it cannot (a full disk, an I/O error).
    pub fn cannot_write(&self) -> Option<String> {
        self.store.writable().err().map(|e| e.0)
    }

    /// Runs executions on `engine` from now on (set once, before any starts).
    /// Distributed Maps read and write `buckets` from now on (set once, before any starts).
    pub fn use_buckets(&self, buckets: Arc<dyn crate::store::buckets::Buckets>) {
        let _ = self.buckets.set(buckets);
    }

    pub fn run_executions_on(&self, engine: tokio::runtime::Handle) {
        let _ = self.engine.set(engine);
    }

    /// The runtime executions run on.
    pub(super) fn engine(&self) -> tokio::runtime::Handle {
        self.engine
            .get()
            .cloned()
            .unwrap_or_else(tokio::runtime::Handle::current)
    }

    /// The daemon has stopped taking new work (SIGTERM or SIGINT received).
    pub fn drain(&self) {
        self.draining.store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Acquire)
    }

    /// ValidateStateMachineDefinition: `OK` or `FAIL`, with the errors (and, when asked,
    /// the warnings) found, at most `max` of them.
    pub fn validate(&self, definition: &str, t: MachineType, warnings: bool, max: usize) -> Value {
        let syntax = Syntax::detect("", definition);
        let src = match Source::parse(definition, syntax) {
            Ok(s) => s,
            Err(e) => {
                return json!({"result": "FAIL", "truncated": false, "diagnostics": [{
                    "severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": e.message, "location": format!("{}:{}", e.line, e.column)}]});
            }
        };
        let (result, diagnostics) = match asl::build(&src, t) {
            Ok(m) => ("OK", m.warnings),
            Err(d) => ("FAIL", d.diagnostics),
        };
        let shown: Vec<&Diagnostic> = diagnostics
            .iter()
            .filter(|d| warnings || d.severity == Severity::Error)
            .collect();
        json!({
            "result": result,
            "truncated": shown.len() > max,
            "diagnostics": shown.iter().take(max).map(|x| json!({
                "severity": x.severity.as_str(), "code": x.code.as_str(), "message": x.message, "location": x.pointer,
            })).collect::<Vec<_>>(),
        })
    }
}
