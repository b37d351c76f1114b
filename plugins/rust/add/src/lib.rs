//! `add`: returns `{"sum": a + b}` (the bench workload's handler).

use wasmstep_sdk::{Context, TaskError, Value, json};

fn add(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let num = |k: &str| {
        input[k]
            .as_f64()
            .ok_or_else(|| TaskError::new("InvalidInput", format!("'{k}' must be a number, got {}", input[k])))
    };
    let sum = num("a")? + num("b")?;
    Ok(if sum.fract() == 0.0 && sum.abs() < 9e15 {
        json!({"sum": sum as i64})
    } else {
        json!({"sum": sum})
    })
}

wasmstep_sdk::handler!(add);
