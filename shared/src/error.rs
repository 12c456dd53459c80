//! The one error type of the library. Every variant says what failed and why; `error_type` is
//! the short name a Lambda caller (console, async-invoke destination) sees as `errorType`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or malformed (named in the message).
    #[error("configuration: {0}")]
    Config(String),

    /// The caller's input (function event, CLI argument) is wrong; the message names what.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The code broke a rule it relies on (not the caller's input): a bug to fix, named.
    #[error("internal: {0}")]
    Invariant(String),

    #[error("{context}: {}", describe_postgres_error(source))]
    Database {
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },

    #[error("{job} is already running since {since} (run id {run_id})")]
    AlreadyRunning { job: String, since: DateTime<Utc>, run_id: Uuid },

    /// The job's lock is held by a session that names no run of it (one starting, or a
    /// session that is no run at all: a lingering backend, a tool).
    #[error("{job} cannot start: its lock is held by {holder}")]
    LockHeld { job: String, holder: String },

    #[error("{job} failed (run id {run_id}): {reason}")]
    JobFailed { job: String, run_id: Uuid, reason: String },

    /// The run's control connection ended mid-run, taking the job's lock with it, so the run
    /// stopped rather than carry on unguarded.
    #[error("{job} lost its control connection (and with it the job's lock); the run was stopped")]
    LockLost { job: String },

    /// The run stopped itself before the invocation's deadline rather than be killed by
    /// Lambda: nothing it was writing was applied.
    #[error("deadline: {job} stopped {during}, before the invocation's deadline; its previous output is untouched")]
    Deadline { job: String, during: String },

    #[error("publishing {detail_type} to EventBridge bus {bus}: {reason}")]
    EventPublish {
        detail_type: String,
        bus: String,
        #[source]
        reason: Cause,
    },

    /// Data changed under an operation that expected it not to; nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),

    /// Writing a file to its store (S3) failed.
    #[error("storing {location}: {reason}")]
    Storage {
        location: String,
        #[source]
        reason: Cause,
    },

    /// Invoking another function failed.
    #[error("invoking {function}: {reason}")]
    Invoke {
        function: String,
        #[source]
        reason: Cause,
    },

    /// Sending messages to a queue failed.
    #[error("sending to queue {queue}: {reason}")]
    Queue {
        queue: String,
        #[source]
        reason: Cause,
    },

    /// An OpenSearch request failed (after retries where they apply).
    #[error("OpenSearch, {operation}: {reason}")]
    Search {
        operation: String,
        #[source]
        reason: Cause,
    },

    /// Publishing to a RabbitMQ broker failed, or the broker did not take every message.
    #[error("publishing to exchange {exchange} of the broker at {broker}: {reason}")]
    Broker {
        broker: String,
        exchange: String,
        #[source]
        reason: Cause,
    },

    #[error("reading the secret {secret}: {reason}")]
    Secret {
        secret: String,
        #[source]
        reason: Cause,
    },

    /// A preflight check failed: the whole report as JSON (`sync_core::preflight::Report`),
    /// which the console shows and `tis-sync preflight` reads back.
    #[error("{0}")]
    Preflight(String),
}

/// What a client (an AWS SDK, OpenSearch) or the service said, kept whole: the message for
/// people, with the SDK's context (service error code and message), and the error itself as the
/// source for code that looks further.
#[derive(Debug)]
pub struct Cause {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Cause {
    /// An AWS SDK error, described with its context (the service's error code and message).
    pub fn aws<E: std::error::Error + Send + Sync + 'static>(error: E) -> Cause {
        // Every SDK re-exports the same DisplayErrorContext (aws-smithy-types'); any one serves.
        let message = aws_sdk_sqs::error::DisplayErrorContext(&error).to_string();
        Cause { message, source: Some(Box::new(error)) }
    }

    /// Any other client error.
    pub fn of<E: std::error::Error + Send + Sync + 'static>(error: E) -> Cause {
        Cause { message: error.to_string(), source: Some(Box::new(error)) }
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Cause {
        Cause { message, source: None }
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Cause {
        message.to_string().into()
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// tokio-postgres prints only "db error" for server errors: say what the server said, without
/// personal data. The DETAIL ("Failing row contains (…)", "Key (gmc_number)=(…)") and the
/// message of a data exception (class 22: "invalid input syntax for type date: \"…\"") carry
/// row values, so they are left out; the SQLSTATE, table, column and constraint say where.
pub fn describe_postgres_error(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        let mut text = if code.starts_with("22") {
            "invalid data for the column's type".to_string()
        } else {
            db.message().to_string()
        };
        text.push_str(&format!(" (SQLSTATE {code}"));
        for (what, value) in [("table", db.table()), ("column", db.column()), ("constraint", db.constraint())] {
            if let Some(value) = value {
                text.push_str(&format!(", {what} {value}"));
            }
        }
        text.push(')');
        return text;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The `errorType` of sync-preflight's answer when a check failed.
pub const PREFLIGHT_FAILED: &str = "PreflightFailed";

/// A function's error as the Invoke API answers it: the runtime's error object
/// (`{"errorType", "errorMessage"}`). The local emulator relays the error a function's watcher
/// returns as `{"errorType": "Runtime.HandlerError", "errorMessage": "Proxy target returned
/// HTTP 500: <that object>"}`: unwrapped here, so a caller reads the function's own either way.
pub fn function_error(answer: serde_json::Value) -> serde_json::Value {
    const RELAYED: &str = "Proxy target returned HTTP 500: ";
    let relayed = answer["errorMessage"].as_str().and_then(|m| m.strip_prefix(RELAYED));
    match relayed.and_then(|inner| serde_json::from_str::<serde_json::Value>(inner).ok()) {
        Some(inner) if inner.get("errorType").is_some() => inner,
        _ => answer,
    }
}

impl Error {
    pub fn database(context: impl Into<String>, source: tokio_postgres::Error) -> Self {
        Error::Database { context: context.into(), source }
    }

    /// The `errorType` reported to Lambda callers.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::Config(_) => "ConfigError",
            Error::InvalidInput(_) => "InvalidInput",
            Error::Invariant(_) => "Invariant",
            Error::Database { .. } => "DatabaseError",
            Error::AlreadyRunning { .. } | Error::LockHeld { .. } => "AlreadyRunning",
            Error::JobFailed { .. } => "JobFailed",
            Error::LockLost { .. } => "LockLost",
            Error::Deadline { .. } => "Deadline",
            Error::EventPublish { .. } => "EventPublishError",
            Error::Secret { .. } => "SecretError",
            Error::Search { .. } => "SearchError",
            Error::Storage { .. } => "StorageError",
            Error::Conflict(_) => "Conflict",
            Error::Queue { .. } => "QueueError",
            Error::Broker { .. } => "BrokerError",
            Error::Invoke { .. } => "InvokeError",
            Error::Preflight(_) => PREFLIGHT_FAILED,
        }
    }
}

impl From<sync_core::InvalidInput> for Error {
    fn from(invalid: sync_core::InvalidInput) -> Self {
        Error::InvalidInput(invalid.0)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_client_error_is_described_and_kept_as_the_source() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error = Error::Search { operation: "bulk indexing".into(), reason: Cause::of(refused) };
        assert_eq!(error.to_string(), "OpenSearch, bulk indexing: connection refused");
        let cause = error.source().expect("the cause is the source");
        let io = cause.source().and_then(|e| e.downcast_ref::<std::io::Error>()).expect("the client's own error");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        let plain = Error::Queue { queue: "q".into(), reason: "not accepted".into() };
        assert!(plain.source().unwrap().source().is_none());
    }
}
