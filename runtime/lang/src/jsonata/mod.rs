//! JSONata expressions, parsed once and evaluated many times, behind our own type.
//!
//! The language itself comes from `jsonata-core` (pinned: its patch releases have changed
//! results). We checked it against the jsonata-js suite in `shared/jsonata-suite`
//! (`runtime/tests/jsonata_suite.rs`); this module adds what Step Functions adds: resource
//! limits, its extra functions, and conversion to and from `serde_json` values.

pub mod budget;
mod functions;
pub mod template;

use std::sync::LazyLock;

use indexmap::IndexMap;
use jsonata_core::ast::AstNode;
use jsonata_core::evaluator::{CancelToken, Context, Evaluator, EvaluatorError, EvaluatorOptions};
use jsonata_core::value::JArray;
/// JSONata's value type: the engine builds `$states` in it without a round trip through JSON.
pub use jsonata_core::value::JValue;
use regex::Regex;
use serde_json::{Map, Value};

/// Limits that turn runaway expressions into errors instead of a hung or crashed process.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock time one evaluation may take (D1012 beyond it).
    pub timeout_ms: u64,
    /// Evaluation stack depth (D1011 beyond it).
    pub max_depth: usize,
    /// Longest sequence a query may build (D2015 beyond it).
    pub max_sequence: usize,
    /// Step Functions forbids `$eval`; plain JSONata (the CLI, the language suite) allows it.
    pub forbid_eval: bool,
    /// Bytes one evaluation may hold beyond its input (U1003 beyond it; counted only where the
    /// binary installs [`budget::BudgetAlloc`]).
    pub max_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: 5_000,
            max_depth: 2_000,
            max_sequence: 10_000_000,
            forbid_eval: false,
            max_memory: 512 << 20,
        }
    }
}

/// A JSONata error: its code (`T2001`, `D3001`, `S0201`...) and message.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonataError {
    pub code: String,
    pub message: String,
    /// Character offset in the expression, when the message names one.
    pub position: Option<usize>,
}

impl std::fmt::Display for JsonataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.starts_with(&self.code) {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

static CODE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b([A-Z][0-9]{4}):").expect("valid regex"));
static POSITION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?:at position|position)\s+(\d+)").expect("valid regex"));
static VARIABLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\$([\p{L}_][\p{L}\p{N}_]*)").expect("valid regex"));

fn error_from(message: &str, fallback_code: &str) -> JsonataError {
    // The code may follow a prefix such as "Invalid syntax: "; keep the message from the code on.
    let (code, message) = match CODE.captures(message) {
        Some(c) => {
            let start = c.get(1).map(|m| m.start()).unwrap_or(0);
            (c[1].to_string(), message[start..].to_string())
        }
        None if message.contains("Unclosed comment") => ("S0106".to_string(), format!("S0106: {message}")),
        None => (fallback_code.to_string(), message.to_string()),
    };
    // jsonata-js (and Step Functions) print some messages without the token jsonata-core adds.
    let message = match code.as_str() {
        "T1006" => "T1006: Attempted to invoke a non-function".to_string(),
        _ => message,
    };
    // Our depth and time limits play the part of jsonata-js's "timebox", which reports U1001.
    let code = match code.as_str() {
        "D1011" | "D1012" => "U1001".to_string(),
        _ => code,
    };
    let position = POSITION.captures(&message).and_then(|c| c[1].parse().ok());
    JsonataError {
        code,
        message,
        position,
    }
}

fn evaluator_error(e: &EvaluatorError) -> JsonataError {
    // Uncoded evaluator errors are reported under the generic "D1000" family.
    error_from(e.message(), "D1000")
}

/// A parsed expression. Parsing happens when a definition loads, never per evaluation.
#[derive(Debug)]
pub struct Expr {
    source: String,
    ast: AstNode,
    /// `$name`s the text mentions: only these variables are bound when it runs.
    names: Vec<String>,
    /// Which `$states` members the text reads.
    states: template::StatesUse,
}

