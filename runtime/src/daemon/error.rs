//! The daemon's API errors: AWS's error type name and a message (`__type` and `message` on the
//! wire), so SDKs raise their modelled exceptions.

/// An API error: AWS's error type name and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceError {
    pub kind: &'static str,
    pub message: String,
}

pub fn error(kind: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError {
        kind,
        message: message.into(),
    }
}

pub type Result<T> = std::result::Result<T, ServiceError>;

/// The store failed: ServiceUnavailable, with its message.
pub fn unavailable(e: impl std::fmt::Display) -> ServiceError {
    error("ServiceUnavailable", e.to_string())
}
