//! Requests checked against AWS's own service model before any action runs: types, required
//! members, lengths, ranges and enum values, with AWS's errors (`SerializationException` for a
//! value of the wrong type, `ValidationException` listing every constraint broken).
//!
//! The shapes come from botocore's models of Step Functions and EventBridge Scheduler
//! (`model/model.json`, `model/scheduler.json`, trimmed to the operations served by
//! `model/trim.py`; `tests/api_model.rs` keeps them current).

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use crate::daemon::error::{ServiceError, error};

#[derive(Debug, Deserialize)]
struct Model {
    operations: HashMap<String, String>,
    shapes: HashMap<String, Shape>,
}

#[derive(Debug, Deserialize)]
struct Shape {
    #[serde(rename = "type")]
    kind: String,
    min: Option<i64>,
    max: Option<i64>,
    #[serde(rename = "enum")]
    values: Option<Vec<String>>,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    members: HashMap<String, String>,
    member: Option<String>,
    pattern: Option<String>,
    #[serde(skip)]
    regex: Option<regex::Regex>,
}

impl Model {
    fn load(text: &str) -> Model {
        // Committed with the source and checked by tests: not parsing would be a build defect.
        let mut m: Model = serde_json::from_str(text).expect("the committed service model is valid JSON");
        for shape in m.shapes.values_mut() {
            // Java's patterns match the whole value; those the regex crate cannot compile
            // (look-arounds, in members wasmstep ignores) are not checked.
            shape.regex = shape
                .pattern
                .as_deref()
                .and_then(|p| regex::Regex::new(&format!("^(?:{p})$")).ok());
        }
        m
    }
}

static MODEL: LazyLock<Model> = LazyLock::new(|| Model::load(include_str!("model/model.json")));

static SCHEDULER: LazyLock<Model> = LazyLock::new(|| Model::load(include_str!("model/scheduler.json")));

/// Checks `request` against the input shape of a Step Functions `operation` (unknown
/// operations pass: the dispatcher answers them).
pub fn check(operation: &str, request: &Value) -> Result<(), ServiceError> {
    check_in(&MODEL, operation, request)
}

/// Checks an EventBridge Scheduler request (its URI, query and body members together).
pub fn check_scheduler(operation: &str, request: &Value) -> Result<(), ServiceError> {
    check_in(&SCHEDULER, operation, request)
}

fn check_in(model: &Model, operation: &str, request: &Value) -> Result<(), ServiceError> {
    let Some(shape) = model.operations.get(operation) else {
        return Ok(());
    };
    let mut problems = Vec::new();
    walk(model, shape, request, "", &mut problems)?;
    if problems.is_empty() {
        return Ok(());
    }
    let n = problems.len();
    Err(error(
        "ValidationException",
        format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            problems.join("; ")
        ),
    ))
}

fn serialization(path: &str, want: &str) -> ServiceError {
    error(
        "SerializationException",
        format!("the value at '{path}' must be {want}"),
    )
}

