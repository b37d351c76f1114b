//! AWS's JSONPath dialect (Jayway-style): parsed once into segments, evaluated many times.
//!
//! Written by hand because no crate implements Jayway's rules (definite vs indefinite paths,
//! `=~`/`in`/`nin` filters, `.length()`) together with the exact "missing property" messages
//! that AWS reports; `serde_json_path` is RFC 9535, which differs on all of those.

use std::fmt::Write as _;

use regex::Regex;
use serde_json::Value;

use super::filter::{Filter, parse_filter};

/// One step of a compiled path.
#[derive(Debug, Clone)]
pub enum Segment {
    /// `.name` or `['name']`
    Child(String),
    /// `[3]` or `[-1]`
    Index(i64),
    /// `.*` or `[*]`
    Wildcard,
    /// `['a','b']`
    Names(Vec<String>),
    /// `[0,2]`
    Indexes(Vec<i64>),
    /// `[start:end:step]`
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `..` followed by a selector (name, wildcard, brackets)
    Descendant(Box<Segment>),
    /// `[?(...)]`
    Filter(Box<Filter>),
}

/// A function applied to the selection, e.g. `$.items.length()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathFunction {
    Length,
    Min,
    Max,
    Avg,
    Sum,
}

/// A compiled JSONPath query relative to some root value.
#[derive(Debug, Clone)]
pub struct JsonPath {
    segments: Vec<Segment>,
    function: Option<PathFunction>,
    definite: bool,
}

/// Why a definite path found nothing; the message matches AWS's wording.
#[derive(Debug, Clone, PartialEq)]
pub enum Miss {
    /// The last property is missing: "No results for path: $['a']['b']".
    NoResults(String),
    /// An intermediate property is missing: "Missing property in path $['a']".
    MissingProperty(String),
}

impl Miss {
    pub fn message(&self) -> String {
        match self {
            Miss::NoResults(p) => format!("No results for path: {p}"),
            Miss::MissingProperty(p) => format!("Missing property in path {p}"),
        }
    }
}

/// The values a path selected.
#[derive(Debug)]
pub enum Selected<'v> {
    One(&'v Value),
    Many(Vec<&'v Value>),
    Computed(Value),
}

impl Selected<'_> {
    pub fn into_value(self) -> Value {
        match self {
            Selected::One(v) => v.clone(),
            Selected::Many(vs) => Value::Array(vs.into_iter().cloned().collect()),
            Selected::Computed(v) => v,
        }
    }
}

impl JsonPath {
    /// The path that selects its root (`$`).
    pub fn root() -> Self {
        JsonPath {
            segments: Vec::new(),
            function: None,
            definite: true,
        }
    }

    /// Parses the part after the leading `$` (e.g. `.a[0]`).
    pub fn parse_tail(tail: &str) -> Result<Self, String> {
        Self::parse_at_depth(tail, 0)
    }

    pub(super) fn parse_at_depth(tail: &str, depth: usize) -> Result<Self, String> {
        if depth > MAX_FILTER_DEPTH {
            return Err(format!("filters may be nested at most {MAX_FILTER_DEPTH} levels deep"));
        }
        let mut p = Parser {
            s: tail.as_bytes(),
            src: tail,
            i: 0,
            depth,
        };
        let mut segments = Vec::new();
        let mut function = None;
        while p.i < p.s.len() {
            if function.is_some() {
                return Err("a function call must be the last element of a path".into());
            }
            match p.s[p.i] {
                b'.' if p.peek(1) == Some(b'.') => {
                    p.i += 2;
                    let inner = if p.peek(0) == Some(b'[') {
                        p.bracket()?
                    } else if p.peek(0) == Some(b'*') {
                        p.i += 1;
                        Segment::Wildcard
                    } else {
                        Segment::Child(p.name()?)
                    };
                    segments.push(Segment::Descendant(Box::new(inner)));
                }
                b'.' => {
                    p.i += 1;
                    if p.peek(0) == Some(b'*') {
                        p.i += 1;
                        segments.push(Segment::Wildcard);
                    } else if p.peek(0) == Some(b'[') {
                        segments.push(p.bracket()?);
                    } else {
                        let name = p.name()?;
                        if p.peek(0) == Some(b'(') && p.peek(1) == Some(b')') {
                            p.i += 2;
                            function = Some(match name.as_str() {
                                "length" | "size" => PathFunction::Length,
                                "min" => PathFunction::Min,
                                "max" => PathFunction::Max,
                                "avg" => PathFunction::Avg,
                                "sum" => PathFunction::Sum,
                                other => return Err(format!("unknown path function '{other}()'")),
                            });
                        } else {
                            segments.push(Segment::Child(name));
                        }
                    }
                }
                b'[' => segments.push(p.bracket()?),
                c => {
                    return Err(format!("unexpected character '{}' at position {}", c as char, p.i + 1));
                }
            }
        }
        let definite = function.is_none()
            && segments
                .iter()
                .all(|s| matches!(s, Segment::Child(_) | Segment::Index(_)));
        Ok(JsonPath {
            segments,
            function,
            definite,
        })
    }

