//! Walking one scope's states (the top level, a Parallel branch, a Map iteration): enter a
//! state, run it, record its events, move to the next; Retry and Catch around the states that
//! do work (Task, Parallel, Map).

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use rand::RngExt;
use serde_json::Value;

use super::driver::{Halt, Run};
use super::error::AslError;
use super::history::EventKind;
use super::recovery::{self, Recovery};
use super::step::{self, Fault, Outcome};
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::path::{ContextObject, Vars};
use crate::store::JournalRecord;

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

impl<'e> Run<'e> {
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
                if self.history.exhausted() {
                    return Err(Halt::Failed(AslError::new(
                        ErrorName::Runtime,
                        format!(
                            "The execution reached the limit of {} events in its history",
                            self.ex.config.history_limit.unwrap_or_default()
                        ),
                    )));
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
}
