//! Evaluates Choice rules (JSONPath): data tests, type tests and And/Or/Not.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use super::step::Fault;
use crate::asl::model::{Comparator, Condition, Family, Operand, Test, TypeTest};
use crate::asl::states::parse_timestamp;
use crate::path::{Env, Miss, Path, Selected};

/// Selects a path without cloning when it names a single node.
pub fn lookup<'v>(path: &Path, env: &Env<'v>) -> Result<Cow<'v, Value>, Miss> {
    match path.select(env)? {
        Selected::One(v) => Ok(Cow::Borrowed(v)),
        other => Ok(Cow::Owned(other.into_value())),
    }
}

pub fn evaluate(cond: &Condition, env: &Env<'_>) -> Result<bool, Fault> {
    match cond {
        Condition::And(all) => {
            for c in all {
                if !evaluate(c, env)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Condition::Or(any) => {
            for c in any {
                if evaluate(c, env)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Not(c) => Ok(!evaluate(c, env)?),
        // Built only for JSONata states, which step::choice evaluates itself.
        Condition::Expr(_) => Err(Fault::Runtime(
            "a JSONata Condition reached the JSONPath rule evaluator".into(),
        )),
        Condition::Test { variable, test } => {
            let value = match lookup(variable, env) {
                Ok(v) => Some(v),
                Err(_) if matches!(test, Test::Is(TypeTest::Present, _)) => None,
                Err(miss) => return Err(Fault::Runtime(variable.miss_message(&miss))),
            };
            match (test, value) {
                (Test::Is(TypeTest::Present, want), v) => Ok(v.is_some() == *want),
                (_, None) => Ok(false),
                (Test::Is(t, want), Some(v)) => Ok(type_test(*t, &v) == *want),
                (Test::Matches(glob), Some(v)) => Ok(v.as_str().is_some_and(|s| glob.matches(s))),
                (
                    Test::Compare {
                        family,
                        comparator,
                        operand,
                    },
                    Some(v),
                ) => compare(*family, *comparator, &v, operand, env),
            }
        }
    }
}

fn type_test(t: TypeTest, v: &Value) -> bool {
    match t {
        TypeTest::Null => v.is_null(),
        TypeTest::Present => true,
        TypeTest::Numeric => v.is_number(),
        TypeTest::String => v.is_string(),
        TypeTest::Boolean => v.is_boolean(),
        TypeTest::Timestamp => v.as_str().and_then(parse_timestamp).is_some(),
    }
}

fn holds(c: Comparator, o: Ordering) -> bool {
    match c {
        Comparator::Equals => o == Ordering::Equal,
        Comparator::LessThan => o == Ordering::Less,
        Comparator::GreaterThan => o == Ordering::Greater,
        Comparator::LessThanEquals => o != Ordering::Greater,
        Comparator::GreaterThanEquals => o != Ordering::Less,
    }
}

fn compare(family: Family, c: Comparator, v: &Value, operand: &Operand, env: &Env<'_>) -> Result<bool, Fault> {
    let rhs: Cow<'_, Value>;
    let rhs_value: &Value = match operand {
        Operand::Path(p) => {
            rhs = lookup(p, env).map_err(|miss| Fault::Runtime(p.miss_message(&miss)))?;
            &rhs
        }
        Operand::String(s) => return Ok(v.as_str().is_some_and(|x| holds(c, x.cmp(s.as_str())))),
        Operand::Number(n) => {
            return Ok(v
                .as_f64()
                .is_some_and(|x| x.partial_cmp(n).is_some_and(|o| holds(c, o))));
        }
        Operand::Boolean(b) => return Ok(v.as_bool() == Some(*b)),
        Operand::Timestamp(t) => {
            return Ok(v.as_str().and_then(parse_timestamp).is_some_and(|x| holds(c, x.cmp(t))));
        }
    };
    Ok(match family {
        Family::String => match (v.as_str(), rhs_value.as_str()) {
            (Some(a), Some(b)) => holds(c, a.cmp(b)),
            _ => false,
        },
        Family::Numeric => match (v, rhs_value) {
            (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()).is_some_and(|o| holds(c, o)),
            _ => false,
        },
        Family::Boolean => matches!((v, rhs_value), (Value::Bool(a), Value::Bool(b)) if a == b),
        Family::Timestamp => match (
            v.as_str().and_then(parse_timestamp),
            rhs_value.as_str().and_then(parse_timestamp),
        ) {
            (Some(a), Some(b)) => holds(c, a.cmp(&b)),
            _ => false,
        },
    })
}
