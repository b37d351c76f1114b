//! What executions record as they run, in PostgreSQL: history events and journal records,
//! appended through the writer (fenced by this node's leases), read back for
//! GetExecutionHistory and for resuming.

use std::collections::HashMap;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::oneshot;

use super::writer::Op;
use super::{PgStore, err};
use crate::store::catalog::Read;
use crate::store::{ExecutionStore, JournalRecord, StoreError};

impl PgStore {
    /// One execution's JSON `body` column, decoded, in the query's order.
    async fn bodies<T: serde::de::DeserializeOwned>(&self, sql: &str, execution: &str) -> Result<Vec<T>, StoreError> {
        let rows = self.query(sql, &[&execution]).await?;
        rows.iter()
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).map_err(err))
            .collect()
    }
}

impl ExecutionStore for PgStore {
    fn append_event(&self, execution: &str, id: u64, key: Option<&str>, event: Value) {
        self.send(Op::Event {
            execution: execution.to_string(),
            id: id as i64,
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
        crate::store::health::flushed(rx, "the database writer stopped")
    }

    fn events<'a>(&'a self, execution: &'a str) -> Read<'a, Vec<Value>> {
        Box::pin(self.bodies("SELECT body FROM events WHERE execution = $1 ORDER BY id", execution))
    }

    fn event_keys<'a>(&'a self, execution: &'a str) -> Read<'a, HashMap<String, u64>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT key, id FROM events WHERE execution = $1 AND key IS NOT NULL",
                    &[&execution],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
                .collect())
        })
    }

    fn journal<'a>(&'a self, execution: &'a str) -> Read<'a, Vec<JournalRecord>> {
        Box::pin(self.bodies("SELECT body FROM journal WHERE execution = $1 ORDER BY seq", execution))
    }

    fn owns(&self, execution: &str) -> bool {
        self.leases.owns(execution)
    }

    fn writable(&self) -> Result<(), StoreError> {
        self.health.check()
    }
}