    /// True when the path can select at most one node (Jayway's "definite" path).
    pub fn is_definite(&self) -> bool {
        self.definite
    }

    /// True when the path only uses `.name`, `['name']` and `[n]` (a Reference Path).
    pub fn is_reference(&self) -> bool {
        self.definite
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Evaluates against `root`: a definite path yields one value or a [`Miss`]; an
    /// indefinite one yields every match, in document order.
    pub fn select<'v>(&self, root: &'v Value, filter_root: &'v Value) -> Result<Selected<'v>, Miss> {
        if self.definite {
            return self.select_definite(root).map(Selected::One);
        }
        let mut current = vec![root];
        for seg in &self.segments {
            let mut next = Vec::new();
            for v in current {
                apply(seg, v, filter_root, &mut next);
            }
            current = next;
        }
        match self.function {
            None => Ok(Selected::Many(current)),
            Some(f) => Ok(Selected::Computed(apply_function(f, &current))),
        }
    }

    fn select_definite<'v>(&self, root: &'v Value) -> Result<&'v Value, Miss> {
        let mut v = root;
        for (i, seg) in self.segments.iter().enumerate() {
            let found = match seg {
                Segment::Child(name) => v.as_object().and_then(|o| o.get(name.as_str())),
                Segment::Index(n) => v.as_array().and_then(|a| index(a, *n)),
                _ => unreachable!("definite paths hold only child and index segments"),
            };
            match found {
                Some(f) => v = f,
                None => {
                    let prefix = normalized(&self.segments[..=i]);
                    return Err(if i + 1 == self.segments.len() {
                        Miss::NoResults(prefix)
                    } else {
                        Miss::MissingProperty(prefix)
                    });
                }
            }
        }
        Ok(v)
    }
}

fn index(a: &[Value], n: i64) -> Option<&Value> {
    let i = if n < 0 { a.len() as i64 + n } else { n };
    if i < 0 { None } else { a.get(i as usize) }
}

/// `$['a'][0]`: the normalized form AWS prints in path errors.
pub fn normalized(segments: &[Segment]) -> String {
    let mut s = String::from("$");
    for seg in segments {
        match seg {
            Segment::Child(n) => {
                let _ = write!(s, "['{n}']");
            }
            Segment::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
            _ => s.push_str("[*]"),
        }
    }
    s
}

fn apply<'v>(seg: &Segment, v: &'v Value, filter_root: &'v Value, out: &mut Vec<&'v Value>) {
    match seg {
        Segment::Child(name) => {
            if let Some(x) = v.as_object().and_then(|o| o.get(name.as_str())) {
                out.push(x);
            }
        }
        Segment::Index(n) => {
            if let Some(x) = v.as_array().and_then(|a| index(a, *n)) {
                out.push(x);
            }
        }
        Segment::Wildcard => match v {
            Value::Object(o) => out.extend(o.values()),
            Value::Array(a) => out.extend(a.iter()),
            _ => {}
        },
        Segment::Names(names) => {
            if let Some(o) = v.as_object() {
                out.extend(names.iter().filter_map(|n| o.get(n.as_str())));
            }
        }
        Segment::Indexes(ns) => {
            if let Some(a) = v.as_array() {
                out.extend(ns.iter().filter_map(|n| index(a, *n)));
            }
        }
        Segment::Slice(start, end, step) => {
            if let Some(a) = v.as_array() {
                slice(a, *start, *end, *step, out);
            }
        }
        Segment::Descendant(inner) => descend(inner, v, filter_root, out),
        Segment::Filter(f) => match v {
            Value::Array(a) => out.extend(a.iter().filter(|x| f.matches(x, filter_root))),
            Value::Object(o) => out.extend(o.values().filter(|x| f.matches(x, filter_root))),
            _ => {}
        },
    }
}

fn descend<'v>(inner: &Segment, v: &'v Value, filter_root: &'v Value, out: &mut Vec<&'v Value>) {
    apply(inner, v, filter_root, out);
    match v {
        Value::Object(o) => o.values().for_each(|c| descend(inner, c, filter_root, out)),
        Value::Array(a) => a.iter().for_each(|c| descend(inner, c, filter_root, out)),
        _ => {}
    }
}

