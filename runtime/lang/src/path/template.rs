//! Payload templates (Parameters, ResultSelector, ItemSelector, JSONPath Assign): keys ending
//! in `.$` take their value from a path or an intrinsic call; everything else is literal.

use serde_json::{Map, Value};

use super::intrinsic::{Call, CallError, looks_like_call};
use super::{Env, Miss, Path, to_json_text};

#[derive(Debug, Clone)]
pub enum Template {
    /// A subtree without any `.$` key: cloned as is.
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Path {
        path: Path,
        field: String,
    },
    Call {
        call: Call,
        field: String,
    },
}

/// A template compile error: the JSON Pointer below the template, and what is wrong.
pub type CompileError = (String, String);

/// Why evaluating a template failed.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateError {
    /// AWS: States.Runtime, "The JSONPath '$.x' specified for the field 'x.$' could not be found in the input '…'".
    PathMiss { field: String, path: String, miss: Miss },
    /// States.IntrinsicFailure.
    Intrinsic { field: String, message: String },
}

impl TemplateError {
    pub fn message(&self, input: &Value) -> String {
        match self {
            TemplateError::PathMiss { field, path, .. } => format!(
                "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
                to_json_text(input)
            ),
            TemplateError::Intrinsic { field, message } => {
                format!("The intrinsic function specified for the field '{field}' failed: {message}")
            }
        }
    }
}

fn escape_pointer(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

/// Compiles the value of a `.$` field: a path (`$...`, `$$...`, `$var`) or an intrinsic call.
pub fn compile_dynamic(field: &str, text: &str) -> Result<Template, String> {
    if text.starts_with('$') {
        let path = Path::parse(text).map_err(|e| {
            format!(
                "The value for the field '{field}' must be a valid JSONPath or a valid intrinsic function call: {e}"
            )
        })?;
        Ok(Template::Path {
            path,
            field: field.to_string(),
        })
    } else if looks_like_call(text) {
        let call = Call::parse(text).map_err(|e| {
            format!(
                "The value for the field '{field}' must be a valid JSONPath or a valid intrinsic function call: {e}"
            )
        })?;
        Ok(Template::Call {
            call,
            field: field.to_string(),
        })
    } else {
        Err(format!(
            "The value for the field '{field}' must be a valid JSONPath or a valid intrinsic function call"
        ))
    }
}

impl Template {
    /// Compiles a template; all errors are returned, each with its pointer.
    pub fn compile(v: &Value) -> Result<Template, Vec<CompileError>> {
        let mut errors = Vec::new();
        let t = compile_at(v, "", &mut errors);
        if errors.is_empty() { Ok(t) } else { Err(errors) }
    }

    pub fn eval(&self, env: &Env<'_>) -> Result<Value, TemplateError> {
        match self {
            Template::Literal(v) => Ok(v.clone()),
            Template::Object(fields) => {
                let mut m = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    m.insert(k.clone(), t.eval(env)?);
                }
                Ok(Value::Object(m))
            }
            Template::Array(items) => items
                .iter()
                .map(|t| t.eval(env))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Template::Path { path, field } => path.value(env).map_err(|miss| TemplateError::PathMiss {
                field: field.clone(),
                path: path.text().to_string(),
                miss,
            }),
            Template::Call { call, field } => call.eval(env).map_err(|e| match e {
                CallError::PathMiss { path, miss } => TemplateError::PathMiss {
                    field: field.clone(),
                    path,
                    miss,
                },
                CallError::Failure(message) => TemplateError::Intrinsic {
                    field: field.clone(),
                    message,
                },
            }),
        }
    }

    /// True when evaluation may read the context object.
    pub fn uses_context(&self) -> bool {
        match self {
            Template::Literal(_) => false,
            Template::Object(f) => f.iter().any(|(_, t)| t.uses_context()),
            Template::Array(a) => a.iter().any(Template::uses_context),
            Template::Path { path, .. } => path.uses_context(),
            Template::Call { call, .. } => call.paths().iter().any(|p| p.uses_context()),
        }
    }

    /// Every variable name the template reads.
    pub fn variables(&self, out: &mut Vec<String>) {
        match self {
            Template::Literal(_) => {}
            Template::Object(f) => f.iter().for_each(|(_, t)| t.variables(out)),
            Template::Array(a) => a.iter().for_each(|t| t.variables(out)),
            Template::Path { path, .. } => out.extend(path.variable().map(str::to_string)),
            Template::Call { call, .. } => {
                out.extend(call.paths().iter().filter_map(|p| p.variable().map(str::to_string)))
            }
        }
    }
}

