//! JSONPath filter expressions (`[?(@.price < 10 && @.tag =~ /a.*/i)]`), Jayway semantics.

use std::cmp::Ordering;

use regex::Regex;
use serde_json::Value;

use super::jsonpath::{JsonPath, Parser, compile_regex};

#[derive(Debug, Clone)]
pub enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// A lone operand: true when it selects something (and is not `false`).
    Exists(Operand),
    Compare(Operand, CompareOp, Operand),
    Matches(Operand, Regex),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Nin,
}

#[derive(Debug, Clone)]
pub enum Operand {
    /// `@...`: relative to the item being tested.
    Current(JsonPath),
    /// `$...`: relative to the document the whole path runs on.
    Root(JsonPath),
    Literal(Value),
}

impl Operand {
    fn eval(&self, item: &Value, root: &Value) -> Option<Value> {
        let (path, base) = match self {
            Operand::Literal(v) => return Some(v.clone()),
            Operand::Current(p) => (p, item),
            Operand::Root(p) => (p, root),
        };
        path.select(base, root).ok().map(|s| s.into_value())
    }
}

impl Filter {
    pub fn matches(&self, item: &Value, root: &Value) -> bool {
        match self {
            Filter::Or(a, b) => a.matches(item, root) || b.matches(item, root),
            Filter::And(a, b) => a.matches(item, root) && b.matches(item, root),
            Filter::Not(a) => !a.matches(item, root),
            Filter::Exists(o) => match o.eval(item, root) {
                None | Some(Value::Bool(false)) => false,
                Some(Value::Array(a)) if matches!(o, Operand::Current(p) | Operand::Root(p) if !p.is_definite()) => {
                    !a.is_empty()
                }
                Some(_) => true,
            },
            Filter::Matches(o, re) => {
                matches!(o.eval(item, root), Some(Value::String(s)) if re.is_match(&s))
            }
            Filter::Compare(l, op, r) => {
                let (Some(l), Some(r)) = (l.eval(item, root), r.eval(item, root)) else {
                    return *op == CompareOp::Ne || *op == CompareOp::Nin;
                };
                compare(&l, *op, &r)
            }
        }
    }
}

