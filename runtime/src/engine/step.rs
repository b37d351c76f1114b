//! The pure, synchronous part of running a state: the JSONPath input/output pipeline, Choice,
//! Wait and Fail evaluation, Map item preparation, and Retry/Catch decisions. No I/O, no time
//! except what the caller passes in.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::ata::{self, States};
use super::choice::{evaluate, lookup};
use super::error::AslError;
use crate::asl::ErrorName;
use crate::asl::model::*;
use crate::asl::states::parse_timestamp;
use crate::path::template::{Template, TemplateError};
use crate::path::{ContextObject, Env, Vars, json_size, to_json_text};

/// A state could not be processed.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// States.Runtime: the driver prefixes the state name and entered event id.
    Runtime(String),
    /// States.QueryEvaluationError from a JSONata field (`location` names it, as in the
    /// history's EvaluationFailed event); prefixed like Runtime.
    Query { location: Option<String>, message: String },
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
            Fault::Query { message, .. } => AslError::new(
                ErrorName::QueryEvaluationError,
                format!(
                    "An error occurred while executing the state '{state}' (entered at the event id #{entered_event}). {message}"
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

/// InputPath then Parameters (JSONPath), or Arguments (JSONata): the effective input.
pub fn effective_input(io: &Io, input: &Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Value, Fault> {
    if io.language == QueryLanguage::JsonAta {
        return match &io.arguments {
            Some(a) => ata::eval(a, "Arguments", &States::new(input, ctx), vars),
            None => Ok(input.clone()),
        };
    }
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
    assign: &Option<Assign>,
    input: &Value,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Vec<(String, Value)>, Fault> {
    let Some(Assign::Path(t)) = assign else {
        return Ok(Vec::new());
    };
    match eval_template(t, input, ctx, vars)? {
        Value::Object(m) => Ok(m.into_iter().collect()),
        _ => Ok(Vec::new()),
    }
}

pub(super) fn apply_result_path(rp: &ResultPath, input: Value, result: Value) -> Result<Value, Fault> {
    match rp {
        ResultPath::Replace => Ok(result),
        ResultPath::Discard => Ok(input),
        ResultPath::At(t) => t
            .apply(input, result)
            .map_err(|e| Fault::Error(AslError::new(ErrorName::ResultPathMatchFailure, e))),
    }
}

/// JSONata `Output` and `Assign` (evaluated side by side); the output defaults to the result,
/// or to the state input for states without one.
pub fn ata_outcome(
    io: &Io,
    input: Value,
    result: Option<Value>,
    ctx: &ContextObject<'_>,
    vars: &Vars,
) -> Result<Outcome, Fault> {
    let (assigned, output) = {
        let mut states = States::new(&input, ctx);
        if let Some(r) = &result {
            states = states.with_result(r);
        }
        let assigned = ata::assign(&io.assign, &states, vars)?;
        let output = io
            .output
            .as_ref()
            .map(|a| ata::eval(a, "Output", &states, vars))
            .transpose()?;
        (assigned, output)
    };
    let output = output.unwrap_or_else(|| result.unwrap_or(input));
    Ok(Outcome { output, assigned })
}

/// ResultSelector, ResultPath, OutputPath and Assign, after the state's work produced `result`.
pub fn finish(io: &Io, input: Value, result: Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<Outcome, Fault> {
    if io.language == QueryLanguage::JsonAta {
        return ata_outcome(io, input, Some(result), ctx, vars);
    }
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
    if state.io.language == QueryLanguage::JsonAta {
        return ata_outcome(&state.io, input, None, ctx, vars);
    }
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
    if state.io.language == QueryLanguage::JsonAta {
        return ata_choice(state, input, ctx, vars);
    }
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

/// JSONata Choice: the first rule whose Condition is true; its Output/Assign, or the state's
/// own on the Default path.
fn ata_choice(state: &Choice, input: Value, ctx: &ContextObject<'_>, vars: &Vars) -> Result<(StateId, Outcome), Fault> {
    let states = States::new(&input, ctx);
    let mut chosen = None;
    for rule in &state.rules {
        let holds = match &rule.condition {
            Condition::Expr(a) => ata::eval_bool(a, "Condition", &states, vars)?,
            _ => false,
        };
        if holds {
            chosen = Some((rule.next, &rule.output, &rule.assign));
            break;
        }
    }
    let (next, output, assign) = match chosen {
        Some(c) => c,
        None => match state.default {
            Some(d) => (d, &state.io.output, &state.io.assign),
            None => {
                return Err(Fault::Error(AslError {
                    name: ErrorName::NoChoiceMatched,
                    cause: None,
                }));
            }
        },
    };
    let assigned = ata::assign(assign, &states, vars)?;
    let output = output
        .as_ref()
        .map(|a| ata::eval(a, "Output", &states, vars))
        .transpose()?;
    Ok((
        next,
        Outcome {
            output: output.unwrap_or(input),
            assigned,
        },
    ))
}

/// Longest wait AWS accepts (about 2^31 seconds).
const MAX_WAIT_SECONDS: i64 = 2_147_483_647;

pub(super) fn show(v: &Value) -> String {
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
    if state.io.language == QueryLanguage::JsonAta {
        let states = States::new(&input, ctx);
        let until = match &state.wait {
            WaitFor::Seconds(s) => now + chrono::Duration::seconds(*s as i64),
            WaitFor::Timestamp(t) => t.with_timezone(&Utc),
            WaitFor::SecondsExpr(a) => {
                let secs = ata::eval_integer(a, "Seconds", 0, &states, vars)?;
                if secs > MAX_WAIT_SECONDS as u64 {
                    return Err(Fault::Runtime("Wait state delay is too long.".into()));
                }
                now + chrono::Duration::seconds(secs as i64)
            }
            WaitFor::TimestampExpr(a) => ata::eval_timestamp(a, &states, vars)?,
            WaitFor::SecondsPath(_) | WaitFor::TimestampPath(_) => now,
        };
        if (until - now).num_seconds() > MAX_WAIT_SECONDS {
            return Err(Fault::Runtime("Wait state delay is too long.".into()));
        }
        return Ok((until, ata_outcome(&state.io, input, None, ctx, vars)?));
    }
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
            // Only JSONata states have these, and they returned above.
            WaitFor::SecondsExpr(_) | WaitFor::TimestampExpr(_) => now,
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
    if state.io.language == QueryLanguage::JsonAta {
        return ata_outcome(&state.io, input, None, ctx, vars).map(|o| o.output);
    }
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
            Some(FailText::Expr(a)) => {
                let location = if field == "ErrorPath" { "Error" } else { "Cause" };
                ata::eval_string(a, location, &States::new(input, ctx), vars).map(Some)
            }
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
