//! `work`: a unit of work for the cluster and redrive tests. Takes `sleep_ms` of time (so calls
//! are in flight when a node stops), returns `value + 1`, and says whether this call is made
//! again because the node that first made it died mid-call (`Task.Redelivered`). With
//! `fail_until_redrive: N` it fails (`WorkFailed`) until the execution has been redriven N times
//! (`Execution.RedriveCount`): a bug that a redrive after the fix gets past.

use wasmstep_sdk::{Context, TaskError, Value, json};

fn work(input: Value, ctx: &Context) -> Result<Value, TaskError> {
    if let Some(ms) = input.get("sleep_ms").and_then(Value::as_u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms.min(60_000)));
    }
    let value = input.get("value").and_then(Value::as_i64).unwrap_or(0);
    let redrives = ctx.raw["Execution"]["RedriveCount"].as_u64().unwrap_or(0);
    if let Some(n) = input.get("fail_until_redrive").and_then(Value::as_u64)
        && redrives < n
    {
        return Err(TaskError::new(
            "WorkFailed",
            format!("item {value} fails until redrive {n} (this is redrive {redrives})"),
        ));
    }
    let redelivered = ctx.raw["Task"]["Redelivered"] == Value::Bool(true);
    Ok(json!({"value": value + 1, "redelivered": redelivered}))
}

wasmstep_sdk::handler!(work);
