//! `identity`: returns its input unchanged.

use wasmstep_sdk::{Context, TaskError, Value};

fn identity(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    Ok(input)
}

wasmstep_sdk::handler!(identity);
