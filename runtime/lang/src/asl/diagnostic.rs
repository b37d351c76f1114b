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
    /// A Task's `Resource` is not something a Task can name.
    InvalidResource,
    /// Warning: a payload-template key without `.$` whose value looks like a path.
    NoDollar,
    /// Warning: a field with a `…Path` twin given a path-like value.
    NoPath,
    /// Warning: a Pass state's `Result` holds path-like values, which are never evaluated.
    PassResultIsStatic,
    /// A state machine, branch or item processor whose states never end (AWS: "Workflow has
    /// no terminal state").
    MissingEndState,
    /// wasmstep's own warnings: a resource it cannot run (AWS would run it).
    UnsupportedResource,
    /// wasmstep's own warnings: a `${Name}` definition substitution never substituted.
    UnsubstitutedVariable,
    /// wasmstep's own warnings: placeholder region or account in an ARN, run anyway.
    PlaceholderArn,
    /// wasmstep's own warnings: a custom error name in the `States.` namespace, which the ASL
    /// specification reserves and AWS accepts.
    ReservedErrorName,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::SchemaValidationFailed => "SCHEMA_VALIDATION_FAILED",
            Code::InvalidJsonDescription => "INVALID_JSON_DESCRIPTION",
            Code::DuplicateStateName => "DUPLICATE_STATE_NAME",
            Code::MissingTransitionTarget => "MISSING_TRANSITION_TARGET",
            Code::InvalidResource => "INVALID_RESOURCE",
            Code::NoDollar => "NO_DOLLAR",
            Code::NoPath => "NO_PATH",
            Code::PassResultIsStatic => "PASS_RESULT_IS_STATIC",
            Code::MissingEndState => "MISSING_END_STATE",
            Code::UnsupportedResource => "UNSUPPORTED_RESOURCE",
            Code::UnsubstitutedVariable => "UNSUBSTITUTED_VARIABLE",
            Code::PlaceholderArn => "PLACEHOLDER_ARN",
            Code::ReservedErrorName => "RESERVED_ERROR_NAME",
        }
    }
}

/// An error stops the definition from loading; a warning is reported and the definition runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
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
            "severity": self.severity.as_str(),
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
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        let at = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "{} at {at}: {}", self.code.as_str(), self.message)
    }
}

/// A definition that failed to load, with every problem found (its errors, and the warnings
/// found beside them).
#[derive(Debug, Clone)]
pub struct InvalidDefinition {
    pub diagnostics: Vec<Diagnostic>,
}

impl InvalidDefinition {
    /// The problems that stopped it from loading.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error)
    }
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
