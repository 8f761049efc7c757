//! How AWS errors are told: the operation, then what the service said (its code and
//! message), or the HTTP status and a short excerpt of the answer when it gave no code, or
//! what went wrong on the way (DNS, a refused connection, a timeout, TLS) in words, never
//! the SDK's debug form. The kind of failure picks the advice.

use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};

/// What kind of failure an AWS call met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The service throttled the call.
    Throttled,
    /// The endpoint could not be reached (DNS, refused connection, TLS).
    Unreachable,
    /// No answer in time.
    TimedOut,
    /// The credentials were refused or do not allow the call.
    Denied,
    /// No credentials were found.
    NoCredentials,
    /// No region is set.
    NoRegion,
    /// The service answered with an error.
    Service,
    /// Anything else.
    Other,
}

/// An AWS call that failed, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallFailure {
    /// The API operation (`CreateChangeSet`).
    pub operation: &'static str,
    /// What kind of failure it was.
    pub kind: FailureKind,
    /// What happened.
    pub text: String,
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.operation, self.text)
    }
}

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
];

const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
];

/// The failure of `operation`, classified and told in words.
pub fn failure<E>(operation: &'static str, error: &SdkError<E>) -> CallFailure
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let (kind, text) = match error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            match inner.code() {
                Some(code) => {
                    let kind = if THROTTLING_CODES.contains(&code) {
                        FailureKind::Throttled
                    } else if DENIED_CODES.contains(&code) {
                        FailureKind::Denied
                    } else {
                        FailureKind::Service
                    };
                    let message = inner.message().unwrap_or("(the service gave no message)");
                    (kind, format!("{code}: {message}"))
                }
                None => answer_without_code(error),
            }
        }
        SdkError::ResponseError(_) => answer_without_code(error),
        SdkError::TimeoutError(_) => (
            FailureKind::TimedOut,
            "no answer within the call timeout (--call-timeout-secs)".to_owned(),
        ),
        SdkError::DispatchFailure(dispatch) => {
            let causes = causes(error);
            let lower = causes.to_ascii_lowercase();
            if lower.contains("credential") {
                (
                    FailureKind::NoCredentials,
                    format!("no usable credentials ({causes})"),
                )
            } else if dispatch.is_timeout() || lower.contains("timed out") {
                (FailureKind::TimedOut, "the connection timed out".to_owned())
            } else if lower.contains("dns") || lower.contains("lookup address") {
                (
                    FailureKind::Unreachable,
                    "the endpoint's host name does not resolve (DNS)".to_owned(),
                )
            } else if lower.contains("refused") {
                (
                    FailureKind::Unreachable,
                    "the connection was refused".to_owned(),
                )
            } else if lower.contains("tls")
                || lower.contains("certificate")
                || lower.contains("handshake")
            {
                (
                    FailureKind::Unreachable,
                    format!("the TLS handshake failed ({causes})"),
                )
            } else if dispatch.is_io() {
                (
                    FailureKind::Unreachable,
                    format!("the connection failed ({causes})"),
                )
            } else {
                (FailureKind::Other, causes)
            }
        }
        _ => {
            let causes = causes(error);
            let lower = causes.to_ascii_lowercase();
            if lower.contains("region") {
                (
                    FailureKind::NoRegion,
                    "no region is set (AWS_REGION, or the profile's region)".to_owned(),
                )
            } else if lower.contains("credential") {
                (
                    FailureKind::NoCredentials,
                    format!("no usable credentials ({causes})"),
                )
            } else {
                (FailureKind::Other, causes)
            }
        }
    };
    CallFailure {
        operation,
        kind,
        text,
    }
}

/// `failure` as text, for the messages of one stack.
pub(super) fn describe<E>(operation: &'static str, error: &SdkError<E>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    failure(operation, error).to_string()
}

/// An answer the SDK could not read as an AWS error (a gateway's HTML page, an empty
/// body): its HTTP status and the start of its text.
fn answer_without_code<E>(error: &SdkError<E>) -> (FailureKind, String) {
    let Some(response) = error.raw_response() else {
        return (
            FailureKind::Other,
            "an answer without an error code".to_owned(),
        );
    };
    let status = response.status().as_u16();
    let body = response
        .body()
        .bytes()
        .map(|bytes| excerpt(&String::from_utf8_lossy(bytes)))
        .unwrap_or_default();
    let kind = match status {
        429 => FailureKind::Throttled,
        401 | 403 => FailureKind::Denied,
        _ => FailureKind::Service,
    };
    let text = if body.is_empty() {
        format!("HTTP {status} with no error code and an empty answer")
    } else {
        format!("HTTP {status} with no error code: {body}")
    };
    (kind, text)
}

/// At most 160 characters of an answer, markup and runs of white space removed.
fn excerpt(text: &str) -> String {
    let mut plain = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                plain.push(' ');
            }
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = plain.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() > 160 {
        format!("{}…", joined.chars().take(160).collect::<String>())
    } else {
        joined
    }
}

/// The causes below an error, innermost last, each once.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut current = error.source();
    while let Some(cause) = current {
        let text = cause.to_string();
        if !out.iter().any(|seen| seen.contains(&text)) {
            out.push(text);
        }
        current = cause.source();
    }
    if out.is_empty() {
        error.to_string()
    } else {
        out.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn an_html_answer_is_cut_to_its_words() {
        let page = "<html><head><title>503 Service Unavailable</title></head><body><h1>Service   Unavailable</h1></body></html>";
        assert_eq!(excerpt(page), "503 Service Unavailable Service Unavailable");
        assert!(excerpt(&"x ".repeat(500)).ends_with('…'));
    }
}
