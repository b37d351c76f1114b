//! Definition text (JSON or YAML) to a JSON value, plus where each JSON Pointer sits in the
//! text, so diagnostics can say `line:column`.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting accepted in YAML, the same limit serde_json applies to JSON.
const MAX_DEPTH: usize = 128;

/// Which syntax a definition is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Yaml,
}

impl Syntax {
    /// From a file name, falling back to the content (JSON starts with `{`).
    pub fn detect(file_name: &str, text: &str) -> Syntax {
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Syntax::Yaml
        } else if lower.ends_with(".json") || text.trim_start().starts_with('{') {
            Syntax::Json
        } else {
            Syntax::Yaml
        }
    }
}

/// A parsed definition document and the positions of its values.
#[derive(Debug, Clone)]
pub struct Source {
    pub value: Value,
    positions: HashMap<String, (usize, usize)>,
}

/// The text is not well-formed JSON or YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Source {
    pub fn parse(text: &str, syntax: Syntax) -> Result<Source, SyntaxError> {
        match syntax {
            Syntax::Json => {
                let value: Value = serde_json::from_str(text).map_err(|e| SyntaxError {
                    line: e.line(),
                    column: e.column(),
                    message: e.to_string(),
                })?;
                let mut positions = HashMap::new();
                let mut scan = JsonScan {
                    s: text.as_bytes(),
                    i: 0,
                    line: 1,
                    col: 1,
                };
                scan.value(String::new(), &mut positions);
                Ok(Source { value, positions })
            }
            Syntax::Yaml => parse_yaml(text),
        }
    }

    /// A source without positions, for definitions that arrive as values (API, tests).
    pub fn from_value(value: Value) -> Source {
        Source {
            value,
            positions: HashMap::new(),
        }
    }

    /// `line:column` of the value at `pointer`, or of its nearest ancestor that has one.
    pub fn position(&self, pointer: &str) -> Option<(usize, usize)> {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return Some(*pos);
            }
            p = &p[..p.rfind('/')?];
        }
    }
}

fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

/// Walks JSON text that serde_json already accepted, recording where each value (or, for an
/// object member, its key) starts.
struct JsonScan<'a> {
    s: &'a [u8],
    i: usize,
    line: usize,
    col: usize,
}

impl JsonScan<'_> {
    fn bump(&mut self) {
        if self.s.get(self.i) == Some(&b'\n') {
            self.line += 1;
            self.col = 1;
        } else if self.s.get(self.i).is_some_and(|b| b & 0xC0 != 0x80) {
            self.col += 1;
        }
        self.i += 1;
    }

    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn string(&mut self) -> String {
        let start = self.i;
        self.bump();
        while let Some(&c) = self.s.get(self.i) {
            if c == b'\\' {
                self.bump();
            } else if c == b'"' {
                self.bump();
                break;
            }
            self.bump();
        }
        serde_json::from_slice(&self.s[start..self.i]).unwrap_or_default()
    }

    fn value(&mut self, ptr: String, out: &mut HashMap<String, (usize, usize)>) {
        self.ws();
        out.entry(ptr.clone()).or_insert((self.line, self.col));
        match self.s.get(self.i) {
            Some(b'{') => {
                self.bump();
                loop {
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b'}') | None => {
                            self.bump();
                            return;
                        }
                        Some(b',') => self.bump(),
                        _ => {
                            let at = (self.line, self.col);
                            let key = self.string();
                            let child = format!("{ptr}/{}", escape(&key));
                            out.insert(child.clone(), at);
                            self.ws();
                            self.bump(); // ':'
                            self.value(child, out);
                        }
                    }
                }
            }
            Some(b'[') => {
                self.bump();
                let mut n = 0;
                loop {
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b']') | None => {
                            self.bump();
                            return;
                        }
                        Some(b',') => self.bump(),
                        _ => {
                            self.value(format!("{ptr}/{n}"), out);
                            n += 1;
                        }
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            _ => {
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                {
                    self.bump();
                }
            }
        }
    }
}

/// A collection being built: its value so far, its pointer, its anchor (0: none), and its
/// CloudFormation short-form tag, if any.
enum Frame {
    Map(Map<String, Value>, Option<String>, String, usize, Option<String>),
    Seq(Vec<Value>, String, usize, Option<String>),
}

