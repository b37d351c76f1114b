//! Map Runs and their child executions in PostgreSQL.

use tokio_postgres::Row;

use super::PgStore;
use super::writer::Param;
use crate::store::catalog::Read;
use crate::store::map_runs::{ChildExecution, MapRunRecord, MapRuns};

const RUN_COLUMNS: &str = "SELECT arn, execution, state_machine, status, started, stopped, max_concurrency, tolerated_pct, tolerated_count, counts, redrive_count, redrive_date FROM map_runs";
const CHILD_COLUMNS: &str = "SELECT arn, map_run, state_machine, name, status, input, output, error, cause, started, stopped FROM map_run_children";

fn p<T: tokio_postgres::types::ToSql + Send + Sync + 'static>(v: T) -> Param {
    Box::new(v)
}

fn run_row(r: &Row) -> MapRunRecord {
    MapRunRecord {
        arn: r.get(0),
        execution_arn: r.get(1),
        state_machine_arn: r.get(2),
        status: r.get(3),
        started: r.get(4),
        stopped: r.get(5),
        max_concurrency: r.get::<_, i64>(6) as u64,
        tolerated_pct: r.get(7),
        tolerated_count: r.get::<_, i64>(8) as u64,
        counts: r.get(9),
        redrive_count: r.get::<_, i32>(10) as u32,
        redrive_date: r.get(11),
    }
}

fn child_row(r: &Row) -> ChildExecution {
    ChildExecution {
        arn: r.get(0),
        map_run_arn: r.get(1),
        state_machine_arn: r.get(2),
        name: r.get(3),
        status: r.get(4),
        input: r.get(5),
        output: r.get(6),
        error: r.get(7),
        cause: r.get(8),
        started: r.get(9),
        stopped: r.get(10),
    }
}

impl MapRuns for PgStore {
    fn put_map_run(&self, r: &MapRunRecord) {
        self.write(
            "INSERT INTO map_runs (arn, execution, state_machine, status, started, stopped, max_concurrency, tolerated_pct, tolerated_count, counts, redrive_count, redrive_date) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (arn) DO UPDATE SET status = excluded.status, stopped = excluded.stopped, \
             max_concurrency = excluded.max_concurrency, tolerated_pct = excluded.tolerated_pct, tolerated_count = excluded.tolerated_count, \
             counts = excluded.counts, redrive_count = excluded.redrive_count, redrive_date = excluded.redrive_date",
            vec![
                p(r.arn.clone()),
                p(r.execution_arn.clone()),
                p(r.state_machine_arn.clone()),
                p(r.status.clone()),
                p(r.started),
                p(r.stopped),
                p(r.max_concurrency as i64),
                p(r.tolerated_pct),
                p(r.tolerated_count.min(i64::MAX as u64) as i64),
                p(r.counts.clone()),
                p(r.redrive_count as i32),
                p(r.redrive_date),
            ],
        );
    }

    fn map_run<'a>(&'a self, arn: &'a str) -> Read<'a, Option<MapRunRecord>> {
        Box::pin(async move {
            let rows = self.query(&format!("{RUN_COLUMNS} WHERE arn = $1"), &[&arn]).await?;
            Ok(rows.first().map(run_row))
        })
    }

    fn map_runs<'a>(&'a self, execution_arn: &'a str) -> Read<'a, Vec<MapRunRecord>> {
        Box::pin(async move {
            let rows = self
                .query(
                    &format!("{RUN_COLUMNS} WHERE execution = $1 ORDER BY started DESC, arn"),
                    &[&execution_arn],
                )
                .await?;
            Ok(rows.iter().map(run_row).collect())
        })
    }

    fn put_child(&self, c: &ChildExecution) {
        self.write(
            "INSERT INTO map_run_children (arn, map_run, state_machine, name, status, input, output, error, cause, started, stopped) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (arn) DO UPDATE SET status = excluded.status, input = excluded.input, output = excluded.output, \
             error = excluded.error, cause = excluded.cause, started = excluded.started, stopped = excluded.stopped",
            vec![
                p(c.arn.clone()),
                p(c.map_run_arn.clone()),
                p(c.state_machine_arn.clone()),
                p(c.name.clone()),
                p(c.status.clone()),
                p(c.input.clone()),
                p(c.output.clone()),
                p(c.error.clone()),
                p(c.cause.clone()),
                p(c.started),
                p(c.stopped),
            ],
        );
    }

    fn child<'a>(&'a self, arn: &'a str) -> Read<'a, Option<ChildExecution>> {
        Box::pin(async move {
            let rows = self.query(&format!("{CHILD_COLUMNS} WHERE arn = $1"), &[&arn]).await?;
            Ok(rows.first().map(child_row))
        })
    }

    fn children<'a>(&'a self, map_run_arn: &'a str, status: Option<&'a str>) -> Read<'a, Vec<ChildExecution>> {
        Box::pin(async move {
            let rows = match status {
                Some(s) => {
                    self.query(
                        &format!("{CHILD_COLUMNS} WHERE map_run = $1 AND status = $2 ORDER BY started DESC, arn"),
                        &[&map_run_arn, &s],
                    )
                    .await?
                }
                None => {
                    self.query(
                        &format!("{CHILD_COLUMNS} WHERE map_run = $1 ORDER BY started DESC, arn"),
                        &[&map_run_arn],
                    )
                    .await?
                }
            };
            Ok(rows.iter().map(child_row).collect())
        })
    }
}
