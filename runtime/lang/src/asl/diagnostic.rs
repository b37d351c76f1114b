//! Validation diagnostics: what is wrong, in which state and field, and where in the file.

use std::fmt;

use serde_json::{Value, json};

/// AWS's diagnostic codes (ValidateStateMachineDefinition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    SchemaValidationFailed,
    InvalidJsonDescription,
    DuplicateStateName,
    MissingTransitionTarget,
    UnreachableState,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::SchemaValidationFailed => "SCHEMA_VALIDATION_FAILED",
            Code::InvalidJsonDescription => "INVALID_JSON_DESCRIPTION",
            Code::DuplicateStateName => "DUPLICATE_STATE_NAME",
            Code::MissingTransitionTarget => "MISSING_TRANSITION_TARGET",
            Code::UnreachableState => "UNREACHABLE_STATE",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    /// JSON Pointer into the definition (`/States/Foo/Next`).
    pub pointer: String,
    /// 1-based line and column in the source text, when the definition came from text.
    pub position: Option<(usize, usize)>,
}

impl Diagnostic {
    pub fn to_json(&self, file: Option<&str>) -> Value {
        let mut v = json!({
            "severity": "ERROR",
            "code": self.code.as_str(),
            "message": self.message,
            "location": self.pointer,
        });
        if let Some((line, column)) = self.position {
            v["line"] = line.into();
            v["column"] = column.into();
        }
        if let Some(f) = file {
            v["file"] = f.into();
        }
        v
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((l, c)) = self.position {
            write!(f, "{l}:{c}: ")?;
        }
        let at = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "{} at {at}: {}", self.code.as_str(), self.message)
    }
}

/// A definition that failed to load, with every problem found.
#[derive(Debug, Clone)]
pub struct InvalidDefinition {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for InvalidDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidDefinition {}
