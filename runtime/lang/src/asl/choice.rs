//! Builds Choice states: rules with `Variable` + one comparison operator, or And/Or/Not.

use serde_json::{Map, Value};

use super::ata::Allowed;
use super::build::Builder;
use super::glob::Glob;
use super::model::*;
use super::states::parse_timestamp;
use crate::path::Path;

/// Every data-test operator: name, family, comparator (None for type tests and StringMatches),
/// and whether its value is a path.
const OPERATORS: &[(&str, Family, Comparator, bool)] = &[
    ("StringEquals", Family::String, Comparator::Equals, false),
    ("StringLessThan", Family::String, Comparator::LessThan, false),
    ("StringGreaterThan", Family::String, Comparator::GreaterThan, false),
    (
        "StringLessThanEquals",
        Family::String,
        Comparator::LessThanEquals,
        false,
    ),
    (
        "StringGreaterThanEquals",
        Family::String,
        Comparator::GreaterThanEquals,
        false,
    ),
    ("StringEqualsPath", Family::String, Comparator::Equals, true),
    ("StringLessThanPath", Family::String, Comparator::LessThan, true),
    ("StringGreaterThanPath", Family::String, Comparator::GreaterThan, true),
    (
        "StringLessThanEqualsPath",
        Family::String,
        Comparator::LessThanEquals,
        true,
    ),
    (
        "StringGreaterThanEqualsPath",
        Family::String,
        Comparator::GreaterThanEquals,
        true,
    ),
    ("NumericEquals", Family::Numeric, Comparator::Equals, false),
    ("NumericLessThan", Family::Numeric, Comparator::LessThan, false),
    ("NumericGreaterThan", Family::Numeric, Comparator::GreaterThan, false),
    (
        "NumericLessThanEquals",
        Family::Numeric,
        Comparator::LessThanEquals,
        false,
    ),
    (
        "NumericGreaterThanEquals",
        Family::Numeric,
        Comparator::GreaterThanEquals,
        false,
    ),
    ("NumericEqualsPath", Family::Numeric, Comparator::Equals, true),
    ("NumericLessThanPath", Family::Numeric, Comparator::LessThan, true),
    ("NumericGreaterThanPath", Family::Numeric, Comparator::GreaterThan, true),
    (
        "NumericLessThanEqualsPath",
        Family::Numeric,
        Comparator::LessThanEquals,
        true,
    ),
    (
        "NumericGreaterThanEqualsPath",
        Family::Numeric,
        Comparator::GreaterThanEquals,
        true,
    ),
    ("BooleanEquals", Family::Boolean, Comparator::Equals, false),
    ("BooleanEqualsPath", Family::Boolean, Comparator::Equals, true),
    ("TimestampEquals", Family::Timestamp, Comparator::Equals, false),
    ("TimestampLessThan", Family::Timestamp, Comparator::LessThan, false),
    (
        "TimestampGreaterThan",
        Family::Timestamp,
        Comparator::GreaterThan,
        false,
    ),
    (
        "TimestampLessThanEquals",
        Family::Timestamp,
        Comparator::LessThanEquals,
        false,
    ),
    (
        "TimestampGreaterThanEquals",
        Family::Timestamp,
        Comparator::GreaterThanEquals,
        false,
    ),
    ("TimestampEqualsPath", Family::Timestamp, Comparator::Equals, true),
    ("TimestampLessThanPath", Family::Timestamp, Comparator::LessThan, true),
    (
        "TimestampGreaterThanPath",
        Family::Timestamp,
        Comparator::GreaterThan,
        true,
    ),
    (
        "TimestampLessThanEqualsPath",
        Family::Timestamp,
        Comparator::LessThanEquals,
        true,
    ),
    (
        "TimestampGreaterThanEqualsPath",
        Family::Timestamp,
        Comparator::GreaterThanEquals,
        true,
    ),
];

const TYPE_TESTS: &[(&str, TypeTest)] = &[
    ("IsNull", TypeTest::Null),
    ("IsPresent", TypeTest::Present),
    ("IsNumeric", TypeTest::Numeric),
    ("IsString", TypeTest::String),
    ("IsBoolean", TypeTest::Boolean),
    ("IsTimestamp", TypeTest::Timestamp),
];

