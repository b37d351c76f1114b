//! The door a waiting Task answers through. A Task that waits on the world outside (a task
//! token sent back with `SendTask*`, an activity worker, a nested execution) puts its token on
//! record through `Outside`, watches it, and closes it when it stops waiting. The daemon
//! implements it on its store; `wasmstep run` has no API to answer through and says so.

use futures::future::BoxFuture;
use serde_json::Value;

use super::error::AslError;
use crate::asl::ErrorName;
use crate::path::context::ExecutionInfo;

/// The answer a token got.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `SendTaskSuccess` (or a nested execution that succeeded): the Task's result.
    Output(Value),
    /// `SendTaskFailure` (or a nested execution that did not succeed).
    Failure {
        error: Option<String>,
        cause: Option<String>,
    },
}

impl Answer {
    /// As the store keeps it (JSON text).
    pub fn to_text(&self) -> String {
        match self {
            Answer::Output(v) => serde_json::json!({ "output": v }).to_string(),
            Answer::Failure { error, cause } => serde_json::json!({ "error": error, "cause": cause }).to_string(),
        }
    }

    /// From the store's JSON text; text it cannot read is a failure that says so.
    pub fn from_text(text: &str) -> Answer {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        match v.get("output") {
            Some(o) => Answer::Output(o.clone()),
            None => Answer::Failure {
                error: v.get("error").and_then(Value::as_str).map(str::to_string),
                cause: v.get("cause").and_then(Value::as_str).map(str::to_string),
            },
        }
    }
}

/// A token as a waiting Task sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenView {
    pub answer: Option<Answer>,
    /// No answer is taken any more.
    pub closed: bool,
    /// An activity task handed to a worker: its name and when (seconds since the epoch).
    pub worker: Option<(String, f64)>,
    /// The last heartbeat (seconds since the epoch).
    pub heartbeat: Option<f64>,
}

/// What a Task waits on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Waiting<'a> {
    /// An answer sent with the token (`.waitForTaskToken`).
    Callback,
    /// A worker of the activity to take the task, with this input, and answer it.
    Activity { arn: &'a str, input: &'a Value },
    /// A nested execution to end (`.sync`, `.sync:2`).
    Child { arn: &'a str },
}

pub trait Outside: Send + Sync {
    /// Puts the token on record for `execution` (an activity task becomes available to its
    /// workers), durably before it returns. Opening a token opened before (a resumed
    /// execution) keeps it as it is. An error fails the Task (`States.Runtime` when the store
    /// cannot record it; an activity that does not exist as AWS says).
    fn open<'a>(
        &'a self,
        execution: &'a str,
        token: &'a str,
        waiting: Waiting<'a>,
    ) -> BoxFuture<'a, Result<(), AslError>>;
    /// The token as it is now.
    fn look<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<TokenView, String>>;
    /// Resolves when the token may have changed since the last `look` (or after a while).
    fn changed<'a>(&'a self, token: &'a str) -> BoxFuture<'a, ()>;
    /// Closes the token unless it has its answer; the token as it is then.
    fn close<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<TokenView, String>>;
    /// The Task stopped waiting on the token (whatever the reason): nothing more to watch.
    fn forget(&self, token: &str);
    /// Starts a nested execution named `name` (`StartExecution` with the Task's parameters):
    /// the same one again when it was started before. `sync`: the Task will wait for its end
    /// (`Waiting::Child`). The integration's response (`ExecutionArn`, `StartDate`).
    fn start_execution<'a>(
        &'a self,
        parent: &'a ExecutionInfo,
        params: &'a Value,
        name: &'a str,
        sync: bool,
    ) -> BoxFuture<'a, Result<Value, AslError>>;
}

/// No way to be answered: `wasmstep run`, benchmarks and tests without a daemon.
#[derive(Debug, Default)]
pub struct Nowhere;

