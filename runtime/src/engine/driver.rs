//! The async driver: walks states, performs what the pure step functions ask for (handler
//! calls, timers, branches, Map iterations), applies Retry and Catch, and records history.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use rand::RngExt;
use serde_json::{Value, json};

use super::clock::Clock;
use super::error::AslError;
use super::history::{EventKind, History, HistoryEvent};
use super::journal::Journal;
use super::recovery::{self, Recovery};
use super::step::{self, Fault, Outcome};
use super::task::{self, InvokeError, TaskCall, TaskInvoker};
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::path::context::ExecutionInfo;
use crate::path::context::iso;
use crate::path::{ContextObject, Env, Vars, json_size};
use crate::store::{ExecutionStore, JournalRecord, StoreError};

/// How much later than a Task's TimeoutSeconds the driver itself gives up on a handler.
const TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_millis(250);

/// Inline Map iterations AWS runs at once at most.
pub(super) const INLINE_MAP_CONCURRENCY: usize = 40;
/// Distributed Map children run at once at most.
pub(super) const DISTRIBUTED_MAP_CONCURRENCY: usize = 10_000;

/// How executions run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Payload limit in bytes (AWS: 256 KiB).
    pub payload_limit: usize,
    /// Keep history events (off for benchmarks).
    pub keep_history: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            payload_limit: 256 * 1024,
            keep_history: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        }
    }
}

/// How an execution ended.
#[derive(Debug)]
pub struct ExecutionResult {
    pub status: Status,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEvent>,
    /// States entered, Map iterations included.
    pub transitions: u64,
    /// The same, by state type (indexed by [`StateType::index`]).
    pub transitions_by_type: [u64; 8],
}

/// Runs executions of one state machine.
pub struct Executor {
    machine: Arc<StateMachine>,
    invoker: Arc<dyn TaskInvoker>,
    clock: Arc<dyn Clock>,
    pub(super) config: EngineConfig,
}

/// Why a scope stopped without an output.
pub(super) enum Halt {
    Failed(AslError),
    TimedOut,
}

impl From<AslError> for Halt {
    fn from(e: AslError) -> Self {
        Halt::Failed(e)
    }
}

/// Records an "aborted" event if the future it lives in is dropped before `disarm`.
pub(super) struct AbortGuard<'r, 'e> {
    run: &'r Run<'e>,
    previous: u64,
    event: Option<EventKind>,
    key: Option<String>,
}

impl<'r, 'e> AbortGuard<'r, 'e> {
    pub(super) fn new(run: &'r Run<'e>, previous: u64, event: Option<EventKind>, key: &str) -> Self {
        let event = event.filter(|_| run.history.keeps_events());
        let key = run.journal.as_ref().map(|_| format!("{key}:aborted"));
        AbortGuard {
            run,
            previous,
            event,
            key,
        }
    }

    pub(super) fn disarm(mut self) {
        self.event = None;
    }
}

impl Drop for AbortGuard<'_, '_> {
    fn drop(&mut self) {
        if let Some(e) = self.event.take() {
            self.run
                .history
                .record_keyed(self.previous, self.run.clock().now(), self.key.take(), || e);
        }
    }
}

/// A state being run, with the id of its `*StateEntered` event (cited in error causes).
#[derive(Clone, Copy)]
pub(super) struct Entered<'m> {
    pub(super) node: &'m StateNode,
    pub(super) id: u64,
    /// The entry's journal address (empty when not journaling).
    pub(super) addr: &'m str,
}

