//! Errors raised in an execution: an error name (a word of the language, `asl::ErrorName`)
//! and its cause, and the Error Output a Catcher passes on.

use crate::asl::ErrorName;

/// An error raised in an execution: a name and an optional cause.
#[derive(Debug, Clone, PartialEq)]
pub struct AslError {
    pub name: ErrorName,
    pub cause: Option<String>,
}

impl AslError {
    pub fn new(name: ErrorName, cause: impl Into<String>) -> Self {
        AslError {
            name,
            cause: Some(cause.into()),
        }
    }

    /// The Error Output a Catcher passes on: `{"Error": ..., "Cause": ...}`.
    pub fn output(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("Error".into(), self.name.as_str().into());
        if let Some(c) = &self.cause {
            m.insert("Cause".into(), c.clone().into());
        }
        serde_json::Value::Object(m)
    }
}
