//! How Task states reach their handlers: the `TaskInvoker` trait, Resource resolution, and
//! Lambda's result envelope for `arn:aws:states:::lambda:invoke`.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::error::{AslError, ErrorName};
use super::{ACCOUNT, REGION};
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
}

/// An invoker with no handlers at all: every Task fails as a missing function does.
#[derive(Debug, Default)]
pub struct NoHandlers;

impl TaskInvoker for NoHandlers {
    fn invoke<'a>(&'a self, _call: TaskCall<'a>) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(std::future::ready(Err(InvokeError::NoSuchHandler)))
    }
}

/// A resolved call: which handler, with which payload, and whether to wrap the result.
pub struct Target {
    pub handler: String,
    pub payload: Value,
    pub envelope: bool,
}

/// Resolves a Task's resource and effective input to a handler call.
pub fn resolve(resource: &Resource, uri: &str, effective: Value) -> Result<Target, AslError> {
    match resource {
        Resource::Wasm { name } => Ok(Target {
            handler: name.clone(),
            payload: effective,
            envelope: false,
        }),
        Resource::LambdaFunction { name, .. } => Ok(Target {
            handler: name.clone(),
            payload: effective,
            envelope: false,
        }),
        Resource::LambdaInvoke => {
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
            let payload = params.remove("Payload").unwrap_or(Value::Object(Default::default()));
            Ok(Target {
                handler: name,
                payload,
                envelope: true,
            })
        }
        Resource::Other { .. } => Err(AslError::new(
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

/// AWS's error for a Lambda function that does not exist.
pub fn missing_function(name: &str) -> AslError {
    AslError::new(
        ErrorName::Custom("Lambda.ResourceNotFoundException".into()),
        format!(
            "Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:$LATEST (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: {}; Proxy: null)",
            uuid::Uuid::new_v4()
        ),
    )
}

/// The result of `lambda:invoke` as Step Functions returns it.
pub fn envelope(payload: Value) -> Value {
    let request_id = uuid::Uuid::new_v4().to_string();
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": [request_id],
                "Content-Type": ["application/json"]
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Type": "application/json",
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id
            },
            "HttpStatusCode": 200
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200
    })
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
