//! Parallel and Map states: branches and iterations run concurrently within one execution,
//! and Distributed Map items run as child executions.

use std::sync::Arc;

use futures::future::try_join_all;
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

use super::ata;
use super::driver::{DISTRIBUTED_MAP_CONCURRENCY, Halt, INLINE_MAP_CONCURRENCY, Run};
use super::error::AslError;
use super::history::{EventKind, History};
use super::items;
use super::scope::{AbortGuard, Entered};
use super::step::{self, Fault, Outcome};
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::path::context::ExecutionInfo;
use crate::path::context::iso;
use crate::path::{ContextObject, Vars};

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

    pub(super) async fn parallel_attempt(
        &self,
        at: Entered<'_>,
        p: &Parallel,
        ctx: &ContextObject<'_>,
        input: &Value,
        vars: &Vars,
        prev: &mut u64,
    ) -> Result<Outcome, Halt> {
        let (node, entered) = (at.node, at.id);
        let attempt = ctx.retry_count.unwrap_or(0);
        let fault = |f: Fault| self.halt(f, &node.name, entered);
        let effective = step::effective_input(&p.io, input, ctx, vars).map_err(fault)?;
        let started = self.record(
            prev,
            || format!("{}#{attempt}:started", at.addr),
            || EventKind::ParallelStateStarted,
        );
        let branches = p.branches.iter().enumerate().map(|(i, b)| {
            let effective = effective.clone();
            let mut branch_vars = vars.child();
            let prefix = format!("{}#{attempt}b{i}", at.addr);
            async move {
                let mut bprev = started;
                self.run_scope(b.start, effective, &mut branch_vars, &mut bprev, &prefix)
                    .await
            }
        });
        match try_join_all(branches).await {
            Ok(results) => {
                self.record(
                    prev,
                    || format!("{}#{attempt}:ended", at.addr),
                    || EventKind::ParallelStateSucceeded,
                );
                step::finish(&p.io, input.clone(), Value::Array(results), ctx, vars).map_err(fault)
            }
            Err(h) => {
                self.record(
                    prev,
                    || format!("{}#{attempt}:ended", at.addr),
                    || EventKind::ParallelStateFailed,
                );
                Err(h)
            }
        }
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
        // No item source or result sink is wired up yet: say so rather than ignore the field.
        if let Some(resource) = &m.item_reader {
            return Err(Halt::Failed(AslError::new(
                ErrorName::ItemReaderFailed,
                format!("wasmstep has no ItemReader for '{resource}' yet; pass the items in the state input instead"),
            )));
        }
        if let Some(resource) = &m.result_writer {
            return Err(Halt::Failed(AslError::new(
                ErrorName::ResultWriterFailed,
                format!(
                    "wasmstep has no ResultWriter for '{resource}' yet; the Map result is returned as the state output instead"
                ),
            )));
        }
        let items = items::map_items(m, &effective, ctx, vars).map_err(fault)?;
        let max = items::map_count(&m.max_concurrency, "MaxConcurrency", &effective, ctx, vars).map_err(fault)?;
        let tolerated_count = items::map_count(
            &m.tolerated_failure_count,
            "ToleratedFailureCount",
            &effective,
            ctx,
            vars,
        )
        .map_err(fault)?;
        let tolerated_pct =
            items::map_percentage(&m.tolerated_failure_percentage, &effective, ctx, vars).map_err(fault)?;
        let cap = match m.mode {
            MapMode::Inline => INLINE_MAP_CONCURRENCY,
            MapMode::Distributed => DISTRIBUTED_MAP_CONCURRENCY,
        };
        let concurrency = match max {
            None | Some(0) => cap,
            Some(n) => (n as usize).min(cap),
        };
        // Each item's input, built before any iteration runs (ItemSelector sees the item in $$.Map.Item).
        let mut inputs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            inputs.push(match &m.item_selector {
                None => item.clone(),
                Some(selector) => {
                    let item_ctx = ContextObject::new(&self.info, name, ctx.entered_time).with_map_item(i, item);
                    match selector {
                        Payload::Path(t) => step::eval_template(t, &effective, &item_ctx, vars),
                        Payload::Ata(a) => ata::eval(a, "ItemSelector", &ata::States::new(input, &item_ctx), vars),
                    }
                    .map_err(fault)?
                }
            });
        }
        drop(items);
        let inputs = match &m.item_batcher {
            Some(b) => items::batch_items(b, inputs, &effective, ctx, vars).map_err(fault)?,
            None => inputs,
        };
        let started = self.record(
            prev,
            || format!("{}#{attempt}:started", at.addr),
            || EventKind::MapStateStarted { length: inputs.len() },
        );
        let total = inputs.len();
        let tolerant = tolerated_count.is_some() || tolerated_pct.is_some();
        let distributed = m.mode == MapMode::Distributed;
        let label = m.label.as_deref().unwrap_or(name);
        let map_run_arn = distributed.then(|| {
            format!(
                "arn:aws:states:{}:{}:mapRun:{}/{label}:{}",
                super::REGION,
                super::ACCOUNT,
                self.info.state_machine_name,
                uuid::Uuid::new_v4()
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
        let iterations = stream::iter(inputs.into_iter().enumerate()).map(|(index, item)| {
            let mut item_vars = if distributed { Vars::default() } else { vars.child() };
            let prefix = format!("{}#{attempt}i{index}", at.addr);
            async move {
                let r = if distributed {
                    self.child_execution(m, label, item, &mut item_vars, &prefix).await
                } else {
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
                        &prefix,
                    );
                    let r = self
                        .run_scope(m.processor.start, item, &mut item_vars, &mut iprev, &prefix)
                        .await;
                    guard.disarm();
                    match &r {
                        Ok(_) => self.record(
                            &mut iprev,
                            || format!("{prefix}:ended"),
                            || EventKind::MapIterationSucceeded {
                                name: name.to_string(),
                                index,
                            },
                        ),
                        Err(_) => self.record(
                            &mut iprev,
                            || format!("{prefix}:ended"),
                            || EventKind::MapIterationFailed {
                                name: name.to_string(),
                                index,
                            },
                        ),
                    };
                    r
                };
                match r {
                    Ok(v) => Ok(Ok(v)),
                    // With a tolerance, failed items are counted instead of failing the Map.
                    Err(Halt::Failed(e)) if tolerant => Ok(Err(e)),
                    Err(h) => Err(h),
                }
            }
        });
        let outcomes: Result<Vec<Result<Value, AslError>>, Halt> = iterations.buffered(concurrency).try_collect().await;
        let outcomes = match outcomes {
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
        let failures = outcomes.iter().filter(|o| o.is_err()).count();
        let over_count = tolerated_count.is_some_and(|c| failures as u64 > c);
        let over_pct = tolerated_pct.is_some_and(|p| total > 0 && (failures as f64 * 100.0 / total as f64) > p);
        if over_count || over_pct {
            let e = AslError::new(
                ErrorName::ExceedToleratedFailureThreshold,
                "The specified tolerated failure threshold was exceeded",
            );
            self.map_failed(prev, at.addr, attempt, map_run_arn.is_some(), Some(&e));
            return Err(Halt::Failed(e));
        }
        let results: Vec<Value> = outcomes.into_iter().map(|o| o.unwrap_or_else(|e| e.output())).collect();
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
        step::finish(&m.io, input.clone(), Value::Array(results), ctx, vars).map_err(fault)
    }

    /// A Distributed Map item runs as a child execution: its own history and context, and no
    /// access to the parent's variables.
    async fn child_execution(
        &self,
        m: &MapState,
        label: &str,
        item: Value,
        vars: &mut Vars,
        prefix: &str,
    ) -> Result<Value, Halt> {
        let child_id = uuid::Uuid::new_v4().to_string();
        let sm = &self.info.state_machine_name;
        let info = ExecutionInfo {
            id: format!(
                "arn:aws:states:{}:{}:execution:{sm}/{label}:{child_id}",
                super::REGION,
                super::ACCOUNT
            ),
            name: child_id,
            input: Arc::new(item.clone()),
            start_time: iso(self.clock().now()),
            role_arn: self.info.role_arn.clone(),
            state_machine_id: format!("{}/{label}", self.info.state_machine_id),
            state_machine_name: self.info.state_machine_name.clone(),
            redrive_count: 0,
            redrive_time: None,
        };
        let child = Run {
            ex: self.ex,
            info,
            history: History::new(false),
            transitions: self.transitions,
            deadline: self.deadline,
            // Children journal into the parent's record, under their own addresses.
            journal: self.journal.clone(),
        };
        let mut prev = 0;
        child.run_scope(m.processor.start, item, vars, &mut prev, prefix).await
    }
}
