//! Parallel states: branches run concurrently within one execution (Map states: `map.rs`).

use futures::future::try_join_all;
use serde_json::Value;

use super::driver::{Halt, Run};
use super::history::EventKind;
use super::scope::Entered;
use super::step::{self, Fault, Outcome};
use crate::asl::model::*;
use crate::path::{ContextObject, Vars};

impl Run<'_> {
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
}