fn compare(l: &Value, op: CompareOp, r: &Value) -> bool {
    match op {
        CompareOp::Eq => json_eq(l, r),
        CompareOp::Ne => !json_eq(l, r),
        CompareOp::In => r.as_array().is_some_and(|a| a.iter().any(|x| json_eq(l, x))),
        CompareOp::Nin => !r.as_array().is_some_and(|a| a.iter().any(|x| json_eq(l, x))),
        _ => {
            let ord = match (l, r) {
                (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                _ => None,
            };
            match (ord, op) {
                (Some(o), CompareOp::Lt) => o == Ordering::Less,
                (Some(o), CompareOp::Le) => o != Ordering::Greater,
                (Some(o), CompareOp::Gt) => o == Ordering::Greater,
                (Some(o), CompareOp::Ge) => o != Ordering::Less,
                _ => false,
            }
        }
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Parses `( expr )` starting at the opening parenthesis.
pub(super) fn parse_filter(p: &mut Parser) -> Result<Filter, String> {
    p.i += 1; // '('
    p.depth += 1;
    if p.depth > super::jsonpath::MAX_FILTER_DEPTH {
        return Err(format!(
            "filters may be nested at most {} levels deep",
            super::jsonpath::MAX_FILTER_DEPTH
        ));
    }
    let f = or(p)?;
    p.depth -= 1;
    p.skip_ws();
    if p.peek(0) != Some(b')') {
        return Err(format!("expected ')' to close the filter at position {}", p.i + 1));
    }
    p.i += 1;
    Ok(f)
}

fn or(p: &mut Parser) -> Result<Filter, String> {
    let mut left = and(p)?;
    loop {
        p.skip_ws();
        if p.peek(0) == Some(b'|') && p.peek(1) == Some(b'|') {
            p.i += 2;
            left = Filter::Or(Box::new(left), Box::new(and(p)?));
        } else {
            return Ok(left);
        }
    }
}

fn and(p: &mut Parser) -> Result<Filter, String> {
    let mut left = unary(p)?;
    loop {
        p.skip_ws();
        if p.peek(0) == Some(b'&') && p.peek(1) == Some(b'&') {
            p.i += 2;
            left = Filter::And(Box::new(left), Box::new(unary(p)?));
        } else {
            return Ok(left);
        }
    }
}

fn unary(p: &mut Parser) -> Result<Filter, String> {
    p.skip_ws();
    match p.peek(0) {
        Some(b'!') if p.peek(1) != Some(b'=') => {
            p.i += 1;
            p.depth += 1;
            if p.depth > super::jsonpath::MAX_FILTER_DEPTH {
                return Err("too many nested '!' in a filter".into());
            }
            let inner = unary(p)?;
            p.depth -= 1;
            Ok(Filter::Not(Box::new(inner)))
        }
        Some(b'(') => parse_filter(p),
        _ => comparison(p),
    }
}

fn comparison(p: &mut Parser) -> Result<Filter, String> {
    let left = operand(p)?;
    p.skip_ws();
    let two = (p.peek(0), p.peek(1));
    let op = match two {
        (Some(b'='), Some(b'=')) => Some((CompareOp::Eq, 2)),
        (Some(b'!'), Some(b'=')) => Some((CompareOp::Ne, 2)),
        (Some(b'<'), Some(b'=')) => Some((CompareOp::Le, 2)),
        (Some(b'>'), Some(b'=')) => Some((CompareOp::Ge, 2)),
        (Some(b'<'), _) => Some((CompareOp::Lt, 1)),
        (Some(b'>'), _) => Some((CompareOp::Gt, 1)),
        (Some(b'='), Some(b'~')) => {
            p.i += 2;
            p.skip_ws();
            return Ok(Filter::Matches(left, regex_literal(p)?));
        }
        _ if p.src[p.i..].starts_with("nin ") || p.src[p.i..].starts_with("nin[") => Some((CompareOp::Nin, 3)),
        _ if p.src[p.i..].starts_with("in ") || p.src[p.i..].starts_with("in[") => Some((CompareOp::In, 2)),
        _ => None,
    };
    let Some((op, len)) = op else {
        return Ok(Filter::Exists(left));
    };
    p.i += len;
    let right = operand(p)?;
    Ok(Filter::Compare(left, op, right))
}

fn regex_literal(p: &mut Parser) -> Result<Regex, String> {
    if p.peek(0) != Some(b'/') {
        return Err("expected a /regex/ after '=~'".into());
    }
    p.i += 1;
    let start = p.i;
    while let Some(c) = p.peek(0) {
        if c == b'\\' {
            p.i += 2;
            continue;
        }
        if c == b'/' {
            break;
        }
        p.i += 1;
    }
    if p.peek(0) != Some(b'/') {
        return Err("unterminated regex literal".into());
    }
    let body = &p.src[start..p.i];
    p.i += 1;
    let fstart = p.i;
    while matches!(p.peek(0), Some(b'a'..=b'z')) {
        p.i += 1;
    }
    compile_regex(body, &p.src[fstart..p.i])
}

fn operand(p: &mut Parser) -> Result<Operand, String> {
    p.skip_ws();
    match p.peek(0) {
        Some(b'@' | b'$') => {
            let current = p.peek(0) == Some(b'@');
            p.i += 1;
            let start = p.i;
            // The relative path runs until an operator, whitespace or closing parenthesis.
            let mut depth = 0usize;
            while let Some(c) = p.peek(0) {
                match c {
                    b'[' => depth += 1,
                    b']' if depth > 0 => depth -= 1,
                    b'(' if p.peek(1) == Some(b')') => {
                        p.i += 2;
                        continue;
                    }
                    b' ' | b')' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|' | b',' if depth == 0 => {
                        break;
                    }
                    b']' => break,
                    _ => {}
                }
                p.i += 1;
            }
            let path = JsonPath::parse_at_depth(&p.src[start..p.i], p.depth + 1)?;
            Ok(if current {
                Operand::Current(path)
            } else {
                Operand::Root(path)
            })
        }
        _ => Ok(Operand::Literal(literal(p)?)),
    }
}

fn literal(p: &mut Parser) -> Result<Value, String> {
    p.skip_ws();
    match p.peek(0) {
        Some(b'\'' | b'"') => Ok(Value::String(p.quoted()?)),
        Some(b'[') => {
            p.i += 1;
            p.depth += 1;
            if p.depth > super::jsonpath::MAX_FILTER_DEPTH {
                return Err("list literals nested too deeply in a filter".into());
            }
            let mut items = Vec::new();
            loop {
                p.skip_ws();
                if p.peek(0) == Some(b']') {
                    p.i += 1;
                    p.depth -= 1;
                    return Ok(Value::Array(items));
                }
                if p.i >= p.s.len() {
                    return Err("unterminated list in a filter".into());
                }
                items.push(literal(p)?);
                p.skip_ws();
                if p.peek(0) == Some(b',') {
                    p.i += 1;
                }
            }
        }
        Some(b'-' | b'0'..=b'9') => {
            let start = p.i;
            p.i += 1;
            while matches!(p.peek(0), Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')) {
                p.i += 1;
            }
            serde_json::from_str(&p.src[start..p.i]).map_err(|_| format!("invalid number '{}'", &p.src[start..p.i]))
        }
        Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
            let start = p.i;
            while matches!(p.peek(0), Some(c) if c.is_ascii_alphanumeric() || b"_-.".contains(&c)) {
                p.i += 1;
            }
            Ok(match &p.src[start..p.i] {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                // A bare word is the string it spells, as Jayway reads an unquoted operand
                // (`[?(@.status == Failure)]` in AWS's own samples): quotes are optional.
                word => Value::String(word.to_string()),
            })
        }
        _ => Err(format!("expected a value in the filter at position {}", p.i + 1)),
    }
}
