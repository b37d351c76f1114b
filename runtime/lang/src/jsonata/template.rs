//! JSONata-capable field values: JSON in which any string of the form `{% expr %}` is an
//! expression, compiled when the definition loads.

use std::sync::LazyLock;

use jsonata_core::value::JValue;
use regex::Regex;
use serde_json::{Map, Value};

use super::{Evaluated, Expr, JsonataError, Limits};

/// A compiled JSONata-capable value.
#[derive(Debug)]
pub enum Ata {
    /// No expression anywhere below: used as is.
    Literal(Value),
    Expr(Box<Expr>),
    Object(Vec<(String, Ata)>),
    Array(Vec<Ata>),
}

/// What `$states` members an expression may read (decided from its text at load time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatesUse {
    pub input: bool,
    pub context: bool,
    pub result: bool,
    pub error_output: bool,
    /// `$states` itself (not one member): it reads whatever members exist where it runs.
    pub whole: bool,
}

impl StatesUse {
    pub fn any(self) -> bool {
        self.input || self.context || self.result || self.error_output || self.whole
    }
}

static STATES_REF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$states\b(\s*\.\s*([A-Za-z_]+))?").expect("valid regex"));

/// Which `$states` members `source` reads by name; a bare `$states` reads the whole object
/// (only its members named explicitly are checked against where the field may read them, as
/// AWS checks `$states.result` and `$states.errorOutput`).
pub fn states_use(source: &str) -> StatesUse {
    let mut u = StatesUse::default();
    for c in STATES_REF.captures_iter(source) {
        match c.get(2).map(|m| m.as_str()) {
            Some("input") => u.input = true,
            Some("context") => u.context = true,
            Some("result") => u.result = true,
            Some("errorOutput") => u.error_output = true,
            Some(_) => {}
            None => u.whole = true,
        }
    }
    u
}

/// Why a JSONata-capable value could not be produced.
#[derive(Debug, Clone, PartialEq)]
pub enum AtaFailure {
    Undefined {
        expr: String,
        location: String,
    },
    Threw {
        expr: String,
        location: String,
        error: JsonataError,
    },
    Function {
        expr: String,
        location: String,
    },
}

impl AtaFailure {
    /// Step Functions' wording (after the "An error occurred while executing the state" prefix).
    pub fn message(&self) -> String {
        match self {
            AtaFailure::Undefined { expr, location } => {
                format!(
                    "The JSONata expression '{expr}' specified for the field '{location}' returned nothing (undefined)."
                )
            }
            AtaFailure::Threw { expr, location, error } => format!(
                "The JSONata expression '{expr}' specified for the field '{location}' threw an error during evaluation. {error}"
            ),
            AtaFailure::Function { expr, location } => {
                format!(
                    "The JSONata expression '{expr}' specified for the field '{location}' returned an unsupported result type."
                )
            }
        }
    }

    pub fn location(&self) -> &str {
        match self {
            AtaFailure::Undefined { location, .. }
            | AtaFailure::Threw { location, .. }
            | AtaFailure::Function { location, .. } => location,
        }
    }
}

/// The text between `{%` and `%}`, if `s` is exactly such an expression string.
pub fn expression_text(s: &str) -> Option<&str> {
    s.strip_prefix("{%").and_then(|r| r.strip_suffix("%}")).map(str::trim)
}

fn contains_expression(v: &Value) -> bool {
    match v {
        Value::String(s) => expression_text(s).is_some(),
        Value::Array(a) => a.iter().any(contains_expression),
        Value::Object(o) => o.values().any(contains_expression),
        _ => false,
    }
}

fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

