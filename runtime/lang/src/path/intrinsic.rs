//! Intrinsic function calls (`States.Format('{}', $.x)`): parsed once into a call tree.

use serde_json::Value;

use super::functions::{self, Func};
use super::{Env, Miss, Path};

/// Nesting limit AWS documents for intrinsic calls in one field.
pub const MAX_NESTING: usize = 10;

#[derive(Debug, Clone)]
pub enum Arg {
    Literal(Value),
    Path(Path),
    Call(Box<Call>),
    /// The literal template of States.Format, already cut at its `{}` holes.
    Format(Vec<FmtPiece>),
}

/// Part of a States.Format template.
#[derive(Debug, Clone, PartialEq)]
pub enum FmtPiece {
    Text(String),
    Hole,
}

/// A compiled intrinsic call.
#[derive(Debug, Clone)]
pub struct Call {
    pub func: Func,
    pub args: Vec<Arg>,
}

/// Why an intrinsic call failed at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// A path argument selected nothing (AWS raises States.Runtime).
    PathMiss { path: String, miss: Miss },
    /// The function rejected its arguments (States.IntrinsicFailure).
    Failure(String),
}

/// True when a string looks like an intrinsic call rather than a path. Whitespace may come
/// between the name and its parenthesis (`States.Format ('{}', $.x)`), as AWS's intrinsic
/// grammar skips it.
pub fn looks_like_call(s: &str) -> bool {
    let name = s[..s.find('(').unwrap_or(0)].trim_end();
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
}

impl Call {
    pub fn parse(text: &str) -> Result<Call, String> {
        let mut p = P { s: text, i: 0 };
        let call = p
            .call(1)
            .map_err(|e| format!("invalid intrinsic function call '{text}': {e}"))?;
        p.ws();
        if p.i != text.len() {
            return Err(format!(
                "invalid intrinsic function call '{text}': unexpected text after the call at position {}",
                p.i + 1
            ));
        }
        Ok(call)
    }

    pub fn eval(&self, env: &Env<'_>) -> Result<Value, CallError> {
        if let Some(Arg::Format(pieces)) = self.args.first() {
            let rest = self.eval_args_from(1, env)?;
            return functions::format(pieces, &rest).map_err(CallError::Failure);
        }
        let args = self.eval_args_from(0, env)?;
        functions::apply(self.func, args).map_err(CallError::Failure)
    }

    fn eval_args_from(&self, from: usize, env: &Env<'_>) -> Result<Vec<Value>, CallError> {
        self.args[from..]
            .iter()
            .map(|a| match a {
                Arg::Literal(v) => Ok(v.clone()),
                Arg::Path(p) => p.value(env).map_err(|miss| CallError::PathMiss {
                    path: p.text().to_string(),
                    miss,
                }),
                Arg::Call(c) => c.eval(env),
                Arg::Format(_) => Err(CallError::Failure(
                    "a format template can only be the first argument".into(),
                )),
            })
            .collect()
    }

    /// Every path used as an argument, at any depth.
    pub fn paths(&self) -> Vec<&Path> {
        let mut out = Vec::new();
        for a in &self.args {
            match a {
                Arg::Path(p) => out.push(p),
                Arg::Call(c) => out.extend(c.paths()),
                Arg::Literal(_) | Arg::Format(_) => {}
            }
        }
        out
    }
}