/// The retryable work of a Task, Parallel or Map state.
#[derive(Clone, Copy)]
enum Work<'m> {
    Task(&'m Task),
    Parallel(&'m Parallel),
    Map(&'m MapState),
}

impl<'m> Work<'m> {
    /// The state's retriers, catchers and transition.
    fn recovery(self) -> (&'m [Retrier], &'m [Catcher], Transition) {
        match self {
            Work::Task(t) => (&t.retry, &t.catch, t.next),
            Work::Parallel(p) => (&p.retry, &p.catch, p.next),
            Work::Map(m) => (&m.retry, &m.catch, m.next),
        }
    }
}

/// Where a scope's states continue after one state.
enum Flow {
    Next(StateId, Outcome),
    End(Outcome),
}

fn flow(t: Transition, o: Outcome) -> Flow {
    match t {
        Transition::Next(id) => Flow::Next(id, o),
        Transition::End => Flow::End(o),
    }
}

/// One running execution (or a Distributed Map child execution).
pub(super) struct Run<'e> {
    pub(super) ex: &'e Executor,
    pub(super) info: ExecutionInfo,
    pub(super) history: History,
    /// States entered, by [`StateType::index`].
    pub(super) transitions: &'e [AtomicU64; 8],
    pub(super) deadline: Option<DateTime<Utc>>,
    /// Durable executions record what they do and replay it after a restart.
    pub(super) journal: Option<Arc<Journal>>,
}

impl Executor {
    pub fn new(
        machine: Arc<StateMachine>,
        invoker: Arc<dyn TaskInvoker>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Self {
        Executor {
            machine,
            invoker,
            clock,
            config,
        }
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    /// Runs one execution to its end (in memory only).
    pub async fn execute(&self, info: ExecutionInfo, input: Value) -> ExecutionResult {
        self.execute_with(info, input, None, Default::default()).await
    }

    /// Runs a durable execution: every history event and journal record goes to `store`, and
    /// side effects wait for what precedes them to be durable. With `resume`, the execution
    /// continues from what the store holds: finished states and handler results are replayed,
    /// timers keep their deadlines, a handler call in flight at the crash is made again.
    pub async fn execute_durable(
        &self,
        info: ExecutionInfo,
        input: Value,
        store: Arc<dyn ExecutionStore>,
        resume: bool,
    ) -> Result<ExecutionResult, StoreError> {
        let recorded = if resume {
            store.event_keys(&info.id)?
        } else {
            Default::default()
        };
        let journal = Journal::open(store, &info.id, resume)?;
        let result = self.execute_with(info, input, Some(Arc::new(journal)), recorded).await;
        Ok(result)
    }

    async fn execute_with(
        &self,
        info: ExecutionInfo,
        input: Value,
        journal: Option<Arc<Journal>>,
        recorded: std::collections::HashMap<String, u64>,
    ) -> ExecutionResult {
        let transitions: [AtomicU64; 8] = Default::default();
        let now = self.clock.now();
        // A resumed execution keeps the deadline it started with.
        let start = chrono::DateTime::parse_from_rfc3339(&info.start_time)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now);
        let history = match &journal {
            Some(j) => History::durable(self.config.keep_history, j.store().clone(), &info.id, recorded.clone()),
            None => History::new(self.config.keep_history),
        };
        let run = Run {
            ex: self,
            info,
            history,
            transitions: &transitions,
            deadline: self
                .machine
                .timeout_seconds
                .map(|t| start + chrono::Duration::seconds(t as i64)),
            journal,
        };
        let started = run.history.record_keyed(
            0,
            now,
            run.journal.as_ref().map(|_| "execution:started".to_string()),
            || EventKind::ExecutionStarted {
                input: input.clone(),
                role_arn: run.info.role_arn.clone(),
            },
        );
        // A resumed execution continues after the last event it recorded.
        let mut prev = recorded.values().max().copied().unwrap_or(started);
        let size = json_size(&input);
        let result = if size > self.config.payload_limit {
            Err(Halt::Failed(AslError::new(
                ErrorName::DataLimitExceeded,
                format!(
                    "The execution input has {size} bytes, over the payload limit of {} bytes.",
                    self.config.payload_limit
                ),
            )))
        } else {
            let mut vars = Vars::default();
            let body = run.run_scope(self.machine.root.start, input, &mut vars, &mut prev, "");
            // A bug must fail this one execution (States.Runtime), never the process.
            let body = AssertUnwindSafe(body).catch_unwind().map(|r| {
                r.unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Err(Halt::Failed(AslError::new(
                        ErrorName::Runtime,
                        format!("Internal error in wasmstep: {what}"),
                    )))
                })
            });
            match self.machine.timeout_seconds {
                // The clock check at each transition covers virtual time; this covers a
                // handler that never returns.
                Some(t) => match tokio::time::timeout(std::time::Duration::from_secs(t), body).await {
                    Ok(r) => r,
                    Err(_) => Err(Halt::TimedOut),
                },
                None => body.await,
            }
        };
        let now = self.clock.now();
        let (status, output, error, cause) = match result {
            Ok(output) => {
                run.history.record_keyed(
                    prev,
                    now,
                    run.journal.as_ref().map(|_| "execution:end".to_string()),
                    || EventKind::ExecutionSucceeded { output: output.clone() },
                );
                (Status::Succeeded, Some(output), None, None)
            }
            Err(Halt::Failed(e)) => {
                let error = Some(e.name.as_str().to_string()).filter(|s| !s.is_empty());
                let cause = e.cause.clone();
                run.history.record_keyed(
                    prev,
                    now,
                    run.journal.as_ref().map(|_| "execution:end".to_string()),
                    || EventKind::ExecutionFailed {
                        error: error.clone(),
                        cause: cause.clone(),
                    },
                );
                (Status::Failed, None, error, cause)
            }
            Err(Halt::TimedOut) => {
                let error = Some(ErrorName::Timeout.as_str().to_string());
                run.history.record_keyed(
                    prev,
                    now,
                    run.journal.as_ref().map(|_| "execution:end".to_string()),
                    || EventKind::ExecutionTimedOut {
                        error: error.clone(),
                        cause: None,
                    },
                );
                (Status::TimedOut, None, error, None)
            }
        };
        if let Some(j) = &run.journal
            && let Err(e) = j.flush().await
        {
            eprintln!("error: execution {} could not be recorded: {e}", run.info.id);
        }
        ExecutionResult {
            status,
            output,
            error,
            cause,
            history: run.history.into_events(),
            transitions: transitions.iter().map(|t| t.load(Ordering::Relaxed)).sum(),
            transitions_by_type: transitions.each_ref().map(|t| t.load(Ordering::Relaxed)),
        }
    }
}

