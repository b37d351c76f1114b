//! What executions record as they run, in SQLite: history events and journal records, appended
//! through the writer, read back for GetExecutionHistory and for resuming.

use std::collections::HashMap;

use futures::future::BoxFuture;
use rusqlite::types::Value as Sql;
use serde_json::Value;
use tokio::sync::oneshot;

use super::writer::Op;
use super::{SqliteStore, ready};
use crate::store::catalog::Read;
use crate::store::{ExecutionStore, JournalRecord, StoreError};

impl ExecutionStore for SqliteStore {
    fn append_event(&self, execution: &str, id: u64, key: Option<&str>, event: Value) {
        self.send(Op::Event {
            execution: execution.to_string(),
            id,
            key: key.map(str::to_string),
            body: event.to_string(),
        });
    }

    fn append_journal(&self, execution: &str, record: JournalRecord) {
        let body = serde_json::to_string(&record).unwrap_or_default();
        self.send(Op::Journal {
            execution: execution.to_string(),
            body,
        });
    }

    fn flush(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Flush(tx));
        crate::store::health::flushed(rx, "the store's writer stopped")
    }

    fn events<'a>(&'a self, execution: &'a str) -> Read<'a, Vec<Value>> {
        ready(self.bodies("SELECT body FROM events WHERE execution = ?1 ORDER BY id", execution))
    }

    fn event_keys<'a>(&'a self, execution: &'a str) -> Read<'a, HashMap<String, u64>> {
        ready(
            self.read(
                "SELECT key, id FROM events WHERE execution = ?1 AND key IS NOT NULL",
                &[Sql::Text(execution.to_string())],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)),
            )
            .map(|rows| rows.into_iter().collect()),
        )
    }

    fn journal<'a>(&'a self, execution: &'a str) -> Read<'a, Vec<JournalRecord>> {
        ready(self.bodies("SELECT body FROM journal WHERE execution = ?1 ORDER BY seq", execution))
    }

    fn writable(&self) -> Result<(), StoreError> {
        self.health.check()
    }
}
