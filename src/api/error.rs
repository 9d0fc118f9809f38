//! The API's one error type and its mapping to RFC 9457 problem details. Every handler
//! returns `ApiError`; this is the only place that turns errors into HTTP.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use axum::extract::rejection::{BytesRejection, QueryRejection};

use crate::ingest::IntakeError;
use crate::rules::Rejection;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// serde_json's message carries the parser's line and column.
    #[error("malformed JSON: {0}")]
    MalformedJson(#[source] serde_json::Error),
    #[error("{0}")]
    Unauthorized(String),
    /// The caller lacks `permission`.
    #[error("{detail}")]
    Forbidden { detail: String, permission: String },
    #[error("{0}")]
    NotFound(String),
    /// It existed but is no longer there (an attachment whose content was not kept).
    #[error("{0}")]
    Gone(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    Unprocessable { detail: String, errors: Vec<String> },
    /// Well-formed data that breaks a rule of the registry or the API.
    #[error("{detail}")]
    Invalid { detail: String, errors: Vec<String> },
    /// The request conflicts with the current state (it exists; something depends on it).
    #[error("{0}")]
    Conflict(String),
    /// A move the ticket's state does not allow.
    #[error("{detail}")]
    IllegalMove {
        detail: String,
        state: String,
        allowed: Vec<&'static str>,
    },
    /// A PagerDuty event that breaks the Events API v2 contract: each problem listed.
    #[error("the event is invalid: {}", errors.join("; "))]
    InvalidEvent { errors: Vec<String> },
    #[error("{0}")]
    Unavailable(String),
    /// Over a rate limit; the client waits `retry_after_secs`.
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An RFC 9457 problem details body. `code` is stable and documented; `errors` lists
/// each problem when there are several.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// 403: the permission the caller lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// 409 on a ticket move: the ticket's state and the moves it allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", "Bad request"),
            MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json", "Malformed JSON"),
            Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden", "Permission missing"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            Gone(_) => (StatusCode::GONE, "gone", "Gone"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Unprocessable { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable_payload",
                "Payload not understood",
            ),
            Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", "Invalid data"),
            InvalidEvent { .. } => (StatusCode::BAD_REQUEST, "invalid_event", "Invalid event"),
            Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            IllegalMove { .. } => (
                StatusCode::CONFLICT,
                "illegal_transition",
                "Move not allowed from this state",
            ),
            TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        if let ApiError::Internal(source) = &self {
            // The cause stays in the log, inside the request's span; clients get no internals.
            tracing::error!(error = ?source, "request failed");
        }
        let errors = match &self {
            ApiError::Unprocessable { errors, .. }
            | ApiError::Invalid { errors, .. }
            | ApiError::InvalidEvent { errors } => errors.clone(),
            _ => Vec::new(),
        };
        let (permission, state, allowed) = match &self {
            ApiError::Forbidden { permission, .. } => (Some(permission.clone()), None, None),
            ApiError::IllegalMove { state, allowed, .. } => (
                None,
                Some(state.clone()),
                Some(allowed.iter().map(|a| a.to_string()).collect()),
            ),
            _ => (None, None, None),
        };
        let problem = Problem {
            kind: format!("urn:vigia:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: code.to_owned(),
            errors,
            permission,
            state,
            allowed,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

/// The PagerDuty endpoints answer every error in PagerDuty's shape, with the status and
/// headers (Retry-After) the error has everywhere else.
pub struct PagerDutyError(pub ApiError);

/// PagerDuty's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct PagerDutyRefusal {
    /// `invalid event`, `throttle event` or `error`.
    pub status: String,
    pub message: String,
    pub errors: Vec<String>,
}

impl IntoResponse for PagerDutyError {
    fn into_response(self) -> Response {
        let refusal = match &self.0 {
            ApiError::InvalidEvent { errors } => PagerDutyRefusal {
                status: "invalid event".to_owned(),
                message: "Event object is invalid".to_owned(),
                errors: errors.clone(),
            },
            ApiError::TooManyRequests { detail, .. } => PagerDutyRefusal {
                status: "throttle event".to_owned(),
                message: detail.clone(),
                errors: Vec::new(),
            },
            other => PagerDutyRefusal {
                status: "error".to_owned(),
                message: other.to_string(),
                errors: Vec::new(),
            },
        };
        let mut response = self.0.into_response();
        *response.body_mut() =
            axum::body::Body::from(serde_json::to_vec(&refusal).unwrap_or_default());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Overloaded => {
                ApiError::Unavailable("the intake queue is full; retry shortly".to_owned())
            }
            IntakeError::Stopped => ApiError::Unavailable("Vigía is shutting down".to_owned()),
            // The writer logged the cause once for the whole batch.
            IntakeError::Store(_) => ApiError::Unavailable(
                "the alert could not be stored; nothing was accepted, retry".to_owned(),
            ),
        }
    }
}

impl From<crate::ingest::accept::AcceptError> for ApiError {
    fn from(e: crate::ingest::accept::AcceptError) -> Self {
        use crate::ingest::accept::AcceptError;
        match e {
            AcceptError::Malformed(e) => ApiError::MalformedJson(e),
            AcceptError::Rejected(r) => r.into(),
            AcceptError::Intake(e) => e.into(),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let errors = match &r {
            Rejection::NoRuleMatches { reasons, .. } => reasons.clone(),
            Rejection::BadAlerts { errors, .. } => errors.iter().map(ToString::to_string).collect(),
        };
        ApiError::Unprocessable {
            detail: r.to_string(),
            errors,
        }
    }
}

impl From<crate::cmdb::apply::ChangeError> for ApiError {
    fn from(e: crate::cmdb::apply::ChangeError) -> Self {
        match e {
            crate::cmdb::apply::ChangeError::Invalid(problems) => ApiError::invalid(problems),
            conflict @ (crate::cmdb::apply::ChangeError::Exists(_)
            | crate::cmdb::apply::ChangeError::Concurrent) => {
                ApiError::Conflict(conflict.to_string())
            }
            crate::cmdb::apply::ChangeError::Store(e) => e.into(),
        }
    }
}

impl From<crate::desk::DeskError> for ApiError {
    fn from(e: crate::desk::DeskError) -> Self {
        use crate::desk::DeskError;
        match e {
            DeskError::NotFound(detail) => ApiError::NotFound(detail),
            DeskError::Forbidden { permission, detail } => ApiError::Forbidden {
                detail: format!("permission `{permission}` missing: {detail}"),
                permission,
            },
            illegal @ DeskError::Illegal { .. } => {
                let detail = illegal.to_string();
                let DeskError::Illegal { state, allowed, .. } = illegal else {
                    unreachable!("matched above")
                };
                ApiError::IllegalMove {
                    detail: format!("{detail}; allowed from here: {}", allowed.join(", ")),
                    state,
                    allowed,
                }
            }
            DeskError::Invalid(detail) => ApiError::Invalid {
                detail,
                errors: Vec::new(),
            },
            DeskError::Conflict(detail) => ApiError::Conflict(detail),
            DeskError::Store(e) => e.into(),
        }
    }
}

impl From<crate::chat::ChatError> for ApiError {
    fn from(e: crate::chat::ChatError) -> Self {
        use crate::chat::ChatError;
        match e {
            ChatError::Invalid(detail) => ApiError::Invalid {
                detail,
                errors: Vec::new(),
            },
            // Nothing of the message was kept: the platform retries, and that is safe.
            ChatError::Store(e) => {
                tracing::error!(error = ?e, "chat message not stored");
                ApiError::Unavailable(
                    "the message could not be stored; nothing was accepted, retry".to_owned(),
                )
            }
            ChatError::HttpClient(e) => ApiError::Internal(Box::new(e)),
        }
    }
}

impl ApiError {
    /// The stable `code` of the problem this error becomes.
    pub fn code(&self) -> &'static str {
        self.parts().1
    }

    /// A 403 for a caller without `permission`.
    pub fn forbidden(permission: &str, detail: impl Into<String>) -> Self {
        ApiError::Forbidden {
            detail: detail.into(),
            permission: permission.to_owned(),
        }
    }

    /// Every problem of a refused registry change, each with its line.
    pub fn invalid(problems: crate::cmdb::import::ImportErrors) -> Self {
        ApiError::Invalid {
            detail: problems.to_string(),
            errors: problems.0.iter().map(ToString::to_string).collect(),
        }
    }

    /// A JSON request body, parsed into `T`: bad syntax is a 400, a wrong shape a 422.
    pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
        serde_json::from_slice(body).map_err(|e| {
            if e.is_data() {
                ApiError::Invalid {
                    detail: format!("the request body does not fit: {e}"),
                    errors: Vec::new(),
                }
            } else {
                ApiError::MalformedJson(e)
            }
        })
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query string: {}", e.body_text()))
    }
}

impl ApiError {
    /// A body that could not be read: over the limit, or cut off.
    pub fn from_body(e: BytesRejection, limit: usize) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest(format!(
                "the request body could not be read: {}",
                e.body_text()
            ))
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
