//! What the daemon keeps besides executions' own records: state machines, their versions and
//! tags, one row per execution, and the numbered sets of handlers executions are pinned to.
//! Plain data, the same for every backend.

/// A state machine as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineRecord {
    pub arn: String,
    pub name: String,
    /// `STANDARD` or `EXPRESS`.
    pub machine_type: String,
    pub definition: String,
    pub role_arn: String,
    /// Seconds since the epoch.
    pub created: f64,
}

/// A published, immutable version of a state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub machine_arn: String,
    pub version: u64,
    pub definition: String,
    pub role_arn: String,
    pub description: Option<String>,
    pub created: f64,
}

/// A state machine alias: its name and how starts through it are split between one or two
/// versions (`routing`: JSON `[{"stateMachineVersionArn", "weight"}]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AliasRecord {
    pub machine_arn: String,
    pub name: String,
    pub description: Option<String>,
    pub routing: String,
    pub created: f64,
    pub updated: f64,
}

/// One execution's row: what DescribeExecution answers and what a restart resumes from.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    pub arn: String,
    pub machine_arn: String,
    pub name: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    pub definition: String,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub started: f64,
    pub stopped: Option<f64>,
    /// The version ARN it was started with, if any.
    pub version_arn: Option<String>,
    /// The alias ARN it was started through, if any.
    pub alias_arn: Option<String>,
    /// The handlers it started with (`TaskInvoker::pin`), to resume on the same releases.
    pub handler_set: Option<i64>,
    /// How many times RedriveExecution restarted it, and when last.
    pub redrive_count: u32,
    pub redrive_date: Option<f64>,
    /// The `clientToken` of the last redrive: the same request again answers the same.
    pub redrive_token: Option<String>,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionEnd {
    pub status: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub stopped: f64,
}

/// Which executions to list (newest first).
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionsOf {
    /// Every execution of a state machine (by its unversioned ARN).
    Machine(String),
    /// Those started with one version (by the version ARN).
    Version(String),
    /// Those started through one alias (by the alias ARN).
    Alias(String),
}
