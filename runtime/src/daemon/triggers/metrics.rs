//! What triggers count: schedule fires, misses and failures per schedule; status events
//! delivered and failed per target, and whether each target is failing now.

use prometheus::{IntCounterVec, IntGaugeVec, Registry};

use crate::daemon::metrics::{counter, gauge};

pub struct TriggerMetrics {
    pub schedule_fires: IntCounterVec,
    pub schedule_misses: IntCounterVec,
    pub schedule_failures: IntCounterVec,
    pub events_delivered: IntCounterVec,
    pub event_failures: IntCounterVec,
    pub target_failing: IntGaugeVec,
}

impl TriggerMetrics {
    pub fn new(registry: &Registry) -> TriggerMetrics {
        let s = &["group", "schedule"];
        let t = &["target"];
        TriggerMetrics {
            schedule_fires: counter(
                registry,
                "wasmstep_schedule_fires_total",
                "Executions a schedule started (one per due time).",
                s,
            ),
            schedule_misses: counter(
                registry,
                "wasmstep_schedule_misses_total",
                "Due times a schedule skipped: the daemon was down then (only the latest missed one runs), or it was older than the retry policy's maximum event age.",
                s,
            ),
            schedule_failures: counter(
                registry,
                "wasmstep_schedule_failures_total",
                "Due times whose execution could not be started (no such state machine, bad input, or retries used up).",
                s,
            ),
            events_delivered: counter(
                registry,
                "wasmstep_status_events_delivered_total",
                "Execution status events a notify target accepted.",
                t,
            ),
            event_failures: counter(
                registry,
                "wasmstep_status_event_failures_total",
                "Deliveries of execution status events a notify target refused or did not answer (each is retried).",
                t,
            ),
            target_failing: gauge(
                registry,
                "wasmstep_status_event_target_failing",
                "1 while a notify target refuses or does not answer (its events wait in the outbox), 0 once it accepts again.",
                t,
            ),
        }
    }
}
