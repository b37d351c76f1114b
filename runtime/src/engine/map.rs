//! Map states: iterations run concurrently within one execution (Inline), or each item as a
//! child execution of a Map Run (Distributed) whose items may come from a bucket (`reader.rs`,
//! streamed) and whose results may go to one (`writer.rs`). Items flow through ItemSelector
//! and ItemBatcher into at most MaxConcurrency iterations at once; failures are counted
//! against the tolerated thresholds as they come.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use serde_json::Value;

use super::ata;
use super::children::{NAMES, batched};
use super::driver::{DISTRIBUTED_MAP_CONCURRENCY, Halt, INLINE_MAP_CONCURRENCY, Run};
use super::error::AslError;
use super::history::EventKind;
use super::items::{self, Batcher};
use super::map_runs::{LiveLimits, MapRunObserver, MapRunStart, MapRunStatus};
use super::reader;
use super::scope::{AbortGuard, Entered};
use super::step::{self, Fault, Outcome};
use super::writer::{self, ChildRecord, Export};
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::path::{ContextObject, Vars};

/// How one item's iteration ended.
enum Ran {
    /// With a child's record and its item count (Distributed).
    Done(Value, Option<(ChildRecord, u64)>),
    /// Failed, where failures are tolerated (counted, not failing the Map at once).
    Failed(AslError, Option<(ChildRecord, u64)>),
    /// Not started: the Map had already stopped (its input goes to the PENDING results).
    Pending(Value),
}

/// The Map's limits, evaluated once per attempt.
#[derive(Clone, Copy)]
struct Limits {
    concurrency: usize,
    /// The most iterations or children that may run at once.
    concurrency_cap: usize,
    tolerated_count: Option<u64>,
    tolerated_pct: Option<f64>,
}

impl Limits {
    fn tolerant(&self) -> bool {
        self.tolerated_count.is_some() || self.tolerated_pct.is_some()
    }

    /// Whether `failures` of `total` children exceed what is tolerated (`total`: when known).
    fn exceeded(&self, failures: u64, total: Option<u64>) -> bool {
        let over_count = self.tolerated_count.is_some_and(|c| failures > c);
        let over_pct = match (self.tolerated_pct, total) {
            (Some(p), Some(t)) if t > 0 => failures as f64 * 100.0 / t as f64 > p,
            _ => false,
        };
        over_count || over_pct
    }
}

