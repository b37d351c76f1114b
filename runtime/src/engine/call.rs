//! A Task state's handler call: its effective input and time limits, the Task events, a result
//! recorded before a restart replayed instead of asked for again, and the timeout backstop.

use serde_json::{Value, json};

use super::driver::{Halt, Run};
use super::error::AslError;
use super::history::EventKind;
use super::outside::Waiting;
use super::scope::Entered;
use super::step::{self, Fault, Outcome};
use super::task::{self, InvokeError, TaskCall};
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::path::context::iso;
use crate::path::{ContextObject, Env, Vars};
use crate::store::{CallPermit, JournalRecord};

/// How much later than a Task's TimeoutSeconds the driver itself gives up on a handler.
const TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_millis(250);

impl Run<'_> {
    fn seconds(&self, s: &Option<Seconds>, field: &str, env: &Env<'_>) -> Result<Option<u64>, Fault> {
        match s {
            None => Ok(None),
            Some(Seconds::Fixed(n)) => Ok(Some(*n)),
            Some(Seconds::Expr(a)) => {
                super::ata::eval_integer(a, field, 1, &super::ata::States::new(env.input, env.context), env.vars)
                    .map(Some)
            }
            Some(Seconds::Path(p)) => {
                let v = p.value(env).map_err(|miss| Fault::Runtime(p.miss_message(&miss)))?;
                match v.as_u64() {
                    Some(n) if n > 0 => Ok(Some(n)),
                    _ => Err(Fault::Runtime(format!(
                        "The {field}Path parameter must reference a positive integer: {} == {v}",
                        p.text()
                    ))),
                }
            }
        }
    }

    pub(super) async fn task_attempt(
        &self,
        at: Entered<'_>,
        t: &Task,
        ctx: &ContextObject<'_>,
        input: &Value,
        vars: &Vars,
        prev: &mut u64,
    ) -> Result<Outcome, Halt> {
        let (node, entered) = (at.node, at.id);
        let name = node.name.as_str();
        let fault = |f: Fault| self.halt(f, name, entered);
        let attempt = ctx.retry_count.unwrap_or(0);
        // A task token exists before the parameters are evaluated (`$$.Task.Token`); a new one
        // per attempt, the recorded one after a restart.
        let token = t.resource.has_token().then(|| self.task_token(at.addr, attempt));
        let with_token;
        let ctx = match &token {
            Some(tok) => {
                with_token = ContextObject::new(ctx.execution, ctx.state_name, ctx.entered_time)
                    .with_retry_count(attempt)
                    .with_task_token(tok);
                &with_token
            }
            None => ctx,
        };
        let effective = step::effective_input(&t.io, input, ctx, vars).map_err(fault)?;
        let env = Env {
            input,
            context: ctx,
            vars,
        };
        let timeout = self.seconds(&t.timeout, "TimeoutSeconds", &env).map_err(fault)?;
        let heartbeat = self.seconds(&t.heartbeat, "HeartbeatSeconds", &env).map_err(fault)?;
        // A result recorded before a restart is not asked for again.
        let replayed = self.journal.as_ref().and_then(|j| j.task_result(at.addr, attempt));
        let outcome = match replayed {
            Some(r) => r,
            None => {
                let key = format!("{}:a{attempt}", at.addr);
                // Held until the result is on record: a daemon handing its executions over
                // waits for it, and one that is (or has lost this execution) parks it here,
                // before the call is put on record. A Task that waits for an answer holds it
                // only while it calls, and again once answered (`permit`).
                let mut permit = None;
                if !t.resource.waits() {
                    permit = self.permit().await;
                }
                let call = Call {
                    t,
                    ctx,
                    addr: at.addr,
                    attempt,
                    timeout,
                    heartbeat,
                    entered,
                    key: &key,
                    token: token.as_deref(),
                };
                let r = self.call_task(&call, effective, prev, &mut permit).await?;
                if let Some(j) = &self.journal {
                    let (ok, error) = match &r {
                        Ok(v) => (Some(v.clone()), None),
                        Err(e) => (None, Some((e.name.to_string(), e.cause.clone()))),
                    };
                    j.record(JournalRecord::TaskResult {
                        addr: at.addr.to_string(),
                        attempt,
                        ok,
                        error,
                    });
                }
                drop(permit);
                r
            }
        };
        let value = outcome.map_err(Halt::Failed)?;
        step::finish(&t.io, input.clone(), value, ctx, vars).map_err(fault)
    }

    /// A permit to put a call (or an answer) on record, for durable executions.
    pub(super) async fn permit(&self) -> Option<CallPermit> {
        match &self.journal {
            Some(j) => Some(j.store().begin_call().await),
            None => None,
        }
    }

    /// Calls the handler, recording the Task events; `Err(AslError)` is the task's failure (for
    /// Retry/Catch), `Err(Halt)` a fault of the state itself.
    async fn call_task(
        &self,
        c: &Call<'_>,
        effective: Value,
        prev: &mut u64,
        permit: &mut Option<CallPermit>,
    ) -> Result<Result<Value, AslError>, Halt> {
        let t = c.t;
        let (ctx, key, timeout, heartbeat) = (c.ctx, c.key, c.timeout, c.heartbeat);
        let name = ctx.state_name;
        let fault = |f: Fault| self.halt(f, name, c.entered);
        if let Resource::Activity { arn } = &t.resource {
            return self.activity_task(c, arn, effective, prev, permit).await;
        }
        let (resource_type, resource) = t.resource.history_names(&t.resource_uri);
        let lambda = matches!(t.resource, Resource::LambdaFunction { .. });
        self.record(
            prev,
            || format!("{key}:scheduled"),
            || EventKind::TaskScheduled {
                lambda,
                resource_type: resource_type.clone(),
                resource: if lambda {
                    t.resource_uri.clone()
                } else {
                    resource.clone()
                },
                parameters: effective.clone(),
                timeout,
                heartbeat,
            },
        );
        if let Resource::StartExecution { pattern } = t.resource {
            return self.nested_task(c, pattern, effective, prev, permit).await;
        }
        // Started before a restart and not finished: this call is made again, and says so.
        let redelivered = self.history.was_recorded(&format!("{key}:started"));
        let target = task::resolve(&t.resource, &t.resource_uri, effective).map_err(|e| match e.name {
            ErrorName::Runtime => fault(Fault::Runtime(e.cause.unwrap_or_default())),
            _ => Halt::Failed(e),
        })?;
        let names = Names {
            lambda,
            resource_type,
            resource,
        };
        self.record(prev, || format!("{key}:started"), || names.started());
        // Intent before effect: the call is on record before the handler runs.
        if let Some(j) = &self.journal {
            self.durable(j).await?;
        }
        // A Task that waits: its token is on record before the handler can pass it on, and a
        // handler that returned before a restart is not called again.
        if let Some(token) = c.token {
            self.open_wait(token, Waiting::Callback).await?;
            if !self.history.was_recorded(&format!("{key}:submitted")) {
                *permit = self.permit().await;
                let submitted = self.invoke(c, &target, redelivered, &names, prev).await?;
                *permit = None;
                match submitted {
                    Ok(v) => {
                        self.record(prev, || format!("{key}:submitted"), || names.submitted(v));
                    }
                    Err(e) => {
                        let _ = self.ex.outside.close(token).await;
                        return Ok(Err(e));
                    }
                }
            }
            return self.await_token(c, token, prev, permit, &names).await;
        }
        let r = self.invoke(c, &target, redelivered, &names, prev).await?;
        if let Ok(value) = &r {
            self.record(prev, || format!("{key}:result"), || names.succeeded(value.clone()));
        }
        Ok(r)
    }

    /// Runs the handler (its failures and timeouts recorded); its result, in the Lambda
    /// envelope where the resource asks for one.
    async fn invoke(
        &self,
        c: &Call<'_>,
        target: &task::Target,
        redelivered: bool,
        names: &Names,
        prev: &mut u64,
    ) -> Result<Result<Value, AslError>, Halt> {
        let key = c.key;
        let handler_ctx = handler_context(c.ctx, redelivered);
        let call = TaskCall {
            handler: &target.handler,
            payload: &target.payload,
            context: &handler_ctx,
            timeout: c.timeout.map(std::time::Duration::from_secs),
            heartbeat: c.heartbeat.map(std::time::Duration::from_secs),
        };
        let fut = self.ex.invoker.invoke(call);
        let result = match c.timeout {
            // The invoker enforces the limit itself (the Wasm host stops the guest and says why);
            // this backstop, a little later, covers invokers that cannot.
            Some(secs) => match tokio::time::timeout(std::time::Duration::from_secs(secs) + TIMEOUT_GRACE, fut).await {
                Ok(r) => r,
                Err(_) => {
                    let e = AslError {
                        name: ErrorName::Timeout,
                        cause: None,
                    };
                    self.record(prev, || format!("{key}:result"), || names.timed_out(&e));
                    return Ok(Err(e));
                }
            },
            None => fut.await,
        };
        let failed = |e: AslError, prev: &mut u64| {
            self.record(prev, || format!("{key}:result"), || names.failed(&e));
            Ok(Err(e))
        };
        let value = match result {
            Ok(v) => v,
            Err(InvokeError::NoSuchHandler) => {
                // The cause stays AWS's, word for word (recorded cases match it); where wasmstep
                // looked and what it has goes to the log.
                if let Some(x) = self.ex.invoker.explain_missing(&target.handler) {
                    tracing::warn!(execution = %self.info.id, handler = %target.handler, "{x}");
                }
                return failed(task::missing_function(&target.handler), prev);
            }
            Err(InvokeError::Failed(e)) => {
                let e = if target.envelope { task::invoke_error(e) } else { e };
                return failed(e, prev);
            }
        };
        if let Err(e) = step::check_size(&value, self.ex.config.payload_limit, c.ctx.state_name) {
            return failed(e, prev);
        }
        Ok(Ok(if target.envelope {
            task::envelope(value, target.log_tail)
        } else {
            value
        }))
    }
}

