//! Tasks that wait for an answer from outside: a task token answered with `SendTask*`
//! (`.waitForTaskToken`), an activity task a worker takes and answers, a nested execution
//! (`states:startExecution`, `.sync`, `.sync:2`). The token is on record before anyone can
//! see it, the wait's deadlines are durable, and the answer is recorded (as the Task's result
//! in the journal) before the execution moves on, so a restart resumes the wait and an answer
//! completes it once.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::call::{Call, Names};
use super::driver::{Halt, Run};
use super::error::AslError;
use super::history::EventKind;
use super::outside::{Answer, Waiting};
use crate::asl::ErrorName;
use crate::asl::model::Pattern;
use crate::store::{CallPermit, JournalRecord};

/// How a wait ended.
pub(super) enum WaitEnd {
    Answered(Answer),
    /// `States.Timeout` or `States.HeartbeatTimeout`.
    TimedOut(ErrorName),
}

/// The time limits of one wait, in seconds.
pub(super) struct Limits {
    pub timeout: Option<u64>,
    pub heartbeat: Option<u64>,
}

fn at_secs(t: f64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros((t * 1e6) as i64).unwrap_or_default()
}

fn runtime(e: impl std::fmt::Display) -> Halt {
    Halt::Failed(AslError::new(ErrorName::Runtime, e.to_string()))
}

impl Run<'_> {
    /// The task token of an attempt: the one recorded before a restart, or a new one, recorded
    /// before anything can see it.
    pub(super) fn task_token(&self, addr: &str, attempt: u32) -> String {
        if let Some(j) = &self.journal {
            if let Some(t) = j.token(addr, attempt) {
                return t;
            }
            let token = super::outside::new_token();
            j.record(JournalRecord::Token {
                addr: addr.to_string(),
                attempt,
                token: token.clone(),
            });
            return token;
        }
        super::outside::new_token()
    }

    /// Puts the token on record (after what the execution recorded before it).
    pub(super) async fn open_wait(&self, token: &str, waiting: Waiting<'_>) -> Result<(), Halt> {
        if let Some(j) = &self.journal {
            self.durable(j).await?;
        }
        self.ex
            .outside
            .open(&self.info.id, token, waiting)
            .await
            .map_err(Halt::Failed)
    }

    /// Waits for the token's answer, its time limits (durable: `key` names them), or the
    /// execution's end. `started` records ActivityStarted when a worker takes an activity task.
    pub(super) async fn wait_answer(
        &self,
        token: &str,
        key: &str,
        limits: Limits,
        activity: bool,
        prev: &mut u64,
    ) -> Result<WaitEnd, Halt> {
        struct Forget<'a>(&'a dyn super::outside::Outside, &'a str);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.forget(self.1);
            }
        }
        let outside = &*self.ex.outside;
        let _forget = Forget(outside, token);
        let now = self.clock().now();
        // The clocks start when the wait does; a resumed wait keeps the times it recorded.
        let since = self.arm_timer(&format!("{key}:since"), now).await?;
        let timeout = match limits.timeout {
            Some(s) => Some(
                self.arm_timer(&format!("{key}:timeout"), since + chrono::Duration::seconds(s as i64))
                    .await?,
            ),
            None => None,
        };
        let started_key = format!("{key}:activity-started");
        let mut started = self.history.was_recorded(&started_key);
        loop {
            let view = outside.look(token).await.map_err(runtime)?;
            // A worker took the task (recorded even when its answer is already there too).
            if let Some((worker, _)) = &view.worker
                && activity
                && !started
            {
                self.record(
                    prev,
                    || started_key.clone(),
                    || EventKind::ActivityStarted { worker: worker.clone() },
                );
                started = true;
            }
            if let Some(a) = view.answer {
                return Ok(WaitEnd::Answered(a));
            }
            if view.closed {
                return Err(runtime("the Task's token was closed while it waited"));
            }
            // An activity's heartbeat clock starts when a worker takes the task.
            let beat_from = if activity {
                view.worker.as_ref().map(|(_, at)| at_secs(*at))
            } else {
                Some(since)
            };
            let beat = match (limits.heartbeat, beat_from) {
                (Some(h), Some(from)) => {
                    let last = view.heartbeat.map(at_secs).map_or(from, |b| b.max(from));
                    Some(last + chrono::Duration::seconds(h as i64))
                }
                _ => None,
            };
            let next = [
                timeout.map(|t| (t, ErrorName::Timeout)),
                beat.map(|b| (b, ErrorName::HeartbeatTimeout)),
            ]
            .into_iter()
            .flatten()
            .min_by_key(|(t, _)| *t);
            let expired = match next {
                Some((t, why)) if self.clock().now() >= t => Some(why),
                Some((t, why)) => {
                    tokio::select! {
                        _ = outside.changed(token) => None,
                        r = self.sleep_until(t) => { r?; Some(why) }
                    }
                }
                None => {
                    tokio::select! {
                        _ = outside.changed(token) => None,
                        r = self.sleep_forever() => { r?; None }
                    }
                }
            };
            if let Some(why) = expired {
                // Closed unless the answer got there first: then the answer counts.
                let view = outside.close(token).await.map_err(runtime)?;
                return Ok(match view.answer {
                    Some(a) => WaitEnd::Answered(a),
                    None => WaitEnd::TimedOut(why),
                });
            }
        }
    }

    /// Sleeps until the execution's own deadline (never, without one).
    async fn sleep_forever(&self) -> Result<(), Halt> {
        match self.deadline {
            Some(d) => self.sleep_until(d).await,
            None => std::future::pending().await,
        }
    }

    /// A nested execution's name when the Task gives none: derived from the token, so a
    /// resumed parent asks for the same child (and gets it, not a second one).
    pub(super) fn child_name(token: &str) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(format!("wasmstep child of {token}").as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
    }
}