impl Ata {
    /// Compiles a value; every bad expression is reported with its JSON Pointer below the field.
    pub fn compile(v: &Value) -> Result<Ata, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let a = compile_at(v, "", &mut errors);
        if errors.is_empty() { Ok(a) } else { Err(errors) }
    }

    /// Every expression in the value, with its location below the field.
    pub fn expressions(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Expr>) {
        match self {
            Ata::Literal(_) => {}
            Ata::Expr(e) => out.push(e),
            Ata::Object(f) => f.iter().for_each(|(_, a)| a.collect(out)),
            Ata::Array(a) => a.iter().for_each(|x| x.collect(out)),
        }
    }

    /// What `$states` members the expressions read.
    pub fn states_use(&self) -> StatesUse {
        let mut u = StatesUse::default();
        for e in self.expressions() {
            let s = e.states_use();
            u.input |= s.input;
            u.context |= s.context;
            u.result |= s.result;
            u.error_output |= s.error_output;
            u.whole |= s.whole;
        }
        u
    }

    /// Evaluates to JSON. `location` is the field name (e.g. `Output`); nested keys are
    /// appended (`Output/result`) in failures.
    pub fn eval(
        &self,
        location: &str,
        bind: &mut dyn FnMut(&Expr, &str) -> Option<JValue>,
        limits: Limits,
    ) -> Result<Value, AtaFailure> {
        match self {
            Ata::Literal(v) => Ok(v.clone()),
            Ata::Expr(e) => match e.evaluate(None, &mut |name| bind(e, name), limits) {
                Ok(Some(Evaluated::Json(v))) => Ok(v),
                Ok(Some(Evaluated::Function)) => Err(AtaFailure::Function {
                    expr: e.source().to_string(),
                    location: location.to_string(),
                }),
                Ok(None) => Err(AtaFailure::Undefined {
                    expr: e.source().to_string(),
                    location: location.to_string(),
                }),
                Err(error) => Err(AtaFailure::Threw {
                    expr: e.source().to_string(),
                    location: location.to_string(),
                    error,
                }),
            },
            Ata::Object(fields) => {
                let mut m = Map::with_capacity(fields.len());
                for (k, a) in fields {
                    m.insert(k.clone(), a.eval(&format!("{location}/{k}"), bind, limits)?);
                }
                Ok(Value::Object(m))
            }
            Ata::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, a) in items.iter().enumerate() {
                    out.push(a.eval(&format!("{location}/{i}"), bind, limits)?);
                }
                Ok(Value::Array(out))
            }
        }
    }
}

fn compile_at(v: &Value, at: &str, errors: &mut Vec<(String, String)>) -> Ata {
    if !contains_expression(v) {
        return Ata::Literal(v.clone());
    }
    match v {
        Value::String(s) => {
            let text = expression_text(s).unwrap_or_default();
            match Expr::parse(text) {
                Ok(e) => Ata::Expr(Box::new(e)),
                Err(e) => {
                    errors.push((
                        at.to_string(),
                        format!("The JSONata expression '{text}' is invalid: {e}"),
                    ));
                    Ata::Literal(Value::Null)
                }
            }
        }
        Value::Object(o) => Ata::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), compile_at(x, &format!("{at}/{}", escape(k)), errors)))
                .collect(),
        ),
        Value::Array(a) => Ata::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| compile_at(x, &format!("{at}/{i}"), errors))
                .collect(),
        ),
        other => Ata::Literal(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_exact_delimiters_make_expressions() {
        let a = Ata::compile(&json!({"a": "{% 1 + 1 %}", "b": " {% 2 %} ", "c": ["{% 'x' %}", "$.y"]})).unwrap();
        let v = a.eval("Output", &mut |_, _| None, Limits::default()).unwrap();
        assert_eq!(v, json!({"a": 2, "b": " {% 2 %} ", "c": ["x", "$.y"]}));
    }

    #[test]
    fn failures_name_the_nested_location() {
        let a = Ata::compile(&json!({"result": "{% $nope %}"})).unwrap();
        let e = a.eval("Output", &mut |_, _| None, Limits::default()).unwrap_err();
        assert_eq!(
            e.message(),
            "The JSONata expression '$nope' specified for the field 'Output/result' returned nothing (undefined)."
        );
        let errs = Ata::compile(&json!({"x": ["{% ( %}"]})).unwrap_err();
        assert_eq!(errs[0].0, "/x/0");
    }

    #[test]
    fn states_members_are_found_in_the_text() {
        assert_eq!(
            states_use("$states.input.a + 1"),
            StatesUse {
                input: true,
                ..StatesUse::default()
            }
        );
        assert!(states_use("$s := $states; $s.result").whole);
        assert!(!states_use("$s := $states; $s.result").result);
        assert!(!states_use("$statesX").any());
    }
}
