//! `wasmstep jsonata`: one JSONata expression over a JSON document.

use std::path::Path;

use serde_json::Value;

use super::args::JsonataArgs;
use super::{USAGE, print_line};

fn read_json_file(path: &Path, what: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{what} {} is not valid JSON: {e}", path.display()))
}

/// Prints `{"result": …}`, `{"undefined": true}`, `{"function": true}` or
/// `{"error": {"code", "message"}}` (exit 1).
pub fn jsonata(args: JsonataArgs) -> u8 {
    use wasmstep::jsonata::{Evaluated, Expr, Limits, to_jvalue};
    let data = match args
        .data_file
        .as_deref()
        .map(|p| read_json_file(p, "data file"))
        .transpose()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let bindings = match args
        .bindings_file
        .as_deref()
        .map(|p| read_json_file(p, "bindings file"))
        .transpose()
    {
        Ok(None) => serde_json::Map::new(),
        Ok(Some(Value::Object(m))) => m,
        Ok(Some(_)) => {
            eprintln!("error: the bindings file must hold a JSON object of names to values");
            return USAGE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let limits = Limits {
        timeout_ms: args.timeout_ms,
        ..Limits::default()
    };
    let outcome = Expr::parse(&args.expr)
        .and_then(|e| e.evaluate(data.as_ref(), &mut |n| bindings.get(n).map(to_jvalue), limits));
    let (line, code) = match outcome {
        Ok(Some(Evaluated::Json(v))) => (serde_json::json!({ "result": v }), 0),
        Ok(Some(Evaluated::Function)) => (serde_json::json!({ "function": true }), 0),
        Ok(None) => (serde_json::json!({ "undefined": true }), 0),
        Err(e) => {
            let mut err = serde_json::json!({"code": e.code, "message": e.message});
            if let Some(p) = e.position {
                err["position"] = p.into();
            }
            (serde_json::json!({ "error": err }), 1)
        }
    };
    print_line(&line);
    code
}
