//! Map Runs and their child executions in SQLite.

use rusqlite::types::Value as Sql;

use super::{SqliteStore, ready};
use crate::store::catalog::Read;
use crate::store::map_runs::{ChildExecution, MapRunRecord, MapRuns};

const RUN_COLUMNS: &str = "SELECT arn, execution, state_machine, status, started, stopped, max_concurrency, tolerated_pct, tolerated_count, counts, redrive_count, redrive_date FROM map_runs";
const CHILD_COLUMNS: &str = "SELECT arn, map_run, state_machine, name, status, input, output, error, cause, started, stopped FROM map_run_children";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MapRunRecord> {
    Ok(MapRunRecord {
        arn: r.get(0)?,
        execution_arn: r.get(1)?,
        state_machine_arn: r.get(2)?,
        status: r.get(3)?,
        started: r.get(4)?,
        stopped: r.get(5)?,
        max_concurrency: r.get::<_, i64>(6)? as u64,
        tolerated_pct: r.get(7)?,
        tolerated_count: r.get::<_, i64>(8)? as u64,
        counts: r.get(9)?,
        redrive_count: r.get::<_, i64>(10)? as u32,
        redrive_date: r.get(11)?,
    })
}

fn child_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChildExecution> {
    Ok(ChildExecution {
        arn: r.get(0)?,
        map_run_arn: r.get(1)?,
        state_machine_arn: r.get(2)?,
        name: r.get(3)?,
        status: r.get(4)?,
        input: r.get(5)?,
        output: r.get(6)?,
        error: r.get(7)?,
        cause: r.get(8)?,
        started: r.get(9)?,
        stopped: r.get(10)?,
    })
}

fn text(s: &str) -> Sql {
    Sql::Text(s.to_string())
}

fn opt(v: &Option<String>) -> Sql {
    v.clone().map(Sql::Text).unwrap_or(Sql::Null)
}

impl MapRuns for SqliteStore {
    fn put_map_run(&self, r: &MapRunRecord) {
        self.write(
            "INSERT INTO map_runs (arn, execution, state_machine, status, started, stopped, max_concurrency, tolerated_pct, tolerated_count, counts, redrive_count, redrive_date) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (arn) DO UPDATE SET status = excluded.status, stopped = excluded.stopped, \
             max_concurrency = excluded.max_concurrency, tolerated_pct = excluded.tolerated_pct, tolerated_count = excluded.tolerated_count, \
             counts = excluded.counts, redrive_count = excluded.redrive_count, redrive_date = excluded.redrive_date",
            vec![
                text(&r.arn),
                text(&r.execution_arn),
                text(&r.state_machine_arn),
                text(&r.status),
                Sql::Real(r.started),
                r.stopped.map(Sql::Real).unwrap_or(Sql::Null),
                Sql::Integer(r.max_concurrency as i64),
                Sql::Real(r.tolerated_pct),
                Sql::Integer(r.tolerated_count.min(i64::MAX as u64) as i64),
                text(&r.counts),
                Sql::Integer(r.redrive_count as i64),
                r.redrive_date.map(Sql::Real).unwrap_or(Sql::Null),
            ],
        );
    }

    fn map_run<'a>(&'a self, arn: &'a str) -> Read<'a, Option<MapRunRecord>> {
        ready(
            self.read(&format!("{RUN_COLUMNS} WHERE arn = ?1"), &[text(arn)], run_row)
                .map(|mut v| v.pop()),
        )
    }

    fn map_runs<'a>(&'a self, execution_arn: &'a str) -> Read<'a, Vec<MapRunRecord>> {
        ready(self.read(
            &format!("{RUN_COLUMNS} WHERE execution = ?1 ORDER BY started DESC, arn"),
            &[text(execution_arn)],
            run_row,
        ))
    }

    fn put_child(&self, c: &ChildExecution) {
        self.write(
            "INSERT OR REPLACE INTO map_run_children (arn, map_run, state_machine, name, status, input, output, error, cause, started, stopped) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            vec![
                text(&c.arn),
                text(&c.map_run_arn),
                text(&c.state_machine_arn),
                text(&c.name),
                text(&c.status),
                text(&c.input),
                opt(&c.output),
                opt(&c.error),
                opt(&c.cause),
                Sql::Real(c.started),
                Sql::Real(c.stopped),
            ],
        );
    }

    fn child<'a>(&'a self, arn: &'a str) -> Read<'a, Option<ChildExecution>> {
        ready(
            self.read(&format!("{CHILD_COLUMNS} WHERE arn = ?1"), &[text(arn)], child_row)
                .map(|mut v| v.pop()),
        )
    }

    fn children<'a>(&'a self, map_run_arn: &'a str, status: Option<&'a str>) -> Read<'a, Vec<ChildExecution>> {
        let mut params = vec![text(map_run_arn)];
        let mut sql = format!("{CHILD_COLUMNS} WHERE map_run = ?1");
        if let Some(s) = status {
            params.push(text(s));
            sql.push_str(" AND status = ?2");
        }
        sql.push_str(" ORDER BY started DESC, arn");
        ready(self.read(&sql, &params, child_row))
    }
}
