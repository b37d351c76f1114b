//! AWS's validation warnings (ValidateStateMachineDefinition's `WARNING` diagnostics): values
//! that look like paths where a field takes them literally. Each is reported and the
//! definition still loads, as on AWS.
//!
//! - `NO_DOLLAR`: a payload-template key without `.$` whose value looks like a path or an
//!   intrinsic function call (it is passed on as that literal string).
//! - `NO_PATH`: a field with a `…Path` twin given a value that looks like a path.
//! - `PASS_RESULT_IS_STATIC`: a Pass state's `Result` holding something that looks like a path.

use serde_json::{Map, Value};

use super::build::{Builder, escape};
use super::diagnostic::Code;
use crate::path::intrinsic::looks_like_call;

/// Fields whose value is taken literally while a `…Path` twin takes a path.
const PATH_TWINS: [&str; 9] = [
    "Seconds",
    "Timestamp",
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "Error",
    "Cause",
    "MaxConcurrency",
    "ToleratedFailureCount",
    "ToleratedFailurePercentage",
];

fn looks_like_path(s: &str) -> bool {
    s == "$" || s.starts_with("$.") || s.starts_with("$[") || s.starts_with("$$.")
}

impl Builder<'_> {
    /// `NO_DOLLAR` throughout a payload template (`Parameters`, `ResultSelector`, `Assign`, …).
    pub(super) fn hint_no_dollar(&mut self, v: &Value, pointer: &str) {
        match v {
            Value::Object(m) => {
                for (k, item) in m {
                    let p = format!("{pointer}/{}", escape(k));
                    if !k.ends_with(".$")
                        && let Value::String(s) = item
                        && (looks_like_path(s) || looks_like_call(s))
                    {
                        self.warn(
                            Code::NoDollar,
                            &p,
                            format!("'{k}' is not a path field, so its value '{s}' is passed on as this literal text; name the field '{k}.$' to evaluate it"),
                        );
                    }
                    self.hint_no_dollar(item, &p);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.hint_no_dollar(item, &format!("{pointer}/{i}"));
                }
            }
            _ => {}
        }
    }

    /// `NO_PATH` for a JSONPath state's fields that have a `…Path` twin.
    pub(super) fn hint_no_path(&mut self, obj: &Map<String, Value>, at: &str) {
        for field in PATH_TWINS {
            if let Some(Value::String(s)) = obj.get(field)
                && looks_like_path(s)
            {
                self.warn(
                    Code::NoPath,
                    &format!("{at}/{field}"),
                    format!("{field} '{s}' looks like a path, but {field} takes its value literally; use {field}Path to read it from the input"),
                );
            }
        }
    }

    /// `PASS_RESULT_IS_STATIC`: a Pass state's `Result` is never evaluated.
    pub(super) fn hint_static_result(&mut self, result: &Value, pointer: &str) {
        let dynamic = match result {
            Value::String(s) => looks_like_path(s),
            Value::Object(m) => m
                .iter()
                .any(|(k, v)| k.ends_with(".$") || v.as_str().is_some_and(looks_like_path)),
            _ => false,
        };
        if dynamic {
            self.warn(
                Code::PassResultIsStatic,
                pointer,
                "A Pass state's Result is static: paths and '.$' fields in it are not evaluated (use Parameters to build a value from the input)",
            );
        }
    }
}
