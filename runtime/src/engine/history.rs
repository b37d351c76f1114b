//! Execution history events, named and shaped as in GetExecutionHistory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::asl::model::StateType;
use crate::path::to_json_text;
use crate::store::ExecutionStore;

/// What happened. Data fields hold JSON values; they become JSON text when serialized.
#[derive(Debug, Clone)]
pub enum EventKind {
    ExecutionStarted {
        input: Value,
        role_arn: String,
    },
    ExecutionSucceeded {
        output: Value,
    },
    ExecutionFailed {
        error: Option<String>,
        cause: Option<String>,
    },
    ExecutionTimedOut {
        error: Option<String>,
        cause: Option<String>,
    },
    ExecutionAborted {
        error: Option<String>,
        cause: Option<String>,
    },
    /// RedriveExecution restarted the execution (its `redrive_count`-th redrive).
    ExecutionRedriven {
        redrive_count: u32,
    },
    StateEntered {
        state_type: StateType,
        name: String,
        input: Value,
    },
    StateExited {
        state_type: StateType,
        name: String,
        output: Value,
        assigned: Vec<(String, Value)>,
    },
    StateAborted {
        state_type: StateType,
    },
    ParallelStateStarted,
    ParallelStateSucceeded,
    ParallelStateFailed,
    MapStateStarted {
        length: usize,
    },
    MapStateSucceeded,
    MapStateFailed,
    MapIterationStarted {
        name: String,
        index: usize,
    },
    MapIterationSucceeded {
        name: String,
        index: usize,
    },
    MapIterationFailed {
        name: String,
        index: usize,
    },
    MapIterationAborted {
        name: String,
        index: usize,
    },
    MapRunStarted {
        map_run_arn: String,
    },
    MapRunSucceeded,
    MapRunFailed {
        error: Option<String>,
        cause: Option<String>,
    },
    MapRunAborted,
    /// The execution was redriven and its Map Run runs again.
    MapRunRedriven {
        map_run_arn: String,
        redrive_count: u32,
    },
    /// A JSONata expression failed (`location`: the field, e.g. `Output/result`).
    EvaluationFailed {
        error: String,
        cause: String,
        location: String,
        state: String,
    },
    /// `Task*` events (`lambda` = false) or the legacy `LambdaFunction*` ones.
    TaskScheduled {
        lambda: bool,
        resource_type: String,
        resource: String,
        parameters: Value,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
    },
    TaskStarted {
        lambda: bool,
        resource_type: String,
        resource: String,
    },
    TaskSucceeded {
        lambda: bool,
        resource_type: String,
        resource: String,
        output: Value,
    },
    TaskFailed {
        lambda: bool,
        resource_type: String,
        resource: String,
        error: String,
        cause: Option<String>,
    },
    TaskTimedOut {
        lambda: bool,
        resource_type: String,
        resource: String,
        error: String,
        cause: Option<String>,
    },
    /// A Task that waits (`.sync`, `.waitForTaskToken`) made its call: the call's response.
    TaskSubmitted {
        resource_type: String,
        resource: String,
        output: Value,
    },
    ActivityScheduled {
        resource: String,
        input: Value,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
    },
    ActivityScheduleFailed {
        error: String,
        cause: Option<String>,
    },
    ActivityStarted {
        worker: String,
    },
    ActivitySucceeded {
        output: Value,
    },
    ActivityFailed {
        error: Option<String>,
        cause: Option<String>,
    },
    ActivityTimedOut {
        error: String,
        cause: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp: DateTime<Utc>,
    pub kind: EventKind,
}

fn error_details(error: &Option<String>, cause: &Option<String>) -> Value {
    let mut m = Map::new();
    if let Some(e) = error {
        m.insert("error".into(), e.clone().into());
    }
    if let Some(c) = cause {
        m.insert("cause".into(), c.clone().into());
    }
    Value::Object(m)
}

impl HistoryEvent {
    /// The event type name, e.g. `PassStateEntered`.
    pub fn type_name(&self) -> String {
        use EventKind::*;
        let lambda_or_task = |lambda: bool, what: &str| {
            if lambda {
                format!("LambdaFunction{what}")
            } else {
                format!("Task{what}")
            }
        };
        match &self.kind {
            ExecutionStarted { .. } => "ExecutionStarted".into(),
            ExecutionSucceeded { .. } => "ExecutionSucceeded".into(),
            ExecutionFailed { .. } => "ExecutionFailed".into(),
            ExecutionTimedOut { .. } => "ExecutionTimedOut".into(),
            ExecutionAborted { .. } => "ExecutionAborted".into(),
            ExecutionRedriven { .. } => "ExecutionRedriven".into(),
            StateEntered { state_type, .. } => format!("{}StateEntered", state_type.as_str()),
            StateExited { state_type, .. } => format!("{}StateExited", state_type.as_str()),
            StateAborted { state_type } => format!("{}StateAborted", state_type.as_str()),
            ParallelStateStarted => "ParallelStateStarted".into(),
            ParallelStateSucceeded => "ParallelStateSucceeded".into(),
            ParallelStateFailed => "ParallelStateFailed".into(),
            MapStateStarted { .. } => "MapStateStarted".into(),
            MapStateSucceeded => "MapStateSucceeded".into(),
            MapStateFailed => "MapStateFailed".into(),
            MapIterationStarted { .. } => "MapIterationStarted".into(),
            MapIterationSucceeded { .. } => "MapIterationSucceeded".into(),
            MapIterationFailed { .. } => "MapIterationFailed".into(),
            MapIterationAborted { .. } => "MapIterationAborted".into(),
            MapRunStarted { .. } => "MapRunStarted".into(),
            MapRunSucceeded => "MapRunSucceeded".into(),
            MapRunFailed { .. } => "MapRunFailed".into(),
            MapRunAborted => "MapRunAborted".into(),
            MapRunRedriven { .. } => "MapRunRedriven".into(),
            EvaluationFailed { .. } => "EvaluationFailed".into(),
            TaskScheduled { lambda, .. } => lambda_or_task(*lambda, "Scheduled"),
            TaskStarted { lambda, .. } => lambda_or_task(*lambda, "Started"),
            TaskSucceeded { lambda, .. } => lambda_or_task(*lambda, "Succeeded"),
            TaskFailed { lambda, .. } => lambda_or_task(*lambda, "Failed"),
            TaskTimedOut { lambda, .. } => lambda_or_task(*lambda, "TimedOut"),
            TaskSubmitted { .. } => "TaskSubmitted".into(),
            ActivityScheduled { .. } => "ActivityScheduled".into(),
            ActivityScheduleFailed { .. } => "ActivityScheduleFailed".into(),
            ActivityStarted { .. } => "ActivityStarted".into(),
            ActivitySucceeded { .. } => "ActivitySucceeded".into(),
            ActivityFailed { .. } => "ActivityFailed".into(),
            ActivityTimedOut { .. } => "ActivityTimedOut".into(),
        }
    }

