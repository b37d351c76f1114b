//! Map Runs and the child executions of Distributed Maps (Standard children: Express ones
//! are not kept, as on AWS). A run's row is written when it starts, as it goes (its counts)
//! and when it ends; a child's when it ends. Both go with their parent execution.

use super::catalog::Read;

/// One Map Run.
#[derive(Debug, Clone, PartialEq)]
pub struct MapRunRecord {
    pub arn: String,
    pub execution_arn: String,
    /// The children's state machine (`…:stateMachine:PARENT/LABEL`).
    pub state_machine_arn: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED` or `ABORTED`.
    pub status: String,
    pub started: f64,
    pub stopped: Option<f64>,
    pub max_concurrency: u64,
    pub tolerated_pct: f64,
    pub tolerated_count: u64,
    /// `{"items": {...}, "executions": {...}}`: DescribeMapRun's counts, as JSON.
    pub counts: String,
    pub redrive_count: u32,
    pub redrive_date: Option<f64>,
}

/// A child execution of a Map Run, as it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildExecution {
    pub arn: String,
    pub map_run_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: String,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub started: f64,
    pub stopped: f64,
}

pub trait MapRuns {
    /// Records a run, or updates the record of that ARN (keeping when it first started).
    fn put_map_run(&self, r: &MapRunRecord);
    fn map_run<'a>(&'a self, arn: &'a str) -> Read<'a, Option<MapRunRecord>>;
    /// An execution's runs, newest first.
    fn map_runs<'a>(&'a self, execution_arn: &'a str) -> Read<'a, Vec<MapRunRecord>>;
    /// Records a child that ended, or replaces the record of that ARN (a redriven run's).
    fn put_child(&self, c: &ChildExecution);
    fn child<'a>(&'a self, arn: &'a str) -> Read<'a, Option<ChildExecution>>;
    /// A run's children, newest first, optionally of one status.
    fn children<'a>(&'a self, map_run_arn: &'a str, status: Option<&'a str>) -> Read<'a, Vec<ChildExecution>>;
}
