//! `hostile_component`: misbehaves on request (`{"do": "..."}`), to test that the host contains
//! it: spin, bomb (memory), deep (stack), panic, garbage (non-JSON output is impossible through
//! the SDK, so it returns a huge string instead), heartbeat (beats while working), ok.

use wasmstep_sdk::{Context, TaskError, Value, json};

fn deep(n: u64) -> u64 {
    // Not tail-recursive, and kept from being optimised away.
    if n == 0 {
        0
    } else {
        1 + deep(std::hint::black_box(n + 1))
    }
}

fn hostile(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    match input["do"].as_str().unwrap_or("ok") {
        "spin" => loop {
            std::hint::black_box(0);
        },
        "bomb" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 16 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "deep" => Ok(json!(deep(1))),
        "panic" => panic!("the hostile handler panicked on purpose"),
        "heartbeat" => {
            let until =
                std::time::Instant::now() + std::time::Duration::from_millis(input["ms"].as_u64().unwrap_or(300));
            while std::time::Instant::now() < until {
                wasmstep_sdk::heartbeat();
                for _ in 0..100_000 {
                    std::hint::black_box(0);
                }
            }
            Ok(json!("alive"))
        }
        "silent" => {
            let until =
                std::time::Instant::now() + std::time::Duration::from_millis(input["ms"].as_u64().unwrap_or(300));
            while std::time::Instant::now() < until {
                std::hint::black_box(0);
            }
            Ok(json!("quiet"))
        }
        "big" => Ok(json!("x".repeat(input["bytes"].as_u64().unwrap_or(300_000) as usize))),
        "error" => Err(TaskError::new("Refused", "the handler said no")),
        _ => Ok(json!({"ok": true})),
    }
}

wasmstep_sdk::handler!(hostile);
