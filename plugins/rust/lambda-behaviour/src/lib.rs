//! `lambda_behaviour`: stands in for an AWS Lambda function whose behaviour its manifest
//! grants as environment variables, so recorded Step Functions cases that call Lambda run
//! against a real Wasm handler under the function's name:
//! `BEHAVIOUR=identity` (return the payload), `BEHAVIOUR=return` with `RETURN_JSON`, or
//! `BEHAVIOUR=raise` with `RAISE_ERROR` and `RAISE_CAUSE`.

use wasmstep_sdk::{Context, TaskError, Value, serde_json};

fn behave(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    match var("BEHAVIOUR").as_str() {
        "identity" => Ok(input),
        "return" => serde_json::from_str(&var("RETURN_JSON"))
            .map_err(|e| TaskError::new("InvalidConfiguration", format!("RETURN_JSON is not JSON: {e}"))),
        "raise" => Err(TaskError::new(var("RAISE_ERROR"), var("RAISE_CAUSE"))),
        other => Err(TaskError::new(
            "InvalidConfiguration",
            format!("unknown BEHAVIOUR '{other}'"),
        )),
    }
}

wasmstep_sdk::handler!(behave);
