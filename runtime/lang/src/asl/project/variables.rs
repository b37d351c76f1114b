//! The Serverless Framework's variables, as far as a file can resolve them by itself:
//! `${self:path.in.file}`, `${sls:stage}`, `${opt:stage}` / `${opt:region}`, `${env:NAME}`,
//! `${aws:region}` / `${aws:accountId}`, fallbacks (`${opt:stage, 'dev'}`,
//! `${env:X, self:custom.x, 42}`) and nesting (`${self:custom.${sls:stage}.table}`). Written by
//! hand: the Framework's resolver is JavaScript, and no Rust crate reads its syntax.

use serde_json::Value;

use super::Context;

/// Most substitutions in one string, and most nested `self:` references: a file that refers
/// to itself in a loop fails instead of hanging.
const MAX_STEPS: usize = 200;
const MAX_DEPTH: usize = 16;

pub struct Resolver<'a> {
    pub root: &'a Value,
    pub ctx: &'a Context,
    pub stage: String,
    pub region: String,
}

impl Resolver<'_> {
    /// Every string in `v` with its variables resolved; the first one that cannot be is the
    /// error (its text and why).
    pub fn value(&self, v: &Value, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("variables refer to each other more than 16 levels deep (a loop?)".into());
        }
        Ok(match v {
            Value::String(s) => self.string(s, depth)?,
            Value::Array(items) => Value::Array(items.iter().map(|i| self.value(i, depth)).collect::<Result<_, _>>()?),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.value(v, depth)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    /// A string's variables, innermost first. A string that is one variable and nothing else
    /// takes the variable's value whatever its type (an object from `${self:custom.x}`).
    fn string(&self, s: &str, depth: usize) -> Result<Value, String> {
        let mut text = s.to_string();
        for _ in 0..MAX_STEPS {
            let Some(first) = text.find("${") else {
                return Ok(Value::String(text));
            };
            // The innermost variable: the last `${` before the first `}` after the first `${`.
            let end = first
                + text[first..]
                    .find('}')
                    .ok_or_else(|| format!("'{s}' has an unclosed ${{"))?;
            let start = text[..end].rfind("${").unwrap_or(first);
            let inner = &text[start + 2..end];
            let resolved = self
                .expression(inner, depth)
                .map_err(|why| format!("cannot resolve ${{{inner}}}: {why}"))?;
            if start == 0 && end + 1 == text.len() {
                // The whole string: keep the value's type, unless it is text with more to do.
                match resolved {
                    Value::String(r) => text = r,
                    other => return Ok(other),
                }
                continue;
            }
            let piece = match resolved {
                Value::String(r) => r,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(format!(
                        "${{{inner}}} is {}, which cannot be part of the text '{s}'",
                        kind(&other)
                    ));
                }
            };
            text.replace_range(start..=end, &piece);
        }
        Err(format!("'{s}' has more than {MAX_STEPS} variables to resolve"))
    }

    /// `source:address[, fallback…]`: the first that resolves.
    fn expression(&self, inner: &str, depth: usize) -> Result<Value, String> {
        let mut last = String::new();
        for part in split_fallbacks(inner) {
            let part = part.trim();
            if let Some(lit) = quoted(part) {
                return Ok(Value::String(lit.to_string()));
            }
            if let Ok(n) = part.parse::<serde_json::Number>() {
                return Ok(Value::Number(n));
            }
            if part == "true" || part == "false" {
                return Ok(Value::Bool(part == "true"));
            }
            match self.reference(part, depth) {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => last = format!("{part} has no value"),
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// One `source:address`; `Ok(None)` when the source has no such value (a fallback may).
    fn reference(&self, r: &str, depth: usize) -> Result<Option<Value>, String> {
        let (source, address) = r
            .split_once(':')
            .ok_or_else(|| format!("'{r}' is not source:address"))?;
        let address = address.trim();
        Ok(match source.trim() {
            "self" => {
                let mut at = self.root;
                for key in address.split('.').filter(|k| !k.is_empty()) {
                    match at
                        .get(key)
                        .or_else(|| key.parse::<usize>().ok().and_then(|i| at.get(i)))
                    {
                        Some(next) => at = next,
                        None => return Ok(None),
                    }
                }
                Some(self.value(at, depth + 1)?)
            }
            "sls" => match address {
                "stage" => Some(Value::String(self.stage.clone())),
                _ => return Err(format!("sls:{address} is not known (sls:stage is)")),
            },
            "opt" => match address {
                "stage" => self.ctx.stage.clone().map(Value::String),
                "region" => self.ctx.region_option.clone().map(Value::String),
                _ => None,
            },
            "env" => (self.ctx.env)(address).map(Value::String),
            "aws" => match address {
                "region" => Some(Value::String(self.region.clone())),
                "accountId" => Some(Value::String(self.ctx.account.clone())),
                _ => return Err(format!("aws:{address} is not known (aws:region and aws:accountId are)")),
            },
            other => {
                return Err(format!(
                    "the source '{other}' cannot be resolved from the file (self, sls, opt, env and aws can)"
                ));
            }
        })
    }
}

/// Splits `a, 'b, c', d` at the commas outside quotes.
fn split_fallbacks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quote, mut from) = (None, 0);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                out.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[from..]);
    out
}

