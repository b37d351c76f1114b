//! Where executions are recorded: history events (what users see) and journal records (what
//! a restarted engine needs to resume without repeating side effects).

pub mod sqlite;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A fact the engine needs to resume an execution where it stopped. Each is keyed by the
/// logical address of a state entry (`/0/3#0b1/2`: scope path and entry number), which does
/// not depend on timing, so concurrent branches replay correctly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum JournalRecord {
    /// A state finished: its output, the variables it assigned, and where the scope went next
    /// (`None`: the scope ended).
    Exited {
        addr: String,
        output: Value,
        assigned: Vec<(String, Value)>,
        next: Option<u32>,
    },
    /// A handler call finished (the result, or the error name and cause).
    TaskResult {
        addr: String,
        attempt: u32,
        ok: Option<Value>,
        error: Option<(String, Option<String>)>,
    },
    /// A timer was armed (Wait state or retry delay): resuming keeps the original deadline.
    Deadline { addr: String, until: DateTime<Utc> },
}

impl JournalRecord {
    pub fn addr(&self) -> &str {
        match self {
            JournalRecord::Exited { addr, .. }
            | JournalRecord::TaskResult { addr, .. }
            | JournalRecord::Deadline { addr, .. } => addr,
        }
    }
}

/// An error from the store: the operator must look (disk full, file unreadable, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// What an execution writes as it runs. Appends are cheap and ordered; `flush` resolves once
/// everything appended before it is durable (group commit: one fsync covers many callers).
pub trait ExecutionStore: Send + Sync {
    /// Records a history event (`id` ascending per execution) as its API JSON; `key` names it
    /// within the execution so a resumed execution does not record it twice.
    fn append_event(&self, execution: &str, id: u64, key: Option<&str>, event: Value);
    fn append_journal(&self, execution: &str, record: JournalRecord);
    fn flush(&self) -> BoxFuture<'static, Result<(), StoreError>>;
    /// The history of an execution, in id order.
    fn events(&self, execution: &str) -> Result<Vec<Value>, StoreError>;
    /// The keys of an execution's recorded events, with their ids.
    fn event_keys(&self, execution: &str) -> Result<std::collections::HashMap<String, u64>, StoreError>;
    /// The journal of an execution, in append order.
    fn journal(&self, execution: &str) -> Result<Vec<JournalRecord>, StoreError>;
    /// Whether writes go through now; why not when they do not (a flush then waits until
    /// they do).
    fn writable(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