/// One attempt of a Task: what every step of its call needs.
pub(super) struct Call<'a> {
    pub t: &'a Task,
    pub ctx: &'a ContextObject<'a>,
    pub addr: &'a str,
    pub attempt: u32,
    pub timeout: Option<u64>,
    pub heartbeat: Option<u64>,
    pub entered: u64,
    /// Names the attempt's events and timers (state address and attempt).
    pub key: &'a str,
    pub token: Option<&'a str>,
}

/// The Task events' resource names, and the events made with them.
pub(super) struct Names {
    pub lambda: bool,
    pub resource_type: String,
    pub resource: String,
}

impl Names {
    pub fn started(&self) -> EventKind {
        EventKind::TaskStarted {
            lambda: self.lambda,
            resource_type: self.resource_type.clone(),
            resource: self.resource.clone(),
        }
    }
    pub fn submitted(&self, output: Value) -> EventKind {
        EventKind::TaskSubmitted {
            resource_type: self.resource_type.clone(),
            resource: self.resource.clone(),
            output,
        }
    }
    pub fn succeeded(&self, output: Value) -> EventKind {
        EventKind::TaskSucceeded {
            lambda: self.lambda,
            resource_type: self.resource_type.clone(),
            resource: self.resource.clone(),
            output,
        }
    }
    pub fn failed(&self, e: &AslError) -> EventKind {
        EventKind::TaskFailed {
            lambda: self.lambda,
            resource_type: self.resource_type.clone(),
            resource: self.resource.clone(),
            error: e.name.to_string(),
            cause: e.cause.clone(),
        }
    }
    pub fn timed_out(&self, e: &AslError) -> EventKind {
        EventKind::TaskTimedOut {
            lambda: self.lambda,
            resource_type: self.resource_type.clone(),
            resource: self.resource.clone(),
            error: e.name.to_string(),
            cause: e.cause.clone(),
        }
    }
}

/// The context a handler receives: who is calling, without the execution input.
/// `Task.Redelivered` is true when the call was in flight when the daemon stopped and is made
/// again after the restart (same `RetryCount`).
fn handler_context(ctx: &ContextObject<'_>, redelivered: bool) -> Value {
    let e = ctx.execution;
    let mut v = json!({
        "Execution": {"Id": e.id, "Name": e.name, "StartTime": e.start_time, "RoleArn": e.role_arn,
                      "RedriveCount": e.redrive_count},
        "State": {"Name": ctx.state_name, "EnteredTime": iso(ctx.entered_time), "RetryCount": ctx.retry_count.unwrap_or(0)},
        "StateMachine": {"Id": e.state_machine_id, "Name": e.state_machine_name},
    });
    if let Some(t) = &e.redrive_time {
        v["Execution"]["RedriveTime"] = t.clone().into();
    }
    if let Some(token) = ctx.task_token {
        v["Task"] = json!({"Token": token});
    }
    if redelivered {
        v["Task"]["Redelivered"] = true.into();
    }
    v
}
