//! `report_poll`: a report is ready on the third poll (`attempt` counts the polls so far).

use wasmstep_sdk::{Context, TaskError, Value, json};

fn poll(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let attempt = input["attempt"].as_u64().unwrap_or(0);
    Ok(json!({"status": if attempt >= 2 { "READY" } else { "RUNNING" }, "attempt": attempt + 1}))
}

wasmstep_sdk::handler!(poll);