fn slice<'v>(a: &'v [Value], start: Option<i64>, end: Option<i64>, step: Option<i64>, out: &mut Vec<&'v Value>) {
    let len = a.len() as i64;
    let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
    let step = step.unwrap_or(1);
    if step == 0 {
        return;
    }
    if step > 0 {
        let (s, e) = (norm(start.unwrap_or(0)), norm(end.unwrap_or(len)));
        let mut i = s;
        while i < e {
            out.push(&a[i as usize]);
            i += step;
        }
    } else {
        let s = start
            .map(|x| if x < 0 { len + x } else { x.min(len - 1) })
            .unwrap_or(len - 1);
        let e = end.map(|x| if x < 0 { len + x } else { x }).unwrap_or(-1);
        let mut i = s;
        while i > e && i >= 0 {
            out.push(&a[i as usize]);
            i += step;
        }
    }
}

fn apply_function(f: PathFunction, values: &[&Value]) -> Value {
    // Jayway applies the function to the single selected array (or the match list).
    let items: Vec<&Value> = match values {
        [Value::Array(a)] => a.iter().collect(),
        [Value::Object(o)] if f == PathFunction::Length => o.values().collect(),
        [Value::String(s)] if f == PathFunction::Length => return Value::from(s.chars().count()),
        _ => values.to_vec(),
    };
    if f == PathFunction::Length {
        return Value::from(items.len());
    }
    let nums: Vec<f64> = items.iter().filter_map(|v| v.as_f64()).collect();
    let r = match f {
        PathFunction::Min => nums.iter().cloned().fold(f64::INFINITY, f64::min),
        PathFunction::Max => nums.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        PathFunction::Sum => nums.iter().sum(),
        PathFunction::Avg => nums.iter().sum::<f64>() / nums.len().max(1) as f64,
        PathFunction::Length => unreachable!("handled above"),
    };
    crate::path::number(r)
}

pub(super) struct Parser<'a> {
    pub(super) s: &'a [u8],
    pub(super) src: &'a str,
    pub(super) i: usize,
    /// Filter nesting depth, bounded so a pathological path cannot overflow the stack.
    pub(super) depth: usize,
}

/// Deepest nesting of parentheses and sub-paths a filter may have.
pub(super) const MAX_FILTER_DEPTH: usize = 32;

