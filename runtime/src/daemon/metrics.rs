//! Every metric the daemon exports, by name and label, in one place (Prometheus text format on
//! `/metrics`). Labels stay bounded: state machine, state type, handler, outcome; never an
//! execution id.

use std::sync::Arc;

use futures::future::BoxFuture;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use serde_json::Value;

use crate::engine::task::{InvokeError, TaskCall, TaskInvoker};

pub struct Metrics {
    registry: Registry,
    pub executions_started: IntCounterVec,
    pub executions_succeeded: IntCounterVec,
    pub executions_failed: IntCounterVec,
    pub executions_timed_out: IntCounterVec,
    pub executions_aborted: IntCounterVec,
    /// Executions picked up again after a restart (counted here, not as started, so that
    /// started + resumed always covers what ends in this process).
    pub executions_resumed: IntCounterVec,
    /// Executions restarted by RedriveExecution (counted here, not as started, likewise).
    pub executions_redriven: IntCounterVec,
    pub executions_running: IntGauge,
    pub execution_duration: Histogram,
    pub state_transitions: IntCounterVec,
    pub task_invocations: IntCounterVec,
    pub task_duration: HistogramVec,
    /// Hot reloads by `kind` (plugin, definition) and `outcome` (loaded, rejected, removed).
    pub reloads: IntCounterVec,
    /// From a file's change (its first event) to the new version serving, by kind.
    pub reload_latency: HistogramVec,
    /// Reading, validating and compiling a changed file, by kind (part of the latency).
    pub reload_load: HistogramVec,
    /// The version serving each handler: how many times it has been loaded in this process,
    /// with the module's SHA-256 as a label (one series per handler).
    pub handler_version: IntGaugeVec,
    /// The latest published version of each state machine loaded from the definitions directory.
    pub state_machine_version: IntGaugeVec,
    /// This node's share of the executions (`cluster.rs`), labelled with its node id.
    pub node: NodeMetrics,
    /// Schedules and status events (`triggers/`).
    pub triggers: super::triggers::metrics::TriggerMetrics,
}

/// `wasmstep_node_*`: what one daemon holds of the executions several may share. Summed over
/// the nodes of a cluster, they say who runs what.
pub struct NodeMetrics {
    pub leases_held: IntGauge,
    pub executions_owned: IntGauge,
    pub claim_seconds: Histogram,
    pub claimed: prometheus::IntCounter,
    pub leases_lost: prometheus::IntCounter,
    pub handed_over: prometheus::IntCounter,
}

impl NodeMetrics {
    fn new(registry: &Registry, node: &str) -> NodeMetrics {
        let l = &["node"];
        NodeMetrics {
            leases_held: gauge(
                registry,
                "wasmstep_node_leases_held",
                "Executions this node holds a lease on (a shared store).",
                l,
            )
            .with_label_values(&[node]),
            executions_owned: gauge(
                registry,
                "wasmstep_node_executions_owned",
                "Durable executions running on this node now.",
                l,
            )
            .with_label_values(&[node]),
            claim_seconds: histogram(
                registry,
                "wasmstep_node_claim_seconds",
                "Time one claim of executions took (a round trip to the store).",
                &[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
                l,
            )
            .with_label_values(&[node]),
            claimed: counter(
                registry,
                "wasmstep_node_executions_claimed_total",
                "Running executions this node claimed and resumed (at start-up, or left by another node).",
                l,
            )
            .with_label_values(&[node]),
            leases_lost: counter(
                registry,
                "wasmstep_node_leases_lost_total",
                "Executions this node stopped running because another node holds their lease now.",
                l,
            )
            .with_label_values(&[node]),
            handed_over: counter(
                registry,
                "wasmstep_node_executions_handed_over_total",
                "Executions this node released for others to resume when it stopped.",
                l,
            )
            .with_label_values(&[node]),
        }
    }
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)
        .expect("valid metric definition");
    registry.register(Box::new(h.clone())).expect("metric names are unique");
    h
}

pub(super) fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    registry.register(Box::new(g.clone())).expect("metric names are unique");
    g
}