/// A CloudFormation short-form tag (`!Ref`, `!GetAtt`, `!Sub`, …): its name. Standard YAML
/// tags (`!!str`) are not.
fn short_form(tag: &Option<yaml_rust2::parser::Tag>) -> Option<String> {
    tag.as_ref().filter(|t| t.handle == "!").map(|t| t.suffix.clone())
}

/// A value under a short-form tag as CloudFormation's long form: `!Ref X` is `{"Ref": "X"}`,
/// `!GetAtt A.B` is `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` is `{"Fn::Sub": s}`, and so on, so
/// templates written either way read the same.
fn long_form(tag: &str, v: Value) -> Value {
    let mut m = Map::new();
    match tag {
        "Ref" | "Condition" => {
            m.insert(tag.to_string(), v);
        }
        "GetAtt" => {
            let v = match v {
                Value::String(s) => match s.split_once('.') {
                    Some((a, b)) => Value::Array(vec![Value::String(a.into()), Value::String(b.into())]),
                    None => Value::String(s),
                },
                other => other,
            };
            m.insert("Fn::GetAtt".into(), v);
        }
        other => {
            m.insert(format!("Fn::{other}"), v);
        }
    }
    Value::Object(m)
}

/// Most bytes YAML aliases may add to a definition, counted as the JSON each one expands to:
/// AWS's 1 MiB definition limit. Without it, a small document of aliases to aliases ("billion
/// laughs") would ask for gigabytes.
const MAX_ALIAS_EXPANSION: usize = 1 << 20;

/// Builds JSON values from YAML events, recording positions.
struct YamlBuilder {
    stack: Vec<Frame>,
    root: Option<Value>,
    positions: HashMap<String, (usize, usize)>,
    /// Anchored values and the size of their JSON form.
    anchors: HashMap<usize, (Value, usize)>,
    /// Bytes aliases have added so far.
    expanded: usize,
    documents: usize,
}

impl YamlBuilder {
    /// Pointer of the value about to be produced, or `None` when it is a mapping key.
    fn next_pointer(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Map(_, None, _, _, _)) => None,
            Some(Frame::Map(_, Some(k), p, _, _)) => Some(format!("{p}/{}", escape(k))),
            Some(Frame::Seq(v, p, _, _)) => Some(format!("{p}/{}", v.len())),
        }
    }

    fn push_value(&mut self, v: Value) {
        match self.stack.last_mut() {
            None => self.root = Some(v),
            Some(Frame::Map(m, key, _, _, _)) => match key.take() {
                Some(k) => {
                    m.insert(k, v);
                }
                None => {
                    let k = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    *key = Some(k);
                }
            },
            Some(Frame::Seq(items, _, _, _)) => items.push(v),
        }
    }

    fn anchor(&mut self, id: usize, v: &Value) {
        if id > 0 {
            self.anchors.insert(id, (v.clone(), crate::path::json_size(v)));
        }
    }

    /// Takes one parser event; `Ok(true)` once the document is complete.
    fn event(&mut self, ev: Event, mark: Marker) -> Result<bool, SyntaxError> {
        let pos = (mark.line(), mark.col() + 1);
        let fail = |message: String| SyntaxError {
            line: pos.0,
            column: pos.1,
            message,
        };
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(fail("a definition file holds exactly one YAML document".into()));
                }
            }
            Event::StreamEnd => return Ok(true),
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(p) = self.next_pointer() {
                    // A member keeps its key's position, like JSON.
                    self.positions.entry(p).or_insert(pos);
                } else if let Some(Frame::Map(_, _, p, _, _)) = self.stack.last() {
                    self.positions.insert(format!("{p}/{}", escape(&text)), pos);
                }
                let v = match short_form(&tag) {
                    Some(t) => long_form(&t, Value::String(text)),
                    None => scalar(&text, style),
                };
                self.anchor(anchor, &v);
                self.push_value(v);
            }
            Event::Alias(id) => {
                let Some((v, size)) = self.anchors.get(&id) else {
                    return Err(fail(
                        "an alias refers to an anchor that is not defined before it".into(),
                    ));
                };
                self.expanded = self.expanded.saturating_add(*size);
                if self.expanded > MAX_ALIAS_EXPANSION {
                    return Err(fail(format!(
                        "YAML aliases expand the definition by more than {MAX_ALIAS_EXPANSION} bytes"
                    )));
                }
                let v = v.clone();
                self.push_value(v);
            }
            Event::MappingStart(..) | Event::SequenceStart(..) if self.stack.len() >= MAX_DEPTH => {
                return Err(fail(format!("the document nests deeper than {MAX_DEPTH} levels")));
            }
            Event::MappingStart(anchor, ref tag) | Event::SequenceStart(anchor, ref tag) => {
                let Some(p) = self.next_pointer() else {
                    return Err(fail("a mapping key must be a plain value, not a collection".into()));
                };
                self.positions.entry(p.clone()).or_insert(pos);
                let tag = short_form(tag);
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map(Map::new(), None, p, anchor, tag)
                } else {
                    Frame::Seq(Vec::new(), p, anchor, tag)
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (v, anchor, tag) = match self.stack.pop() {
                    Some(Frame::Map(m, _, _, a, t)) => (Value::Object(m), a, t),
                    Some(Frame::Seq(s, _, a, t)) => (Value::Array(s), a, t),
                    None => return Ok(false),
                };
                let v = match tag {
                    Some(t) => long_form(&t, v),
                    None => v,
                };
                self.anchor(anchor, &v);
                self.push_value(v);
            }
            _ => {}
        }
        Ok(false)
    }
}

