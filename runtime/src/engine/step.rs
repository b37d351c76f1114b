//! The pure, synchronous part of running a state: the JSONPath input/output pipeline, Choice,
//! Wait and Fail evaluation, Map item preparation, and Retry/Catch decisions. No I/O, no time
//! except what the caller passes in.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::choice::{evaluate, lookup};
use super::error::{AslError, ErrorName};
use crate::asl::model::*;
use crate::asl::states::parse_timestamp;
use crate::path::template::{Template, TemplateError};
use crate::path::{ContextObject, Env, Vars, json_size, to_json_text};

/// A state could not be processed.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// States.Runtime: the driver prefixes the state name and entered event id.
    Runtime(String),
    /// Any other ASL error, passed on as is.
    Error(AslError),
}

impl Fault {
    pub fn into_error(self, state: &str, entered_event: u64) -> AslError {
        match self {
            Fault::Runtime(msg) => AslError::new(
                ErrorName::Runtime,
                format!(
                    "An error occurred while executing the state '{state}' (entered at the event id #{entered_event}). {msg}"
                ),
            ),
            Fault::Error(e) => e,
        }
    }
}

impl From<AslError> for Fault {
    fn from(e: AslError) -> Self {
        Fault::Error(e)
    }
}

/// What a state produced: its output and the variables its Assign computed.
#[derive(Debug, Default)]
pub struct Outcome {
    pub output: Value,
    pub assigned: Vec<(String, Value)>,
}

fn template_fault(e: TemplateError, input: &Value) -> Fault {
    match &e {
        TemplateError::PathMiss { .. } => Fault::Runtime(e.message(input)),
        TemplateError::Intrinsic { .. } => Fault::Error(AslError::new(ErrorName::IntrinsicFailure, e.message(input))),
    }
}

pub fn eval_template(t: &Template, input: &Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Value, Fault> {
    let env = Env {
        input,
        context: ctx,
        vars,
    };
    t.eval(&env).map_err(|e| template_fault(e, input))
}

/// InputPath/OutputPath over a borrowed document.
pub fn select<'v>(
    sel: &Select,
    doc: &'v Value,
    ctx: &'v ContextObject<'v>,
    vars: &'v Vars,
) -> Result<Cow<'v, Value>, Fault> {
    match sel {
        Select::Whole => Ok(Cow::Borrowed(doc)),
        Select::Empty => Ok(Cow::Owned(Value::Object(Map::new()))),
        Select::Path(p) => {
            let env = Env {
                input: doc,
                context: ctx,
                vars,
            };
            lookup(p, &env).map_err(|miss| Fault::Runtime(p.miss_message(&miss)))
        }
    }
}

