//! Map states: iterations run concurrently within one execution (Inline), or each item as a
//! child execution of a Map Run (Distributed) whose items may come from a bucket (`reader.rs`,
//! streamed) and whose results may go to one (`writer.rs`). Items flow through ItemSelector
//! and ItemBatcher into at most MaxConcurrency iterations at once; failures are counted
//! against the tolerated thresholds as they come.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use serde_json::Value;

use super::ata;
use super::driver::{DISTRIBUTED_MAP_CONCURRENCY, Halt, INLINE_MAP_CONCURRENCY, Run};
use super::error::AslError;
use super::history::{EventKind, History};
use super::items::{self, Batcher};
use super::reader;
use super::scope::{AbortGuard, Entered};
use super::step::{self, Fault, Outcome};
use super::writer::{self, ChildRecord, Export};
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::path::context::{ExecutionInfo, iso};
use crate::path::{ContextObject, Vars};

/// Names Map Runs and child executions from their place in the execution, so that a resumed
/// or redriven execution gives them the same names again.
const NAMES: uuid::Uuid = uuid::Uuid::from_u128(0x7761_736d_7374_6570_6d61_7072_756e_7321);

/// How one item's iteration ended.
enum Ran {
    Done(Value, Option<ChildRecord>),
    /// Failed, where failures are tolerated (counted, not failing the Map at once).
    Failed(AslError, Option<ChildRecord>),
    /// Not started: the Map had already stopped (its input goes to the PENDING results).
    Pending(Value),
}