impl Parser<'_> {
    pub(super) fn peek(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }

    pub(super) fn skip_ws(&mut self) {
        while matches!(self.peek(0), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A dot-notation name: everything up to the next `.`, `[`, `(` or the end.
    fn name(&mut self) -> Result<String, String> {
        let start = self.i;
        while let Some(c) = self.peek(0) {
            if matches!(c, b'.' | b'[' | b'(' | b')' | b' ') {
                break;
            }
            self.i += 1;
        }
        if start == self.i {
            return Err(format!("expected a property name at position {}", start + 1));
        }
        Ok(self.src[start..self.i].to_string())
    }

    pub(super) fn quoted(&mut self) -> Result<String, String> {
        let q = self.s[self.i];
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.src[self.i..].chars().next() else {
                return Err("unterminated quoted name".into());
            };
            self.i += c.len_utf8();
            if c as u32 == q as u32 {
                return Ok(out);
            }
            if c == '\\' {
                let Some(e) = self.src[self.i..].chars().next() else {
                    return Err("unterminated escape in quoted name".into());
                };
                // Jayway: only the delimiting quote is escaped; any other backslash is literal.
                if e as u32 == q as u32 {
                    self.i += e.len_utf8();
                    out.push(e);
                } else {
                    out.push('\\');
                }
            } else {
                out.push(c);
            }
        }
    }

    pub(super) fn integer(&mut self) -> Result<i64, String> {
        let start = self.i;
        if self.peek(0) == Some(b'-') {
            self.i += 1;
        }
        while matches!(self.peek(0), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.src[start..self.i]
            .parse()
            .map_err(|_| format!("expected an integer at position {}", start + 1))
    }

    fn bracket(&mut self) -> Result<Segment, String> {
        self.i += 1; // '['
        self.skip_ws();
        let seg = match self.peek(0) {
            Some(b'*') => {
                self.i += 1;
                Segment::Wildcard
            }
            Some(b'?') => {
                self.i += 1;
                self.skip_ws();
                if self.peek(0) != Some(b'(') {
                    return Err("expected '(' after '?' in a filter".into());
                }
                let f = parse_filter(self)?;
                Segment::Filter(Box::new(f))
            }
            Some(b'\'' | b'"') => {
                let mut names = vec![self.quoted()?];
                self.skip_ws();
                while self.peek(0) == Some(b',') {
                    self.i += 1;
                    self.skip_ws();
                    if !matches!(self.peek(0), Some(b'\'' | b'"')) {
                        return Err("expected a quoted name after ','".into());
                    }
                    names.push(self.quoted()?);
                    self.skip_ws();
                }
                if names.len() == 1 {
                    Segment::Child(names.pop().unwrap_or_default())
                } else {
                    Segment::Names(names)
                }
            }
            Some(b'0'..=b'9' | b'-' | b':') => {
                let first = if self.peek(0) == Some(b':') {
                    None
                } else {
                    Some(self.integer()?)
                };
                self.skip_ws();
                if self.peek(0) == Some(b':') {
                    self.i += 1;
                    self.skip_ws();
                    let end = if matches!(self.peek(0), Some(b'0'..=b'9' | b'-')) {
                        Some(self.integer()?)
                    } else {
                        None
                    };
                    self.skip_ws();
                    let step = if self.peek(0) == Some(b':') {
                        self.i += 1;
                        self.skip_ws();
                        if matches!(self.peek(0), Some(b'0'..=b'9' | b'-')) {
                            Some(self.integer()?)
                        } else {
                            None
                        }
                    } else {
                        None
                    };
                    Segment::Slice(first, end, step)
                } else {
                    let mut ns = vec![first.unwrap_or(0)];
                    while self.peek(0) == Some(b',') {
                        self.i += 1;
                        self.skip_ws();
                        ns.push(self.integer()?);
                        self.skip_ws();
                    }
                    if ns.len() == 1 {
                        Segment::Index(ns[0])
                    } else {
                        Segment::Indexes(ns)
                    }
                }
            }
            _ => {
                return Err(format!("unexpected content in brackets at position {}", self.i + 1));
            }
        };
        self.skip_ws();
        if self.peek(0) != Some(b']') {
            return Err(format!("expected ']' at position {}", self.i + 1));
        }
        self.i += 1;
        Ok(seg)
    }
}

/// Compiles a Jayway regex literal body with its flags.
pub(super) fn compile_regex(body: &str, flags: &str) -> Result<Regex, String> {
    let mut pat = String::new();
    if !flags.is_empty() {
        pat.push_str("(?");
        for f in flags.chars() {
            match f {
                'i' | 'm' | 's' | 'x' => pat.push(f),
                other => return Err(format!("unsupported regex flag '{other}'")),
            }
        }
        pat.push(')');
    }
    // Jayway matches the whole string (Java's Matcher.matches()).
    pat.push_str("^(?:");
    pat.push_str(body);
    pat.push_str(")$");
    Regex::new(&pat).map_err(|e| format!("invalid regex /{body}/: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(path: &str, v: &Value) -> Result<Value, Miss> {
        let p = JsonPath::parse_tail(path.strip_prefix('$').unwrap()).unwrap();
        p.select(v, v).map(Selected::into_value)
    }

    #[test]
    fn definite_and_indefinite() {
        let v = json!({"a": {"b": [1, 2, 3, 4]}, "items": [{"x": 1, "s": "a"}, {"x": 5, "s": "b"}]});
        assert_eq!(sel("$.a.b[1]", &v).unwrap(), json!(2));
        assert_eq!(sel("$.a.b[-1]", &v).unwrap(), json!(4));
        assert_eq!(sel("$.a.b[1:3]", &v).unwrap(), json!([2, 3]));
        assert_eq!(sel("$.a.b[:1]", &v).unwrap(), json!([1]));
        assert_eq!(sel("$.a.b[-2:]", &v).unwrap(), json!([3, 4]));
        assert_eq!(sel("$.items[*].x", &v).unwrap(), json!([1, 5]));
        assert_eq!(sel("$..x", &v).unwrap(), json!([1, 5]));
        assert_eq!(sel("$.items[?(@.x > 2)].s", &v).unwrap(), json!(["b"]));
        assert_eq!(sel("$.items[?(@.s == 'a' || @.x >= 5)].x", &v).unwrap(), json!([1, 5]));
        assert_eq!(sel("$.items[?(@.s =~ /B/i)].x", &v).unwrap(), json!([5]));
        assert_eq!(sel("$.items[?(@.s in ['b','c'])].x", &v).unwrap(), json!([5]));
        assert_eq!(sel("$.a.b.length()", &v).unwrap(), json!(4));
        assert_eq!(sel("$['a']['b'][0,2]", &v).unwrap(), json!([1, 3]));
    }

    #[test]
    fn misses_name_the_missing_part() {
        let v = json!({"a": {}});
        assert_eq!(sel("$.x", &v), Err(Miss::NoResults("$['x']".into())));
        assert_eq!(sel("$.no.such", &v), Err(Miss::MissingProperty("$['no']".into())));
        assert_eq!(sel("$.a.b", &v), Err(Miss::NoResults("$['a']['b']".into())));
    }

    #[test]
    fn bad_syntax_is_an_error() {
        for bad in ["[", ".a[", "[?(@.a ==)]", ".a[1:2:x]", "..", "x"] {
            assert!(JsonPath::parse_tail(bad).is_err(), "{bad}");
        }
    }
}
