//! `reserve_stock`: reserves the order's items; `OutOfStock` when a quantity is over 100.

use wasmstep_sdk::{Context, TaskError, Value, json};

fn reserve(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let items = input["items"].as_array().cloned().unwrap_or_default();
    if let Some(i) = items.iter().position(|it| it["qty"].as_u64().unwrap_or(0) > 100) {
        return Err(TaskError::new("OutOfStock", format!("item {i} asks for more than 100")));
    }
    Ok(
        json!({"reservation": format!("res-{}", input["orderId"].as_str().unwrap_or("?")), "units": items.iter().map(|i| i["qty"].as_u64().unwrap_or(0)).sum::<u64>()}),
    )
}

wasmstep_sdk::handler!(reserve);