/// InputPath/OutputPath over an owned document (no clone for `$`).
pub fn select_owned(sel: &Select, doc: Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Value, Fault> {
    match sel {
        Select::Whole => Ok(doc),
        Select::Empty => Ok(Value::Object(Map::new())),
        Select::Path(p) => {
            let env = Env {
                input: &doc,
                context: ctx,
                vars,
            };
            p.value(&env).map_err(|miss| Fault::Runtime(p.miss_message(&miss)))
        }
    }
}

/// InputPath then Parameters: the effective input.
pub fn effective_input(io: &Io, input: &Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Value, Fault> {
    let selected = match &io.input_path {
        Select::Whole => Cow::Borrowed(input),
        Select::Empty => Cow::Owned(Value::Object(Map::new())),
        Select::Path(p) => {
            let env = Env {
                input,
                context: ctx,
                vars,
            };
            Cow::Owned(p.value(&env).map_err(|miss| Fault::Runtime(p.miss_message(&miss)))?)
        }
    };
    match &io.parameters {
        Some(t) => eval_template(t, &selected, ctx, vars),
        None => Ok(selected.into_owned()),
    }
}

/// Evaluates a JSONPath `Assign` with `$` bound to `input`.
pub fn eval_assign(
    assign: &Option<Template>,
    input: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Vec<(String, Value)>, Fault> {
    let Some(t) = assign else {
        return Ok(Vec::new());
    };
    match eval_template(t, input, ctx, vars)? {
        Value::Object(m) => Ok(m.into_iter().collect()),
        _ => Ok(Vec::new()),
    }
}

fn apply_result_path(rp: &ResultPath, input: Value, result: Value) -> Result<Value, Fault> {
    match rp {
        ResultPath::Replace => Ok(result),
        ResultPath::Discard => Ok(input),
        ResultPath::At(t) => t
            .apply(input, result)
            .map_err(|e| Fault::Error(AslError::new(ErrorName::ResultPathMatchFailure, e))),
    }
}

/// ResultSelector, ResultPath, OutputPath and Assign, after the state's work produced `result`.
pub fn finish(io: &Io, input: Value, result: Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Outcome, Fault> {
    let assigned = eval_assign(&io.assign, &result, ctx, vars)?;
    let selected = match &io.result_selector {
        Some(t) => eval_template(t, &result, ctx, vars)?,
        None => result,
    };
    let doc = apply_result_path(&io.result_path, input, selected)?;
    let output = select_owned(&io.output_path, doc, ctx, vars)?;
    Ok(Outcome { output, assigned })
}

pub fn pass(state: &Pass, input: Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Outcome, Fault> {
    let result = match &state.result {
        Some(r) => {
            // Result replaces the effective input, but InputPath must still resolve.
            if let Select::Path(_) = state.io.input_path {
                effective_input(&state.io, &input, ctx, vars)?;
            }
            r.clone()
        }
        None => effective_input(&state.io, &input, ctx, vars)?,
    };
    finish(&state.io, input, result, ctx, vars)
}

/// Picks the Choice target; the output is the effective input through OutputPath.
pub fn choice(state: &Choice, input: Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<(StateId, Outcome), Fault> {
    let effective = select_owned(&state.io.input_path, input, ctx, vars)?;
    let env = Env {
        input: &effective,
        context: ctx,
        vars,
    };
    let mut chosen = None;
    for rule in &state.rules {
        if evaluate(&rule.condition, &env)? {
            chosen = Some((rule.next, &rule.assign));
            break;
        }
    }
    let (next, assign) = match chosen {
        Some(c) => c,
        None => match state.default {
            Some(d) => (d, &state.io.assign),
            None => {
                return Err(Fault::Error(AslError {
                    name: ErrorName::NoChoiceMatched,
                    cause: None,
                }));
            }
        },
    };
    let assigned = eval_assign(assign, &effective, ctx, vars)?;
    let output = select_owned(&state.io.output_path, effective, ctx, vars)?;
    Ok((next, Outcome { output, assigned }))
}

/// Longest wait AWS accepts (about 2^31 seconds).
const MAX_WAIT_SECONDS: i64 = 2_147_483_647;

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => to_json_text(other),
    }
}

/// When the Wait ends, and its output.
pub fn wait(
    state: &Wait,
    input: Value,
    now: DateTime<Utc>,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<(DateTime<Utc>, Outcome), Fault> {
    let effective = select_owned(&state.io.input_path, input, ctx, vars)?;
    let until = {
        let env = Env {
            input: &effective,
            context: ctx,
            vars,
        };
        match &state.wait {
            WaitFor::Seconds(s) => now + chrono::Duration::seconds(*s as i64),
            WaitFor::Timestamp(t) => t.with_timezone(&Utc),
            WaitFor::SecondsPath(p) => {
                let v = p.value(&env).map_err(|_| {
                    Fault::Runtime(format!(
                        "The SecondsPath parameter does not reference an input value: {}",
                        p.text()
                    ))
                })?;
                let secs = match v.as_i64() {
                    Some(n) if n < 0 => {
                        return Err(Fault::Runtime(format!(
                            "The SecondsPath parameter references a negative value: {} == {}",
                            p.text(),
                            show(&v)
                        )));
                    }
                    Some(n) => n,
                    None => {
                        return Err(Fault::Runtime(format!(
                            "The SecondsPath parameter cannot be parsed as a long value: {} == {}",
                            p.text(),
                            show(&v)
                        )));
                    }
                };
                if secs > MAX_WAIT_SECONDS {
                    return Err(Fault::Runtime("Wait state delay is too long.".into()));
                }
                now + chrono::Duration::seconds(secs)
            }
            WaitFor::TimestampPath(p) => {
                let v = p.value(&env).map_err(|_| {
                    Fault::Runtime(format!(
                        "The TimestampPath parameter does not reference an input value: {}",
                        p.text()
                    ))
                })?;
                match v.as_str().and_then(parse_timestamp) {
                    Some(t) => t.with_timezone(&Utc),
                    None => {
                        return Err(Fault::Runtime(format!(
                            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {}",
                            p.text(),
                            show(&v)
                        )));
                    }
                }
            }
        }
    };
    if (until - now).num_seconds() > MAX_WAIT_SECONDS {
        return Err(Fault::Runtime("Wait state delay is too long.".into()));
    }
    let assigned = eval_assign(&state.io.assign, &effective, ctx, vars)?;
    let output = select_owned(&state.io.output_path, effective, ctx, vars)?;
    Ok((until, Outcome { output, assigned }))
}

pub fn succeed(state: &Succeed, input: Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Value, Fault> {
    let effective = select_owned(&state.io.input_path, input, ctx, vars)?;
    select_owned(&state.io.output_path, effective, ctx, vars)
}

/// The error a Fail state raises.
pub fn fail(
    state: &Fail,
    input: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<(Option<String>, Option<String>), Fault> {
    let text = |t: &Option<FailText>, field: &str| -> Result<Option<String>, Fault> {
        let env = Env {
            input,
            context: ctx,
            vars,
        };
        match t {
            None => Ok(None),
            Some(FailText::Literal(s)) => Ok(Some(s.clone())),
            Some(FailText::Path(p)) => match p.value(&env) {
                Ok(v) => Ok(Some(show(&v))),
                Err(_) => Err(Fault::Runtime(format!(
                    "The JSONPath '{}' specified for the field '{field}' could not be found in the input '{}'",
                    p.text(),
                    to_json_text(input)
                ))),
            },
            Some(FailText::Call(c)) => match c.eval(&env) {
                Ok(v) => Ok(Some(show(&v))),
                Err(crate::path::intrinsic::CallError::PathMiss { path, .. }) => Err(Fault::Runtime(format!(
                    "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
                    to_json_text(input)
                ))),
                Err(crate::path::intrinsic::CallError::Failure(m)) => {
                    Err(Fault::Error(AslError::new(ErrorName::IntrinsicFailure, m)))
                }
            },
        }
    };
    Ok((text(&state.error, "ErrorPath")?, text(&state.cause, "CausePath")?))
}

/// The Map's items: ItemsPath (default `$`) over the effective input; must be an array.
pub fn map_items(
    state: &MapState,
    effective: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Vec<Value>, Fault> {
    let items = match &state.items_path {
        None => Cow::Borrowed(effective),
        Some(p) => {
            let env = Env {
                input: effective,
                context: ctx,
                vars,
            };
            Cow::Owned(p.value(&env).map_err(|miss| Fault::Runtime(p.miss_message(&miss)))?)
        }
    };
    match items.into_owned() {
        Value::Array(a) => Ok(a),
        other => Err(Fault::Runtime(format!(
            "Map state input must be an array but was: {}",
            to_json_text(&other)
        ))),
    }
}

/// Reads a Map count field (MaxConcurrency, ToleratedFailureCount).
pub fn map_count(
    c: &Option<Count<u64>>,
    field: &str,
    effective: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Option<u64>, Fault> {
    match c {
        None => Ok(None),
        Some(Count::Fixed(n)) => Ok(Some(*n)),
        Some(Count::Path(p)) => {
            let env = Env {
                input: effective,
                context: ctx,
                vars,
            };
            let v = p.value(&env).map_err(|miss| Fault::Runtime(p.miss_message(&miss)))?;
            let n = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse::<i64>().ok()));
            match n {
                Some(n) if n < 0 => Err(Fault::Runtime(format!("{field} cannot be negative."))),
                Some(n) => Ok(Some(n as u64)),
                None => Err(Fault::Runtime(format!(
                    "The {field}Path field refers to value \"{}\" which is not a valid integer: {}",
                    show(&v),
                    p.text()
                ))),
            }
        }
    }
}

pub fn map_percentage(
    c: &Option<Count<f64>>,
    effective: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Option<f64>, Fault> {
    match c {
        None => Ok(None),
        Some(Count::Fixed(x)) => Ok(Some(*x)),
        Some(Count::Path(p)) => {
            let env = Env {
                input: effective,
                context: ctx,
                vars,
            };
            let v = p.value(&env).map_err(|miss| Fault::Runtime(p.miss_message(&miss)))?;
            let x = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()));
            match x {
                Some(x) if (0.0..=100.0).contains(&x) => Ok(Some(x)),
                Some(_) => Err(Fault::Runtime(
                    "ToleratedFailurePercentage must be between 0 and 100.".into(),
                )),
                None => Err(Fault::Runtime(format!(
                    "The ToleratedFailurePercentagePath field refers to value \"{}\" which is not a valid float: {}",
                    show(&v),
                    p.text()
                ))),
            }
        }
    }
}

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
    let assigned = eval_assign(&c.assign, &error_output, ctx, vars)?;
    let output = apply_result_path(&c.result_path, input, error_output)?;
    Ok(Outcome { output, assigned })
}

/// States.DataLimitExceeded when a state's output is over the payload limit.
pub fn check_size(output: &Value, limit: usize, state: &str) -> Result<(), AslError> {
    if json_size(output) > limit {
        return Err(AslError::new(
            ErrorName::DataLimitExceeded,
            format!(
                "The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit."
            ),
        ));
    }
    Ok(())
}

/// Groups a Distributed Map's item inputs into batches: `{"BatchInput": ..., "Items": [...]}`,
/// each within MaxItemsPerBatch items and MaxInputBytesPerBatch bytes.
pub fn batch_items(
    b: &ItemBatcher,
    items: Vec<Value>,
    effective: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Vec<Value>, Fault> {
    let max_items = map_count(&b.max_items, "MaxItemsPerBatch", effective, ctx, vars)?
        .unwrap_or(u64::MAX)
        .max(1);
    let max_bytes =
        map_count(&b.max_bytes, "MaxInputBytesPerBatch", effective, ctx, vars)?.unwrap_or(u64::MAX) as usize;
    let batch_input = b
        .batch_input
        .as_ref()
        .map(|t| eval_template(t, effective, ctx, vars))
        .transpose()?;
    // `{"BatchInput":…,"Items":[]}` without the items.
    let overhead = 12 + batch_input.as_ref().map(|v| 14 + json_size(v)).unwrap_or(0);
    let mut batches = Vec::new();
    let mut current: Vec<Value> = Vec::new();
    let mut bytes = overhead;
    for item in items {
        let size = json_size(&item) + 1;
        if !current.is_empty() && (current.len() as u64 >= max_items || bytes + size > max_bytes) {
            batches.push(std::mem::take(&mut current));
            bytes = overhead;
        }
        bytes += size;
        current.push(item);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    Ok(batches
        .into_iter()
        .map(|items| {
            let mut m = Map::new();
            if let Some(bi) = &batch_input {
                m.insert("BatchInput".into(), bi.clone());
            }
            m.insert("Items".into(), Value::Array(items));
            Value::Object(m)
        })
        .collect())
}
