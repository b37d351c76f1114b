//! `add_command`: `add` as a WASI preview1 command (input on stdin, output on stdout), to
//! compare the two handler forms.

use std::io::{Read, Write};

fn main() {
    let mut text = String::new();
    let _ = std::io::stdin().read_to_string(&mut text);
    let input: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    match (input["a"].as_f64(), input["b"].as_f64()) {
        (Some(a), Some(b)) => {
            let sum = a + b;
            let out = if sum.fract() == 0.0 {
                serde_json::json!({"sum": sum as i64})
            } else {
                serde_json::json!({"sum": sum})
            };
            let _ = write!(std::io::stdout(), "{out}");
        }
        _ => {
            let _ = write!(
                std::io::stdout(),
                "{}",
                serde_json::json!({"error": "InvalidInput", "cause": "a and b must be numbers"})
            );
            std::process::exit(1);
        }
    }
}