/// Walks one value; a wrong type stops at once, constraint violations are collected.
fn walk(
    model: &Model,
    shape_name: &str,
    v: &Value,
    path: &str,
    problems: &mut Vec<String>,
) -> Result<(), ServiceError> {
    let Some(shape) = model.shapes.get(shape_name) else {
        return Ok(());
    };
    let at = |p: &str| {
        if p.is_empty() {
            "the request".to_string()
        } else {
            p.to_string()
        }
    };
    let mut broken = |c: String| problems.push(format!("Value at '{path}' failed to satisfy constraint: {c}"));
    match shape.kind.as_str() {
        "structure" => {
            let Some(obj) = v.as_object() else {
                return Err(serialization(&at(path), "an object"));
            };
            for name in &shape.required {
                if obj.get(name).is_none_or(Value::is_null) {
                    let p = join(path, name);
                    problems.push(format!(
                        "Value null at '{p}' failed to satisfy constraint: Member must not be null"
                    ));
                }
            }
            for (name, member_shape) in &shape.members {
                if let Some(m) = obj.get(name).filter(|m| !m.is_null()) {
                    walk(model, member_shape, m, &join(path, name), problems)?;
                }
            }
        }
        "string" => {
            let Some(s) = v.as_str() else {
                return Err(serialization(&at(path), "a string"));
            };
            // AWS counts UTF-16 units, as Java strings do.
            let len = s.encode_utf16().count() as i64;
            if let Some(min) = shape.min
                && len < min
            {
                broken(format!("Member must have length greater than or equal to {min}"));
            }
            if let Some(max) = shape.max
                && len > max
            {
                broken(format!("Member must have length less than or equal to {max}"));
            }
            if let Some(values) = &shape.values
                && !values.iter().any(|x| x == s)
            {
                broken(format!("Member must satisfy enum value set: [{}]", values.join(", ")));
            }
            if let (Some(p), Some(re)) = (&shape.pattern, &shape.regex)
                && !re.is_match(s)
            {
                broken(format!("Member must satisfy regular expression pattern: {p}"));
            }
        }
        "integer" | "long" => {
            let Some(n) = v.as_i64() else {
                return Err(serialization(&at(path), "an integer"));
            };
            if let Some(min) = shape.min
                && n < min
            {
                broken(format!("Member must have value greater than or equal to {min}"));
            }
            if let Some(max) = shape.max
                && n > max
            {
                broken(format!("Member must have value less than or equal to {max}"));
            }
        }
        "boolean" if !v.is_boolean() => {
            return Err(serialization(&at(path), "a boolean (true or false)"));
        }
        "list" => {
            let Some(items) = v.as_array() else {
                return Err(serialization(&at(path), "a list"));
            };
            let len = items.len() as i64;
            if let Some(min) = shape.min
                && len < min
            {
                broken(format!("Member must have length greater than or equal to {min}"));
            }
            if let Some(max) = shape.max
                && len > max
            {
                broken(format!("Member must have length less than or equal to {max}"));
            }
            if let Some(member) = &shape.member {
                for (i, item) in items.iter().enumerate() {
                    walk(model, member, item, &format!("{path}.{}.member", i + 1), problems)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_checked_as_aws_checks_them() {
        let ok = json!({"name": "m", "definition": "{}", "roleArn": "arn:aws:iam::1:role/r"});
        assert!(check("CreateStateMachine", &ok).is_ok());
        let e = check("CreateStateMachine", &json!({"name": "m"})).unwrap_err();
        assert_eq!(e.kind, "ValidationException");
        assert!(e.message.starts_with("2 validation errors detected"), "{}", e.message);
        assert!(e.message.contains("Value null at 'roleArn'"), "{}", e.message);
        let e = check(
            "CreateStateMachine",
            &json!({"name": "m", "definition": "{}", "roleArn": "r", "publish": "yes"}),
        )
        .unwrap_err();
        assert_eq!(e.kind, "SerializationException");
        let e = check(
            "CreateStateMachine",
            &json!({"name": "m", "definition": "{}", "roleArn": "x".repeat(300), "loggingConfiguration": 5}),
        )
        .unwrap_err();
        assert_eq!(e.kind, "SerializationException");
        let e = check(
            "StopExecution",
            &json!({"executionArn": "a", "cause": "c".repeat(32769), "error": "e".repeat(257)}),
        )
        .unwrap_err();
        assert!(
            e.message.contains("'cause'") && e.message.contains("'error'"),
            "{}",
            e.message
        );
        let e = check(
            "TagResource",
            &json!({"resourceArn": "a", "tags": [{"key": "", "value": "v"}]}),
        )
        .unwrap_err();
        assert!(e.message.contains("'tags.1.member.key'"), "{}", e.message);
        let e = check("ListExecutions", &json!({"maxResults": 5000})).unwrap_err();
        assert!(e.message.contains("less than or equal to 1000"), "{}", e.message);
        assert!(check("NoSuchOperation", &json!({})).is_ok());
    }
}
