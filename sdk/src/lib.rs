//! Write a wasmstep Task handler as a plain function:
//!
//! ```ignore
//! use wasmstep_sdk::{Context, TaskError, Value, json};
//!
//! fn add(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
//!     let a = input["a"].as_i64().ok_or_else(|| TaskError::new("BadInput", "a must be an integer"))?;
//!     let b = input["b"].as_i64().ok_or_else(|| TaskError::new("BadInput", "b must be an integer"))?;
//!     Ok(json!({"sum": a + b}))
//! }
//!
//! wasmstep_sdk::handler!(add);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2` (crate type `cdylib`): the result is a
//! component implementing the `wasmstep:handler` world in `sdk/wit/`. No unsafe code and no WIT
//! knowledge is needed.

pub use serde_json::{self, Value, json};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "handler",
        pub_export_macro: true,
        export_macro_name: "__export_handler",
        default_bindings_module: "wasmstep_sdk::bindings",
    });
}

/// Who is calling: the execution, the state and the attempt.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub execution_id: String,
    pub execution_name: String,
    pub state_machine_name: String,
    pub state_name: String,
    /// 0 on the first attempt, then 1, 2, ... on retries.
    pub retry_count: u64,
    /// Present for `.waitForTaskToken` tasks.
    pub task_token: Option<String>,
    /// The whole context object, for anything not listed above.
    pub raw: Value,
}

impl Context {
    fn from_json(text: &str) -> Context {
        let raw: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        Context {
            execution_id: s(&raw["Execution"]["Id"]),
            execution_name: s(&raw["Execution"]["Name"]),
            state_machine_name: s(&raw["StateMachine"]["Name"]),
            state_name: s(&raw["State"]["Name"]),
            retry_count: raw["State"]["RetryCount"].as_u64().unwrap_or(0),
            task_token: raw["Task"]["Token"].as_str().map(str::to_string),
            raw,
        }
    }
}

/// An error the handler reports on purpose; `error` becomes the ASL error name that Retry and
/// Catch match, `cause` its cause.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

impl TaskError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskError {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

/// Tells the host this handler is still working (resets the Task's HeartbeatSeconds clock).
pub fn heartbeat() {
    bindings::wasmstep::handler::host::heartbeat();
}

/// Log levels for [`log`].
pub use bindings::wasmstep::handler::host::Level;

/// Writes a line to the host's log.
pub fn log(level: Level, message: &str) {
    bindings::wasmstep::handler::host::log(level, message);
}

/// Runs a handler function on the raw strings of the guest contract.
#[doc(hidden)]
pub fn __run(
    input: String,
    context: String,
    f: fn(Value, &Context) -> Result<Value, TaskError>,
) -> Result<String, bindings::TaskError> {
    let to_wit = |e: TaskError| bindings::TaskError {
        error: e.error,
        cause: e.cause,
    };
    let input: Value = serde_json::from_str(&input).map_err(|e| {
        to_wit(TaskError::new(
            "InvalidInput",
            format!("the task input is not JSON: {e}"),
        ))
    })?;
    let ctx = Context::from_json(&context);
    let out = f(input, &ctx).map_err(to_wit)?;
    serde_json::to_string(&out).map_err(|e| to_wit(TaskError::new("InvalidOutput", e.to_string())))
}

/// Exports `$f: fn(Value, &Context) -> Result<Value, TaskError>` as the handler.
#[macro_export]
macro_rules! handler {
    ($f:path) => {
        struct __WasmstepHandler;

        impl $crate::bindings::Guest for __WasmstepHandler {
            fn handle(
                input: ::std::string::String,
                context: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::bindings::TaskError> {
                $crate::__run(input, context, $f)
            }
        }

        $crate::bindings::__export_handler!(__WasmstepHandler with_types_in $crate::bindings);
    };
}
