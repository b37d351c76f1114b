//! `total_rust`: the order total, implemented the same way in every plugin language.
//! Input `{"items": [{"price": n, "qty": n}]}`; output `{"total": n, "lines": n}`; a negative
//! quantity raises `InvalidItem`.

use wasmstep_sdk::{Context, TaskError, Value, json};

fn total(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let items = input["items"].as_array().cloned().unwrap_or_default();
    let mut total = 0.0;
    for (i, item) in items.iter().enumerate() {
        let price = item["price"].as_f64().unwrap_or(0.0);
        let qty = item["qty"].as_f64().unwrap_or(0.0);
        if qty < 0.0 {
            return Err(TaskError::new(
                "InvalidItem",
                format!("item {i} has a negative quantity"),
            ));
        }
        total += price * qty;
    }
    let total = (total * 100.0).round() / 100.0;
    Ok(json!({"total": total, "lines": items.len()}))
}

wasmstep_sdk::handler!(total);
