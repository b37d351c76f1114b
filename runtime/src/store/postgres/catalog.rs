//! The daemon's records in PostgreSQL: state machines, versions, tags, execution rows, handler
//! sets and module releases, and the leases that say which node runs which execution. Writes
//! are queued on the writer (durable at the next flush, in order with events); reads and lease
//! changes run at once on a pooled connection.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_postgres::Row;

use super::listen::CHANNEL;
use super::writer::{Op, Param};
use super::{PgStore, err};
use crate::store::catalog::{Read, Store};
use crate::store::records::{ExecutionEnd, ExecutionRecord, ExecutionsOf, MachineRecord, VersionRecord};

/// A module archived by one node stays this long even when no recorded set names it yet: the
/// node may be about to record the set that does.
const MODULE_GRACE_SECS: f64 = 600.0;

/// The columns `execution_row` reads, in order.
const EXECUTION_COLUMNS: &str = "arn, machine_arn, name, status, definition, input, output, error, cause, started, stopped, version_arn, handler_set, alias_arn, redrive_count, redrive_date, redrive_token";

fn execution_row(r: &Row) -> ExecutionRecord {
    execution_row_at(r, 0)
}

/// An execution row from the columns of [`EXECUTION_COLUMNS`], from column `o` on.
fn execution_row_at(r: &Row, o: usize) -> ExecutionRecord {
    ExecutionRecord {
        arn: r.get(o),
        machine_arn: r.get(o + 1),
        name: r.get(o + 2),
        status: r.get(o + 3),
        definition: r.get(o + 4),
        input: r.get(o + 5),
        output: r.get(o + 6),
        error: r.get(o + 7),
        cause: r.get(o + 8),
        started: r.get(o + 9),
        stopped: r.get(o + 10),
        version_arn: r.get(o + 11),
        handler_set: r.get(o + 12),
        alias_arn: r.get(o + 13),
        redrive_count: r.get::<_, i32>(o + 14) as u32,
        redrive_date: r.get(o + 15),
        redrive_token: r.get(o + 16),
    }
}

fn version_row(r: &Row) -> VersionRecord {
    VersionRecord {
        machine_arn: r.get(0),
        version: r.get::<_, i64>(1) as u64,
        definition: r.get(2),
        role_arn: r.get(3),
        description: r.get(4),
        created: r.get(5),
    }
}

fn p<T: tokio_postgres::types::ToSql + Send + Sync + 'static>(v: T) -> Param {
    Box::new(v)
}

fn sets(rows: Vec<Row>) -> HashMap<u64, String> {
    rows.iter()
        .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, String>(1)))
        .collect()
}

impl Store for PgStore {
    fn put_machine(&self, m: &MachineRecord) {
        self.write(
            "INSERT INTO state_machines (arn, name, type, definition, role_arn, created) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (arn) DO UPDATE SET name = excluded.name, type = excluded.type, definition = excluded.definition, \
             role_arn = excluded.role_arn, created = excluded.created, updated = NULL",
            vec![p(m.arn.clone()), p(m.name.clone()), p(m.machine_type.clone()), p(m.definition.clone()), p(m.role_arn.clone()), p(m.created)],
        );
    }

    fn update_machine(&self, arn: &str, definition: &str, role_arn: &str, updated: f64) {
        self.write(
            "UPDATE state_machines SET definition = $2, role_arn = $3, updated = $4 WHERE arn = $1",
            vec![
                p(arn.to_string()),
                p(definition.to_string()),
                p(role_arn.to_string()),
                p(updated),
            ],
        );
    }

    fn delete_machine(&self, arn: &str) {
        for sql in [
            "DELETE FROM state_machines WHERE arn = $1",
            "DELETE FROM tags WHERE resource = $1",
            "DELETE FROM versions WHERE machine_arn = $1",
            "DELETE FROM aliases WHERE machine_arn = $1",
        ] {
            self.write(sql, vec![p(arn.to_string())]);
        }
    }

