//! `migrate_record`: moves a v1 customer record (`{"id", "name": "First Last", "mail"}`) to
//! v2 (`{"id", "firstName", "lastName", "email", "version": 2}`); `InvalidRecord` otherwise.

use wasmstep_sdk::{Context, TaskError, Value, json};

fn migrate(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let id = input["id"]
        .as_u64()
        .ok_or_else(|| TaskError::new("InvalidRecord", "a record needs a numeric 'id'"))?;
    let name = input["name"].as_str().unwrap_or_default();
    let mail = input["mail"].as_str().unwrap_or_default();
    if !mail.contains('@') {
        return Err(TaskError::new(
            "InvalidRecord",
            format!("record {id} has no valid mail address"),
        ));
    }
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    Ok(json!({"id": id, "firstName": first, "lastName": last, "email": mail.to_lowercase(), "version": 2}))
}

wasmstep_sdk::handler!(migrate);