    /// The event as GetExecutionHistory returns it.
    pub fn to_json(&self) -> Value {
        use EventKind::*;
        let data = |v: &Value| to_json_text(v);
        let (key, details): (&str, Value) = match &self.kind {
            ExecutionStarted { input, role_arn } => (
                "executionStartedEventDetails",
                json!({"input": data(input), "inputDetails": {"truncated": false}, "roleArn": role_arn}),
            ),
            ExecutionSucceeded { output } => (
                "executionSucceededEventDetails",
                json!({"output": data(output), "outputDetails": {"truncated": false}}),
            ),
            ExecutionFailed { error, cause } => ("executionFailedEventDetails", error_details(error, cause)),
            ExecutionTimedOut { error, cause } => ("executionTimedOutEventDetails", error_details(error, cause)),
            ExecutionAborted { error, cause } => ("executionAbortedEventDetails", error_details(error, cause)),
            ExecutionRedriven { redrive_count } => {
                ("executionRedrivenEventDetails", json!({"redriveCount": redrive_count}))
            }
            StateEntered { name, input, .. } => (
                "stateEnteredEventDetails",
                json!({"name": name, "input": data(input), "inputDetails": {"truncated": false}}),
            ),
            StateExited {
                name, output, assigned, ..
            } => {
                let mut d = json!({"name": name, "output": data(output), "outputDetails": {"truncated": false}});
                if !assigned.is_empty() {
                    let vars: Map<String, Value> = assigned
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(data(v))))
                        .collect();
                    d["assignedVariables"] = Value::Object(vars);
                    d["assignedVariablesDetails"] = json!({"truncated": false});
                }
                ("stateExitedEventDetails", d)
            }
            MapStateStarted { length } => ("mapStateStartedEventDetails", json!({"length": length})),
            MapIterationStarted { name, index } => {
                ("mapIterationStartedEventDetails", json!({"name": name, "index": index}))
            }
            MapIterationSucceeded { name, index } => (
                "mapIterationSucceededEventDetails",
                json!({"name": name, "index": index}),
            ),
            MapIterationFailed { name, index } => {
                ("mapIterationFailedEventDetails", json!({"name": name, "index": index}))
            }
            MapIterationAborted { name, index } => {
                ("mapIterationAbortedEventDetails", json!({"name": name, "index": index}))
            }
            MapRunStarted { map_run_arn } => ("mapRunStartedEventDetails", json!({"mapRunArn": map_run_arn})),
            MapRunFailed { error, cause } => ("mapRunFailedEventDetails", error_details(error, cause)),
            MapRunRedriven {
                map_run_arn,
                redrive_count,
            } => (
                "mapRunRedrivenEventDetails",
                json!({"mapRunArn": map_run_arn, "redriveCount": redrive_count}),
            ),
            EvaluationFailed {
                error,
                cause,
                location,
                state,
            } => (
                "evaluationFailedEventDetails",
                json!({"error": error, "cause": cause, "location": location, "state": state}),
            ),
            TaskScheduled {
                lambda: true,
                parameters,
                timeout,
                resource,
                ..
            } => {
                let mut d =
                    json!({"resource": resource, "input": data(parameters), "inputDetails": {"truncated": false}});
                if let Some(t) = timeout {
                    d["timeoutInSeconds"] = (*t).into();
                }
                ("lambdaFunctionScheduledEventDetails", d)
            }
            TaskScheduled {
                lambda: false,
                resource_type,
                resource,
                parameters,
                timeout,
                heartbeat,
            } => {
                let mut d = json!({"resourceType": resource_type, "resource": resource, "region": crate::engine::REGION, "parameters": data(parameters)});
                if let Some(t) = timeout {
                    d["timeoutInSeconds"] = (*t).into();
                }
                if let Some(h) = heartbeat {
                    d["heartbeatInSeconds"] = (*h).into();
                }
                ("taskScheduledEventDetails", d)
            }
            TaskStarted { lambda: true, .. } => ("", Value::Null),
            TaskStarted {
                resource_type,
                resource,
                ..
            } => (
                "taskStartedEventDetails",
                json!({"resourceType": resource_type, "resource": resource}),
            ),
            TaskSucceeded {
                lambda: true, output, ..
            } => (
                "lambdaFunctionSucceededEventDetails",
                json!({"output": data(output), "outputDetails": {"truncated": false}}),
            ),
            TaskSucceeded {
                resource_type,
                resource,
                output,
                ..
            } => (
                "taskSucceededEventDetails",
                json!({"resourceType": resource_type, "resource": resource, "output": data(output), "outputDetails": {"truncated": false}}),
            ),
            TaskFailed {
                lambda: true,
                error,
                cause,
                ..
            } => (
                "lambdaFunctionFailedEventDetails",
                error_details(&Some(error.clone()), cause),
            ),
            TaskFailed {
                resource_type,
                resource,
                error,
                cause,
                ..
            } => {
                let mut d = error_details(&Some(error.clone()), cause);
                d["resourceType"] = resource_type.clone().into();
                d["resource"] = resource.clone().into();
                ("taskFailedEventDetails", d)
            }
            TaskTimedOut {
                lambda: true,
                error,
                cause,
                ..
            } => (
                "lambdaFunctionTimedOutEventDetails",
                error_details(&Some(error.clone()), cause),
            ),
            TaskTimedOut {
                resource_type,
                resource,
                error,
                cause,
                ..
            } => {
                let mut d = error_details(&Some(error.clone()), cause);
                d["resourceType"] = resource_type.clone().into();
                d["resource"] = resource.clone().into();
                ("taskTimedOutEventDetails", d)
            }
            TaskSubmitted {
                resource_type,
                resource,
                output,
            } => (
                "taskSubmittedEventDetails",
                json!({"resourceType": resource_type, "resource": resource, "output": data(output), "outputDetails": {"truncated": false}}),
            ),
            ActivityScheduled {
                resource,
                input,
                timeout,
                heartbeat,
            } => {
                let mut d = json!({"resource": resource, "input": data(input), "inputDetails": {"truncated": false}});
                if let Some(t) = timeout {
                    d["timeoutInSeconds"] = (*t).into();
                }
                if let Some(h) = heartbeat {
                    d["heartbeatInSeconds"] = (*h).into();
                }
                ("activityScheduledEventDetails", d)
            }
            ActivityScheduleFailed { error, cause } => (
                "activityScheduleFailedEventDetails",
                error_details(&Some(error.clone()), cause),
            ),
            ActivityStarted { worker } => ("activityStartedEventDetails", json!({"workerName": worker})),
            ActivitySucceeded { output } => (
                "activitySucceededEventDetails",
                json!({"output": data(output), "outputDetails": {"truncated": false}}),
            ),
            ActivityFailed { error, cause } => ("activityFailedEventDetails", error_details(error, cause)),
            ActivityTimedOut { error, cause } => (
                "activityTimedOutEventDetails",
                error_details(&Some(error.clone()), cause),
            ),
            _ => ("", Value::Null),
        };
        let mut v = json!({
            "timestamp": crate::path::context::iso(self.timestamp),
            "type": self.type_name(),
            "id": self.id,
            "previousEventId": self.previous_event_id,
        });
        if !key.is_empty() {
            v[key] = details;
        }
        v
    }
}