struct P<'a> {
    s: &'a str,
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.i..].chars().next()
    }

    fn ws(&mut self) {
        // Whitespace may be more than one byte (U+2002 and friends).
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.i += c.len_utf8();
        }
    }

    fn call(&mut self, depth: usize) -> Result<Call, String> {
        if depth > MAX_NESTING {
            return Err(format!(
                "intrinsic functions may be nested at most {MAX_NESTING} levels deep"
            ));
        }
        self.ws();
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            self.i += 1;
        }
        let name = &self.s[start..self.i];
        let func = Func::from_name(name).ok_or_else(|| format!("unknown intrinsic function '{name}'"))?;
        self.ws();
        if self.peek() != Some('(') {
            return Err(format!("expected '(' after '{name}'"));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.peek() == Some(')') {
            self.i += 1;
        } else {
            loop {
                args.push(self.arg(depth, func == Func::Format && args.is_empty())?);
                self.ws();
                match self.peek() {
                    Some(',') => self.i += 1,
                    Some(')') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(format!("expected ',' or ')' at position {}", self.i + 1)),
                }
            }
        }
        func.check_arity(args.len())?;
        Ok(Call { func, args })
    }

    fn arg(&mut self, depth: usize, format_template: bool) -> Result<Arg, String> {
        self.ws();
        match self.peek() {
            Some('\'') => {
                let (text, pieces) = self.string()?;
                Ok(if format_template {
                    Arg::Format(pieces)
                } else {
                    Arg::Literal(Value::String(text))
                })
            }
            Some('$') => {
                let start = self.i;
                let mut depth_b = 0usize;
                let mut quote: Option<char> = None;
                while let Some(c) = self.peek() {
                    match (quote, c) {
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), _) => {}
                        (None, '\'' | '"') => quote = Some(c),
                        (None, '[' | '(') => depth_b += 1,
                        (None, ']') => depth_b = depth_b.saturating_sub(1),
                        (None, ')') if depth_b > 0 => depth_b -= 1,
                        (None, ',' | ')') => break,
                        _ => {}
                    }
                    self.i += c.len_utf8();
                }
                let text = self.s[start..self.i].trim_end();
                Ok(Arg::Path(Path::parse(text)?))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
                {
                    self.i += 1;
                }
                let text = &self.s[start..self.i];
                serde_json::from_str::<Value>(text)
                    .ok()
                    .filter(Value::is_number)
                    .map(Arg::Literal)
                    .ok_or_else(|| format!("invalid number '{text}'"))
            }
            Some(_) => {
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    let rest = &self.s[self.i..];
                    if rest.starts_with(word)
                        && !rest[word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '.' || c == '(')
                    {
                        self.i += word.len();
                        return Ok(Arg::Literal(v));
                    }
                }
                Ok(Arg::Call(Box::new(self.call(depth + 1)?)))
            }
            None => Err("unexpected end of the call".into()),
        }
    }

    /// `'...'` with the escapes `\'`, `\{`, `\}`, `\\` (and `\n`, `\t`, `\r`). Returns the
    /// unescaped text and the same text cut at its unescaped `{}` holes, for States.Format.
    fn string(&mut self) -> Result<(String, Vec<FmtPiece>), String> {
        self.i += 1;
        let mut out = String::new();
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut open_brace = false;
        loop {
            let Some(c) = self.peek() else {
                return Err("unterminated string literal".into());
            };
            self.i += c.len_utf8();
            let (ch, escaped) = match c {
                '\'' => break,
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err("a string ends with a dangling '\\'".into());
                    };
                    self.i += e.len_utf8();
                    let ch = match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    };
                    (ch, true)
                }
                c => (c, false),
            };
            out.push(ch);
            if open_brace {
                open_brace = false;
                if ch == '}' && !escaped {
                    pieces.push(FmtPiece::Text(std::mem::take(&mut text)));
                    pieces.push(FmtPiece::Hole);
                    continue;
                }
                text.push('{');
            }
            if ch == '{' && !escaped {
                open_brace = true;
            } else {
                text.push(ch);
            }
        }
        if open_brace {
            text.push('{');
        }
        pieces.push(FmtPiece::Text(text));
        Ok((out, pieces))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_calls() {
        let c = Call::parse("States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), 0)").unwrap();
        assert_eq!(c.func, Func::ArrayGetItem);
        assert!(matches!(c.args[0], Arg::Call(_)));
        assert!(Call::parse("States.Nope(1)").is_err());
        assert!(Call::parse("States.Format('a'").is_err());
        assert!(Call::parse("States.UUID(1)").is_err());
        assert!(Call::parse("States.Array($.a['x,y'], 2)").is_ok());
    }

    #[test]
    fn unicode_whitespace_is_skipped_whole() {
        assert!(Call::parse("States.Format(\u{2002}'x')").is_ok());
        assert!(Call::parse("\u{2002}$#").is_err());
    }

    #[test]
    fn nesting_limit() {
        let mut s = String::from("1");
        for _ in 0..11 {
            s = format!("States.Array({s})");
        }
        assert!(Call::parse(&s).is_err());
    }
}