/// A nested execution's answer as the Task's output: `.sync` gives DescribeExecution's fields
/// with `Input`/`Output` as JSON text, `.sync:2` with them as JSON.
pub(super) fn child_output(pattern: Pattern, described: Value) -> Value {
    if pattern != Pattern::Sync2 {
        return described;
    }
    let mut out = described;
    for field in ["Input", "Output"] {
        if let Some(Value::String(text)) = out.get(field)
            && let Ok(v) = serde_json::from_str::<Value>(text)
        {
            out[field] = v;
        }
    }
    out
}

/// An answer as the Task's result: the output, or the error it names (`SendTaskFailure`
/// without an error name fails with an empty one, as AWS does).
pub(super) fn answer_result(a: Answer) -> Result<Value, AslError> {
    match a {
        Answer::Output(v) => Ok(v),
        Answer::Failure { error, cause } => Err(AslError {
            name: ErrorName::from_raised(error.as_deref().unwrap_or("")),
            cause,
        }),
    }
}

/// The parameters of `states:startExecution` checked: `StateMachineArn` is required.
pub(super) fn start_params(effective: &Value) -> Result<(), AslError> {
    match effective.get("StateMachineArn") {
        Some(Value::String(_)) => Ok(()),
        _ => Err(AslError::new(
            ErrorName::Runtime,
            "The field 'StateMachineArn' is required by arn:aws:states:::states:startExecution and must be a string",
        )),
    }
}

/// AWS's timeout error detail for a wait that ran out.
pub(super) fn timed_out(why: ErrorName) -> AslError {
    AslError { name: why, cause: None }
}

