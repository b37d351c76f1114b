//! Retry and Catch: `ErrorEquals` lists, retriers (intervals, backoff, jitter, caps) and
//! catchers (next state, ResultPath or Output, Assign).

use serde_json::{Map, Value};

use super::ata::Allowed;
use super::build::Builder;
use super::diagnostic::Code;
use super::error_name::ErrorName;
use super::model::*;
use super::states::MAX_SECONDS;

/// Retry's MaxDelaySeconds: at most a year (366 days).
const MAX_DELAY_SECONDS: u64 = 31_622_400;

/// `ErrorEquals`: a non-empty array of error names.
pub(super) fn error_names(b: &mut Builder<'_>, obj: &Map<String, Value>, at: &str) -> Vec<ErrorName> {
    let p = format!("{at}/ErrorEquals");
    let Some(Value::Array(items)) = obj.get("ErrorEquals") else {
        b.schema(&p, "ErrorEquals must be a non-empty array of error names");
        return Vec::new();
    };
    if items.is_empty() {
        b.schema(&p, "ErrorEquals must not be empty");
    }
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str().map(|s| (s, ErrorName::parse(s))) {
            Some((_, Some(n))) => names.push(n),
            // The specification reserves the prefix, but AWS accepts such names (published
            // patterns raise and catch `States.QuorumMet`): matched as the custom name it is.
            Some((s, None)) => {
                b.warn(
                    Code::ReservedErrorName,
                    &format!("{p}/{i}"),
                    format!("'{s}' is not one of the predefined States.* errors; it is matched as a custom error name (the 'States.' prefix is reserved by the specification)"),
                );
                names.push(ErrorName::Custom(s.to_string()));
            }
            None => b.schema(&format!("{p}/{i}"), "An error name must be a string"),
        }
    }
    if names.contains(&ErrorName::All) && names.len() > 1 {
        b.schema(&p, "States.ALL must appear alone in ErrorEquals");
    }
    names
}

impl Builder<'_> {
    pub(super) fn retriers(&mut self, obj: &Map<String, Value>, at: &str) -> Vec<Retrier> {
        let Some(v) = obj.get("Retry") else {
            return Vec::new();
        };
        let Some(items) = v.as_array() else {
            self.schema(&format!("{at}/Retry"), "Retry must be an array of retriers");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, r) in items.iter().enumerate() {
            let p = format!("{at}/Retry/{i}");
            let Some(r) = r.as_object() else {
                self.schema(&p, "A retrier must be an object");
                continue;
            };
            self.check_fields(
                r,
                &p,
                &[
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                ],
                "in a Retrier",
            );
            let error_equals = error_names(self, r, &p);
            if error_equals.contains(&ErrorName::All) && i + 1 != items.len() {
                self.schema(
                    &format!("{p}/ErrorEquals"),
                    "A retrier with States.ALL must be the last one",
                );
            }
            let backoff_rate = match r.get("BackoffRate") {
                None => 2.0,
                Some(v) => match v.as_f64() {
                    Some(x) if x >= 1.0 => x,
                    _ => {
                        self.schema(
                            &format!("{p}/BackoffRate"),
                            "BackoffRate must be a number of at least 1.0",
                        );
                        2.0
                    }
                },
            };
            let jitter = match r.get("JitterStrategy") {
                None => Jitter::None,
                Some(Value::String(s)) if s == "NONE" => Jitter::None,
                Some(Value::String(s)) if s == "FULL" => Jitter::Full,
                Some(_) => {
                    self.schema(
                        &format!("{p}/JitterStrategy"),
                        "JitterStrategy must be \"FULL\" or \"NONE\"",
                    );
                    Jitter::None
                }
            };
            out.push(Retrier {
                error_equals,
                interval_seconds: self.uint(r, &p, "IntervalSeconds", 1, MAX_SECONDS).unwrap_or(1),
                max_attempts: self.uint(r, &p, "MaxAttempts", 0, MAX_SECONDS).unwrap_or(3),
                backoff_rate,
                max_delay_seconds: self.uint(r, &p, "MaxDelaySeconds", 1, MAX_DELAY_SECONDS),
                jitter,
            });
        }
        out
    }

    pub(super) fn catchers(&mut self, id: StateId, obj: &Map<String, Value>, at: &str, jp: bool) -> Vec<Catcher> {
        let Some(v) = obj.get("Catch") else {
            return Vec::new();
        };
        let Some(items) = v.as_array() else {
            self.schema(&format!("{at}/Catch"), "Catch must be an array of catchers");
            return Vec::new();
        };
        let allowed: &[&str] = if jp {
            &["ErrorEquals", "Next", "ResultPath", "Assign", "Comment"]
        } else {
            &["ErrorEquals", "Next", "Output", "Assign", "Comment"]
        };
        let mut out = Vec::new();
        for (i, c) in items.iter().enumerate() {
            let p = format!("{at}/Catch/{i}");
            let Some(c) = c.as_object() else {
                self.schema(&p, "A catcher must be an object");
                continue;
            };
            self.check_fields(c, &p, allowed, "in a Catcher");
            let error_equals = error_names(self, c, &p);
            if error_equals.contains(&ErrorName::All) && i + 1 != items.len() {
                self.schema(
                    &format!("{p}/ErrorEquals"),
                    "A catcher with States.ALL must be the last one",
                );
            }
            let next = match c.get("Next") {
                Some(n) => self.target(id, &format!("{p}/Next"), n),
                None => {
                    self.schema(&p, "A catcher needs 'Next'");
                    None
                }
            };
            out.push(Catcher {
                error_equals,
                next: next.unwrap_or(id),
                result_path: if jp {
                    self.result_path(c, &p, "ResultPath")
                } else {
                    ResultPath::Replace
                },
                assign: if jp {
                    self.assign(c, &p)
                } else {
                    self.ata_assign(c, &p, Allowed::ERROR)
                },
                output: if jp {
                    None
                } else {
                    self.ata(c, &p, "Output", Allowed::ERROR)
                },
            });
        }
        out
    }
}