fn has_dynamic(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.iter().any(|(k, v)| k.ends_with(".$") || has_dynamic(v)),
        Value::Array(a) => a.iter().any(has_dynamic),
        _ => false,
    }
}

fn compile_at(v: &Value, at: &str, errors: &mut Vec<CompileError>) -> Template {
    if !has_dynamic(v) {
        return Template::Literal(v.clone());
    }
    match v {
        Value::Object(o) => {
            let mut fields: Vec<(String, Template)> = Vec::with_capacity(o.len());
            for (k, child) in o {
                let here = format!("{at}/{}", escape_pointer(k));
                let (name, t) = match k.strip_suffix(".$") {
                    Some(name) => match child.as_str() {
                        Some(text) => match compile_dynamic(k, text) {
                            Ok(t) => (name, t),
                            Err(e) => {
                                errors.push((here, e));
                                continue;
                            }
                        },
                        None => {
                            errors.push((
                                here,
                                format!("The value for the field '{k}' must be a string holding a JSONPath or an intrinsic function call"),
                            ));
                            continue;
                        }
                    },
                    None => (k.as_str(), compile_at(child, &here, errors)),
                };
                if fields.iter().any(|(n, _)| n == name) || (!k.ends_with(".$") && o.contains_key(&format!("{k}.$"))) {
                    errors.push((here, format!("The field '{name}' is given twice (once with '.$')")));
                    continue;
                }
                fields.push((name.to_string(), t));
            }
            Template::Object(fields)
        }
        Value::Array(a) => Template::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| compile_at(x, &format!("{at}/{i}"), errors))
                .collect(),
        ),
        other => Template::Literal(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::Vars;
    use crate::path::context::{ContextObject, ExecutionInfo};
    use serde_json::json;
    use std::sync::Arc;

    fn exec() -> ExecutionInfo {
        ExecutionInfo {
            id: "arn:exec".into(),
            name: "e".into(),
            input: Arc::new(json!({"in": 1})),
            start_time: "t".into(),
            role_arn: "r".into(),
            state_machine_id: "arn:sm".into(),
            state_machine_name: "sm".into(),
            redrive_count: 0,
            redrive_time: None,
        }
    }

    #[test]
    fn evaluates_paths_context_and_calls() {
        let t = Template::compile(&json!({
            "a.$": "$.x",
            "lit": "$.notevaluated",
            "nested": {"b.$": "$$.Execution.Input.in", "arr": [{"c.$": "States.Format('v={}', $.x)"}]},
            "v.$": "$myvar"
        }))
        .unwrap();
        let e = exec();
        let ctx = ContextObject::new(&e, "S", chrono::Utc::now());
        let mut vars = Vars::default();
        vars.assign(vec![("myvar".into(), json!([1]))]);
        let input = json!({"x": 7});
        let env = Env {
            input: &input,
            context: &ctx,
            vars: &vars,
        };
        assert_eq!(
            t.eval(&env).unwrap(),
            json!({"a": 7, "lit": "$.notevaluated", "nested": {"b": 1, "arr": [{"c": "v=7"}]}, "v": [1]})
        );
    }

    #[test]
    fn rejects_bad_templates_with_locations() {
        let errs = Template::compile(&json!({"a.$": "nope", "b": {"c.$": 5}, "d": 1, "d.$": "$"})).unwrap_err();
        let at: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(at, ["/a.$", "/b/c.$", "/d"]);
    }
}
