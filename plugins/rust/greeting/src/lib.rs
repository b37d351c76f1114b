//! `greeting`: greets `name`, saying which release of the handler answered (1, or 2 when built
//! with `--features v2`); `sleep_ms` makes the call take that long, to keep a call in flight
//! while the module is replaced.

use wasmstep_sdk::{Context, TaskError, Value, json};

const VERSION: u64 = if cfg!(feature = "v2") { 2 } else { 1 };

fn greeting(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let name = input.get("name").and_then(Value::as_str).unwrap_or("world");
    if let Some(ms) = input.get("sleep_ms").and_then(Value::as_u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms.min(60_000)));
    }
    let text = if VERSION == 2 {
        format!("Hi, {name}!")
    } else {
        format!("Hello, {name}.")
    };
    Ok(json!({"greeting": text, "version": VERSION}))
}

wasmstep_sdk::handler!(greeting);