fn quoted(s: &str) -> Option<&str> {
    s.strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "an object",
        Value::Array(_) => "a list",
        Value::Null => "null",
        _ => "a value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(doc: Value, env: &'static [(&'static str, &'static str)], text: &str) -> Result<Value, String> {
        let ctx = crate::asl::project::test_context(env);
        let r = Resolver {
            root: &doc,
            ctx: &ctx,
            stage: "dev".into(),
            region: "us-east-1".into(),
        };
        r.value(&json!(text), 0)
    }

    #[test]
    fn variables_resolve_as_the_framework_does() {
        let doc = json!({"service": "report-runner", "custom": {"dev": {"table": "t-dev"}, "obj": {"a": 1}, "n": 5}});
        assert_eq!(
            resolve(
                doc.clone(),
                &[],
                "arn:aws:lambda:${aws:region}:${aws:accountId}:function:${self:service}-${sls:stage}-fn"
            )
            .unwrap(),
            json!("arn:aws:lambda:us-east-1:123456789012:function:report-runner-dev-fn")
        );
        assert_eq!(resolve(doc.clone(), &[], "${opt:stage, 'dev'}").unwrap(), json!("dev"));
        assert_eq!(
            resolve(doc.clone(), &[], "${self:custom.${sls:stage}.table}").unwrap(),
            json!("t-dev")
        );
        assert_eq!(
            resolve(doc.clone(), &[], "${self:custom.obj}").unwrap(),
            json!({"a": 1})
        );
        assert_eq!(resolve(doc.clone(), &[], "${self:custom.n}").unwrap(), json!(5));
        assert_eq!(
            resolve(doc.clone(), &[("TABLE", "from-env")], "x-${env:TABLE}").unwrap(),
            json!("x-from-env")
        );
        assert_eq!(
            resolve(doc.clone(), &[], "${env:MISSING, self:custom.dev.table}").unwrap(),
            json!("t-dev")
        );
        assert_eq!(
            resolve(doc.clone(), &[], "${env:MISSING, \"a, b\"}").unwrap(),
            json!("a, b")
        );
    }

    #[test]
    fn what_cannot_be_resolved_is_named() {
        let doc = json!({"custom": {"loop": "${self:custom.loop}", "obj": {"a": 1}}});
        let e = resolve(doc.clone(), &[], "${env:NOPE}").unwrap_err();
        assert!(e.contains("${env:NOPE}") && e.contains("has no value"), "{e}");
        let e = resolve(doc.clone(), &[], "${ssm:/path/x}").unwrap_err();
        assert!(e.contains("'ssm'"), "{e}");
        let e = resolve(doc.clone(), &[], "${self:custom.loop}").unwrap_err();
        assert!(e.contains("16 levels"), "{e}");
        let e = resolve(doc.clone(), &[], "a-${self:custom.obj}").unwrap_err();
        assert!(e.contains("an object"), "{e}");
        let e = resolve(doc, &[], "${self:custom").unwrap_err();
        assert!(e.contains("unclosed"), "{e}");
    }
}
