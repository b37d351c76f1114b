//! `report_create`: starts a report for `{"query", "rows"}` and returns its id.

use wasmstep_sdk::{Context, TaskError, Value, json};

fn create(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let query = input["query"]
        .as_str()
        .ok_or_else(|| TaskError::new("InvalidInput", "'query' must be a string"))?;
    let rows = input["rows"].as_u64().unwrap_or(3).min(1000);
    // Derived from the query, so a retried call returns the same report.
    let id: u64 = query
        .bytes()
        .fold(1469598103934665603, |h, b| (h ^ b as u64).wrapping_mul(1099511628211));
    Ok(json!({"reportId": format!("r-{:012x}", id & 0xffff_ffff_ffff), "query": query, "rows": rows}))
}

wasmstep_sdk::handler!(create);
