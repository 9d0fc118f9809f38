//! `POST /api/v1/ingest/{source}`: any JSON, read by `rules/{source}.yaml`. The
//! Alertmanager receiver is this endpoint with source `alertmanager`. A 2xx answer
//! means every alert it lists as read is committed; alerts no rule could read are listed
//! apart, and a payload with none readable is refused.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{source_label, verify_signed, IngestCredentials, Sender};
use super::{ApiError, ApiResult, AppState, Problem};
use crate::ingest::accept::{self, Payload};
use crate::ingest::{AlertResult, Answer};
use crate::rules::{AlertError, RuleSet};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    pub source: String,
    /// The rule that read the payload.
    pub rule: String,
    /// One entry per stored alert, in payload order.
    pub alerts: Vec<AlertResult>,
    /// Alerts of the payload that could not be read, and why; the others were stored.
    pub refused: Vec<AlertError>,
}

/// Send alerts from a source. The body is read by the source's rule file; for
/// Prometheus Alertmanager use source `alertmanager` (webhook version 4).
#[utoipa::path(post, path = "/api/v1/ingest/{source}", tag = "ingest",
    params(("source" = String, Path, description = "Source name: the rule file `rules/{source}.yaml`")),
    request_body(content = serde_json::Value, content_type = "application/json"),
    security(("bearer" = []), ("signature" = [])),
    responses(
        (status = 200, description = "Every alert in `alerts` is committed; `refused` lists those that could not be read", body = IngestResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown source", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No rule can read the payload", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over a rate limit; nothing stored; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not stored; retry", body = Problem, content_type = "application/problem+json"),
    ))]
async fn ingest(
    State(state): State<AppState>,
    credentials: IngestCredentials,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<IngestResponse>)> {
    let rules = state.rules();
    let label = source_label(&rules, &source);
    let (Sender { name, limit_key }, body) = match credentials {
        IngestCredentials::Checked(sender) => (sender, body),
        // A signature covers the body, so a body that cannot be read is refused first.
        IngestCredentials::Signed => {
            let bytes = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
            (verify_signed(&state, &source, &headers, &bytes)?, Ok(bytes))
        }
    };
    check_rate(&state, label, &source, &limit_key)?;
    let request = Request {
        received_at: jiff::Timestamp::now(),
        sender: name,
        headers,
        body,
    };
    match accept(&state, &rules, &source, request).await {
        Ok(response) => Ok((StatusCode::OK, Json(response))),
        Err(e) => {
            let reason = rejection_reason(&e);
            state
                .metrics
                .payloads_rejected
                .with_label_values(&[label, reason])
                .inc();
            Err(e)
        }
    }
}

/// Takes one request from the source's and the sender's allowances, or says how long to
/// wait; nothing of a refused request is read further.
pub(super) fn check_rate(state: &AppState, label: &str, source: &str, key: &str) -> ApiResult<()> {
    let Err(limited) = state.limits.check(label, key) else {
        return Ok(());
    };
    state
        .metrics
        .ingest_limited
        .with_label_values(&[label, limited.scope.as_str()])
        .inc();
    // Whole seconds, rounded up: a client that waits that long passes.
    let retry_after_secs = limited.retry_after.as_millis().div_ceil(1000).max(1);
    Err(ApiError::TooManyRequests {
        detail: format!(
            "over the {} rate limit for source `{source}`; nothing of this request was stored, retry after {retry_after_secs} s",
            limited.scope.as_str()
        ),
        retry_after_secs: u64::try_from(retry_after_secs).unwrap_or(u64::MAX),
    })
}

struct Request {
    received_at: jiff::Timestamp,
    sender: String,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
}

/// Reads the payload with the source's rules and waits for its alerts to be committed.
#[tracing::instrument(skip_all, fields(source = %source))]
async fn accept(
    state: &AppState,
    rules: &RuleSet,
    source: &str,
    request: Request,
) -> ApiResult<IngestResponse> {
    let source_rules = rules.get(source).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no source `{source}`: there is no rules/{source}.yaml"
        ))
    })?;
    check_content_type(&request.headers)?;
    let body = request
        .body
        .map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let payload = Payload {
        sender: request.sender,
        body: &body,
        received_at: request.received_at,
        delivery_id: None,
        document: None,
        unit: None,
    };
    let accepted = accept::accept(&state.intake, &state.metrics, source_rules, payload).await?;
    let alerts = match accepted.answer {
        Answer::Stored(alerts) => alerts,
        // Only deliveries with an id are recognised as copies; HTTP sends none.
        Answer::AlreadyStored => Vec::new(),
    };
    Ok(IngestResponse {
        source: source.to_owned(),
        rule: accepted.rule,
        alerts,
        refused: accepted.refused,
    })
}

/// JSON or any `+json` type; a missing header is taken as JSON, as many senders omit it.
fn check_content_type(headers: &HeaderMap) -> ApiResult<()> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let mime = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "the body must be JSON (`Content-Type: application/json`), not `{mime}`"
        )))
    }
}

fn rejection_reason(e: &ApiError) -> &'static str {
    match e {
        ApiError::MalformedJson(_) => "malformed",
        ApiError::NotFound(_) => "unknown_source",
        ApiError::Unprocessable { .. } => "no_rule",
        ApiError::PayloadTooLarge { .. } => "too_large",
        ApiError::UnsupportedMediaType(_) => "content_type",
        ApiError::Unavailable(_) | ApiError::Internal(_) => "not_stored",
        _ => "bad_request",
    }
}
