//! Retry and Catch: which retrier or catcher handles an error, and what a catcher outputs.

use std::time::Duration;

use serde_json::Value;

use super::ata::{self, States};
use super::error::AslError;
use super::step::{Fault, Outcome, apply_result_path, eval_assign};
use crate::asl::ErrorName;
use crate::asl::model::*;

use crate::path::{ContextObject, Vars};

/// What to do about an error raised by a Task, Parallel or Map state.
#[derive(Debug, PartialEq)]
pub enum Recovery {
    Retry(Duration),
    Catch(usize),
    Fail,
}

/// First matching retrier decides; an exhausted one does not fall through to later ones.
pub fn recover(
    retriers: &[Retrier],
    counters: &mut [u64],
    catchers: &[Catcher],
    err: &AslError,
    jitter: impl FnOnce(f64) -> f64,
) -> Recovery {
    let matches = |list: &[ErrorName]| list.iter().any(|m| m.matches(&err.name));
    if let Some(i) = retriers.iter().position(|r| matches(&r.error_equals)) {
        let r = &retriers[i];
        if counters[i] < r.max_attempts {
            counters[i] += 1;
            let mut d = r.interval_seconds as f64 * r.backoff_rate.powi((counters[i] - 1).min(i32::MAX as u64) as i32);
            if let Some(max) = r.max_delay_seconds {
                d = d.min(max as f64);
            }
            if r.jitter == Jitter::Full {
                d = jitter(d);
            }
            return Recovery::Retry(Duration::from_secs_f64(d.clamp(0.0, 1.0e9)));
        }
    }
    match catchers.iter().position(|c| matches(&c.error_equals)) {
        Some(i) => Recovery::Catch(i),
        None => Recovery::Fail,
    }
}

/// The output of a Catcher: the Error Output placed by its ResultPath, and its Assign.
pub fn catch_output(
    c: &Catcher,
    input: Value,
    err: &AslError,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Outcome, Fault> {
    let error_output = err.output();
    // A JSONata catcher: Output (default: the Error Output) and Assign see $states.errorOutput.
    // Without either field both languages give the Error Output, so that case falls through.
    let jsonata = c.output.is_some() || matches!(c.assign, Some(Assign::Ata(_)));
    if jsonata {
        let states = States::new(&input, ctx).with_error_output(&error_output);
        let assigned = ata::assign(&c.assign, &states, vars)?;
        let output = c
            .output
            .as_ref()
            .map(|a| ata::eval(a, "Output", &states, vars))
            .transpose()?;
        return Ok(Outcome {
            output: output.unwrap_or(error_output),
            assigned,
        });
    }
    let assigned = eval_assign(&c.assign, &error_output, ctx, vars)?;
    let output = apply_result_path(&c.result_path, input, error_output)?;
    Ok(Outcome { output, assigned })
}
