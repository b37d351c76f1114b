//! What a Map runs per item: an Inline iteration (its events in the parent's history) or a
//! Distributed Map's child execution (its own context, no access to the parent's variables,
//! named from its place so a resumed or redriven execution names it the same), and the batching
//! of a streamed dataset's items.

use std::sync::Arc;

use futures::stream;
use futures::{Stream, StreamExt};
use serde_json::Value;

use super::driver::{Halt, Run};
use super::error::AslError;
use super::history::{EventKind, History};
use super::items::Batcher;
use super::scope::AbortGuard;
use super::writer::ChildRecord;
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::path::Vars;
use crate::path::context::{ExecutionInfo, iso};

/// Names Map Runs and child executions from their place in the execution.
pub(super) const NAMES: uuid::Uuid = uuid::Uuid::from_u128(0x7761_736d_7374_6570_6d61_7072_756e_7321);

impl Run<'_> {
    /// One Inline Map iteration, with its events.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn iteration(
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
    pub(super) async fn child_execution(
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
            // A child runs again when its parent is redriven: it is redriven with it.
            redrive_count: self.info.redrive_count,
            redrive_time: self.info.redrive_time.clone(),
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
pub(super) fn batched<'a>(
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