fn scalar(text: &str, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    if text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
        && let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        return Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null);
    }
    Value::String(text.to_string())
}

/// Drives the YAML parser one event at a time (its own `load` recurses once per nesting level,
/// so a deeply nested document would overflow the stack before any limit could be checked).
fn parse_yaml(text: &str) -> Result<Source, SyntaxError> {
    let mut b = YamlBuilder {
        stack: Vec::new(),
        root: None,
        positions: HashMap::new(),
        anchors: HashMap::new(),
        expanded: 0,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| SyntaxError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        if b.event(ev, mark)? {
            break;
        }
    }
    Ok(Source {
        value: b.root.unwrap_or(Value::Null),
        positions: b.positions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_positions() {
        let text = "{\n  \"StartAt\": \"A\",\n  \"States\": {\n    \"A\": {\"Type\": \"Pass\", \"End\": true}\n  }\n}";
        let s = Source::parse(text, Syntax::Json).unwrap();
        assert_eq!(s.position("/StartAt"), Some((2, 3)));
        assert_eq!(s.position("/States/A/Type"), Some((4, 11)));
        assert_eq!(s.position("/States/A/Nope"), Some((4, 5)));
    }

    #[test]
    fn yaml_values_and_positions() {
        let text = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: {n: 1, f: 1.5, s: '1', b: true, z: null}\n    End: true\n";
        let s = Source::parse(text, Syntax::Yaml).unwrap();
        assert_eq!(
            s.value,
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"n": 1, "f": 1.5, "s": "1", "b": true, "z": null}, "End": true}}})
        );
        assert_eq!(s.position("/States/A/Type"), Some((4, 5)));
    }

    #[test]
    fn deep_nesting_and_alias_bombs_are_errors() {
        let deep = format!("{}x", "- ".repeat(5000));
        let e = Source::parse(&deep, Syntax::Yaml).unwrap_err();
        assert!(e.message.contains("nests deeper"), "{e:?}");
        let deep_flow = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Source::parse(&deep_flow, Syntax::Yaml).is_err());
        let big = "x".repeat(100_000);
        let bomb = format!("a: &s {big}\nb: [{}]\n", vec!["*s"; 20_000].join(", "));
        let e = Source::parse(&bomb, Syntax::Yaml).unwrap_err();
        assert!(e.message.contains("aliases expand"), "{e:?}");
        let nested = "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
        assert!(Source::parse(nested, Syntax::Yaml).is_err());
        // Aliases to collections keep their value.
        let s = Source::parse("a: &x {k: [1]}\nb: *x\n", Syntax::Yaml).unwrap();
        assert_eq!(s.value, json!({"a": {"k": [1]}, "b": {"k": [1]}}));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = Source::parse("{\"a\": }", Syntax::Json).unwrap_err();
        assert_eq!(e.line, 1);
        let e = Source::parse("a: [1, 2\nb: 3", Syntax::Yaml).unwrap_err();
        assert!(e.line >= 1, "{e:?}");
    }
}