impl Expr {
    pub fn parse(source: &str) -> Result<Expr, JsonataError> {
        let ast = jsonata_core::parser::parse(source).map_err(|e| {
            let mut err = error_from(&e.to_string(), "S0201");
            // The parser names no position; an error at the end of the text is at its length.
            if err.position.is_none() && err.message.contains("end of expression") {
                err.position = Some(source.chars().count());
            }
            err
        })?;
        let mut names: Vec<String> = VARIABLE.captures_iter(source).map(|c| c[1].to_string()).collect();
        names.sort();
        names.dedup();
        Ok(Expr {
            source: source.to_string(),
            ast,
            names,
            states: template::states_use(source),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Which `$states` members the expression reads.
    pub fn states_use(&self) -> template::StatesUse {
        self.states
    }

    /// True when the text mentions `$name` (a variable or function of that name).
    pub fn mentions(&self, name: &str) -> bool {
        self.names.binary_search_by(|n| n.as_str().cmp(name)).is_ok()
    }

    /// Every `$name` the text mentions.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Evaluates over `input` (`None`: no input document). `bind` supplies the value of each
    /// `$name` the expression mentions, or `None` to leave it unbound. `Ok(None)` means the
    /// expression produced no value (undefined).
    pub fn evaluate(
        &self,
        input: Option<&Value>,
        bind: &mut dyn FnMut(&str) -> Option<JValue>,
        limits: Limits,
    ) -> Result<Option<Evaluated>, JsonataError> {
        let mut context = Context::new();
        for name in &self.names {
            if let Some(v) = bind(name) {
                context.bind(name.clone(), v);
            }
        }
        let token = CancelToken::new();
        let options = EvaluatorOptions {
            timeout_ms: Some(limits.timeout_ms),
            cancel: Some(token.clone()),
            max_stack_depth: Some(limits.max_depth),
            max_sequence_length: Some(limits.max_sequence),
        };
        let mut ev = Evaluator::with_options(context, options);
        functions::register(&mut ev, self, limits.forbid_eval);
        let data = input.map(|v| JValue::from(v.clone())).unwrap_or(JValue::Undefined);
        let result = {
            let _budget = budget::Budget::enter(limits.max_memory, &token);
            ev.evaluate(&self.ast, &data)
        };
        // Cancelled means over the memory budget (a last built-in call may have finished
        // regardless: its result is not used).
        if token.is_cancelled() {
            return Err(JsonataError {
                code: "U1003".into(),
                message: format!(
                    "U1003: The expression needed more than {} MiB of memory",
                    limits.max_memory >> 20
                ),
                position: None,
            });
        }
        let result = result.map_err(|e| evaluator_error(&e))?;
        Ok(from_jvalue(&result))
    }
}

/// An expression's value: JSON, or something JSON cannot hold (a function).
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluated {
    Json(Value),
    Function,
}

/// Converts to JSON; `None` for undefined. Integral numbers become JSON integers.
pub fn from_jvalue(v: &JValue) -> Option<Evaluated> {
    fn json(v: &JValue) -> Result<Option<Value>, ()> {
        Ok(Some(match v {
            JValue::Undefined => return Ok(None),
            JValue::Null => Value::Null,
            JValue::Bool(b) => Value::Bool(*b),
            JValue::Number(n) => crate::path::number(*n),
            JValue::String(s) => Value::String(s.to_string()),
            JValue::Array(_) => {
                let items = v.as_array().map(|a| a.as_slice()).unwrap_or_default();
                let mut out = Vec::with_capacity(items.len());
                for x in items {
                    if let Some(j) = json(x)? {
                        out.push(j);
                    }
                }
                Value::Array(out)
            }
            JValue::Object(_) => {
                let mut m = Map::new();
                for (k, x) in v.as_object().into_iter().flatten() {
                    if let Some(j) = json(x)? {
                        m.insert(k.clone(), j);
                    }
                }
                Value::Object(m)
            }
            _ => return Err(()),
        }))
    }
    match json(v) {
        Ok(Some(j)) => Some(Evaluated::Json(j)),
        Ok(None) => None,
        Err(()) => Some(Evaluated::Function),
    }
}

/// Converts JSON for binding into an expression, straight from the borrowed value (the
/// `From` impl would need an owned copy first).
pub fn to_jvalue(v: &Value) -> JValue {
    match v {
        Value::Null => JValue::Null,
        Value::Bool(b) => JValue::Bool(*b),
        Value::Number(n) => JValue::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => JValue::string(s.as_str()),
        Value::Array(items) => {
            let flat = !items.iter().any(Value::is_array);
            JValue::Array(JArray::new_flat(items.iter().map(to_jvalue).collect(), flat))
        }
        Value::Object(m) => JValue::object(
            m.iter()
                .map(|(k, x)| (k.clone(), to_jvalue(x)))
                .collect::<IndexMap<_, _>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(src: &str, input: Value) -> Result<Option<Value>, JsonataError> {
        let e = Expr::parse(src)?;
        e.evaluate(Some(&input), &mut |_| None, Limits::default())
            .map(|r| match r {
                Some(Evaluated::Json(v)) => Some(v),
                Some(Evaluated::Function) => Some(json!("<function>")),
                None => None,
            })
    }

    #[test]
    fn evaluates_and_keeps_integers() {
        assert_eq!(eval("a + 1", json!({"a": 1})).unwrap(), Some(json!(2)));
        assert_eq!(eval("b", json!({"a": 1})).unwrap(), None);
        assert_eq!(
            eval("$partition([1,2,3], 2)", json!(null)).unwrap(),
            Some(json!([[1, 2], [3]]))
        );
        assert_eq!(eval("$range(0, 10, 5)", json!(null)).unwrap(), Some(json!([0, 5, 10])));
        assert_eq!(
            eval("$parse('{\"x\": [1]}')", json!(null)).unwrap(),
            Some(json!({"x": [1]}))
        );
        assert_eq!(
            eval("$hash('input data', 'MD5')", json!(null)).unwrap(),
            Some(json!("812f45842bc6d66ee14572ce20db8e86"))
        );
        assert_eq!(eval("$random(7) = $random(7)", json!(null)).unwrap(), Some(json!(true)));
        assert_eq!(eval("$length($uuid())", json!(null)).unwrap(), Some(json!(36)));
    }

    #[test]
    fn conversion_matches_the_library() {
        let v = json!({"a": [1, [2.5, "x"], {"b": null}], "c": true});
        assert_eq!(to_jvalue(&v), JValue::from(v.clone()));
    }

    #[test]
    fn errors_carry_codes() {
        assert_eq!(eval("'a' + 1", json!(null)).unwrap_err().code, "T2001");
        assert_eq!(eval("1 + 'a'", json!(null)).unwrap_err().code, "T2002");
        assert!(Expr::parse("(").unwrap_err().code.starts_with('S'));
        assert_eq!(eval("$eval('1 + 1')", json!(null)).unwrap(), Some(json!(2)));
        let e = Expr::parse("$eval('1')").unwrap();
        let sfn = Limits {
            forbid_eval: true,
            ..Limits::default()
        };
        assert!(e.evaluate(None, &mut |_| None, sfn).is_err());
    }

    #[test]
    fn runaway_expressions_end_with_an_error() {
        let e = eval(
            "($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(1000000))",
            json!(null),
        )
        .unwrap_err();
        assert_eq!(e.code, "U1001", "{e:?}");
        let e = eval("$count([1..100000000])", json!(null));
        assert!(e.is_err(), "{e:?}");
    }

    #[test]
    fn memory_is_bounded_per_evaluation() {
        // Doubling a string: gigabytes within the time limit without a memory budget.
        let e =
            Expr::parse("($f := function($x, $n){ $n = 0 ? $x : $f($x & $x, $n - 1) }; $length($f('xxxxxxxx', 40)))")
                .unwrap();
        let small = Limits {
            max_memory: 16 << 20,
            ..Limits::default()
        };
        let err = e.evaluate(None, &mut |_| None, small).unwrap_err();
        assert_eq!(err.code, "U1003", "{err:?}");
        // Within the budget, the same expression works.
        let e =
            Expr::parse("($f := function($x, $n){ $n = 0 ? $x : $f($x & $x, $n - 1) }; $length($f('xxxxxxxx', 10)))")
                .unwrap();
        assert_eq!(
            e.evaluate(None, &mut |_| None, small).unwrap(),
            Some(Evaluated::Json(json!(8192)))
        );
        let err = eval("$pad('', 2000000000)", json!(null)).unwrap_err();
        assert_eq!(err.code, "D3001", "{err:?}");
        assert_eq!(eval("$pad('ab', -5, 'xy')", json!(null)).unwrap(), Some(json!("xyxab")));
        assert_eq!(eval("$pad('ab', 4)", json!(null)).unwrap(), Some(json!("ab  ")));
    }
}
