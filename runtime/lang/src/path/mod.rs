//! Paths over state data: `$` (input), `$$` (context object) and `$name` (variables), plus
//! payload templates, reference paths and intrinsic functions — all compiled at load time.

pub mod context;
pub mod filter;
pub mod functions;
pub mod intrinsic;
pub mod jsonpath;
pub mod reference;
pub mod template;
pub mod vars;

use serde_json::Value;

pub use context::ContextObject;
pub use jsonpath::{JsonPath, Miss, Selected};
pub use vars::Vars;

/// Everything a path can read while one state runs.
pub struct Env<'a> {
    /// The document `$` refers to (state input, effective input or task result).
    pub input: &'a Value,
    pub context: &'a ContextObject<'a>,
    pub vars: &'a Vars,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Root {
    Input,
    Context,
    Variable(String),
}

/// A compiled Path: `$...`, `$$...` or `$var...`.
#[derive(Debug, Clone)]
pub struct Path {
    text: String,
    root: Root,
    pub(crate) query: JsonPath,
}

impl Path {
    /// Parses a Path; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Path, String> {
        // Trailing whitespace is not part of a path: AWS's JSONPath (Jayway) trims it, and
        // published definitions have it ("$$.Execution.Name ").
        let Some(rest) = text.trim_end().strip_prefix('$') else {
            return Err(format!("'{text}' is not a path: a path starts with '$'"));
        };
        let (root, tail) = if let Some(tail) = rest.strip_prefix('$') {
            (Root::Context, tail)
        } else if rest.is_empty() || rest.starts_with('.') || rest.starts_with('[') {
            (Root::Input, rest)
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let name = &rest[..end];
            if !is_variable_name(name) {
                return Err(format!("'{text}' is not a valid path or variable reference"));
            }
            (Root::Variable(name.to_string()), &rest[end..])
        };
        let query = JsonPath::parse_tail(tail).map_err(|e| format!("invalid path '{text}': {e}"))?;
        Ok(Path {
            text: text.to_string(),
            root,
            query,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// `.name`, `['name']` and `[n]` only.
    pub fn is_reference(&self) -> bool {
        self.query.is_reference()
    }

    pub fn is_definite(&self) -> bool {
        self.query.is_definite()
    }

    pub fn uses_context(&self) -> bool {
        self.root == Root::Context
    }

    pub fn variable(&self) -> Option<&str> {
        match &self.root {
            Root::Variable(v) => Some(v),
            _ => None,
        }
    }

    /// Selects from the environment.
    pub fn select<'v>(&self, env: &Env<'v>) -> Result<Selected<'v>, Miss> {
        let base: &'v Value = match &self.root {
            Root::Input => env.input,
            Root::Context => env.context.value(),
            Root::Variable(name) => match env.vars.get(name) {
                Some(v) => v,
                None => return Err(Miss::NoResults(format!("${name}"))),
            },
        };
        self.query.select(base, base)
    }

    /// Selects from one document, whatever the path's root (for paths applied outside an
    /// execution: a schedule's `inputPath` over its event).
    pub fn value_in(&self, doc: &Value) -> Result<Value, Miss> {
        self.query.select(doc, doc).map(Selected::into_value)
    }

    /// Selects and clones the result.
    pub fn value(&self, env: &Env<'_>) -> Result<Value, Miss> {
        self.select(env).map(Selected::into_value)
    }

    /// AWS's message for a path that found nothing: `Invalid path '$.x' : No results for path: $['x']`.
    pub fn miss_message(&self, miss: &Miss) -> String {
        format!("Invalid path '{}' : {}", self.text, miss.message())
    }
}

/// Variable names: Unicode identifiers (letters, digits, `_`), not starting with a digit.
pub fn is_variable_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// A JSON number from an f64, written as an integer when it is one.
pub fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// JSON type names as Step Functions prints them in type errors.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compact JSON text of a value.
pub fn to_json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The exact length of `v` serialized as compact JSON, without allocating it.
pub fn json_size(v: &Value) -> usize {
    fn str_len(s: &str) -> usize {
        2 + s
            .chars()
            .map(|c| match c {
                '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
                c if (c as u32) < 0x20 => 6,
                c => c.len_utf8(),
            })
            .sum::<usize>()
    }
    match v {
        Value::Null => 4,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => {
            use std::fmt::Write;
            struct Count(usize);
            impl Write for Count {
                fn write_str(&mut self, s: &str) -> std::fmt::Result {
                    self.0 += s.len();
                    Ok(())
                }
            }
            let mut c = Count(0);
            let _ = write!(c, "{n}");
            c.0
        }
        Value::String(s) => str_len(s),
        Value::Array(a) => 2 + a.iter().map(json_size).sum::<usize>() + a.len().saturating_sub(1),
        Value::Object(o) => {
            2 + o.iter().map(|(k, v)| str_len(k) + 1 + json_size(v)).sum::<usize>() + o.len().saturating_sub(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_size_matches_serialization() {
        let v = json!({"a": [1, 2.5, -3, null, true, false], "b\n": "x\"y\u{1}é", "c": {}});
        assert_eq!(json_size(&v), to_json_text(&v).len());
    }

    #[test]
    fn roots() {
        assert!(Path::parse("$$.Execution.Id").unwrap().uses_context());
        assert_eq!(Path::parse("$foo.bar").unwrap().variable(), Some("foo"));
        assert!(Path::parse("foo").is_err());
        assert!(Path::parse("$.a[").is_err());
    }
}
