//! IAM-style policies for access keys: `{"Statement": [{"Effect", "Action", "Resource"}]}`,
//! evaluated as IAM evaluates an identity policy. A request is allowed when some statement
//! allows its action on its resource and no statement denies it (an explicit Deny wins);
//! otherwise it is denied. `Action` and `Resource` (or `NotAction`, `NotResource`) take one
//! pattern or a list, with `*` (any run) and `?` (one character); actions compare without
//! regard to case, resources exactly. Conditions are not supported: a policy with one is
//! refused when the daemon starts, never silently ignored.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// Patterns a statement matches, or (for `Not…`) every value except them.
#[derive(Debug, Clone)]
struct Patterns {
    negated: bool,
    patterns: Vec<String>,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    actions: Patterns,
    resources: Patterns,
}

/// A parsed policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// One string or a list of strings, as IAM writes them.
fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{what} must hold strings"))
            })
            .collect(),
        _ => Err(format!("{what} must be a string or a list of strings")),
    }
}

fn patterns(s: &serde_json::Map<String, Value>, field: &str, i: usize) -> Result<Patterns, String> {
    let not = format!("Not{field}");
    match (s.get(field), s.get(&not)) {
        (Some(v), None) => Ok(Patterns {
            negated: false,
            patterns: strings(v, &format!("Statement {i}: {field}"))?,
        }),
        (None, Some(v)) => Ok(Patterns {
            negated: true,
            patterns: strings(v, &format!("Statement {i}: {not}"))?,
        }),
        (Some(_), Some(_)) => Err(format!("Statement {i}: {field} and {not} cannot both be given")),
        (None, None) => Err(format!("Statement {i} needs {field} or {not}")),
    }
}

impl Policy {
    /// Parses a policy document; the error names the statement and field at fault.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not a JSON policy document: {e}"))?;
        let statements = match doc.get("Statement") {
            Some(Value::Array(s)) => s.clone(),
            Some(s @ Value::Object(_)) => vec![s.clone()],
            _ => return Err("a policy needs a Statement (an object or a list of them)".into()),
        };
        let mut out = Vec::new();
        for (i, s) in statements.iter().enumerate() {
            let Some(s) = s.as_object() else {
                return Err(format!("Statement {i} must be an object"));
            };
            if s.contains_key("Condition") {
                return Err(format!(
                    "Statement {i}: Condition is not supported; write the policy without it"
                ));
            }
            if s.contains_key("Principal") || s.contains_key("NotPrincipal") {
                return Err(format!(
                    "Statement {i}: an access key's policy has no Principal (it applies to the key itself)"
                ));
            }
            let effect = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                _ => return Err(format!("Statement {i}: Effect must be \"Allow\" or \"Deny\"")),
            };
            out.push(Statement {
                effect,
                actions: patterns(s, "Action", i)?,
                resources: patterns(s, "Resource", i)?,
            });
        }
        Ok(Policy { statements: out })
    }

    /// Whether `action` (`states:StartExecution`) on `resource` (an ARN, or `*`) is allowed.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        let mut allowed = false;
        for s in &self.statements {
            if s.actions.matches(action, true) && s.resources.matches(resource, false) {
                match s.effect {
                    Effect::Deny => return false,
                    Effect::Allow => allowed = true,
                }
            }
        }
        allowed
    }
}

impl Patterns {
    fn matches(&self, value: &str, ignore_case: bool) -> bool {
        let hit = self.patterns.iter().any(|p| {
            if ignore_case {
                wildcard(&p.to_ascii_lowercase(), &value.to_ascii_lowercase())
            } else {
                wildcard(p, value)
            }
        });
        hit != self.negated
    }
}

/// IAM's wildcards: `*` any run of characters, `?` exactly one. Iterative, with one
/// backtrack point (the last `*`), so it takes at most |pattern| × |value| steps.
fn wildcard(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || p[i] == v[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_as_iam_does() {
        // The seeds' example: start and stop executions of any state machine.
        let p = Policy::parse(
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": ["states:StartExecution", "states:StopExecution"],
                "Resource": "arn:aws:states:us-east-1:123456789012:stateMachine:*"}]}"#,
        )
        .unwrap();
        let sm = "arn:aws:states:us-east-1:123456789012:stateMachine:orders";
        assert!(p.allows("states:StartExecution", sm));
        assert!(p.allows("states:startexecution", sm), "actions ignore case");
        assert!(!p.allows("states:DeleteStateMachine", sm), "deny by default");
        assert!(!p.allows(
            "states:StartExecution",
            "arn:aws:states:us-east-1:123456789012:activity:x"
        ));

        let p = Policy::parse(
            r#"{"Statement": [{"Effect": "Allow", "Action": "states:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "states:Delete*", "Resource": "*"}]}"#,
        )
        .unwrap();
        assert!(p.allows("states:DescribeExecution", "x"));
        assert!(!p.allows("states:DeleteStateMachine", "x"), "an explicit Deny wins");

        let p = Policy::parse(
            r#"{"Statement": {"Effect": "Allow", "NotAction": "states:Delete*", "Resource": "arn:aws:states:*:*:stateMachine:a?c"}}"#,
        )
        .unwrap();
        assert!(p.allows("states:UpdateStateMachine", "arn:aws:states:r:1:stateMachine:abc"));
        assert!(!p.allows("states:UpdateStateMachine", "arn:aws:states:r:1:stateMachine:abbc"));
        assert!(!p.allows("states:DeleteStateMachine", "arn:aws:states:r:1:stateMachine:abc"));

        assert!(
            Policy::parse(r#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}]}"#)
                .is_err()
        );
        assert!(Policy::parse(r#"{"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}"#).is_err());
        assert!(!wildcard("*a*a*a*a*a*a*a*a*b", &"a".repeat(40)));
    }
}
