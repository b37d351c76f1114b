//! Where everything is recorded: what executions write as they run (history events, what users
//! see; journal records, what a restarted engine needs to resume without repeating side
//! effects: `ExecutionStore`), and the daemon's own records (`Store`: state machines, versions,
//! tags, execution rows, handler sets). Backends implement both; nothing outside `store/`
//! speaks SQL.

pub mod catalog;
pub mod records;
pub mod sqlite;

pub use catalog::{Read, Store};
pub use records::{ExecutionEnd, ExecutionRecord, ExecutionsOf, MachineRecord, VersionRecord};

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
    fn events<'a>(&'a self, execution: &'a str) -> Read<'a, Vec<Value>>;
    /// The keys of an execution's recorded events, with their ids.
    fn event_keys<'a>(&'a self, execution: &'a str) -> Read<'a, std::collections::HashMap<String, u64>>;
    /// The journal of an execution, in append order.
    fn journal<'a>(&'a self, execution: &'a str) -> Read<'a, Vec<JournalRecord>>;
    /// Whether writes go through now; why not when they do not (a flush then waits until
    /// they do).
    fn writable(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
