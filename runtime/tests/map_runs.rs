//! Map Runs against the real daemon with boto3 (`clients/boto3_map_runs.py`): ListMapRuns,
//! DescribeMapRun while running and after, UpdateMapRun changing a running run's concurrency
//! and tolerated failures, ListExecutions of a Map Run and its children, a run aborted with its
//! execution, a run redriven with it, and the errors; on SQLite and on PostgreSQL.

mod common;

use common::{Daemon, plugins_with, tempdir};

#[test]
fn boto3_drives_map_runs() {
    let data = tempdir("map-runs-boto3");
    let plugins = plugins_with(&tempdir("map-runs-boto3-plugins"), &["work"]);
    let daemon = Daemon::start_with(&data, &["--plugins".as_ref(), plugins.as_os_str()]);
    daemon.run_client("boto3_map_runs.py", &[]);
}

#[test]
fn boto3_drives_map_runs_on_a_postgresql_store() {
    let data = tempdir("map-runs-pg");
    let plugins = plugins_with(&tempdir("map-runs-pg-plugins"), &["work"]);
    let store = common::pg::database("map_runs");
    let daemon = Daemon::start_with(
        &data,
        &[
            "--plugins".as_ref(),
            plugins.as_os_str(),
            "--store".as_ref(),
            store.as_ref(),
        ],
    );
    daemon.run_client("boto3_map_runs.py", &[]);
}
