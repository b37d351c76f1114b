//! Builds the JSONata fields of states (`Arguments`, `Output`, `Assign`, and the `{% %}` forms
//! of typed fields), checking where `$states.result` and `$states.errorOutput` may be used.

use serde_json::{Map, Value};

use super::build::{Builder, escape};
use super::model::*;
use crate::jsonata::template::{Ata, StatesUse, expression_text};
use crate::path::is_variable_name;

/// Which `$states` members a field may read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Allowed {
    pub result: bool,
    pub error_output: bool,
}

impl Allowed {
    pub const INPUT_ONLY: Allowed = Allowed {
        result: false,
        error_output: false,
    };
    pub const RESULT: Allowed = Allowed {
        result: true,
        error_output: false,
    };
    pub const ERROR: Allowed = Allowed {
        result: false,
        error_output: true,
    };
}

impl Builder<'_> {
    /// Compiles a JSONata-capable field, reporting bad expressions and `$states` members the
    /// field cannot see.
    pub(super) fn ata(&mut self, obj: &Map<String, Value>, at: &str, field: &str, allowed: Allowed) -> Option<Ata> {
        let v = obj.get(field)?;
        self.ata_value(v, &format!("{at}/{}", escape(field)), field, allowed)
    }

    pub(super) fn ata_value(&mut self, v: &Value, pointer: &str, field: &str, allowed: Allowed) -> Option<Ata> {
        match Ata::compile(v) {
            Ok(a) => {
                let u: StatesUse = a.states_use();
                if u.result && !allowed.result {
                    self.schema(
                        pointer,
                        format!("$states.result is not available in '{field}': only a Task, Map or Parallel state's Output and Assign can read it"),
                    );
                }
                if u.error_output && !allowed.error_output {
                    self.schema(
                        pointer,
                        format!("$states.errorOutput is not available in '{field}': only a Catcher's Output and Assign can read it"),
                    );
                }
                Some(a)
            }
            Err(errors) => {
                for (p, msg) in errors {
                    self.schema(&format!("{pointer}{p}"), msg);
                }
                None
            }
        }
    }

    /// JSONata `Assign`: each key a variable name, each value JSONata-capable.
    pub(super) fn ata_assign(&mut self, obj: &Map<String, Value>, at: &str, allowed: Allowed) -> Option<Assign> {
        let v = obj.get("Assign")?;
        let p = format!("{at}/Assign");
        let Some(fields) = v.as_object() else {
            self.schema(&p, "Assign must be an object of variable names to values");
            return None;
        };
        let mut out = Vec::with_capacity(fields.len());
        for (name, value) in fields {
            let vp = format!("{p}/{}", escape(name));
            if !is_variable_name(name) || name.chars().count() > 80 {
                self.schema(&vp, format!("'{name}' is not a valid variable name"));
            } else if name == "states" {
                self.schema(&vp, "'states' is a reserved variable name");
            }
            if let Some(a) = self.ata_value(value, &vp, "Assign", allowed) {
                out.push((name.clone(), a));
            }
        }
        Some(Assign::Ata(out))
    }

    /// The JSONata pipeline fields of a state.
    pub(super) fn ata_io(&mut self, obj: &Map<String, Value>, at: &str, result: bool) -> Io {
        let after = if result { Allowed::RESULT } else { Allowed::INPUT_ONLY };
        Io {
            language: QueryLanguage::JsonAta,
            arguments: self.ata(obj, at, "Arguments", Allowed::INPUT_ONLY),
            output: self.ata(obj, at, "Output", after),
            assign: self.ata_assign(obj, at, after),
            ..Io::default()
        }
    }

    /// A JSONata number-of-seconds field: an integer or `{% %}`.
    pub(super) fn ata_seconds(&mut self, obj: &Map<String, Value>, at: &str, field: &str, min: u64) -> Option<Seconds> {
        let v = obj.get(field)?;
        if v.as_str().and_then(expression_text).is_some() {
            return self.ata(obj, at, field, Allowed::INPUT_ONLY).map(Seconds::Expr);
        }
        self.uint(obj, at, field, min, 99_999_999).map(Seconds::Fixed)
    }

    /// A JSONata count field (MaxConcurrency, Tolerated*): a number or `{% %}`.
    pub(super) fn ata_count<T>(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        field: &str,
        read: impl Fn(&Value) -> Option<T>,
    ) -> Option<Count<T>> {
        let v = obj.get(field)?;
        if v.as_str().and_then(expression_text).is_some() {
            return self.ata(obj, at, field, Allowed::INPUT_ONLY).map(Count::Expr);
        }
        match read(v) {
            Some(x) => Some(Count::Fixed(x)),
            None => {
                self.schema(&format!("{at}/{field}"), format!("{field} has an invalid value: {v}"));
                None
            }
        }
    }

    /// JSONata Wait: `Seconds` (integer or `{% %}`) or `Timestamp` (RFC 3339 or `{% %}`).
    pub(super) fn ata_wait(&mut self, obj: &Map<String, Value>, at: &str) -> WaitFor {
        if let Some(v) = obj.get("Timestamp") {
            if v.as_str().and_then(expression_text).is_some() {
                return self
                    .ata(obj, at, "Timestamp", Allowed::INPUT_ONLY)
                    .map(WaitFor::TimestampExpr)
                    .unwrap_or(WaitFor::Seconds(0));
            }
            return self.fixed_timestamp(v, at);
        }
        match self.ata_seconds(obj, at, "Seconds", 0) {
            Some(Seconds::Expr(a)) => WaitFor::SecondsExpr(a),
            Some(Seconds::Fixed(n)) => WaitFor::Seconds(n),
            _ => WaitFor::Seconds(0),
        }
    }

    /// JSONata Fail `Error`/`Cause`: a string, possibly `{% %}`.
    pub(super) fn ata_fail_text(&mut self, obj: &Map<String, Value>, at: &str, field: &str) -> Option<FailText> {
        let v = obj.get(field)?;
        match v.as_str() {
            Some(s) if expression_text(s).is_some() => {
                self.ata(obj, at, field, Allowed::INPUT_ONLY).map(FailText::Expr)
            }
            Some(s) => Some(FailText::Literal(s.to_string())),
            None => {
                self.schema(&format!("{at}/{field}"), format!("{field} must be a string"));
                None
            }
        }
    }
}
