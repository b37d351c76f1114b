//! `ship_order`: books the shipment for a paid order.

use wasmstep_sdk::{Context, TaskError, Value, json};

fn ship(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let id = input["orderId"]
        .as_str()
        .ok_or_else(|| TaskError::new("InvalidInput", "'orderId' is required"))?;
    Ok(json!({"tracking": format!("TRK-{}", id.to_uppercase())}))
}

wasmstep_sdk::handler!(ship);
