//! Evaluating a state's JSONata fields: binds `$states` and workflow variables, and turns
//! failures and wrong result types into `States.QueryEvaluationError` with AWS's wording.

use std::cell::OnceCell;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde_json::Value;

use super::step::Fault;
use crate::asl::model::Assign;
use crate::asl::states::parse_timestamp;
use crate::jsonata::template::Ata;
use crate::jsonata::{Expr, JValue, Limits, to_jvalue};
use crate::path::type_name;
use crate::path::{ContextObject, Vars, to_json_text};

/// What `$states` holds while one state runs. Each member is converted for JSONata at most
/// once, however many expressions of the state read it.
pub struct States<'a> {
    pub input: &'a Value,
    pub context: &'a ContextObject<'a>,
    pub result: Option<&'a Value>,
    pub error_output: Option<&'a Value>,
    converted: [OnceCell<JValue>; 4],
}

impl<'a> States<'a> {
    pub fn new(input: &'a Value, context: &'a ContextObject<'a>) -> Self {
        States {
            input,
            context,
            result: None,
            error_output: None,
            converted: Default::default(),
        }
    }

    pub fn with_result(mut self, result: &'a Value) -> Self {
        self.result = Some(result);
        self
    }

    pub fn with_error_output(mut self, e: &'a Value) -> Self {
        self.error_output = Some(e);
        self
    }

    fn member(&self, i: usize, v: &Value) -> JValue {
        self.converted[i].get_or_init(|| to_jvalue(v)).clone()
    }

    /// `$states` for one expression: only the members it reads.
    fn value_for(&self, e: &Expr) -> JValue {
        let u = e.states_use();
        let mut m = IndexMap::new();
        if u.input || u.whole {
            m.insert("input".to_string(), self.member(0, self.input));
        }
        if u.context || u.whole {
            m.insert("context".to_string(), self.member(1, self.context.value()));
        }
        if let (true, Some(r)) = (u.result || u.whole, self.result) {
            m.insert("result".to_string(), self.member(2, r));
        }
        if let (true, Some(r)) = (u.error_output || u.whole, self.error_output) {
            m.insert("errorOutput".to_string(), self.member(3, r));
        }
        JValue::object(m)
    }
}

/// Step Functions runs expressions without `$eval`. A state's data is at most 256 KiB, so a
/// million-item sequence or 64 MiB held at once is far past any real expression's needs, and
/// keeps a hostile one from taking the daemon's memory.
const LIMITS: Limits = Limits {
    timeout_ms: 5_000,
    max_depth: 2_000,
    max_sequence: 1_000_000,
    forbid_eval: true,
    max_memory: 64 << 20,
};

/// Evaluates a JSONata-capable value; `location` names the field (`Output`, `Items`, ...).
pub fn eval(a: &Ata, location: &str, states: &States<'_>, vars: &Vars) -> Result<Value, Fault> {
    if let Ata::Literal(v) = a {
        return Ok(v.clone());
    }
    let mut bind = |e: &Expr, name: &str| -> Option<JValue> {
        if name == "states" {
            Some(states.value_for(e))
        } else {
            vars.get(name).map(to_jvalue)
        }
    };
    a.eval(location, &mut bind, LIMITS).map_err(|f| Fault::Query {
        location: Some(f.location().to_string()),
        message: f.message(),
    })
}

/// The source of the expression behind a field, for type-error messages.
fn source_of(a: &Ata) -> String {
    match a {
        Ata::Expr(e) => e.source().to_string(),
        Ata::Literal(v) => to_json_text(v),
        _ => String::new(),
    }
}

/// A wrong result type: "returned an unexpected result type. Expected 'array', but was ...".
pub fn unexpected(a: &Ata, location: &str, expected: &str, got: &Value) -> Fault {
    Fault::Query {
        location: Some(location.to_string()),
        message: format!(
            "The JSONata expression '{}' specified for the field '{location}' returned an unexpected result type. Expected '{expected}', but was '{}' for value: {}",
            source_of(a),
            type_name(got),
            to_json_text(got)
        ),
    }
}

pub fn eval_array(a: &Ata, location: &str, states: &States<'_>, vars: &Vars) -> Result<Vec<Value>, Fault> {
    match eval(a, location, states, vars)? {
        Value::Array(items) => Ok(items),
        other => Err(unexpected(a, location, "array", &other)),
    }
}

pub fn eval_bool(a: &Ata, location: &str, states: &States<'_>, vars: &Vars) -> Result<bool, Fault> {
    match eval(a, location, states, vars)? {
        Value::Bool(b) => Ok(b),
        other => Err(unexpected(a, location, "boolean", &other)),
    }
}

pub fn eval_string(a: &Ata, location: &str, states: &States<'_>, vars: &Vars) -> Result<String, Fault> {
    match eval(a, location, states, vars)? {
        Value::String(s) => Ok(s),
        other => Err(unexpected(a, location, "string", &other)),
    }
}

/// An integer at least `min` (non-integral numbers are rejected).
pub fn eval_integer(a: &Ata, location: &str, min: i64, states: &States<'_>, vars: &Vars) -> Result<u64, Fault> {
    let v = eval(a, location, states, vars)?;
    match v
        .as_i64()
        .or_else(|| v.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64))
    {
        Some(n) if n >= min => Ok(n as u64),
        Some(_) => Err(Fault::Query {
            location: Some(location.to_string()),
            message: format!(
                "The JSONata expression '{}' specified for the field '{location}' returned a value out of range: {} (the least allowed is {min})",
                source_of(a),
                to_json_text(&v)
            ),
        }),
        None => Err(unexpected(a, location, "integer", &v)),
    }
}

pub fn eval_percentage(a: &Ata, location: &str, states: &States<'_>, vars: &Vars) -> Result<f64, Fault> {
    let v = eval(a, location, states, vars)?;
    match v.as_f64() {
        Some(x) if (0.0..=100.0).contains(&x) => Ok(x),
        Some(_) => Err(Fault::Query {
            location: Some(location.to_string()),
            message: format!(
                "The JSONata expression '{}' specified for the field '{location}' returned a value out of range: {} (expected 0 to 100)",
                source_of(a),
                to_json_text(&v)
            ),
        }),
        None => Err(unexpected(a, location, "number", &v)),
    }
}

/// A Wait `Timestamp` given as `{% %}`.
pub fn eval_timestamp(a: &Ata, states: &States<'_>, vars: &Vars) -> Result<DateTime<Utc>, Fault> {
    let v = eval(a, "Timestamp", states, vars)?;
    let text = match &v {
        Value::String(s) => s.clone(),
        other => return Err(unexpected(a, "Timestamp", "string", other)),
    };
    parse_timestamp(&text)
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| Fault::Query {
            location: Some("Timestamp".into()),
            message: format!(
                "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {text}"
            ),
        })
}

/// Evaluates an `Assign` block (either language) before any of it is applied.
pub fn eval_assign_ata(
    fields: &[(String, Ata)],
    states: &States<'_>,
    vars: &Vars,
) -> Result<Vec<(String, Value)>, Fault> {
    fields
        .iter()
        .map(|(name, a)| eval(a, &format!("Assign/{name}"), states, vars).map(|v| (name.clone(), v)))
        .collect()
}

/// A JSONata state's `Assign`, if any.
pub fn assign(assign: &Option<Assign>, states: &States<'_>, vars: &Vars) -> Result<Vec<(String, Value)>, Fault> {
    match assign {
        Some(Assign::Ata(fields)) => eval_assign_ata(fields, states, vars),
        Some(Assign::Path(_)) | None => Ok(Vec::new()),
    }
}
