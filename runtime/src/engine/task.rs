//! How Task states reach their handlers: the `TaskInvoker` trait, Resource resolution, and
//! Lambda's result envelope for `arn:aws:states:::lambda:invoke`.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::error::AslError;
use super::{ACCOUNT, REGION};
use crate::asl::ErrorName;
use crate::asl::model::Resource;

/// One handler call.
pub struct TaskCall<'a> {
    /// Handler name: the file stem in the plugins directory.
    pub handler: &'a str,
    pub payload: &'a Value,
    /// The context handed to the handler (execution, state, retry count, task token).
    pub context: &'a Value,
    pub timeout: Option<Duration>,
    pub heartbeat: Option<Duration>,
}

/// Why a handler call produced no result.
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeError {
    /// No handler by that name exists.
    NoSuchHandler,
    /// The handler failed; the error goes to Retry/Catch.
    Failed(AslError),
}

/// Runs Task handlers. The Wasm host implements it; tests use in-process fakes.
pub trait TaskInvoker: Send + Sync {
    fn invoke<'a>(&'a self, call: TaskCall<'a>) -> BoxFuture<'a, Result<Value, InvokeError>>;

    /// The handlers as they are now, for one execution to keep until it ends: a handler
    /// reloaded later is not seen by executions already running. With the number of that set
    /// of handlers, which the execution records. `None`: nothing here changes, use this
    /// invoker as it is.
    fn pin(&self) -> Option<(u64, Arc<dyn TaskInvoker>)> {
        None
    }

    /// Where a handler called `name` would have been found, and the names nearest to it, for
    /// the cause of a call to one that does not exist (`None`: nothing to add).
    fn explain_missing(&self, _name: &str) -> Option<String> {
        None
    }

    /// The handlers an execution pinned before a restart (by the number `pin` gave), if they
    /// can still be had.
    fn repin(&self, _set: u64) -> Option<Arc<dyn TaskInvoker>> {
        None
    }
}

/// An invoker with no handlers at all: every Task fails as a missing function does.
#[derive(Debug, Default)]
pub struct NoHandlers;

impl TaskInvoker for NoHandlers {
    fn invoke<'a>(&'a self, _call: TaskCall<'a>) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(std::future::ready(Err(InvokeError::NoSuchHandler)))
    }

    fn explain_missing(&self, name: &str) -> Option<String> {
        Some(format!(
            "no handler '{name}': no handlers are loaded; give a plugins folder with --plugins DIR (DIR/{name}.wasm is the handler '{name}')"
        ))
    }
}

/// A resolved call: which handler, with which payload, and whether to wrap the result.
pub struct Target {
    pub handler: String,
    pub payload: Value,
    pub envelope: bool,
    /// `LogType: "Tail"` asks for the (base64) log in the envelope.
    pub log_tail: bool,
}

/// Resolves a Task's resource and effective input to a handler call.
pub fn resolve(resource: &Resource, uri: &str, effective: Value) -> Result<Target, AslError> {
    match resource {
        Resource::Wasm { name, .. } => Ok(Target {
            handler: name.clone(),
            payload: effective,
            envelope: false,
            log_tail: false,
        }),
        Resource::LambdaFunction { name, .. } => Ok(Target {
            handler: name.clone(),
            payload: effective,
            envelope: false,
            log_tail: false,
        }),
        Resource::LambdaInvoke { .. } => {
            let Value::Object(mut params) = effective else {
                return Err(AslError::new(
                    ErrorName::Runtime,
                    "lambda:invoke needs an object with FunctionName and Payload",
                ));
            };
            let name = match params.get("FunctionName") {
                Some(Value::String(s)) => function_name(s),
                _ => {
                    return Err(AslError::new(
                        ErrorName::Runtime,
                        "The field 'FunctionName' is required by arn:aws:states:::lambda:invoke and must be a string",
                    ));
                }
            };
            // Lambda receives the payload as bytes: a string is JSON text already, and no
            // payload is an empty object.
            let payload = match params.remove("Payload") {
                None | Some(Value::Null) => Value::Object(Default::default()),
                Some(Value::String(text)) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
                Some(other) => other,
            };
            let log_tail = params.get("LogType").and_then(Value::as_str) == Some("Tail");
            Ok(Target {
                handler: name,
                payload,
                envelope: true,
                log_tail,
            })
        }
        Resource::StartExecution { .. } | Resource::Activity { .. } | Resource::Other { .. } => Err(AslError::new(
            ErrorName::Runtime,
            format!(
                "wasmstep cannot call the resource '{uri}': use wasm:NAME, a Lambda function ARN or arn:aws:states:::lambda:invoke"
            ),
        )),
    }
}

/// `name`, `function:name`, a full or partial ARN, with or without a qualifier -> `name`.
pub fn function_name(s: &str) -> String {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(i) if i + 1 < parts.len() => parts[i + 1].to_string(),
        _ => parts[0].to_string(),
    }
}

/// AWS's error for a Lambda function that does not exist, name and cause as AWS gives them.
pub fn missing_function(name: &str) -> AslError {
    AslError::new(
        ErrorName::Custom("Lambda.ResourceNotFoundException".into()),
        format!(
            "Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:$LATEST (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: {}; Proxy: null)",
            uuid::Uuid::new_v4()
        ),
    )
}

