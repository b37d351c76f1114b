//! A Task state's handler call: its effective input and time limits, the Task events, a result
//! recorded before a restart replayed instead of asked for again, and the timeout backstop.

use serde_json::{Value, json};

use super::driver::{Halt, Run};
use super::error::AslError;
use super::history::EventKind;
use super::scope::Entered;
use super::step::{self, Fault, Outcome};
use super::task::{self, InvokeError, TaskCall};
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::path::context::iso;
use crate::path::{ContextObject, Env, Vars};
use crate::store::JournalRecord;

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
        let effective = step::effective_input(&t.io, input, ctx, vars).map_err(fault)?;
        let env = Env {
            input,
            context: ctx,
            vars,
        };
        let timeout = self.seconds(&t.timeout, "TimeoutSeconds", &env).map_err(fault)?;
        let heartbeat = self.seconds(&t.heartbeat, "HeartbeatSeconds", &env).map_err(fault)?;
        let attempt = ctx.retry_count.unwrap_or(0);
        // A result recorded before a restart is not asked for again.
        let replayed = self.journal.as_ref().and_then(|j| j.task_result(at.addr, attempt));
        let outcome = match replayed {
            Some(r) => r,
            None => {
                let key = format!("{}:a{attempt}", at.addr);
                // Held until the result is on record: a daemon handing its executions over
                // waits for it, and one that is (or has lost this execution) parks it here,
                // before the call is put on record.
                let _permit = match &self.journal {
                    Some(j) => Some(j.store().begin_call().await),
                    None => None,
                };
                let r = self
                    .call_task(t, ctx, effective, timeout, heartbeat, prev, entered, &key)
                    .await?;
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
                r
            }
        };
        let value = outcome.map_err(Halt::Failed)?;
        step::finish(&t.io, input.clone(), value, ctx, vars).map_err(fault)
    }

    /// Calls the handler, recording the Task events; `Err(AslError)` is the task's failure (for
    /// Retry/Catch), `Err(Halt)` a fault of the state itself.
    #[allow(clippy::too_many_arguments)]
    async fn call_task(
        &self,
        t: &Task,
        ctx: &ContextObject<'_>,
        effective: Value,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
        prev: &mut u64,
        entered: u64,
        key: &str,
    ) -> Result<Result<Value, AslError>, Halt> {
        let name = ctx.state_name;
        let fault = |f: Fault| self.halt(f, name, entered);
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
        // Started before a restart and not finished: this call is made again, and says so.
        let redelivered = self.history.was_recorded(&format!("{key}:started"));
        let target = task::resolve(&t.resource, &t.resource_uri, effective).map_err(|e| match e.name {
            ErrorName::Runtime => fault(Fault::Runtime(e.cause.unwrap_or_default())),
            _ => Halt::Failed(e),
        })?;
        self.record(
            prev,
            || format!("{key}:started"),
            || EventKind::TaskStarted {
                lambda,
                resource_type: resource_type.clone(),
                resource: resource.clone(),
            },
        );
        // Intent before effect: the call is on record before the handler runs.
        if let Some(j) = &self.journal {
            self.durable(j).await?;
        }
        let handler_ctx = handler_context(ctx, redelivered);
        let call = TaskCall {
            handler: &target.handler,
            payload: &target.payload,
            context: &handler_ctx,
            timeout: timeout.map(std::time::Duration::from_secs),
            heartbeat: heartbeat.map(std::time::Duration::from_secs),
        };
        let fut = self.ex.invoker.invoke(call);
        let result = match timeout {
            // The invoker enforces the limit itself (the Wasm host stops the guest and says why);
            // this backstop, a little later, covers invokers that cannot.
            Some(secs) => match tokio::time::timeout(std::time::Duration::from_secs(secs) + TIMEOUT_GRACE, fut).await {
                Ok(r) => r,
                Err(_) => {
                    let e = AslError {
                        name: ErrorName::Timeout,
                        cause: None,
                    };
                    self.record(
                        prev,
                        || format!("{key}:result"),
                        || EventKind::TaskTimedOut {
                            lambda,
                            resource_type: resource_type.clone(),
                            resource: resource.clone(),
                            error: e.name.to_string(),
                            cause: None,
                        },
                    );
                    return Ok(Err(e));
                }
            },
            None => fut.await,
        };
        let failed = |e: AslError, prev: &mut u64| {
            self.record(
                prev,
                || format!("{key}:result"),
                || EventKind::TaskFailed {
                    lambda,
                    resource_type: resource_type.clone(),
                    resource: resource.clone(),
                    error: e.name.to_string(),
                    cause: e.cause.clone(),
                },
            );
            Ok(Err(e))
        };
        let value = match result {
            Ok(v) => v,
            Err(InvokeError::NoSuchHandler) => return failed(task::missing_function(&target.handler), prev),
            Err(InvokeError::Failed(e)) => {
                let e = if target.envelope { task::invoke_error(e) } else { e };
                return failed(e, prev);
            }
        };
        if let Err(e) = step::check_size(&value, self.ex.config.payload_limit, name) {
            return failed(e, prev);
        }
        let value = if target.envelope {
            task::envelope(value, target.log_tail)
        } else {
            value
        };
        self.record(
            prev,
            || format!("{key}:result"),
            || EventKind::TaskSucceeded {
                lambda,
                resource_type: resource_type.clone(),
                resource: resource.clone(),
                output: value.clone(),
            },
        );
        Ok(Ok(value))
    }
}

/// The context a handler receives: who is calling, without the execution input.
/// `Task.Redelivered` is true when the call was in flight when the daemon stopped and is made
/// again after the restart (same `RetryCount`).
fn handler_context(ctx: &ContextObject<'_>, redelivered: bool) -> Value {
    let e = ctx.execution;
    let mut v = json!({
        "Execution": {"Id": e.id, "Name": e.name, "StartTime": e.start_time, "RoleArn": e.role_arn},
        "State": {"Name": ctx.state_name, "EnteredTime": iso(ctx.entered_time), "RetryCount": ctx.retry_count.unwrap_or(0)},
        "StateMachine": {"Id": e.state_machine_id, "Name": e.state_machine_name},
    });
    if let Some(token) = ctx.task_token {
        v["Task"] = json!({"Token": token});
    }
    if redelivered {
        v["Task"]["Redelivered"] = true.into();
    }
    v
}