/// The history of one execution. Ids are always assigned (messages cite them); the events
/// themselves are kept only when `keep` is on, so benchmarks do not pay for them.
pub struct History {
    next_id: AtomicU64,
    events: Option<Mutex<Vec<HistoryEvent>>>,
    /// Durable executions also write each event to their store.
    store: Option<(Arc<dyn ExecutionStore>, String)>,
    /// Keys (and ids) of the events recorded before a restart: not recorded again.
    recorded: HashMap<String, u64>,
    /// The most events the execution may have; the last id is kept for its end.
    limit: Option<u64>,
    /// An event was refused for the cap: the execution must end.
    exhausted: std::sync::atomic::AtomicBool,
    /// The redrive this run is (0: the first run). A redriven execution enters again states it
    /// entered before, so its keys are set apart from the earlier runs' (`r1/…`).
    generation: u32,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl History {
    pub fn new(keep: bool) -> Self {
        History {
            next_id: AtomicU64::new(1),
            events: keep.then(|| Mutex::new(Vec::new())),
            store: None,
            recorded: HashMap::new(),
            limit: None,
            exhausted: Default::default(),
            generation: 0,
        }
    }

    /// Caps the number of events (AWS's 25,000 for a Standard execution).
    pub fn with_limit(mut self, limit: Option<u64>) -> Self {
        self.limit = limit;
        self
    }

    /// Keys this run's events apart from those of the runs before its redrive (`generation`).
    pub fn with_generation(mut self, generation: u32) -> Self {
        self.generation = generation;
        self
    }

    /// The key of an event of this run.
    fn keyed(&self, key: Option<String>) -> Option<String> {
        match (key, self.generation) {
            (Some(k), g) if g > 0 => Some(format!("r{g}/{k}")),
            (k, _) => k,
        }
    }

    /// Whether the cap refused an event: the execution fails (`States.Runtime`).
    pub fn exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }

    /// A history that also records to `store`, continuing at `next_id` (a resumed execution
    /// keeps the ids it already has).
    pub fn durable(
        keep: bool,
        store: Arc<dyn ExecutionStore>,
        execution: &str,
        recorded: HashMap<String, u64>,
    ) -> Self {
        let next_id = recorded.values().max().map_or(1, |m| m + 1);
        History {
            next_id: AtomicU64::new(next_id),
            events: keep.then(|| Mutex::new(Vec::new())),
            store: Some((store, execution.to_string())),
            recorded,
            limit: None,
            exhausted: Default::default(),
            generation: 0,
        }
    }

    /// Records an event after `previous` and returns its id. `make` runs only when the event
    /// is kept or stored.
    pub fn record(&self, previous: u64, now: DateTime<Utc>, make: impl FnOnce() -> EventKind) -> u64 {
        self.record_keyed(previous, now, None, make)
    }

    /// Whether an event with this key was recorded by this run or one before its redrive.
    pub fn recorded_in_any_run(&self, key: &str) -> bool {
        self.recorded.contains_key(key)
            || (1..=self.generation).any(|g| self.recorded.contains_key(&format!("r{g}/{key}")))
    }

    /// Whether an event with this key was recorded before a restart.
    pub fn was_recorded(&self, key: &str) -> bool {
        match self.keyed(Some(key.to_string())) {
            Some(k) => self.recorded.contains_key(&k),
            None => false,
        }
    }