impl Run<'_> {
    /// `.waitForTaskToken` after the call was made: waits, then records how it ended.
    pub(super) async fn await_token(
        &self,
        c: &Call<'_>,
        token: &str,
        prev: &mut u64,
        permit: &mut Option<CallPermit>,
        names: &Names,
    ) -> Result<Result<Value, AslError>, Halt> {
        let limits = Limits {
            timeout: c.timeout,
            heartbeat: c.heartbeat,
        };
        let end = self.wait_answer(token, c.key, limits, false, prev).await?;
        // The answer goes on record only where the execution may still run.
        *permit = self.permit().await;
        Ok(self.task_end(end, names, c.key, prev, |v| v))
    }

    /// Records the Task event for how a wait ended; the Task's result.
    fn task_end(
        &self,
        end: WaitEnd,
        names: &Names,
        key: &str,
        prev: &mut u64,
        output: impl FnOnce(Value) -> Value,
    ) -> Result<Value, AslError> {
        let result = match end {
            WaitEnd::Answered(a) => answer_result(a).map(output),
            WaitEnd::TimedOut(why) => {
                let e = timed_out(why);
                self.record(prev, || format!("{key}:result"), || names.timed_out(&e));
                return Err(e);
            }
        };
        match &result {
            Ok(v) => self.record(prev, || format!("{key}:result"), || names.succeeded(v.clone())),
            Err(e) => self.record(prev, || format!("{key}:result"), || names.failed(e)),
        };
        result
    }

    /// A Task whose Resource is an activity: its task waits for a worker (GetActivityTask),
    /// who answers with its token.
    pub(super) async fn activity_task(
        &self,
        c: &Call<'_>,
        arn: &str,
        input: Value,
        prev: &mut u64,
        permit: &mut Option<CallPermit>,
    ) -> Result<Result<Value, AslError>, Halt> {
        let key = c.key;
        let Some(token) = c.token else {
            return Err(runtime("an activity task has no token"));
        };
        self.record(
            prev,
            || format!("{key}:scheduled"),
            || EventKind::ActivityScheduled {
                resource: arn.to_string(),
                input: input.clone(),
                timeout: c.timeout,
                heartbeat: c.heartbeat,
            },
        );
        match self.open_wait(token, Waiting::Activity { arn, input: &input }).await {
            Ok(()) => {}
            Err(Halt::Failed(e)) => {
                self.record(
                    prev,
                    || format!("{key}:result"),
                    || EventKind::ActivityScheduleFailed {
                        error: e.name.to_string(),
                        cause: e.cause.clone(),
                    },
                );
                return Ok(Err(e));
            }
            Err(h) => return Err(h),
        }
        let limits = Limits {
            timeout: c.timeout,
            heartbeat: c.heartbeat,
        };
        let end = self.wait_answer(token, key, limits, true, prev).await?;
        *permit = self.permit().await;
        let (result, event) = match end {
            WaitEnd::Answered(Answer::Output(v)) => (Ok(v.clone()), EventKind::ActivitySucceeded { output: v }),
            WaitEnd::Answered(a @ Answer::Failure { .. }) => {
                let Answer::Failure { error, cause } = a.clone() else {
                    unreachable!()
                };
                (answer_result(a), EventKind::ActivityFailed { error, cause })
            }
            WaitEnd::TimedOut(why) => (
                Err(timed_out(why.clone())),
                EventKind::ActivityTimedOut {
                    error: why.to_string(),
                    cause: None,
                },
            ),
        };
        self.record(prev, || format!("{key}:result"), || event);
        Ok(result)
    }

    /// `states:startExecution`: starts the nested execution (once, whatever restarts come),
    /// and for `.sync`/`.sync:2`/`.waitForTaskToken` waits for its end or its answer.
    pub(super) async fn nested_task(
        &self,
        c: &Call<'_>,
        pattern: Pattern,
        params: Value,
        prev: &mut u64,
        permit: &mut Option<CallPermit>,
    ) -> Result<Result<Value, AslError>, Halt> {
        let key = c.key;
        let (resource_type, resource) = c.t.resource.history_names(&c.t.resource_uri);
        let names = Names {
            lambda: false,
            resource_type,
            resource,
        };
        self.record(prev, || format!("{key}:started"), || names.started());
        if let Err(e) = start_params(&params) {
            return Err(self.halt(
                super::step::Fault::Runtime(e.cause.unwrap_or_default()),
                c.ctx.state_name,
                c.entered,
            ));
        }
        // The token names the child when the Task does not: a resumed parent asks for the
        // same child and gets it back, not a second one.
        let token = match c.token {
            Some(t) => t.to_string(),
            None => self.task_token(c.addr, c.attempt),
        };
        if let Some(j) = &self.journal {
            self.durable(j).await?;
        }
        if pattern == Pattern::WaitForTaskToken {
            self.open_wait(&token, Waiting::Callback).await?;
        }
        let name = match params.get("Name").and_then(Value::as_str) {
            Some(n) => n.to_string(),
            None => Self::child_name(&token),
        };
        *permit = self.permit().await;
        let sync = matches!(pattern, Pattern::Sync | Pattern::Sync2);
        let started = self.ex.outside.start_execution(&self.info, &params, &name, sync).await;
        *permit = None;
        let response = match started {
            Ok(r) => r,
            Err(e) => {
                self.record(prev, || format!("{key}:result"), || names.failed(&e));
                if pattern == Pattern::WaitForTaskToken {
                    let _ = self.ex.outside.close(&token).await;
                }
                return Ok(Err(e));
            }
        };
        if pattern == Pattern::Call {
            self.record(prev, || format!("{key}:result"), || names.succeeded(response.clone()));
            return Ok(Ok(response));
        }
        self.record(
            prev,
            || format!("{key}:submitted"),
            || names.submitted(response.clone()),
        );
        if pattern == Pattern::WaitForTaskToken {
            return self.await_token(c, &token, prev, permit, &names).await;
        }
        let Some(child) = response.get("ExecutionArn").and_then(Value::as_str) else {
            return Err(runtime("StartExecution answered without an ExecutionArn"));
        };
        self.open_wait(&token, Waiting::Child { arn: child }).await?;
        let limits = Limits {
            timeout: c.timeout,
            heartbeat: None,
        };
        let end = self.wait_answer(&token, key, limits, false, prev).await?;
        *permit = self.permit().await;
        Ok(self.task_end(end, &names, key, prev, |v| child_output(pattern, v)))
    }
}