impl Run<'_> {
    /// A Map state failed: `MapRunFailed` (a Distributed Map's run, when it failed with an error)
    /// then `MapStateFailed`.
    fn map_failed(&self, prev: &mut u64, addr: &str, attempt: u32, map_run: bool, error: Option<&AslError>) {
        if let (true, Some(e)) = (map_run, error) {
            self.record(
                prev,
                || format!("{addr}#{attempt}:run-ended"),
                || EventKind::MapRunFailed {
                    error: Some(e.name.to_string()),
                    cause: e.cause.clone(),
                },
            );
        }
        self.record(prev, || format!("{addr}#{attempt}:ended"), || EventKind::MapStateFailed);
    }

    fn limits(&self, m: &MapState, effective: &Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Limits, Fault> {
        let max = items::map_count(&m.max_concurrency, "MaxConcurrency", effective, ctx, vars)?;
        let tolerated_count = items::map_count(
            &m.tolerated_failure_count,
            "ToleratedFailureCount",
            effective,
            ctx,
            vars,
        )?;
        let tolerated_pct = items::map_percentage(&m.tolerated_failure_percentage, effective, ctx, vars)?;
        let cap = match m.mode {
            MapMode::Inline => INLINE_MAP_CONCURRENCY,
            MapMode::Distributed => DISTRIBUTED_MAP_CONCURRENCY,
        };
        Ok(Limits {
            concurrency: match max {
                None | Some(0) => cap,
                Some(n) => (n as usize).min(cap),
            },
            concurrency_cap: cap,
            tolerated_count,
            tolerated_pct,
        })
    }

    /// The Map's children inputs: from the state's input (every one built before any runs,
    /// so a bad item fails the Map first), or from a bucket (read as they are taken). Also
    /// how many items there are, and how many children when that is known.
    #[allow(clippy::too_many_arguments)]
    async fn map_inputs<'a>(
        &'a self,
        m: &'a MapState,
        name: &'a str,
        input: &'a Value,
        effective: &'a Value,
        ctx: &ContextObject<'_>,
        vars: &'a Vars,
        entered: u64,
    ) -> Result<(usize, Option<u64>, BoxStream<'a, Result<Value, Halt>>), Halt> {
        let fault = |f: Fault| self.halt(f, name, entered);
        let Some(r) = &m.item_reader else {
            let list = items::map_items(m, effective, ctx, vars).map_err(fault)?;
            let mut inputs = Vec::with_capacity(list.len());
            for (i, item) in list.into_iter().enumerate() {
                inputs.push(self.select_item(m, name, input, effective, ctx, vars, i, item, entered)?);
            }
            let inputs = match &m.item_batcher {
                Some(b) => items::batch_items(b, inputs, effective, ctx, vars).map_err(fault)?,
                None => inputs,
            };
            let n = inputs.len();
            return Ok((n, Some(n as u64), stream::iter(inputs.into_iter().map(Ok)).boxed()));
        };
        let Some(buckets) = self.ex.buckets.clone() else {
            return Err(Halt::Failed(AslError::new(
                ErrorName::ItemReaderFailed,
                format!(
                    "{} reads from a bucket, and no buckets are configured: start wasmstep with --buckets DIR (bucket B is the folder DIR/B)",
                    r.resource
                ),
            )));
        };
        let plan = Arc::new(reader::plan(r, effective, ctx, vars).map_err(fault)?);
        let total = reader::count(plan.clone(), buckets.clone()).await? as usize;
        let entered_time = ctx.entered_time;
        let selected = reader::stream(plan, buckets).enumerate().map(move |(i, item)| {
            let item = item.map_err(Halt::Failed)?;
            let ctx = ContextObject::new(&self.info, name, entered_time);
            self.select_item(m, name, input, effective, &ctx, vars, i, item, entered)
        });
        let inputs: BoxStream<'a, Result<Value, Halt>> = match &m.item_batcher {
            None => selected.boxed(),
            Some(b) => {
                let batcher = Batcher::new(b, effective, ctx, vars).map_err(fault)?;
                batched(selected, batcher).boxed()
            }
        };
        let children = m.item_batcher.is_none().then_some(total as u64);
        Ok((total, children, inputs))
    }

    /// One item's input: the item, or what ItemSelector makes of it (`$$.Map.Item` in scope).
    #[allow(clippy::too_many_arguments)]
    fn select_item(
        &self,
        m: &MapState,
        name: &str,
        input: &Value,
        effective: &Value,
        ctx: &ContextObject<'_>,
        vars: &Vars,
        index: usize,
        item: Value,
        entered: u64,
    ) -> Result<Value, Halt> {
        let Some(selector) = &m.item_selector else {
            return Ok(item);
        };
        let item_ctx = ContextObject::new(&self.info, name, ctx.entered_time).with_map_item(index, &item);
        match selector {
            Payload::Path(t) => step::eval_template(t, effective, &item_ctx, vars),
            Payload::Ata(a) => ata::eval(a, "ItemSelector", &ata::States::new(input, &item_ctx), vars),
        }
        .map_err(|f| self.halt(f, name, entered))
    }

    pub(super) async fn map_attempt(
        &self,
        at: Entered<'_>,
        m: &MapState,
        ctx: &ContextObject<'_>,
        input: &Value,
        vars: &Vars,
        prev: &mut u64,
    ) -> Result<Outcome, Halt> {
        let (node, entered) = (at.node, at.id);
        let attempt = ctx.retry_count.unwrap_or(0);
        let name = node.name.as_str();
        let fault = |f: Fault| self.halt(f, name, entered);
        let effective = step::select(&m.io.input_path, input, ctx, vars).map_err(fault)?;
        let (total, children, inputs) = self.map_inputs(m, name, input, &effective, ctx, vars, entered).await?;
        let limits = self.limits(m, &effective, ctx, vars).map_err(fault)?;
        let destination = match &m.result_writer {
            Some(w) => writer::destination(w, &effective, ctx, vars).map_err(fault)?,
            None => None,
        };
        let distributed = m.mode == MapMode::Distributed;
        let label = m.label.as_deref().unwrap_or(name);
        let run_key = format!("{}#{attempt}", at.addr);
        let arn = distributed.then(|| {
            let id = uuid::Uuid::new_v5(&NAMES, format!("{}{run_key}", self.info.id).as_bytes());
            format!(
                "arn:aws:states:{}:{}:mapRun:{}/{label}:{id}",
                super::REGION,
                super::ACCOUNT,
                self.info.state_machine_name,
            )
        });
        let mut export = match (&destination, &arn, &self.ex.buckets) {
            (Some(to), Some(arn), Some(b)) => Some(Export::new(b.clone(), to.clone(), arn).map_err(Halt::Failed)?),
            (Some(_), _, None) => {
                return Err(Halt::Failed(AslError::new(
                    ErrorName::ResultWriterFailed,
                    "The ResultWriter writes to a bucket, and no buckets are configured: start wasmstep with --buckets DIR",
                )));
            }
            _ => None,
        };
        let started = self.record(
            prev,
            || format!("{}#{attempt}:started", at.addr),
            || EventKind::MapStateStarted { length: total },
        );
        // A Distributed Map's run: named from its place, reported to the observer, its limits
        // live (UpdateMapRun), aborted with the state.
        let map_run = if let Some(arn) = arn {
            let state_machine_arn = format!("{}/{label}", self.info.state_machine_id);
            let live = self.ex.map_runs.started(&MapRunStart {
                arn: &arn,
                execution_arn: &self.info.id,
                state_machine_arn: &state_machine_arn,
                max_concurrency: m.max_concurrency.as_ref().map_or(0, |_| limits.concurrency as u64),
                tolerated_count: limits.tolerated_count,
                tolerated_pct: limits.tolerated_pct,
                items: total as u64,
                children,
                redrive_count: self.info.redrive_count,
                express: m.express_children,
            });
            let started_key = format!("{run_key}:run-started");
            if self.info.redrive_count > 0 && self.history.recorded_in_any_run(&started_key) {
                let redrive_count = self.info.redrive_count;
                self.record(
                    prev,
                    || format!("{run_key}:run-redriven"),
                    || EventKind::MapRunRedriven {
                        map_run_arn: arn.clone(),
                        redrive_count,
                    },
                );
            } else {
                self.record(
                    prev,
                    || started_key,
                    || EventKind::MapRunStarted {
                        map_run_arn: arn.clone(),
                    },
                );
            }
            let aborted = AbortGuard::new(self, *prev, Some(EventKind::MapRunAborted), &format!("{run_key}:run"));
            Some(MapRun {
                ending: Ending {
                    observer: &*self.ex.map_runs,
                    arn: arn.clone(),
                    done: false,
                },
                arn,
                live,
                aborted: Some(aborted),
            })
        } else {
            None
        };
        let transformation = m.result_writer.as_ref().and_then(|w| w.transformation);
        // Children keep a record of how they ran where the results or the observer need one.
        let keep_records = distributed;
        let cap = limits.concurrency_cap;
        let mut granted = match &map_run {
            Some(r) => concurrency(r.live.max_concurrency(), cap),
            None => limits.concurrency,
        };
        let permits = tokio::sync::Semaphore::new(granted);
        let permits = &permits;
        let mut owed = 0usize;
        let tolerant = limits.tolerant();
        let stopped = AtomicBool::new(false);
        let stopped = &stopped;
        let run_arn = map_run.as_ref().map(|r| r.arn.as_str());
        let observer = &*self.ex.map_runs;
        let iterations = inputs.enumerate().map(|(index, item)| {
            let prefix = format!("{}#{attempt}i{index}", at.addr);
            async move {
                let item = item?;
                // Waits for a place among those running (MaxConcurrency, or UpdateMapRun's).
                let _permit = permits.acquire().await.ok();
                if stopped.load(Ordering::Relaxed) {
                    return Ok(Ran::Pending(item));
                }
                let (r, record) = match run_arn {
                    Some(arn) => {
                        let items = child_items(&item, m.item_batcher.is_some());
                        observer.child_started(arn, items);
                        let (r, record) = self.child_execution(m, label, item, &prefix, keep_records).await;
                        (r, record.map(|rec| (rec, items)))
                    }
                    None => (self.iteration(m, name, index, item, vars, started, &prefix).await, None),
                };
                match r {
                    Ok(v) => Ok(Ran::Done(v, record)),
                    // With a tolerance (or a Map Run, whose tolerance UpdateMapRun may raise),
                    // failed items are counted instead of failing the Map at once.
                    Err(Halt::Failed(e)) if tolerant || run_arn.is_some() => Ok(Ran::Failed(e, record)),
                    Err(h) => {
                        if let (Some(arn), Some((rec, items))) = (run_arn, &record) {
                            observer.child_ended(arn, *items, rec, false);
                        }
                        Err(h)
                    }
                }
            }
        });
        let mut results = Vec::new();
        let mut failures = 0u64;
        let mut ran = 0u64;
        let mut over = false;
        // Iterations still running when this block ends (a failure) are dropped with it.
        let ended = {
            let mut iterations = std::pin::pin!(iterations.buffered(cap));
            loop {
                // UpdateMapRun: places are added at once, or taken back as they come free.
                if let Some(r) = &map_run {
                    let want = concurrency(r.live.max_concurrency(), cap);
                    if want > granted {
                        permits.add_permits(want - granted);
                    } else {
                        owed += granted - want;
                    }
                    granted = want;
                    owed -= permits.forget_permits(owed);
                }
                let next = match &map_run {
                    Some(r) => tokio::select! {
                        next = iterations.next() => next,
                        () = r.live.changed.notified() => continue,
                    },
                    None => iterations.next().await,
                };
                let Some(next) = next else {
                    break Ok(());
                };
                let (ok, record, failure) = match next {
                    Err(h) => break Err(h),
                    Ok(Ran::Pending(item)) => {
                        if let Some(x) = &mut export
                            && let Err(e) = x.pending(&item)
                        {
                            break Err(Halt::Failed(e));
                        }
                        continue;
                    }
                    Ok(Ran::Done(v, record)) => (Some(v), record, None),
                    Ok(Ran::Failed(e, record)) => (None, record, Some(e)),
                };
                ran += 1;
                let written = match (&mut export, &record) {
                    (Some(x), Some((r, _))) => x.child(r).map(|()| true),
                    (_, Some((r, _))) => {
                        results.push(writer::shaped(transformation, r));
                        Ok(false)
                    }
                    (_, None) => {
                        results.push(match (&ok, &failure) {
                            (Some(v), _) => v.clone(),
                            (_, Some(e)) => e.output(),
                            _ => Value::Null,
                        });
                        Ok(false)
                    }
                };
                if let (Some(arn), Some((r, items))) = (run_arn, &record) {
                    observer.child_ended(arn, *items, r, written.as_ref().is_ok_and(|w| *w));
                }
                if let Err(e) = written {
                    break Err(Halt::Failed(e));
                }
                if let Some(e) = failure {
                    failures += 1;
                    let live = match &map_run {
                        Some(r) => Limits {
                            tolerated_count: r.live.tolerated_count(),
                            tolerated_pct: r.live.tolerated_pct(),
                            ..limits
                        },
                        None => limits,
                    };
                    // No tolerance at all: the first failure fails the Map, with its own error.
                    if !live.tolerant() {
                        break Err(Halt::Failed(e));
                    }
                    if !over && live.exceeded(failures, children) {
                        over = true;
                        stopped.store(true, Ordering::Relaxed);
                        // Nothing left to write: the Map stops now.
                        if export.is_none() {
                            break Ok(());
                        }
                        // Every place is given back so the items left are seen (as PENDING).
                        permits.add_permits(cap);
                    }
                }
            }
        };
        // A percentage known only at the end (batches from a bucket): of the children that ran.
        if ended.is_ok() && !over && children.is_none() {
            let tolerated_pct = map_run
                .as_ref()
                .map_or(limits.tolerated_pct, |r| r.live.tolerated_pct());
            over = Limits {
                tolerated_pct,
                ..limits
            }
            .exceeded(failures, Some(ran));
        }
        let output = match (ended, export) {
            (Err(h), _) => Err(h),
            (Ok(()), Some(x)) => x.finish().map_err(Halt::Failed),
            (Ok(()), None) => Ok(Value::Array(if transformation == Some(WriterTransformation::Flatten) {
                writer::flatten(results)
            } else {
                results
            })),
        };
        let output = match output {
            Ok(_) if over => Err(Halt::Failed(AslError::new(
                ErrorName::ExceedToleratedFailureThreshold,
                "The specified tolerated failure threshold was exceeded",
            ))),
            other => other,
        };
        let output = match output {
            Ok(o) => o,
            Err(h) => {
                let failed = match &h {
                    Halt::Failed(e) => Some(e),
                    Halt::TimedOut => None,
                };
                if let Some(r) = map_run {
                    r.end(MapRunStatus::Failed);
                }
                self.map_failed(prev, at.addr, attempt, distributed, failed);
                return Err(h);
            }
        };
        if let Some(r) = map_run {
            r.end(MapRunStatus::Succeeded);
            self.record(prev, || format!("{run_key}:run-ended"), || EventKind::MapRunSucceeded);
        }
        self.record(
            prev,
            || format!("{}#{attempt}:ended", at.addr),
            || EventKind::MapStateSucceeded,
        );
        step::finish(&m.io, input.clone(), output, ctx, vars).map_err(fault)
    }
}

/// Places for children: as many as asked (0: as many as allowed), at most `cap`.
fn concurrency(max: u64, cap: usize) -> usize {
    match max {
        0 => cap,
        n => (n as usize).min(cap),
    }
}

/// The items a child processes: a batch's, or one.
fn child_items(input: &Value, batched: bool) -> u64 {
    match input.get("Items") {
        Some(Value::Array(items)) if batched => items.len() as u64,
        _ => 1,
    }
}

/// Tells the observer a run was aborted, unless it ended first.
struct Ending<'o> {
    observer: &'o dyn MapRunObserver,
    arn: String,
    done: bool,
}

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.observer.ended(&self.arn, MapRunStatus::Aborted);
        }
    }
}

/// A Distributed Map's run while it runs.
struct MapRun<'r, 'e> {
    arn: String,
    live: Arc<LiveLimits>,
    /// Records MapRunAborted if the Map is dropped before the run ends.
    aborted: Option<AbortGuard<'r, 'e>>,
    ending: Ending<'r>,
}

impl MapRun<'_, '_> {
    fn end(mut self, status: MapRunStatus) {
        if let Some(a) = self.aborted.take() {
            a.disarm();
        }
        self.ending.done = true;
        self.ending.observer.ended(&self.arn, status);
    }
}