impl<'e> Run<'e> {
    /// Turns a fault into the error that stops the state; a JSONata failure is also recorded
    /// as an EvaluationFailed event, as AWS does.
    pub(super) fn halt(&self, f: Fault, state: &str, entered: u64) -> Halt {
        let location = match &f {
            Fault::Query { location, .. } => Some(location.clone().unwrap_or_default()),
            _ => None,
        };
        let e = f.into_error(state, entered);
        if let Some(location) = location {
            self.history.record_keyed(
                entered,
                self.clock().now(),
                self.journal.as_ref().map(|_| format!("e{entered}:evaluation-failed")),
                || EventKind::EvaluationFailed {
                    error: e.name.to_string(),
                    cause: e.cause.clone().unwrap_or_default(),
                    location,
                    state: state.to_string(),
                },
            );
        }
        Halt::Failed(e)
    }

    pub(super) fn clock(&self) -> &dyn Clock {
        &*self.ex.clock
    }

    /// Records an event after `*prev`. `key` names it within the execution (state address and
    /// event): a resumed execution does not record again what it recorded before the restart.
    pub(super) fn record(&self, prev: &mut u64, key: impl FnOnce() -> String, make: impl FnOnce() -> EventKind) -> u64 {
        let key = self.journal.as_ref().map(|_| key());
        let id = self.history.record_keyed(*prev, self.clock().now(), key, make);
        *prev = id;
        id
    }

    fn timed_out(&self) -> bool {
        self.deadline.is_some_and(|d| self.clock().now() >= d)
    }

    /// Makes a timer durable before waiting on it: a resumed execution gets the deadline it
    /// recorded the first time, not a new one.
    async fn arm_timer(&self, addr: &str, until: DateTime<Utc>) -> Result<DateTime<Utc>, Halt> {
        let Some(j) = &self.journal else { return Ok(until) };
        if let Some(recorded) = j.deadline(addr) {
            return Ok(recorded);
        }
        j.record(JournalRecord::Deadline {
            addr: addr.to_string(),
            until,
        });
        self.durable(j).await?;
        Ok(until)
    }