fn is_operator(k: &str) -> bool {
    k == "StringMatches" || OPERATORS.iter().any(|o| o.0 == k) || TYPE_TESTS.iter().any(|t| t.0 == k)
}

impl Builder<'_> {
    pub(super) fn choice(&mut self, id: StateId, obj: &Map<String, Value>, at: &str, jp: bool) -> Choice {
        let mut rules = Vec::new();
        match obj.get("Choices") {
            Some(Value::Array(items)) if !items.is_empty() => {
                for (i, r) in items.iter().enumerate() {
                    let p = format!("{at}/Choices/{i}");
                    let Some(r) = r.as_object() else {
                        self.schema(&p, "A choice rule must be an object");
                        continue;
                    };
                    let next = match r.get("Next") {
                        Some(n) => self.target(id, &format!("{p}/Next"), n).unwrap_or(id),
                        None => {
                            self.schema(&p, "A top-level choice rule needs 'Next'");
                            id
                        }
                    };
                    if jp {
                        let condition = self.condition(r, &p, true);
                        rules.push(ChoiceRule {
                            condition,
                            next,
                            assign: self.assign(r, &p),
                            output: None,
                        });
                    } else {
                        self.check_fields(
                            r,
                            &p,
                            &["Condition", "Next", "Output", "Assign", "Comment"],
                            "in a JSONata choice rule",
                        );
                        let condition = match r.get("Condition") {
                            Some(Value::Bool(_)) | Some(Value::String(_)) => {
                                self.ata(r, &p, "Condition", Allowed::INPUT_ONLY)
                            }
                            Some(_) => {
                                self.schema(
                                    &format!("{p}/Condition"),
                                    "Condition must be true, false or a {% %} expression",
                                );
                                None
                            }
                            None => {
                                self.schema(&p, "A JSONata choice rule needs 'Condition'");
                                None
                            }
                        };
                        rules.push(ChoiceRule {
                            condition: condition.map(Condition::Expr).unwrap_or(Condition::And(Vec::new())),
                            next,
                            assign: self.ata_assign(r, &p, Allowed::INPUT_ONLY),
                            output: self.ata(r, &p, "Output", Allowed::INPUT_ONLY),
                        });
                    }
                }
            }
            _ => self.schema(at, "A Choice state needs 'Choices': a non-empty array of rules"),
        }
        let default = obj
            .get("Default")
            .and_then(|d| self.target(id, &format!("{at}/Default"), d));
        if obj.contains_key("Next") || obj.contains_key("End") {
            self.schema(
                at,
                "A Choice state cannot have 'Next' or 'End'; use Choices and Default",
            );
        }
        Choice {
            io: if jp {
                Io {
                    input_path: self.choice_select(obj, at, "InputPath"),
                    output_path: self.choice_select(obj, at, "OutputPath"),
                    assign: self.assign(obj, at),
                    ..Io::default()
                }
            } else {
                self.ata_io(obj, at, false)
            },
            rules,
            default,
        }
    }

    fn choice_select(&mut self, obj: &Map<String, Value>, at: &str, field: &str) -> Select {
        match obj.get(field) {
            None => Select::Whole,
            Some(Value::Null) => Select::Empty,
            Some(Value::String(s)) if s == "$" => Select::Whole,
            Some(Value::String(s)) => match Path::parse(s) {
                Ok(p) => Select::Path(p),
                Err(e) => {
                    self.schema(&format!("{at}/{field}"), e);
                    Select::Whole
                }
            },
            Some(_) => {
                self.schema(
                    &format!("{at}/{field}"),
                    format!("{field} must be a path string or null"),
                );
                Select::Whole
            }
        }
    }

    fn condition(&mut self, r: &Map<String, Value>, at: &str, top: bool) -> Condition {
        for key in r.keys() {
            let ok = matches!(key.as_str(), "And" | "Or" | "Not" | "Variable" | "Comment")
                || is_operator(key)
                || (top && matches!(key.as_str(), "Next" | "Assign"));
            if !ok {
                let msg = if !top && matches!(key.as_str(), "Next" | "Assign") {
                    format!("'{key}' is only allowed on a top-level choice rule, not inside And/Or/Not")
                } else {
                    format!("Field '{key}' is not supported in a choice rule")
                };
                self.schema(&format!("{at}/{}", super::build::escape(key)), msg);
            }
        }
        for (key, combine) in [("And", true), ("Or", false)] {
            if let Some(v) = r.get(key) {
                let p = format!("{at}/{key}");
                let Some(items) = v.as_array().filter(|a| !a.is_empty()) else {
                    self.schema(&p, format!("{key} must be a non-empty array of rules"));
                    return Condition::And(Vec::new());
                };
                let mut subs = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_object() {
                        Some(o) => subs.push(self.condition(o, &format!("{p}/{i}"), false)),
                        None => self.schema(&format!("{p}/{i}"), "A rule must be an object"),
                    }
                }
                return if combine {
                    Condition::And(subs)
                } else {
                    Condition::Or(subs)
                };
            }
        }
        if let Some(v) = r.get("Not") {
            let p = format!("{at}/Not");
            return match v.as_object() {
                Some(o) => Condition::Not(Box::new(self.condition(o, &p, false))),
                None => {
                    self.schema(&p, "Not must be a single rule object");
                    Condition::And(Vec::new())
                }
            };
        }
        let variable = match r.get("Variable") {
            Some(Value::String(s)) => match Path::parse(s) {
                Ok(p) => Some(p),
                Err(e) => {
                    self.schema(&format!("{at}/Variable"), e);
                    None
                }
            },
            Some(_) => {
                self.schema(&format!("{at}/Variable"), "Variable must be a path string");
                None
            }
            None => {
                self.schema(
                    at,
                    "A choice rule needs 'Variable' and one comparison operator, or And/Or/Not",
                );
                None
            }
        };
        let ops: Vec<&String> = r.keys().filter(|k| is_operator(k)).collect();
        if ops.len() != 1 {
            self.schema(
                at,
                format!(
                    "A choice rule needs exactly one comparison operator, found {}",
                    ops.len()
                ),
            );
            return Condition::And(Vec::new());
        }
        let op = ops[0].as_str();
        let p = format!("{at}/{op}");
        let value = &r[op];
        let test = self.test(op, value, &p);
        match (variable, test) {
            (Some(variable), Some(test)) => Condition::Test { variable, test },
            _ => Condition::And(Vec::new()),
        }
    }

    fn test(&mut self, op: &str, value: &Value, p: &str) -> Option<Test> {
        if let Some((_, t)) = TYPE_TESTS.iter().find(|t| t.0 == op) {
            return match value.as_bool() {
                Some(b) => Some(Test::Is(*t, b)),
                None => {
                    self.schema(p, format!("{op} must be true or false"));
                    None
                }
            };
        }
        if op == "StringMatches" {
            return match value.as_str().map(Glob::parse) {
                Some(Ok(g)) => Some(Test::Matches(g)),
                Some(Err(e)) => {
                    self.schema(p, e);
                    None
                }
                None => {
                    self.schema(p, "StringMatches must be a string pattern");
                    None
                }
            };
        }
        let &(_, family, comparator, is_path) = OPERATORS.iter().find(|o| o.0 == op)?;
        let operand = if is_path {
            match value.as_str().map(Path::parse) {
                Some(Ok(path)) => Operand::Path(path),
                Some(Err(e)) => {
                    self.schema(p, e);
                    return None;
                }
                None => {
                    self.schema(p, format!("{op} must be a path string"));
                    return None;
                }
            }
        } else {
            let operand = match family {
                Family::String => value.as_str().map(|s| Operand::String(s.to_string())),
                Family::Numeric => value.as_f64().map(Operand::Number),
                Family::Boolean => value.as_bool().map(Operand::Boolean),
                Family::Timestamp => value.as_str().and_then(parse_timestamp).map(Operand::Timestamp),
            };
            let Some(operand) = operand else {
                let want = match family {
                    Family::String => "a string",
                    Family::Numeric => "a number",
                    Family::Boolean => "true or false",
                    Family::Timestamp => "an RFC 3339 timestamp string",
                };
                self.schema(p, format!("{op} must be {want}"));
                return None;
            };
            operand
        };
        Some(Test::Compare {
            family,
            comparator,
            operand,
        })
    }
}
