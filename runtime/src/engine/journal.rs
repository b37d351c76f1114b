//! Durable executions: what the driver records as it runs (state exits, handler results,
//! timer deadlines) and, when an execution resumes after a restart, what it replays instead of
//! doing again.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::error::AslError;
use crate::asl::ErrorName;
use crate::store::{ExecutionStore, JournalRecord, StoreError};

/// A state's recorded outcome: output, assigned variables, next state (`None`: scope ended).
pub type Exit = (Value, Vec<(String, Value)>, Option<u32>);

/// The journal of one execution.
pub struct Journal {
    store: Arc<dyn ExecutionStore>,
    execution: String,
    /// Records from before a restart, by address.
    replay: HashMap<String, Vec<JournalRecord>>,
}

impl Journal {
    /// A journal for a new execution, or for one resuming with what `store` holds for it.
    pub async fn open(store: Arc<dyn ExecutionStore>, execution: &str, resume: bool) -> Result<Journal, StoreError> {
        let mut replay: HashMap<String, Vec<JournalRecord>> = HashMap::new();
        if resume {
            for r in store.journal(execution).await? {
                replay.entry(r.addr().to_string()).or_default().push(r);
            }
        }
        Ok(Journal {
            store,
            execution: execution.to_string(),
            replay,
        })
    }

    pub fn store(&self) -> &Arc<dyn ExecutionStore> {
        &self.store
    }

    pub fn execution(&self) -> &str {
        &self.execution
    }

    fn find<T>(&self, addr: &str, f: impl Fn(&JournalRecord) -> Option<T>) -> Option<T> {
        self.replay.get(addr)?.iter().find_map(f)
    }

    /// The recorded outcome of the state entered at `addr`, if it finished before.
    pub fn exited(&self, addr: &str) -> Option<Exit> {
        self.find(addr, |r| match r {
            JournalRecord::Exited {
                output, assigned, next, ..
            } => Some((output.clone(), assigned.clone(), *next)),
            _ => None,
        })
    }

    /// The recorded result of attempt `attempt` of the handler call at `addr`.
    pub fn task_result(&self, addr: &str, attempt: u32) -> Option<Result<Value, AslError>> {
        self.find(addr, |r| match r {
            JournalRecord::TaskResult {
                attempt: a, ok, error, ..
            } if *a == attempt => Some(match (ok, error) {
                (Some(v), _) => Ok(v.clone()),
                (None, Some((name, cause))) => Err(AslError {
                    name: ErrorName::from_raised(name),
                    cause: cause.clone(),
                }),
                (None, None) => Ok(Value::Null),
            }),
            _ => None,
        })
    }

    /// The deadline recorded for the timer at `addr`.
    pub fn deadline(&self, addr: &str) -> Option<DateTime<Utc>> {
        self.find(addr, |r| match r {
            JournalRecord::Deadline { until, .. } => Some(*until),
            _ => None,
        })
    }

    /// The task token recorded for attempt `attempt` of the Task entered at `addr`.
    pub fn token(&self, addr: &str, attempt: u32) -> Option<String> {
        self.find(addr, |r| match r {
            JournalRecord::Token { attempt: a, token, .. } if *a == attempt => Some(token.clone()),
            _ => None,
        })
    }

    pub fn record(&self, r: JournalRecord) {
        self.store.append_journal(&self.execution, r);
    }

    /// Waits until everything recorded so far is durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.store.flush().await
    }
}