    /// Waits for everything recorded so far to be durable; an execution whose progress cannot
    /// be recorded stops rather than act unrecorded.
    pub(super) async fn durable(&self, j: &Journal) -> Result<(), Halt> {
        j.flush().await.map_err(|e| {
            Halt::Failed(AslError::new(
                ErrorName::Runtime,
                format!("The execution's progress could not be recorded: {e}"),
            ))
        })
    }

    /// Sleeps until `t`, or fails the execution if its deadline comes first.
    async fn sleep_until(&self, t: DateTime<Utc>) -> Result<(), Halt> {
        match self.deadline {
            Some(d) if t >= d => {
                self.clock().sleep_until(d).await;
                Err(Halt::TimedOut)
            }
            _ => {
                self.clock().sleep_until(t).await;
                Ok(())
            }
        }
    }

    /// Runs the states of one scope from `start` until one ends it.
    pub(super) fn run_scope<'a>(
        &'a self,
        start: StateId,
        input: Value,
        vars: &'a mut Vars,
        prev: &'a mut u64,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Value, Halt>> {
        Box::pin(async move {
            let mut id = start;
            let mut input = input;
            let mut seq = 0u32;
            loop {
                // Each state entry has an address that does not depend on timing.
                let addr = match &self.journal {
                    Some(_) => format!("{prefix}/{seq}"),
                    None => String::new(),
                };
                seq += 1;
                if let Some((output, assigned, next)) = self.journal.as_ref().and_then(|j| j.exited(&addr)) {
                    // Finished before a restart: its events are recorded; take its outcome.
                    vars.assign(assigned);
                    match next {
                        Some(n) => {
                            id = StateId(n);
                            input = output;
                            continue;
                        }
                        None => return Ok(output),
                    }
                }
                if self.timed_out() {
                    return Err(Halt::TimedOut);
                }
                // A loop of Pass and Choice states never awaits anything else; this lets the
                // runtime preempt it (timeouts, other executions) once its budget is spent.
                tokio::task::consume_budget().await;
                let node = self.ex.machine.state(id);
                let st = node.kind.state_type();
                let now = self.clock().now();
                let entered = self.record(
                    prev,
                    || format!("{addr}:entered"),
                    || EventKind::StateEntered {
                        state_type: st,
                        name: node.name.clone(),
                        input: input.clone(),
                    },
                );
                self.transitions[st.index()].fetch_add(1, Ordering::Relaxed);
                // Dropped mid-state (a sibling branch failed, the execution timed out): say so.
                let aborted = matches!(
                    st,
                    StateType::Task | StateType::Wait | StateType::Parallel | StateType::Map
                )
                .then_some(EventKind::StateAborted { state_type: st });
                let guard = AbortGuard::new(self, entered, aborted, &addr);
                let f = self
                    .run_state(
                        Entered {
                            node,
                            id: entered,
                            addr: &addr,
                        },
                        input,
                        vars,
                        prev,
                        now,
                    )
                    .await;
                guard.disarm();
                let f = f?;
                let (next, outcome) = match f {
                    Flow::Next(n, o) => (Some(n), o),
                    Flow::End(o) => (None, o),
                };
                step::check_size(&outcome.output, self.ex.config.payload_limit, &node.name)?;
                let Outcome { output, assigned } = outcome;
                if st != StateType::Fail {
                    self.record(
                        prev,
                        || format!("{addr}:exited"),
                        || EventKind::StateExited {
                            state_type: st,
                            name: node.name.clone(),
                            output: output.clone(),
                            assigned: assigned.clone(),
                        },
                    );
                }
                if let Some(j) = &self.journal {
                    j.record(JournalRecord::Exited {
                        addr: addr.clone(),
                        output: output.clone(),
                        assigned: assigned.clone(),
                        next: next.map(|n| n.0),
                    });
                }
                vars.assign(assigned);
                match next {
                    Some(n) => {
                        id = n;
                        input = output;
                    }
                    None => return Ok(output),
                }
            }
        })
    }

    async fn run_state(
        &self,
        at: Entered<'_>,
        input: Value,
        vars: &mut Vars,
        prev: &mut u64,
        now: DateTime<Utc>,
    ) -> Result<Flow, Halt> {
        let (node, entered, addr) = (at.node, at.id, at.addr);
        let name = node.name.as_str();
        let fault = |f: Fault| self.halt(f, name, entered);
        let ctx = ContextObject::new(&self.info, name, now);
        match &node.kind {
            State::Pass(p) => Ok(flow(p.next, step::pass(p, input, &ctx, vars).map_err(fault)?)),
            State::Choice(c) => {
                let (next, o) = step::choice(c, input, &ctx, vars).map_err(fault)?;
                Ok(Flow::Next(next, o))
            }
            State::Wait(w) => {
                let (until, o) = step::wait(w, input, now, &ctx, vars).map_err(fault)?;
                let until = self.arm_timer(addr, until).await?;
                self.sleep_until(until).await?;
                Ok(flow(w.next, o))
            }
            State::Succeed(s) => Ok(Flow::End(Outcome {
                output: step::succeed(s, input, &ctx, vars).map_err(fault)?,
                assigned: Vec::new(),
            })),
            State::Fail(f) => {
                let (error, cause) = step::fail(f, &input, &ctx, vars).map_err(fault)?;
                Err(Halt::Failed(AslError {
                    name: ErrorName::from_raised(error.as_deref().unwrap_or("")),
                    cause,
                }))
            }
            State::Task(t) => {
                self.with_recovery(
                    Entered {
                        node,
                        id: entered,
                        addr,
                    },
                    Work::Task(t),
                    input,
                    vars,
                    prev,
                    now,
                )
                .await
            }
            State::Parallel(p) => {
                self.with_recovery(
                    Entered {
                        node,
                        id: entered,
                        addr,
                    },
                    Work::Parallel(p),
                    input,
                    vars,
                    prev,
                    now,
                )
                .await
            }
            State::Map(m) => {
                self.with_recovery(
                    Entered {
                        node,
                        id: entered,
                        addr,
                    },
                    Work::Map(m),
                    input,
                    vars,
                    prev,
                    now,
                )
                .await
            }
        }
    }

    /// Runs `attempt` until it succeeds, a retrier gives up, or a catcher takes the error.
    /// Runs the state's work until it succeeds, a retrier gives up, or a catcher takes the error.
    async fn with_recovery(
        &self,
        at: Entered<'_>,
        work: Work<'_>,
        input: Value,
        vars: &mut Vars,
        prev: &mut u64,
        now: DateTime<Utc>,
    ) -> Result<Flow, Halt> {
        let (node, entered, addr) = (at.node, at.id, at.addr);
        let (retry, catch, next) = work.recovery();
        let mut counters = vec![0u64; retry.len()];
        let mut retry_count = 0u32;
        loop {
            let ctx = ContextObject::new(&self.info, &node.name, now).with_retry_count(retry_count);
            let attempt = match work {
                Work::Task(t) => self.task_attempt(at, t, &ctx, &input, vars, prev).await,
                Work::Parallel(p) => self.parallel_attempt(at, p, &ctx, &input, vars, prev).await,
                Work::Map(m) => self.map_attempt(at, m, &ctx, &input, vars, prev).await,
            };
            let err = match attempt {
                Ok(o) => return Ok(flow(next, o)),
                Err(Halt::TimedOut) => return Err(Halt::TimedOut),
                Err(Halt::Failed(e)) => e,
            };
            match recovery::recover(retry, &mut counters, catch, &err, |d| rand::rng().random_range(0.0..=d)) {
                Recovery::Retry(delay) => {
                    let until = self.clock().now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    let until = self.arm_timer(&format!("{addr}~r{retry_count}"), until).await?;
                    self.sleep_until(until).await?;
                    retry_count += 1;
                }
                Recovery::Catch(i) => {
                    let c = &catch[i];
                    let o = recovery::catch_output(c, input, &err, &ctx, vars)
                        .map_err(|f| self.halt(f, &node.name, entered))?;
                    return Ok(Flow::Next(c.next, o));
                }
                Recovery::Fail => return Err(Halt::Failed(err)),
            }
        }
    }

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

    async fn task_attempt(
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
