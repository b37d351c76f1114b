//! The context object (`$$` in JSONPath, `$states.context` in JSONata), built only when read.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

use serde_json::{Map, Value};

/// Facts about one execution that every state's context object repeats.
#[derive(Debug, Clone, Default)]
pub struct ExecutionInfo {
    pub id: String,
    pub name: String,
    pub input: Arc<Value>,
    pub start_time: String,
    pub role_arn: String,
    pub state_machine_id: String,
    pub state_machine_name: String,
    pub redrive_count: u32,
    /// When the execution was last redriven (ISO 8601), once it has been.
    pub redrive_time: Option<String>,
}

/// The context object of one state entry. Paths that never mention `$$` never build it.
pub struct ContextObject<'a> {
    pub execution: &'a ExecutionInfo,
    pub state_name: &'a str,
    pub entered_time: DateTime<Utc>,
    /// Present in Task-like states (Task, Parallel, Map).
    pub retry_count: Option<u32>,
    /// `Map.Item`, only inside a Map state's ItemSelector.
    pub map_item: Option<(usize, &'a Value)>,
    pub task_token: Option<&'a str>,
    built: OnceLock<Value>,
}

impl<'a> ContextObject<'a> {
    pub fn new(execution: &'a ExecutionInfo, state_name: &'a str, entered_time: DateTime<Utc>) -> Self {
        ContextObject {
            execution,
            state_name,
            entered_time,
            retry_count: None,
            map_item: None,
            task_token: None,
            built: OnceLock::new(),
        }
    }

    pub fn with_retry_count(mut self, n: u32) -> Self {
        self.retry_count = Some(n);
        self
    }

    pub fn with_task_token(mut self, token: &'a str) -> Self {
        self.task_token = Some(token);
        self
    }

    pub fn with_map_item(mut self, index: usize, value: &'a Value) -> Self {
        self.map_item = Some((index, value));
        self
    }

    /// The context object as JSON.
    pub fn value(&self) -> &Value {
        self.built.get_or_init(|| self.build())
    }

    fn build(&self) -> Value {
        let e = self.execution;
        let mut execution = Map::new();
        execution.insert("Id".into(), e.id.clone().into());
        execution.insert("Input".into(), (*e.input).clone());
        execution.insert("StartTime".into(), e.start_time.clone().into());
        execution.insert("Name".into(), e.name.clone().into());
        execution.insert("RoleArn".into(), e.role_arn.clone().into());
        execution.insert("RedriveCount".into(), e.redrive_count.into());
        if let Some(t) = &e.redrive_time {
            execution.insert("RedriveTime".into(), t.clone().into());
        }
        let mut state = Map::new();
        state.insert("EnteredTime".into(), iso(self.entered_time).into());
        state.insert("Name".into(), self.state_name.into());
        if let Some(n) = self.retry_count {
            state.insert("RetryCount".into(), n.into());
        }
        let mut sm = Map::new();
        sm.insert("Id".into(), e.state_machine_id.clone().into());
        sm.insert("Name".into(), e.state_machine_name.clone().into());
        let mut root = Map::new();
        root.insert("Execution".into(), Value::Object(execution));
        root.insert("State".into(), Value::Object(state));
        root.insert("StateMachine".into(), Value::Object(sm));
        if let Some(token) = self.task_token {
            let mut task = Map::new();
            task.insert("Token".into(), token.into());
            root.insert("Task".into(), Value::Object(task));
        }
        if let Some((index, value)) = self.map_item {
            let mut item = Map::new();
            item.insert("Index".into(), index.into());
            item.insert("Value".into(), value.clone());
            let mut map = Map::new();
            map.insert("Item".into(), Value::Object(item));
            root.insert("Map".into(), Value::Object(map));
        }
        Value::Object(root)
    }
}

/// `2024-01-02T03:04:05.678Z`: the form AWS uses for times in context objects and histories.
pub fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
