//! The daemon's records in SQLite: state machines, versions, tags, execution rows and handler
//! sets. Writes are queued on the writer (durable at the next flush, in order with events);
//! reads run on the reader connection.

use std::collections::HashMap;

use rusqlite::types::Value as Sql;

use super::writer::Op;
use super::{SqliteStore, ready};
use crate::store::catalog::{Read, Store};
use crate::store::records::{ExecutionEnd, ExecutionRecord, ExecutionsOf, MachineRecord, VersionRecord};

/// The columns `execution_row` reads, in order.
const EXECUTION_COLUMNS: &str = "SELECT arn, machine_arn, name, status, definition, input, output, error, cause, started, stopped, version_arn, handler_set, alias_arn, redrive_count, redrive_date, redrive_token FROM executions";

fn execution_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionRecord> {
    Ok(ExecutionRecord {
        arn: r.get(0)?,
        machine_arn: r.get(1)?,
        name: r.get(2)?,
        status: r.get(3)?,
        definition: r.get(4)?,
        input: r.get(5)?,
        output: r.get(6)?,
        error: r.get(7)?,
        cause: r.get(8)?,
        started: r.get(9)?,
        stopped: r.get(10)?,
        version_arn: r.get(11)?,
        handler_set: r.get(12)?,
        alias_arn: r.get(13)?,
        redrive_count: r.get::<_, i64>(14)? as u32,
        redrive_date: r.get(15)?,
        redrive_token: r.get(16)?,
    })
}

fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRecord> {
    Ok(VersionRecord {
        machine_arn: r.get(0)?,
        version: r.get::<_, i64>(1)? as u64,
        definition: r.get(2)?,
        role_arn: r.get(3)?,
        description: r.get(4)?,
        created: r.get(5)?,
    })
}

fn set_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(u64, String)> {
    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
}

fn text(s: &str) -> Sql {
    Sql::Text(s.to_string())
}

fn opt(v: &Option<String>) -> Sql {
    v.clone().map(Sql::Text).unwrap_or(Sql::Null)
}

impl Store for SqliteStore {
    fn put_machine(&self, m: &MachineRecord) {
        self.write(
            "INSERT OR REPLACE INTO state_machines (arn, name, type, definition, role_arn, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vec![text(&m.arn), text(&m.name), text(&m.machine_type), text(&m.definition), text(&m.role_arn), Sql::Real(m.created)],
        );
    }

    fn update_machine(&self, arn: &str, definition: &str, role_arn: &str, updated: f64) {
        self.write(
            "UPDATE state_machines SET definition = ?2, role_arn = ?3, updated = ?4 WHERE arn = ?1",
            vec![text(arn), text(definition), text(role_arn), Sql::Real(updated)],
        );
    }

    fn delete_machine(&self, arn: &str) {
        for sql in [
            "DELETE FROM state_machines WHERE arn = ?1",
            "DELETE FROM tags WHERE resource = ?1",
            "DELETE FROM versions WHERE machine_arn = ?1",
            "DELETE FROM aliases WHERE machine_arn = ?1",
        ] {
            self.write(sql, vec![text(arn)]);
        }
    }