    /// Like `record`, with the event's key: an event whose key was recorded before a restart
    /// is not recorded again (its earlier id is returned).
    pub fn record_keyed(
        &self,
        previous: u64,
        now: DateTime<Utc>,
        key: Option<String>,
        make: impl FnOnce() -> EventKind,
    ) -> u64 {
        let key = self.keyed(key);
        if let Some(id) = key.as_ref().and_then(|k| self.recorded.get(k)) {
            return *id;
        }
        let id = match self.limit {
            None => self.next_id.fetch_add(1, Ordering::Relaxed),
            // Ids up to the cap less one; the last is the execution's end.
            Some(limit) => match self
                .next_id
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < limit).then_some(n + 1))
            {
                Ok(id) => id,
                Err(_) => {
                    self.exhausted.store(true, Ordering::Relaxed);
                    return limit - 1;
                }
            },
        };
        self.store_event(id, previous, now, key, make)
    }

    /// Records how the execution ended: never refused by the cap (its id is kept for it).
    pub fn record_end(
        &self,
        previous: u64,
        now: DateTime<Utc>,
        key: Option<String>,
        make: impl FnOnce() -> EventKind,
    ) -> u64 {
        let key = self.keyed(key);
        if let Some(id) = key.as_ref().and_then(|k| self.recorded.get(k)) {
            return *id;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.store_event(id, previous, now, key, make)
    }

    fn store_event(
        &self,
        id: u64,
        previous: u64,
        now: DateTime<Utc>,
        key: Option<String>,
        make: impl FnOnce() -> EventKind,
    ) -> u64 {
        if self.events.is_none() && self.store.is_none() {
            return id;
        }
        let ev = HistoryEvent {
            id,
            previous_event_id: previous,
            timestamp: now,
            kind: make(),
        };
        if let Some((store, execution)) = &self.store {
            store.append_event(execution, id, key.as_deref(), ev.to_json());
        }
        if let Some(events) = &self.events {
            events.lock().unwrap_or_else(|e| e.into_inner()).push(ev);
        }
        id
    }

    pub fn keeps_events(&self) -> bool {
        self.events.is_some() || self.store.is_some()
    }

    pub fn into_events(self) -> Vec<HistoryEvent> {
        self.events
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .unwrap_or_default()
    }
}
