//! Map Runs against the real daemon with boto3 (`clients/boto3_map_runs.py`): ListMapRuns,
//! DescribeMapRun while running and after, UpdateMapRun changing a running run's concurrency
//! and tolerated failures, ListExecutions of a Map Run and its children, a run aborted with its
//! execution, a run redriven with it, and the errors; on SQLite and on PostgreSQL.

mod common;

use common::serve_handlers;

#[test]
fn boto3_drives_map_runs() {
    serve_handlers("map-runs-boto3", &["work"], None).run_client("boto3_map_runs.py", &[]);
}

#[test]
fn boto3_drives_map_runs_on_a_postgresql_store() {
    let store = common::pg::database("map_runs");
    serve_handlers("map-runs-pg", &["work"], Some(&store)).run_client("boto3_map_runs.py", &[]);
}
