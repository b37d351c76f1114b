//! Where everything is recorded: what executions write as they run (history events, what users
//! see; journal records, what a restarted engine needs to resume without repeating side
//! effects: `ExecutionStore`), and the daemon's own records (`Store`: state machines, versions,
//! tags, execution rows, handler sets). Backends implement both; nothing outside `store/`
//! speaks SQL.

pub mod aliases;
pub mod buckets;
pub mod catalog;
pub mod folders;
mod health;
pub mod map_runs;
pub mod postgres;
pub mod records;
pub mod redrive;
pub mod sqlite;
pub mod tokens;
pub mod triggers;

pub use aliases::Aliases;
pub use catalog::{Read, Store};
pub use map_runs::{ChildExecution, MapRunRecord, MapRuns};
pub use records::{AliasRecord, ExecutionEnd, ExecutionRecord, ExecutionsOf, MachineRecord, VersionRecord};
pub use redrive::{Redrive, Redrives};
pub use tokens::{ActivityRecord, TokenChange, TokenRecord, TokenRefusal, Tokens};
pub use triggers::{GroupRecord, Position, ScheduleRecord, StatusEvent, Triggers};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// A Task's attempt got a task token (before its handler, worker or nested execution saw
    /// it): resuming waits on the same token.
    Token { addr: String, attempt: u32, token: String },
}

impl JournalRecord {
    pub fn addr(&self) -> &str {
        match self {
            JournalRecord::Exited { addr, .. }
            | JournalRecord::TaskResult { addr, .. }
            | JournalRecord::Deadline { addr, .. }
            | JournalRecord::Token { addr, .. } => addr,
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
    /// Whether this node still runs the execution: false once another node has taken it over
    /// (its writes are dropped from then on, and it must make no further calls).
    fn owns(&self, _execution: &str) -> bool {
        true
    }
    /// Whether writes go through now; why not when they do not (a flush then waits until
    /// they do).
    fn writable(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Before an execution puts a handler call on record: returns a permit it holds until the
    /// call's result is recorded, or never returns when the execution may not make calls here
    /// (the daemon is handing it over, or another node runs it now).
    fn begin_call(&self) -> BoxFuture<'static, CallPermit> {
        Box::pin(async { CallPermit::free() })
    }
}

/// Held by an execution from just before it puts a handler call on record until the call's
/// result is recorded (`ExecutionStore::begin_call`); what it does when dropped is up to the
/// store that gave it.
pub struct CallPermit(Option<Box<dyn FnOnce() + Send + Sync>>);

impl CallPermit {
    /// A permit that does nothing.
    pub fn free() -> CallPermit {
        CallPermit(None)
    }

    /// A permit that runs `release` when dropped.
    pub fn with(release: impl FnOnce() + Send + Sync + 'static) -> CallPermit {
        CallPermit(Some(Box::new(release)))
    }
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

/// Where the daemon keeps its records (`--store`, `store = "..."`).
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// One SQLite file: one daemon (the default, under the data directory).
    Sqlite(PathBuf),
    /// A PostgreSQL database any number of daemons share (`postgres://USER@HOST:PORT/DB`).
    Postgres(String),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL, or else the path of a SQLite file.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_string())
        } else {
            Location::Sqlite(PathBuf::from(text.strip_prefix("sqlite:").unwrap_or(text)))
        }
    }
}

impl std::fmt::Display for Location {
    /// The path, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => match url.parse::<tokio_postgres::Config>() {
                Ok(c) => f.write_str(&postgres::place(&c)),
                Err(_) => f.write_str("postgres://(not a valid URL)"),
            },
        }
    }
}

/// How a daemon takes part in a shared store.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Names the daemon in leases and metrics (default: host name and process id).
    pub id: String,
    /// How long a lease lasts unless renewed: how soon other nodes take over the executions of
    /// a node that died.
    pub lease: Duration,
}

/// Opens the store at `location` for `node` (a PostgreSQL store starts its writer and listener
/// on the current tokio runtime).
pub async fn open(location: &Location, node: &Node) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match location {
        Location::Sqlite(path) => Arc::new(sqlite::SqliteStore::open_as(path, &node.id)?),
        Location::Postgres(url) => Arc::new(postgres::PgStore::open(url, &node.id, node.lease).await?),
    })
}
