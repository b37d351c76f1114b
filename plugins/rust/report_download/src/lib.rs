//! `report_download`: the finished report as CSV (`region,orders,revenue` rows).

use wasmstep_sdk::{Context, TaskError, Value, json};

fn download(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let rows = input["rows"].as_u64().unwrap_or(3);
    let regions = ["north", "south", "east", "west", "<central & co>"];
    let mut csv = String::from("region,orders,revenue\n");
    for i in 0..rows {
        let r = regions[(i as usize) % regions.len()];
        csv.push_str(&format!("{r},{},{:.2}\n", 10 + i * 7, 120.5 + i as f64 * 33.25));
    }
    Ok(json!({"csv": csv}))
}

wasmstep_sdk::handler!(download);