    fn machines(&self) -> Read<'_, Vec<MachineRecord>> {
        ready(self.read(
            "SELECT arn, name, type, definition, role_arn, created FROM state_machines",
            &[],
            |r| {
                Ok(MachineRecord {
                    arn: r.get(0)?,
                    name: r.get(1)?,
                    machine_type: r.get(2)?,
                    definition: r.get(3)?,
                    role_arn: r.get(4)?,
                    created: r.get(5)?,
                })
            },
        ))
    }

    fn put_version(&self, v: &VersionRecord) {
        self.write(
            "INSERT INTO versions (machine_arn, version, definition, role_arn, description, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vec![text(&v.machine_arn), Sql::Integer(v.version as i64), text(&v.definition), text(&v.role_arn), opt(&v.description), Sql::Real(v.created)],
        );
    }

    fn delete_version(&self, machine_arn: &str, version: u64) {
        self.write(
            "DELETE FROM versions WHERE machine_arn = ?1 AND version = ?2",
            vec![text(machine_arn), Sql::Integer(version as i64)],
        );
    }

    fn version<'a>(&'a self, machine_arn: &'a str, version: u64) -> Read<'a, Option<VersionRecord>> {
        ready(
            self.read(
                "SELECT machine_arn, version, definition, role_arn, description, created FROM versions WHERE machine_arn = ?1 AND version = ?2",
                &[text(machine_arn), Sql::Integer(version as i64)],
                version_row,
            )
            .map(|rows| rows.into_iter().next()),
        )
    }

    fn versions<'a>(&'a self, machine_arn: &'a str) -> Read<'a, Vec<VersionRecord>> {
        ready(self.read(
            "SELECT machine_arn, version, definition, role_arn, description, created FROM versions WHERE machine_arn = ?1 ORDER BY version DESC",
            &[text(machine_arn)],
            version_row,
        ))
    }

    fn put_tag(&self, resource: &str, key: &str, value: &str) {
        self.write(
            "INSERT INTO tags (resource, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (resource, key) DO UPDATE SET value = excluded.value",
            vec![text(resource), text(key), text(value)],
        );
    }

    fn delete_tag(&self, resource: &str, key: &str) {
        self.write(
            "DELETE FROM tags WHERE resource = ?1 AND key = ?2",
            vec![text(resource), text(key)],
        );
    }

    fn tags<'a>(&'a self, resource: &'a str) -> Read<'a, Vec<(String, String)>> {
        ready(self.read(
            "SELECT key, value FROM tags WHERE resource = ?1 ORDER BY key",
            &[text(resource)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ))
    }

    fn insert_execution(&self, e: &ExecutionRecord) {
        self.write(
            "INSERT INTO executions (arn, machine_arn, name, status, definition, input, started, version_arn, handler_set, alias_arn) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            vec![
                text(&e.arn),
                text(&e.machine_arn),
                text(&e.name),
                text(&e.status),
                text(&e.definition),
                text(&e.input),
                Sql::Real(e.started),
                opt(&e.version_arn),
                e.handler_set.map(Sql::Integer).unwrap_or(Sql::Null),
                opt(&e.alias_arn),
            ],
        );
    }

    fn end_execution(&self, arn: &str, end: &ExecutionEnd) {
        self.write(
            "UPDATE executions SET status = ?2, output = ?3, error = ?4, cause = ?5, stopped = ?6 WHERE arn = ?1",
            vec![
                text(arn),
                text(&end.status),
                opt(&end.output),
                opt(&end.error),
                opt(&end.cause),
                Sql::Real(end.stopped),
            ],
        );
    }

    fn delete_execution(&self, arn: &str) {
        for sql in [
            "DELETE FROM events WHERE execution = ?1",
            "DELETE FROM journal WHERE execution = ?1",
            "DELETE FROM tokens WHERE execution = ?1",
            "DELETE FROM map_run_children WHERE map_run IN (SELECT arn FROM map_runs WHERE execution = ?1)",
            "DELETE FROM map_runs WHERE execution = ?1",
            "DELETE FROM executions WHERE arn = ?1",
        ] {
            self.write(sql, vec![text(arn)]);
        }
    }

    fn execution<'a>(&'a self, arn: &'a str) -> Read<'a, Option<ExecutionRecord>> {
        ready(
            self.read(
                &format!("{EXECUTION_COLUMNS} WHERE arn = ?1"),
                &[text(arn)],
                execution_row,
            )
            .map(|rows| rows.into_iter().next()),
        )
    }

    fn executions<'a>(&'a self, of: &'a ExecutionsOf, status: Option<&'a str>) -> Read<'a, Vec<ExecutionRecord>> {
        let (column, arn) = match of {
            ExecutionsOf::Machine(a) => ("machine_arn", a),
            ExecutionsOf::Version(a) => ("version_arn", a),
            ExecutionsOf::Alias(a) => ("alias_arn", a),
        };
        let mut params = vec![text(arn)];
        let mut sql = format!("{EXECUTION_COLUMNS} WHERE {column} = ?1");
        if let Some(s) = status {
            params.push(text(s));
            sql.push_str(" AND status = ?2");
        }
        sql.push_str(" ORDER BY started DESC");
        ready(self.read(&sql, &params, execution_row))
    }

    fn running_executions(&self) -> Read<'_, Vec<ExecutionRecord>> {
        ready(self.read(
            &format!("{EXECUTION_COLUMNS} WHERE status = 'RUNNING'"),
            &[],
            execution_row,
        ))
    }

    fn expired_executions(&self, before: f64, limit: usize) -> Read<'_, Vec<String>> {
        ready(self.read(
            &format!(
                "SELECT arn FROM executions WHERE stopped IS NOT NULL AND stopped < ?1 AND status != 'RUNNING' LIMIT {limit}"
            ),
            &[Sql::Real(before)],
            |r| r.get(0),
        ))
    }

    fn orphaned_executions(&self, before: f64, limit: usize) -> Read<'_, Vec<String>> {
        ready(self.read(
            &format!(
                "SELECT e.arn FROM executions e WHERE e.status != 'RUNNING' AND e.stopped < ?1 \
                 AND NOT EXISTS (SELECT 1 FROM state_machines m WHERE m.arn = e.machine_arn) LIMIT {limit}"
            ),
            &[Sql::Real(before)],
            |r| r.get(0),
        ))
    }

    fn next_handler_set(&self) -> Read<'_, u64> {
        // One node: the next number after the highest recorded (numbers are never reused while
        // a set is recorded; the reloader asks and records under one lock).
        ready(
            self.read("SELECT COALESCE(MAX(id), 0) + 1 FROM handler_sets", &[], |r| {
                r.get::<_, i64>(0)
            })
            .map(|rows| rows.first().copied().unwrap_or(1) as u64),
        )
    }

    fn put_handler_set(&self, id: u64, handlers: &str) {
        self.write(
            "INSERT OR REPLACE INTO handler_sets (id, handlers) VALUES (?1, ?2)",
            vec![Sql::Integer(id as i64), text(handlers)],
        );
    }

    fn delete_handler_sets_except(&self, keep: &[u64]) {
        let keep = serde_json::to_string(keep).unwrap_or_else(|_| "[]".into());
        self.write(
            "DELETE FROM handler_sets WHERE id NOT IN (SELECT value FROM json_each(?1)) AND id NOT IN (SELECT handler_set FROM executions WHERE status = 'RUNNING' AND handler_set IS NOT NULL)",
            vec![Sql::Text(keep)],
        );
    }

    fn handler_sets(&self) -> Read<'_, HashMap<u64, String>> {
        ready(
            self.read("SELECT id, handlers FROM handler_sets", &[], set_row)
                .map(|rows| rows.into_iter().collect()),
        )
    }

    fn handler_sets_of<'a>(&'a self, ids: &'a [u64]) -> Read<'a, HashMap<u64, String>> {
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        ready(
            self.read(
                "SELECT id, handlers FROM handler_sets WHERE id IN (SELECT value FROM json_each(?1))",
                &[Sql::Text(ids)],
                set_row,
            )
            .map(|rows| rows.into_iter().collect()),
        )
    }

    fn running_handler_sets(&self) -> Read<'_, HashMap<u64, String>> {
        ready(
            self.read(
                "SELECT id, handlers FROM handler_sets WHERE id IN (SELECT handler_set FROM executions WHERE status = 'RUNNING')",
                &[],
                set_row,
            )
            .map(|rows| rows.into_iter().collect()),
        )
    }

    fn put_module(&self, sha256: &str, bytes: &[u8]) {
        self.write(
            "INSERT OR IGNORE INTO modules (sha256, bytes, archived) VALUES (?1, ?2, unixepoch('subsec'))",
            vec![text(sha256), Sql::Blob(bytes.to_vec())],
        );
    }

    fn module<'a>(&'a self, sha256: &'a str) -> Read<'a, Option<Vec<u8>>> {
        ready(
            self.read("SELECT bytes FROM modules WHERE sha256 = ?1", &[text(sha256)], |r| {
                r.get(0)
            })
            .map(|rows| rows.into_iter().next()),
        )
    }

    fn delete_modules_except(&self, needed: &[String]) {
        let needed = serde_json::to_string(needed).unwrap_or_else(|_| "[]".into());
        self.write(
            "DELETE FROM modules WHERE sha256 NOT IN (SELECT value FROM json_each(?1))",
            vec![Sql::Text(needed)],
        );
    }

    fn modules(&self) -> Read<'_, Vec<String>> {
        ready(self.read("SELECT sha256 FROM modules", &[], |r| r.get(0)))
    }

    fn node(&self) -> &str {
        &self.node
    }

    fn claim_executions(&self, _limit: usize, own: bool) -> Read<'_, Vec<ExecutionRecord>> {
        // Alone on its file, the daemon runs every execution: at start-up it takes all that
        // were running; later there is never anything left to claim.
        if !own || self.claimed.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return ready(Ok(Vec::new()));
        }
        self.running_executions()
    }

    fn renew_leases(&self) -> Read<'_, Vec<String>> {
        ready(Ok(Vec::new()))
    }

    fn release_executions<'a>(&'a self, _arns: &'a [String]) -> Read<'a, ()> {
        // Nobody else to hand over to: they resume here at the next start.
        Box::pin(async move { crate::store::ExecutionStore::flush(self).await })
    }

    fn take_over<'a>(&'a self, _arn: &'a str) -> Read<'a, bool> {
        ready(Ok(false))
    }

    fn leases_held(&self) -> usize {
        0
    }

    fn catalog_version(&self) -> Read<'_, i64> {
        ready(Ok(0))
    }

    fn hints(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.hints.clone()
    }

    fn reclaim(&self) {
        self.send(Op::Reclaim);
    }

    fn ping(&self) -> Read<'_, ()> {
        ready(self.read("SELECT 1", &[], |r| r.get::<_, i64>(0)).map(|_| ()))
    }
}