fn needs_daemon() -> String {
    "a Task that waits for a task token, an activity worker or a nested execution needs the daemon \
     (wasmstep serve), where SendTaskSuccess, GetActivityTask and StartExecution can answer it"
        .to_string()
}

impl Outside for Nowhere {
    fn open<'a>(&'a self, _: &'a str, _: &'a str, _: Waiting<'a>) -> BoxFuture<'a, Result<(), AslError>> {
        Box::pin(std::future::ready(Err(AslError::new(
            ErrorName::Runtime,
            needs_daemon(),
        ))))
    }
    fn look<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<TokenView, String>> {
        Box::pin(std::future::ready(Err(needs_daemon())))
    }
    fn changed<'a>(&'a self, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(std::future::pending())
    }
    fn close<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<TokenView, String>> {
        Box::pin(std::future::ready(Err(needs_daemon())))
    }
    fn forget(&self, _: &str) {}
    fn start_execution<'a>(
        &'a self,
        _: &'a ExecutionInfo,
        _: &'a Value,
        _: &'a str,
        _: bool,
    ) -> BoxFuture<'a, Result<Value, AslError>> {
        Box::pin(std::future::ready(Err(AslError::new(
            ErrorName::Runtime,
            needs_daemon(),
        ))))
    }
}

/// A nested execution as the `.sync` Task of its parent sees it: the fields of
/// DescribeExecution (PascalCase, dates in epoch milliseconds, `Input`/`Output` as JSON text).
#[derive(Debug, Clone, PartialEq)]
pub struct Child<'a> {
    pub arn: &'a str,
    pub name: &'a str,
    pub machine_arn: &'a str,
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED` (or `RUNNING`).
    pub status: &'a str,
    pub input: &'a str,
    pub output: Option<&'a str>,
    pub error: Option<&'a str>,
    pub cause: Option<&'a str>,
    /// Seconds since the epoch.
    pub started: f64,
    pub stopped: Option<f64>,
}

/// Epoch milliseconds, as service integrations give dates.
pub fn millis(secs: f64) -> Value {
    serde_json::json!((secs * 1000.0).round() as i64)
}

impl Child<'_> {
    pub fn described(&self) -> Value {
        let mut d = serde_json::json!({
            "ExecutionArn": self.arn,
            "Input": self.input,
            "InputDetails": {"Included": true},
            "Name": self.name,
            "StartDate": millis(self.started),
            "StateMachineArn": self.machine_arn,
            "Status": self.status,
        });
        if let Some(s) = self.stopped {
            d["StopDate"] = millis(s);
        }
        if let Some(o) = self.output {
            d["Output"] = o.into();
            d["OutputDetails"] = serde_json::json!({"Included": true});
        }
        if let Some(e) = self.error {
            d["Error"] = e.into();
        }
        if let Some(c) = self.cause {
            d["Cause"] = c.into();
        }
        d
    }

    /// The parent's answer: the description when the child succeeded, else `States.TaskFailed`
    /// with the description as the cause (as Step Functions fails a `.sync` Task).
    pub fn answer(&self) -> Answer {
        if self.status == "SUCCEEDED" {
            Answer::Output(self.described())
        } else {
            Answer::Failure {
                error: Some(ErrorName::TaskFailed.to_string()),
                cause: Some(self.described().to_string()),
            }
        }
    }
}

/// A new task token: 256 bits from the thread's CSPRNG (seeded by the OS), URL-safe base64:
/// opaque and unguessable. Never starting with `-`, which command lines (aws-cli's
/// `--task-token TOKEN`) would read as an option.
pub fn new_token() -> String {
    use base64::Engine as _;
    loop {
        let bytes: [u8; 32] = rand::random();
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if !token.starts_with('-') {
            return token;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_fresh_and_never_look_like_an_option() {
        let tokens: std::collections::HashSet<String> = (0..2000).map(|_| super::new_token()).collect();
        assert_eq!(tokens.len(), 2000);
        assert!(tokens.iter().all(|t| t.len() == 43 && !t.starts_with('-')));
    }
}
