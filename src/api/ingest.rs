//! `POST /api/v1/ingest/{source}`: any JSON, read by `rules/{source}.yaml`. The
//! Alertmanager receiver is this endpoint with source `alertmanager`. A 2xx answer
//! means every alert of the payload is committed.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Monitor;
use super::{ApiError, ApiResult, AppState, Problem};
use crate::ingest::{AlertResult, Submission};
use crate::rules::Rejection;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    pub source: String,
    /// The rule that read the payload.
    pub rule: String,
    /// One entry per alert in the payload, in payload order.
    pub alerts: Vec<AlertResult>,
}

/// Send alerts from a source. The body is read by the source's rule file; for
/// Prometheus Alertmanager use source `alertmanager` (webhook version 4).
#[utoipa::path(post, path = "/api/v1/ingest/{source}", tag = "ingest",
    params(("source" = String, Path, description = "Source name: the rule file `rules/{source}.yaml`")),
    request_body(content = serde_json::Value, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every alert is committed", body = IngestResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown source", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No rule can read the payload", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not stored; retry", body = Problem, content_type = "application/problem+json"),
    ))]
async fn ingest(
    State(state): State<AppState>,
    Monitor(who): Monitor,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<IngestResponse>)> {
    let received_at = jiff::Timestamp::now();
    let rules = state.rules();
    let outcome = async {
        let source_rules = rules.get(&source).ok_or_else(|| {
            ApiError::NotFound(format!(
                "no source `{source}`: there is no rules/{source}.yaml"
            ))
        })?;
        check_content_type(&headers)?;
        let body = body.map_err(|e| body_error(e, state.body_limit))?;
        let payload: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| ApiError::MalformedJson {
                line: e.line(),
                column: e.column(),
                reason: e
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            })?;
        let evaluated = source_rules.evaluate(&payload).map_err(rejection)?;
        // The raw payload is kept exactly as sent, for audit and replay.
        let text = String::from_utf8_lossy(&body).into_owned();
        let alerts = state
            .intake
            .submit(Submission {
                source: source.clone(),
                sender: who.name.clone(),
                rule: evaluated.rule.clone(),
                payload: text,
                signals: evaluated.signals,
                received_at,
            })
            .await?;
        Ok(IngestResponse {
            source: source.clone(),
            rule: evaluated.rule,
            alerts,
        })
    }
    .await;
    match outcome {
        Ok(response) => Ok((StatusCode::OK, Json(response))),
        Err(e) => {
            let label = if rules.get(&source).is_some() {
                source.as_str()
            } else {
                "unknown"
            };
            state
                .metrics
                .payloads_rejected
                .with_label_values(&[label, rejection_reason(&e)])
                .inc();
            Err(e)
        }
    }
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

fn body_error(e: BytesRejection, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::BadRequest(format!("the request body could not be read: {e}"))
    }
}

fn rejection(r: Rejection) -> ApiError {
    let errors = match &r {
        Rejection::NoRuleMatches { reasons, .. } => reasons.clone(),
        Rejection::BadAlerts { errors, .. } => errors.iter().map(ToString::to_string).collect(),
    };
    ApiError::Unprocessable {
        detail: r.to_string(),
        errors,
    }
}

fn rejection_reason(e: &ApiError) -> &'static str {
    match e {
        ApiError::MalformedJson { .. } => "malformed",
        ApiError::NotFound(_) => "unknown_source",
        ApiError::Unprocessable { .. } => "no_rule",
        ApiError::PayloadTooLarge { .. } => "too_large",
        ApiError::UnsupportedMediaType(_) => "content_type",
        ApiError::Unavailable(_) | ApiError::Internal(_) => "not_stored",
        _ => "bad_request",
    }
}