/// The handlers a machine's Tasks call, when the definition names every one; `None` when one
/// is chosen at run time (a `FunctionName` from a path or an expression).
pub fn handlers_named(machine: &crate::asl::StateMachine) -> Option<std::collections::BTreeSet<String>> {
    use crate::asl::model::{Resource, State};
    use crate::path::template::Template;
    let mut out = std::collections::BTreeSet::new();
    for node in &machine.states {
        let State::Task(t) = &node.kind else { continue };
        match &t.resource {
            Resource::Wasm { name, .. } | Resource::LambdaFunction { name, .. } => {
                out.insert(name.clone());
            }
            Resource::LambdaInvoke { .. } => {
                let named = match &t.io.parameters {
                    Some(Template::Literal(v)) => v.get("FunctionName").and_then(Value::as_str),
                    Some(Template::Object(fields)) => {
                        fields
                            .iter()
                            .find(|(k, _)| k == "FunctionName")
                            .and_then(|(_, f)| match f {
                                Template::Literal(Value::String(s)) => Some(s.as_str()),
                                _ => None,
                            })
                    }
                    _ => None,
                };
                out.insert(function_name(named?));
            }
            _ => {}
        }
    }
    Some(out)
}

/// `name`'s nearest among `names` (by edit distance, at most a third of its length away),
/// closest first, at most three.
pub fn nearest<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    let mut near: Vec<(usize, &str)> = names
        .map(|n| (strsim::levenshtein(&name.to_lowercase(), &n.to_lowercase()), n))
        .filter(|(d, _)| *d <= limit)
        .collect();
    near.sort();
    near.into_iter().take(3).map(|(_, n)| n).collect()
}

/// What a plugins folder can say of a handler it does not have.
pub fn explain_in_folder(name: &str, folder: Option<&std::path::Path>, names: &[&str]) -> String {
    let place = match folder {
        Some(d) => format!("the plugins folder {}", d.display()),
        None => "the plugins folder (none was given: start with --plugins DIR)".to_string(),
    };
    let near = nearest(name, names.iter().copied());
    let mut s = format!(
        "no handler '{name}' ({name}.wasm) in {place}, which has {} handler(s)",
        names.len()
    );
    if !near.is_empty() {
        s.push_str(&format!("; did you mean {}?", near.join(", ")));
    }
    s
}

/// The result of `lambda:invoke` as Step Functions returns it: the payload wrapped with the
/// Lambda API's status and HTTP metadata.
pub fn envelope(payload: Value, log_tail: bool) -> Value {
    use base64::Engine as _;
    let request_id = uuid::Uuid::new_v4().to_string();
    let trace_id = format!(
        "Root=1-{:08x}-{}",
        chrono::Utc::now().timestamp(),
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    );
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let length = python_json_len(&payload).to_string();
    let mut all = json!({
        "X-Amz-Executed-Version": ["$LATEST"],
        "x-amzn-Remapped-Content-Length": ["0"],
        "Connection": ["keep-alive"],
        "x-amzn-RequestId": [request_id],
        "Content-Length": [length],
        "Date": [date],
        "X-Amzn-Trace-Id": [trace_id],
        "Content-Type": ["application/json"]
    });
    let mut headers = json!({
        "Connection": "keep-alive",
        "Content-Length": length,
        "Content-Type": "application/json",
        "Date": date,
        "X-Amz-Executed-Version": "$LATEST",
        "x-amzn-Remapped-Content-Length": "0",
        "x-amzn-RequestId": request_id,
        "X-Amzn-Trace-Id": trace_id
    });
    let mut out = json!({"ExecutedVersion": "$LATEST"});
    if log_tail {
        let log = base64::engine::general_purpose::STANDARD.encode(format!(
            "START RequestId: {request_id} Version: $LATEST\nEND RequestId: {request_id}\n"
        ));
        all["X-Amz-Log-Result"] = json!([log]);
        headers["X-Amz-Log-Result"] = json!(log);
        out["LogResult"] = json!(log);
    }
    out["Payload"] = payload;
    out["SdkHttpMetadata"] = json!({"AllHttpHeaders": all, "HttpHeaders": headers, "HttpStatusCode": 200});
    out["SdkResponseMetadata"] = json!({"RequestId": request_id});
    out["StatusCode"] = json!(200);
    out
}

/// The length of `v` as the Lambda Python runtime writes a response (`json.dumps`: `", "` and
/// `": "` separators, non-ASCII escaped), which is what the recorded Content-Length headers show.
fn python_json_len(v: &Value) -> usize {
    fn str_len(s: &str) -> usize {
        2 + s
            .chars()
            .map(|c| match c {
                '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => 6 * c.len_utf16(),
                _ => 1,
            })
            .sum::<usize>()
    }
    match v {
        Value::String(s) => str_len(s),
        Value::Array(a) => 2 + a.iter().map(python_json_len).sum::<usize>() + 2 * a.len().saturating_sub(1),
        Value::Object(o) => {
            2 + o
                .iter()
                .map(|(k, x)| str_len(k) + 2 + python_json_len(x))
                .sum::<usize>()
                + 2 * o.len().saturating_sub(1)
        }
        other => other.to_string().len(),
    }
}

/// Errors a Lambda function raises reach `lambda:invoke` users with the cause re-serialized
/// compactly, as Step Functions does; the legacy function-ARN resource passes it unchanged.
pub fn invoke_error(mut e: AslError) -> AslError {
    if let Some(c) = &e.cause
        && let Ok(v @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(c)
    {
        e.cause = Some(v.to_string());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names() {
        assert_eq!(function_name("add"), "add");
        assert_eq!(function_name("arn:aws:lambda:us-east-1:1:function:add:$LATEST"), "add");
        assert_eq!(function_name("1:function:add"), "add");
    }
}
