//! Upstream failures (`spec/dvid.md` §6; issue 6): what went wrong with a DVID call,
//! which failures are worth a retry and count against the circuit breaker, and how each
//! becomes an [`EvalError`] — a bad answer 502, a timeout 504, an unreachable server or
//! an open circuit 503. URLs never carry credentials (tokens travel in a header).

use thiserror::Error;

use crate::eval::EvalError;

/// Why an upstream call failed. URLs never carry credentials.
#[derive(Debug, Clone, Error)]
pub enum DvidError {
    /// No answer within the timeout.
    #[error("DVID {url} did not answer within {timeout_ms} ms")]
    Timeout {
        /// The URL called.
        url: String,
        /// The timeout that expired.
        timeout_ms: u64,
    },
    /// The server could not be reached.
    #[error("cannot reach DVID at {url}: {detail}")]
    Connect {
        /// The URL called.
        url: String,
        /// The transport error.
        detail: String,
    },
    /// The server answered with an error status.
    #[error("DVID {url} answered HTTP {status}: {body}")]
    Status {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of DVID's (plain-text) error message.
        body: String,
    },
    /// The response was cut short or is not what the endpoint sends.
    #[error("DVID {url} sent a bad response: {detail}")]
    Body {
        /// The URL called.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// The circuit breaker is open: the server failed repeatedly.
    #[error(
        "DVID at {url} failed repeatedly and is not called for the next {retry_in_ms} ms (circuit open)"
    )]
    CircuitOpen {
        /// The upstream server.
        url: String,
        /// Time until a probe is allowed.
        retry_in_ms: u64,
    },
}

impl DvidError {
    /// The server is unwell (retry, and count it against the breaker).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            DvidError::Timeout { .. } | DvidError::Connect { .. } | DvidError::Body { .. } => true,
            DvidError::Status { status, .. } => *status >= 500,
            DvidError::CircuitOpen { .. } => false,
        }
    }

    /// The server answered 4xx (it is up and refused this request).
    #[must_use]
    pub fn is_client_error(&self) -> bool {
        matches!(self, DvidError::Status { status, .. } if (400..500).contains(status))
    }

    /// The metrics outcome label.
    pub(crate) fn outcome(&self) -> String {
        match self {
            DvidError::Timeout { .. } => "timeout".into(),
            DvidError::Connect { .. } => "connect".into(),
            DvidError::Status { status, .. } => format!("http_{status}"),
            DvidError::Body { .. } => "bad_body".into(),
            DvidError::CircuitOpen { .. } => "circuit_open".into(),
        }
    }

    /// What went wrong, without the URL (the [`EvalError`] names it).
    fn detail(&self) -> String {
        match self {
            DvidError::Timeout { timeout_ms, .. } => format!("no answer within {timeout_ms} ms"),
            DvidError::Connect { detail, .. } => format!("cannot connect: {detail}"),
            DvidError::Status { status, body, .. } => format!("answered HTTP {status}: {body}"),
            DvidError::Body { detail, .. } => detail.clone(),
            DvidError::CircuitOpen { retry_in_ms, .. } => format!(
                "it failed repeatedly and is not called for the next {retry_in_ms} ms (circuit open)"
            ),
        }
    }
}

impl From<DvidError> for EvalError {
    fn from(e: DvidError) -> Self {
        let detail = e.detail();
        match e {
            DvidError::Timeout { url, timeout_ms } => {
                EvalError::UpstreamTimeout { url, timeout_ms }
            }
            DvidError::Connect { url, .. } | DvidError::CircuitOpen { url, .. } => {
                EvalError::UpstreamUnavailable { url, detail }
            }
            DvidError::Status {
                url, status: 503, ..
            } => EvalError::UpstreamUnavailable { url, detail },
            DvidError::Status { url, .. } | DvidError::Body { url, .. } => {
                EvalError::UpstreamBad { url, detail }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_statuses() {
        let u = || "http://h/api".to_owned();
        let bad: EvalError = DvidError::Status {
            url: u(),
            status: 500,
            body: "x".into(),
        }
        .into();
        assert!(matches!(bad, EvalError::UpstreamBad { .. }));
        let down: EvalError = DvidError::Status {
            url: u(),
            status: 503,
            body: "x".into(),
        }
        .into();
        assert!(matches!(down, EvalError::UpstreamUnavailable { .. }));
        let slow: EvalError = DvidError::Timeout {
            url: u(),
            timeout_ms: 5,
        }
        .into();
        assert!(matches!(
            slow,
            EvalError::UpstreamTimeout { timeout_ms: 5, .. }
        ));
        let gone: EvalError = DvidError::Connect {
            url: u(),
            detail: "refused".into(),
        }
        .into();
        assert!(gone.to_string().contains("refused"));
        assert!(
            DvidError::Status {
                url: u(),
                status: 404,
                body: String::new()
            }
            .is_client_error()
        );
    }
}