pub(super) fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    registry.register(Box::new(c.clone())).expect("metric names are unique");
    c
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::for_node("local")
    }

    /// The metrics of the daemon whose node id is `node`.
    pub fn for_node(node: &str) -> Metrics {
        let registry = Registry::new();
        let sm = &["state_machine"];
        let running = IntGauge::new("wasmstep_executions_running", "Executions running now.").expect("valid");
        registry.register(Box::new(running.clone())).expect("unique");
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "wasmstep_execution_duration_seconds",
                "Time from start to end of finished executions.",
            )
            .buckets(vec![0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0]),
        )
        .expect("valid");
        registry.register(Box::new(duration.clone())).expect("unique");
        let task_duration = HistogramVec::new(
            HistogramOpts::new("wasmstep_task_duration_seconds", "Time a Task handler call took.")
                .buckets(vec![0.00001, 0.0001, 0.001, 0.01, 0.1, 1.0, 10.0, 60.0]),
            &["handler"],
        )
        .expect("valid");
        registry.register(Box::new(task_duration.clone())).expect("unique");
        #[cfg(target_os = "linux")]
        {
            let _ = registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()));
        }
        Metrics {
            executions_started: counter(
                &registry,
                "wasmstep_executions_started_total",
                "Executions started.",
                sm,
            ),
            executions_succeeded: counter(
                &registry,
                "wasmstep_executions_succeeded_total",
                "Executions that succeeded.",
                sm,
            ),
            executions_failed: counter(
                &registry,
                "wasmstep_executions_failed_total",
                "Executions that failed.",
                sm,
            ),
            executions_timed_out: counter(
                &registry,
                "wasmstep_executions_timed_out_total",
                "Executions that timed out.",
                sm,
            ),
            executions_resumed: counter(
                &registry,
                "wasmstep_executions_resumed_total",
                "Running executions resumed after a restart.",
                sm,
            ),
            executions_redriven: counter(
                &registry,
                "wasmstep_executions_redriven_total",
                "Stopped executions restarted by RedriveExecution.",
                sm,
            ),
            executions_aborted: counter(
                &registry,
                "wasmstep_executions_aborted_total",
                "Executions that were stopped.",
                sm,
            ),
            executions_running: running,
            execution_duration: duration,
            state_transitions: counter(
                &registry,
                "wasmstep_state_transitions_total",
                "States entered (Map iterations and Parallel branches included).",
                &["state_machine", "state_type"],
            ),
            task_invocations: counter(
                &registry,
                "wasmstep_task_invocations_total",
                "Task handler calls.",
                &["handler", "outcome"],
            ),
            task_duration,
            reloads: counter(
                &registry,
                "wasmstep_reloads_total",
                "Hot reloads of changed files, by kind (plugin, definition) and outcome (loaded, rejected, removed).",
                &["kind", "outcome"],
            ),
            reload_latency: histogram(
                &registry,
                "wasmstep_reload_latency_seconds",
                "Time from a file's change to its new version serving.",
                &[0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 30.0],
                &["kind"],
            ),
            reload_load: histogram(
                &registry,
                "wasmstep_reload_load_seconds",
                "Time to read, validate and compile a changed file.",
                &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0],
                &["kind"],
            ),
            handler_version: gauge(
                &registry,
                "wasmstep_handler_version",
                "The version serving each handler: loads of it in this process, labelled with the module's SHA-256.",
                &["handler", "sha256"],
            ),
            state_machine_version: gauge(
                &registry,
                "wasmstep_state_machine_version",
                "The latest published version of each state machine loaded from the definitions directory.",
                &["state_machine"],
            ),
            node: NodeMetrics::new(&registry, node),
            triggers: super::triggers::metrics::TriggerMetrics::new(&registry),
            registry,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Wraps the Task invoker to count handler calls by outcome and time them.
pub struct MeteredInvoker {
    pub inner: Arc<dyn TaskInvoker>,
    pub metrics: Arc<Metrics>,
}

impl MeteredInvoker {
    fn metered(&self, inner: Arc<dyn TaskInvoker>) -> Arc<dyn TaskInvoker> {
        Arc::new(MeteredInvoker {
            inner,
            metrics: self.metrics.clone(),
        })
    }
}

impl TaskInvoker for MeteredInvoker {
    fn invoke<'a>(&'a self, call: TaskCall<'a>) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(async move {
            let handler = call.handler;
            let t0 = std::time::Instant::now();
            let r = self.inner.invoke(call).await;
            let outcome = match &r {
                Ok(_) => "succeeded",
                Err(InvokeError::NoSuchHandler) => "no_such_handler",
                Err(InvokeError::Failed(_)) => "failed",
            };
            self.metrics
                .task_invocations
                .with_label_values(&[handler, outcome])
                .inc();
            self.metrics
                .task_duration
                .with_label_values(&[handler])
                .observe(t0.elapsed().as_secs_f64());
            r
        })
    }

    fn explain_missing(&self, name: &str) -> Option<String> {
        self.inner.explain_missing(name)
    }

    fn pin(&self) -> Option<(u64, Arc<dyn TaskInvoker>)> {
        let (set, inner) = self.inner.pin()?;
        Some((set, self.metered(inner)))
    }

    fn repin(&self, set: u64) -> Option<Arc<dyn TaskInvoker>> {
        Some(self.metered(self.inner.repin(set)?))
    }
}

impl Metrics {
    /// Counts an execution's end by its final status, and how long it ran.
    pub fn count_end(&self, state_machine: &str, status: crate::engine::Status, seconds: f64) {
        use crate::engine::Status;
        let counter = match status {
            Status::Succeeded => &self.executions_succeeded,
            Status::Failed => &self.executions_failed,
            Status::TimedOut => &self.executions_timed_out,
            Status::Aborted => &self.executions_aborted,
        };
        counter.with_label_values(&[state_machine]).inc();
        self.execution_duration.observe(seconds.max(0.0));
    }

    /// Adds an execution's state transitions, by state type.
    pub fn count_transitions(&self, state_machine: &str, by_type: &[u64; 8]) {
        for (t, n) in crate::asl::model::StateType::ALL.iter().zip(by_type) {
            if *n > 0 {
                self.state_transitions
                    .with_label_values(&[state_machine, t.as_str()])
                    .inc_by(*n);
            }
        }
    }
}