    fn machines(&self) -> Read<'_, Vec<MachineRecord>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT arn, name, type, definition, role_arn, created FROM state_machines",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| MachineRecord {
                    arn: r.get(0),
                    name: r.get(1),
                    machine_type: r.get(2),
                    definition: r.get(3),
                    role_arn: r.get(4),
                    created: r.get(5),
                })
                .collect())
        })
    }

    fn put_version(&self, v: &VersionRecord) {
        self.write(
            "INSERT INTO versions (machine_arn, version, definition, role_arn, description, created) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![p(v.machine_arn.clone()), p(v.version as i64), p(v.definition.clone()), p(v.role_arn.clone()), p(v.description.clone()), p(v.created)],
        );
    }

    fn delete_version(&self, machine_arn: &str, version: u64) {
        self.write(
            "DELETE FROM versions WHERE machine_arn = $1 AND version = $2",
            vec![p(machine_arn.to_string()), p(version as i64)],
        );
    }

    fn version<'a>(&'a self, machine_arn: &'a str, version: u64) -> Read<'a, Option<VersionRecord>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT machine_arn, version, definition, role_arn, description, created FROM versions WHERE machine_arn = $1 AND version = $2",
                    &[&machine_arn, &(version as i64)],
                )
                .await?;
            Ok(rows.first().map(version_row))
        })
    }

    fn versions<'a>(&'a self, machine_arn: &'a str) -> Read<'a, Vec<VersionRecord>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT machine_arn, version, definition, role_arn, description, created FROM versions WHERE machine_arn = $1 ORDER BY version DESC",
                    &[&machine_arn],
                )
                .await?;
            Ok(rows.iter().map(version_row).collect())
        })
    }

    fn put_tag(&self, resource: &str, key: &str, value: &str) {
        self.write(
            "INSERT INTO tags (resource, key, value) VALUES ($1, $2, $3) ON CONFLICT (resource, key) DO UPDATE SET value = excluded.value",
            vec![p(resource.to_string()), p(key.to_string()), p(value.to_string())],
        );
    }

    fn delete_tag(&self, resource: &str, key: &str) {
        self.write(
            "DELETE FROM tags WHERE resource = $1 AND key = $2",
            vec![p(resource.to_string()), p(key.to_string())],
        );
    }

    fn tags<'a>(&'a self, resource: &'a str) -> Read<'a, Vec<(String, String)>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT key, value FROM tags WHERE resource = $1 ORDER BY key",
                    &[&resource],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn insert_execution(&self, e: &ExecutionRecord) {
        // Started here, so run here: the row carries this node's first lease.
        self.send(Op::Sql {
            sql: "INSERT INTO executions (arn, machine_arn, name, status, definition, input, started, version_arn, handler_set, alias_arn, owner, epoch, lease_until) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, now() + make_interval(secs => $12))",
            params: vec![
                p(e.arn.clone()),
                p(e.machine_arn.clone()),
                p(e.name.clone()),
                p(e.status.clone()),
                p(e.definition.clone()),
                p(e.input.clone()),
                p(e.started),
                p(e.version_arn.clone()),
                p(e.handler_set),
                p(e.alias_arn.clone()),
                p(self.leases.node().to_string()),
                p(self.leases.ttl_secs()),
            ],
            execution: Some(e.arn.clone()),
            starts: true,
        });
    }

    fn end_execution(&self, arn: &str, end: &ExecutionEnd) {
        self.send(Op::Sql {
            sql: "UPDATE executions SET status = $2, output = $3, error = $4, cause = $5, stopped = $6, lease_until = NULL WHERE arn = $1",
            params: vec![
                p(arn.to_string()),
                p(end.status.clone()),
                p(end.output.clone()),
                p(end.error.clone()),
                p(end.cause.clone()),
                p(end.stopped),
            ],
            execution: Some(arn.to_string()),
            starts: false,
        });
    }

    fn delete_execution(&self, arn: &str) {
        for sql in [
            "DELETE FROM events WHERE execution = $1",
            "DELETE FROM journal WHERE execution = $1",
            "DELETE FROM tokens WHERE execution = $1",
            "DELETE FROM map_run_children WHERE map_run IN (SELECT arn FROM map_runs WHERE execution = $1)",
            "DELETE FROM map_runs WHERE execution = $1",
            "DELETE FROM executions WHERE arn = $1",
        ] {
            self.write(sql, vec![p(arn.to_string())]);
        }
    }

    fn execution<'a>(&'a self, arn: &'a str) -> Read<'a, Option<ExecutionRecord>> {
        Box::pin(async move {
            let rows = self
                .query(
                    &format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE arn = $1"),
                    &[&arn],
                )
                .await?;
            Ok(rows.first().map(execution_row))
        })
    }

    fn executions<'a>(&'a self, of: &'a ExecutionsOf, status: Option<&'a str>) -> Read<'a, Vec<ExecutionRecord>> {
        Box::pin(async move {
            let (column, arn) = match of {
                ExecutionsOf::Machine(a) => ("machine_arn", a),
                ExecutionsOf::Version(a) => ("version_arn", a),
                ExecutionsOf::Alias(a) => ("alias_arn", a),
            };
            let rows = match status {
                Some(s) => {
                    self.query(
                        &format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE {column} = $1 AND status = $2 ORDER BY started DESC"),
                        &[arn, &s],
                    )
                    .await?
                }
                None => {
                    self.query(
                        &format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE {column} = $1 ORDER BY started DESC"),
                        &[arn],
                    )
                    .await?
                }
            };
            Ok(rows.iter().map(execution_row).collect())
        })
    }

    fn running_executions(&self) -> Read<'_, Vec<ExecutionRecord>> {
        Box::pin(async move {
            let rows = self
                .query(
                    &format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE status = 'RUNNING'"),
                    &[],
                )
                .await?;
            Ok(rows.iter().map(execution_row).collect())
        })
    }

    fn expired_executions(&self, before: f64, limit: usize) -> Read<'_, Vec<String>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT arn FROM executions WHERE stopped IS NOT NULL AND stopped < $1 AND status != 'RUNNING' LIMIT $2",
                    &[&before, &(limit as i64)],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn orphaned_executions(&self, before: f64, limit: usize) -> Read<'_, Vec<String>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT e.arn FROM executions e WHERE e.status != 'RUNNING' AND e.stopped < $1 \
                     AND NOT EXISTS (SELECT 1 FROM state_machines m WHERE m.arn = e.machine_arn) LIMIT $2",
                    &[&before, &(limit as i64)],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn next_handler_set(&self) -> Read<'_, u64> {
        Box::pin(async move {
            let rows = self.query("SELECT nextval('handler_set_ids')", &[]).await?;
            rows.first()
                .map(|r| r.get::<_, i64>(0) as u64)
                .ok_or_else(|| err("nextval returned nothing"))
        })
    }

    fn put_handler_set(&self, id: u64, handlers: &str) {
        self.write(
            "INSERT INTO handler_sets (id, node, handlers) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET node = excluded.node, handlers = excluded.handlers",
            vec![p(id as i64), p(self.leases.node().to_string()), p(handlers.to_string())],
        );
    }

    fn delete_handler_sets_except(&self, keep: &[u64]) {
        let keep: Vec<i64> = keep.iter().map(|k| *k as i64).collect();
        self.write(
            "DELETE FROM handler_sets WHERE node = $2 AND NOT (id = ANY($1)) \
             AND id NOT IN (SELECT handler_set FROM executions WHERE status = 'RUNNING' AND handler_set IS NOT NULL)",
            vec![p(keep), p(self.leases.node().to_string())],
        );
    }

    fn handler_sets(&self) -> Read<'_, HashMap<u64, String>> {
        Box::pin(async move { Ok(sets(self.query("SELECT id, handlers FROM handler_sets", &[]).await?)) })
    }

    fn handler_sets_of<'a>(&'a self, ids: &'a [u64]) -> Read<'a, HashMap<u64, String>> {
        Box::pin(async move {
            let ids: Vec<i64> = ids.iter().map(|i| *i as i64).collect();
            Ok(sets(
                self.query("SELECT id, handlers FROM handler_sets WHERE id = ANY($1)", &[&ids])
                    .await?,
            ))
        })
    }

    fn running_handler_sets(&self) -> Read<'_, HashMap<u64, String>> {
        Box::pin(async move {
            Ok(sets(
                self.query(
                    "SELECT id, handlers FROM handler_sets WHERE id IN (SELECT handler_set FROM executions WHERE status = 'RUNNING')",
                    &[],
                )
                .await?,
            ))
        })
    }

    fn put_module(&self, sha256: &str, bytes: &[u8]) {
        self.write(
            "INSERT INTO modules (sha256, bytes, archived) VALUES ($1, $2, extract(epoch from now())) ON CONFLICT (sha256) DO NOTHING",
            vec![p(sha256.to_string()), p(bytes.to_vec())],
        );
    }

    fn module<'a>(&'a self, sha256: &'a str) -> Read<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let rows = self
                .query("SELECT bytes FROM modules WHERE sha256 = $1", &[&sha256])
                .await?;
            Ok(rows.first().map(|r| r.get(0)))
        })
    }

    fn delete_modules_except(&self, needed: &[String]) {
        self.write(
            "DELETE FROM modules WHERE NOT (sha256 = ANY($1)) AND archived < extract(epoch from now())::float8 - $2::float8",
            vec![p(needed.to_vec()), p(MODULE_GRACE_SECS)],
        );
    }

    fn modules(&self) -> Read<'_, Vec<String>> {
        Box::pin(async move {
            let rows = self.query("SELECT sha256 FROM modules", &[]).await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn node(&self) -> &str {
        self.leases.node()
    }

    fn claim_executions(&self, limit: usize, own: bool) -> Read<'_, Vec<ExecutionRecord>> {
        Box::pin(async move {
            // SKIP LOCKED: nodes claiming at once take different executions, and none waits on
            // a row another node is writing for.
            let rows = self
                .query(
                    &format!(
                        "UPDATE executions e SET owner = $1, epoch = e.epoch + 1, lease_until = now() + make_interval(secs => $2) \
                         FROM (SELECT arn FROM executions WHERE status = 'RUNNING' \
                               AND (owner IS NULL OR lease_until < now() OR ($4 AND owner = $1)) \
                               ORDER BY started LIMIT $3 FOR NO KEY UPDATE SKIP LOCKED) c \
                         WHERE e.arn = c.arn RETURNING e.epoch, {}",
                        EXECUTION_COLUMNS
                            .split(", ")
                            .map(|c| format!("e.{c}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    &[&self.leases.node(), &self.leases.ttl_secs(), &(limit as i64), &own],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| {
                    let epoch: i64 = r.get(0);
                    let row = execution_row_at(r, 1);
                    self.leases.hold(&row.arn, epoch);
                    row
                })
                .collect())
        })
    }

    fn renew_leases(&self) -> Read<'_, Vec<String>> {
        Box::pin(async move {
            let node = self.leases.node();
            self.query(
                "UPDATE executions e SET lease_until = now() + make_interval(secs => $2) \
                 FROM (SELECT arn FROM executions WHERE owner = $1 AND status = 'RUNNING' ORDER BY arn FOR NO KEY UPDATE) r \
                 WHERE e.arn = r.arn",
                &[&node, &self.leases.ttl_secs()],
            )
            .await?;
            // Which of the leases held here are still this node's (the renewal above only
            // extends those that are).
            let held = self.leases.snapshot();
            let arns: Vec<&str> = held.iter().map(|(a, _)| a.as_str()).collect();
            let rows = self
                .query(
                    "SELECT arn, owner, epoch, status FROM executions WHERE arn = ANY($1)",
                    &[&arns],
                )
                .await?;
            let now: HashMap<&str, (Option<&str>, i64, &str)> = rows
                .iter()
                .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
                .collect();
            for (arn, epoch) in &held {
                match now.get(arn.as_str()) {
                    Some((owner, e, status)) if *owner == Some(node) && e == epoch => {
                        if *status != "RUNNING" {
                            self.leases.forget(arn);
                        }
                    }
                    _ => self.leases.lose(arn),
                }
            }
            Ok(self.leases.take_lost())
        })
    }

    fn release_executions<'a>(&'a self, arns: &'a [String]) -> Read<'a, ()> {
        Box::pin(async move {
            // What was queued for them commits first, under this node's lease.
            crate::store::ExecutionStore::flush(self).await?;
            // In ARN order, as every statement locking several executions takes them.
            let mut mine: Vec<&str> = arns
                .iter()
                .filter(|a| self.leases.epoch(a).is_some())
                .map(String::as_str)
                .collect();
            mine.sort_unstable();
            let epochs: Vec<i64> = mine.iter().filter_map(|a| self.leases.epoch(a)).collect();
            self.query(
                "UPDATE executions e SET owner = NULL, lease_until = NULL \
                 FROM UNNEST($1::text[], $2::bigint[]) AS h(arn, epoch) \
                 WHERE e.arn = h.arn AND e.epoch = h.epoch AND e.owner = $3 AND e.status = 'RUNNING'",
                &[&mine, &epochs, &self.leases.node()],
            )
            .await?;
            for a in &mine {
                self.leases.release(a);
            }
            self.query(&format!("SELECT pg_notify('{CHANNEL}', 'released')"), &[])
                .await?;
            Ok(())
        })
    }

    fn take_over<'a>(&'a self, arn: &'a str) -> Read<'a, bool> {
        Box::pin(async move {
            let rows = self
                .query(
                    "UPDATE executions SET owner = $1, epoch = epoch + 1, lease_until = now() + make_interval(secs => $2) \
                     WHERE arn = $3 AND status = 'RUNNING' AND owner IS DISTINCT FROM $1 RETURNING epoch",
                    &[&self.leases.node(), &self.leases.ttl_secs(), &arn],
                )
                .await?;
            match rows.first() {
                Some(r) => {
                    self.leases.hold(arn, r.get(0));
                    Ok(true)
                }
                None => Ok(false),
            }
        })
    }

    fn leases_held(&self) -> usize {
        self.leases.count()
    }

    fn catalog_version(&self) -> Read<'_, i64> {
        Box::pin(async move {
            let rows = self.query("SELECT version FROM catalog_version", &[]).await?;
            Ok(rows.first().map(|r| r.get(0)).unwrap_or(0))
        })
    }

    fn hints(&self) -> Arc<tokio::sync::Notify> {
        self.hints.clone()
    }

    fn reclaim(&self) {
        // Autovacuum gives deleted rows' space back.
    }

    fn ping(&self) -> Read<'_, ()> {
        Box::pin(async move {
            self.query("SELECT 1", &[]).await?;
            Ok(())
        })
    }
}
