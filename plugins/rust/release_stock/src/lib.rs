//! `release_stock`: the saga's compensation: releases a reservation.

use wasmstep_sdk::{Context, TaskError, Value, json};

fn release(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let r = input["reservation"]
        .as_str()
        .ok_or_else(|| TaskError::new("InvalidInput", "'reservation' is required"))?;
    Ok(json!({"released": r}))
}

wasmstep_sdk::handler!(release);
