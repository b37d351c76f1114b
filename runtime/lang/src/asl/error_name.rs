//! ASL error names: the `States.*` names, user-defined names, and how Retry/Catch match them.

use std::fmt;

/// An error name, as raised by a state and as listed in `ErrorEquals`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorName {
    All,
    TaskFailed,
    Timeout,
    HeartbeatTimeout,
    Permissions,
    ResultPathMatchFailure,
    ParameterPathFailure,
    IntrinsicFailure,
    BranchFailed,
    NoChoiceMatched,
    ExceedToleratedFailureThreshold,
    ItemReaderFailed,
    ResultWriterFailed,
    QueryEvaluationError,
    Runtime,
    DataLimitExceeded,
    HttpSocket,
    /// Any name not starting with `States.` (from a handler, a Fail state, ...).
    Custom(String),
}

impl ErrorName {
    /// Parses a name; `None` for an unknown `States.*` name.
    pub fn parse(s: &str) -> Option<ErrorName> {
        Some(match s {
            "States.ALL" => ErrorName::All,
            "States.TaskFailed" => ErrorName::TaskFailed,
            "States.Timeout" => ErrorName::Timeout,
            "States.HeartbeatTimeout" => ErrorName::HeartbeatTimeout,
            "States.Permissions" => ErrorName::Permissions,
            "States.ResultPathMatchFailure" => ErrorName::ResultPathMatchFailure,
            "States.ParameterPathFailure" => ErrorName::ParameterPathFailure,
            "States.IntrinsicFailure" => ErrorName::IntrinsicFailure,
            "States.BranchFailed" => ErrorName::BranchFailed,
            "States.NoChoiceMatched" => ErrorName::NoChoiceMatched,
            "States.ExceedToleratedFailureThreshold" => ErrorName::ExceedToleratedFailureThreshold,
            "States.ItemReaderFailed" => ErrorName::ItemReaderFailed,
            "States.ResultWriterFailed" => ErrorName::ResultWriterFailed,
            "States.QueryEvaluationError" => ErrorName::QueryEvaluationError,
            "States.Runtime" => ErrorName::Runtime,
            "States.DataLimitExceeded" => ErrorName::DataLimitExceeded,
            "States.Http.Socket" => ErrorName::HttpSocket,
            s if s.starts_with("States.") => return None,
            s => ErrorName::Custom(s.to_string()),
        })
    }

    /// Any name a state raises at run time (unknown `States.*` names stay custom).
    pub fn from_raised(s: &str) -> ErrorName {
        ErrorName::parse(s).unwrap_or_else(|| ErrorName::Custom(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            ErrorName::All => "States.ALL",
            ErrorName::TaskFailed => "States.TaskFailed",
            ErrorName::Timeout => "States.Timeout",
            ErrorName::HeartbeatTimeout => "States.HeartbeatTimeout",
            ErrorName::Permissions => "States.Permissions",
            ErrorName::ResultPathMatchFailure => "States.ResultPathMatchFailure",
            ErrorName::ParameterPathFailure => "States.ParameterPathFailure",
            ErrorName::IntrinsicFailure => "States.IntrinsicFailure",
            ErrorName::BranchFailed => "States.BranchFailed",
            ErrorName::NoChoiceMatched => "States.NoChoiceMatched",
            ErrorName::ExceedToleratedFailureThreshold => "States.ExceedToleratedFailureThreshold",
            ErrorName::ItemReaderFailed => "States.ItemReaderFailed",
            ErrorName::ResultWriterFailed => "States.ResultWriterFailed",
            ErrorName::QueryEvaluationError => "States.QueryEvaluationError",
            ErrorName::Runtime => "States.Runtime",
            ErrorName::DataLimitExceeded => "States.DataLimitExceeded",
            ErrorName::HttpSocket => "States.Http.Socket",
            ErrorName::Custom(s) => s,
        }
    }

    /// Errors no Retry or Catch can handle.
    pub fn is_terminal(&self) -> bool {
        matches!(self, ErrorName::Runtime | ErrorName::DataLimitExceeded)
    }

    /// Does an `ErrorEquals` entry (`self`) match a raised error?
    ///
    /// `States.ALL` matches everything but the terminal errors. `States.TaskFailed` matches
    /// every error except `States.Timeout` (AWS's documented rule) and the terminal ones.
    /// `States.Timeout` also matches `States.HeartbeatTimeout`.
    pub fn matches(&self, raised: &ErrorName) -> bool {
        if raised.is_terminal() {
            return false;
        }
        match self {
            ErrorName::All => true,
            ErrorName::TaskFailed => !matches!(raised, ErrorName::Timeout),
            ErrorName::Timeout => {
                matches!(raised, ErrorName::Timeout | ErrorName::HeartbeatTimeout)
            }
            name => name == raised,
        }
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_rules() {
        let custom = ErrorName::Custom("Boom".into());
        assert!(ErrorName::All.matches(&custom));
        assert!(!ErrorName::All.matches(&ErrorName::Runtime));
        assert!(!ErrorName::Runtime.matches(&ErrorName::Runtime));
        assert!(!ErrorName::All.matches(&ErrorName::DataLimitExceeded));
        assert!(ErrorName::TaskFailed.matches(&custom));
        assert!(!ErrorName::TaskFailed.matches(&ErrorName::Timeout));
        assert!(ErrorName::Timeout.matches(&ErrorName::HeartbeatTimeout));
        assert_eq!(ErrorName::parse("States.Nope"), None);
    }
}