/// The Map's limits, evaluated once per attempt.
struct Limits {
    concurrency: usize,
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
        let started = self.record(
            prev,
            || format!("{}#{attempt}:started", at.addr),
            || EventKind::MapStateStarted { length: total },
        );
        let distributed = m.mode == MapMode::Distributed;
        let label = m.label.as_deref().unwrap_or(name);
        let map_run_arn = distributed.then(|| {
            let id = uuid::Uuid::new_v5(&NAMES, format!("{}{}#{attempt}", self.info.id, at.addr).as_bytes());
            format!(
                "arn:aws:states:{}:{}:mapRun:{}/{label}:{id}",
                super::REGION,
                super::ACCOUNT,
                self.info.state_machine_name,
            )
        });
        if let Some(arn) = &map_run_arn {
            self.record(
                prev,
                || format!("{}#{attempt}:run-started", at.addr),
                || EventKind::MapRunStarted {
                    map_run_arn: arn.clone(),
                },
            );
        }
        let mut export = match (&destination, &map_run_arn, &self.ex.buckets) {
            (Some(to), Some(arn), Some(b)) => Some(Export::new(b.clone(), to.clone(), arn).map_err(Halt::Failed)?),
            (Some(_), _, None) => {
                return Err(Halt::Failed(AslError::new(
                    ErrorName::ResultWriterFailed,
                    "The ResultWriter writes to a bucket, and no buckets are configured: start wasmstep with --buckets DIR",
                )));
            }
            _ => None,
        };
        let transformation = m.result_writer.as_ref().and_then(|w| w.transformation);
        // Children keep a record of how they ran where the results need one.
        let keep_records = export.is_some() || transformation == Some(WriterTransformation::None);
        let tolerant = limits.tolerant();
        let stopped = AtomicBool::new(false);
        let stopped = &stopped;
        let iterations = inputs.enumerate().map(|(index, item)| {
            let prefix = format!("{}#{attempt}i{index}", at.addr);
            async move {
                let item = item?;
                if stopped.load(Ordering::Relaxed) {
                    return Ok(Ran::Pending(item));
                }
                let (r, record) = if distributed {
                    let (r, record) = self.child_execution(m, label, item, &prefix, keep_records).await;
                    (r, record)
                } else {
                    (self.iteration(m, name, index, item, vars, started, &prefix).await, None)
                };
                match r {
                    Ok(v) => Ok(Ran::Done(v, record)),
                    // With a tolerance, failed items are counted instead of failing the Map.
                    Err(Halt::Failed(e)) if tolerant => Ok(Ran::Failed(e, record)),
                    Err(h) => Err(h),
                }
            }
        });
        let mut results = Vec::new();
        let mut failures = 0u64;
        let mut ran = 0u64;
        let mut over = false;
        // Iterations still running when this block ends (a failure) are dropped with it.
        let ended = {
            let mut iterations = std::pin::pin!(iterations.buffered(limits.concurrency));
            loop {
                let Some(next) = iterations.next().await else {
                    break Ok(());
                };
                let written = match next {
                    Err(h) => break Err(h),
                    Ok(Ran::Pending(item)) => export.as_mut().map_or(Ok(()), |x| x.pending(&item)),
                    Ok(Ran::Done(v, record)) => {
                        ran += 1;
                        match (&mut export, record) {
                            (Some(x), Some(r)) => x.child(&r),
                            (_, Some(r)) => {
                                results.push(writer::shaped(transformation, &r));
                                Ok(())
                            }
                            _ => {
                                results.push(v);
                                Ok(())
                            }
                        }
                    }
                    Ok(Ran::Failed(e, record)) => {
                        ran += 1;
                        failures += 1;
                        let w = match (&mut export, record) {
                            (Some(x), Some(r)) => x.child(&r),
                            (_, Some(r)) => {
                                results.push(writer::shaped(transformation, &r));
                                Ok(())
                            }
                            _ => {
                                results.push(e.output());
                                Ok(())
                            }
                        };
                        if !over && limits.exceeded(failures, children) {
                            over = true;
                            stopped.store(true, Ordering::Relaxed);
                            if export.is_none() {
                                break Ok(());
                            }
                        }
                        w
                    }
                };
                if let Err(e) = written {
                    break Err(Halt::Failed(e));
                }
            }
        };
        // A percentage known only at the end (batches from a bucket): of the children that ran.
        if ended.is_ok() && !over && children.is_none() && limits.exceeded(failures, Some(ran)) {
            over = true;
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
                self.map_failed(prev, at.addr, attempt, map_run_arn.is_some(), failed);
                return Err(h);
            }
        };
        if map_run_arn.is_some() {
            self.record(
                prev,
                || format!("{}#{attempt}:run-ended", at.addr),
                || EventKind::MapRunSucceeded,
            );
        }
        self.record(
            prev,
            || format!("{}#{attempt}:ended", at.addr),
            || EventKind::MapStateSucceeded,
        );
        step::finish(&m.io, input.clone(), output, ctx, vars).map_err(fault)
    }

    /// One Inline Map iteration, with its events.
    #[allow(clippy::too_many_arguments)]
    async fn iteration(
        &self,
        m: &MapState,
        name: &str,
        index: usize,
        item: Value,
        vars: &Vars,
        started: u64,
        prefix: &str,
    ) -> Result<Value, Halt> {
        let mut item_vars = vars.child();
        let mut iprev = started;
        self.record(
            &mut iprev,
            || format!("{prefix}:started"),
            || EventKind::MapIterationStarted {
                name: name.to_string(),
                index,
            },
        );
        let guard = AbortGuard::new(
            self,
            iprev,
            self.history.keeps_events().then(|| EventKind::MapIterationAborted {
                name: name.to_string(),
                index,
            }),
            prefix,
        );
        let r = self
            .run_scope(m.processor.start, item, &mut item_vars, &mut iprev, prefix)
            .await;
        guard.disarm();
        let event = |ok: bool| {
            let name = name.to_string();
            move || match ok {
                true => EventKind::MapIterationSucceeded { name, index },
                false => EventKind::MapIterationFailed { name, index },
            }
        };
        self.record(&mut iprev, || format!("{prefix}:ended"), event(r.is_ok()));
        r
    }

    /// A Distributed Map item runs as a child execution: its own history and context, and no
    /// access to the parent's variables. With `keep`, also how it ran, for the results.
    async fn child_execution(
        &self,
        m: &MapState,
        label: &str,
        item: Value,
        prefix: &str,
        keep: bool,
    ) -> (Result<Value, Halt>, Option<ChildRecord>) {
        let child_id = uuid::Uuid::new_v5(&NAMES, format!("{}{prefix}", self.info.id).as_bytes()).to_string();
        let sm = &self.info.state_machine_name;
        let started = self.clock().now();
        let info = ExecutionInfo {
            id: format!(
                "arn:aws:states:{}:{}:execution:{sm}/{label}:{child_id}",
                super::REGION,
                super::ACCOUNT
            ),
            name: child_id,
            input: Arc::new(item.clone()),
            start_time: iso(started),
            role_arn: self.info.role_arn.clone(),
            state_machine_id: format!("{}/{label}", self.info.state_machine_id),
            state_machine_name: self.info.state_machine_name.clone(),
            redrive_count: 0,
            redrive_time: None,
        };
        let record = keep.then(|| (info.id.clone(), info.name.clone(), info.state_machine_id.clone()));
        let child = Run {
            ex: self.ex,
            info,
            history: History::new(false),
            transitions: self.transitions,
            deadline: self.deadline,
            // Children journal into the parent's record, under their own addresses.
            journal: self.journal.clone(),
        };
        let mut vars = Vars::default();
        let mut prev = 0;
        let r = child
            .run_scope(m.processor.start, item.clone(), &mut vars, &mut prev, prefix)
            .await;
        let record = record.map(|(arn, name, state_machine_arn)| ChildRecord {
            arn,
            name,
            state_machine_arn,
            input: item,
            started,
            stopped: self.clock().now(),
            outcome: match &r {
                Ok(v) => Ok(v.clone()),
                Err(Halt::Failed(e)) => Err(e.clone()),
                Err(Halt::TimedOut) => Err(AslError::new(ErrorName::Timeout, "The child execution timed out")),
            },
        });
        (r, record)
    }
}

/// Groups a stream of item inputs into batches as they come.
fn batched<'a>(
    inputs: impl Stream<Item = Result<Value, Halt>> + Send + 'a,
    batcher: Batcher,
) -> impl Stream<Item = Result<Value, Halt>> + Send + 'a {
    let inputs = Box::pin(inputs);
    stream::unfold(Some((inputs, batcher)), |state| async move {
        let (mut inputs, mut batcher) = state?;
        loop {
            match inputs.next().await {
                Some(Ok(item)) => {
                    if let Some(batch) = batcher.push(item) {
                        return Some((Ok(batch), Some((inputs, batcher))));
                    }
                }
                Some(Err(h)) => return Some((Err(h), None)),
                None => return batcher.finish().map(|b| (Ok(b), None)),
            }
        }
    })
}
