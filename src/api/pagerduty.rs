//! PagerDuty Events API v2 at `POST /v2/enqueue` (and `/api/v1/ingest/pagerduty`):
//! the public contract, so any tool with a PagerDuty integration sends to Vigía
//! unchanged. The routing key is the credential; it names the integration, whose rule
//! file reads the event and whose unit owns what no CI does.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ingest::check_rate;
use super::{ApiError, ApiResult, AppState, PagerDutyError, PagerDutyRefusal};
use crate::domain::to_millis;
use crate::ingest::accept::{self, AcceptError, Payload};
use crate::ingest::pagerduty::{self, Action, Event, Integration};
use crate::store::events;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enqueue))
        .routes(routes!(ingest_pagerduty))
}

/// PagerDuty's answer to an accepted event.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Always `success`.
    pub status: &'static str,
    /// Always `Event processed`.
    pub message: &'static str,
    /// The key to acknowledge or resolve the alert with (generated if the trigger had none).
    pub dedup_key: String,
}

/// Send a PagerDuty Events API v2 event (`trigger`, `acknowledge`, `resolve`).
#[utoipa::path(post, path = "/v2/enqueue", tag = "ingest",
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "A PagerDuty Events API v2 alert event; `routing_key` is an integration key of `[intake.pagerduty]`"),
    responses(
        (status = 202, description = "Stored (trigger, resolve), or acknowledged; unknown keys of acknowledge and resolve change nothing", body = Accepted),
        (status = 400, description = "Not a valid event, or an unknown routing key", body = PagerDutyRefusal),
        (status = 429, description = "Over a rate limit; nothing stored; see Retry-After", body = PagerDutyRefusal),
        (status = 503, description = "Not stored; retry", body = PagerDutyRefusal),
    ))]
async fn enqueue(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), PagerDutyError> {
    accept(&state, body).await.map_err(PagerDutyError)
}

/// The same as `POST /v2/enqueue`, under Vigía's ingest paths.
#[utoipa::path(post, path = "/api/v1/ingest/pagerduty", tag = "ingest",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 202, body = Accepted),
        (status = 400, body = PagerDutyRefusal),
        (status = 429, body = PagerDutyRefusal),
        (status = 503, body = PagerDutyRefusal),
    ))]
async fn ingest_pagerduty(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), PagerDutyError> {
    accept(&state, body).await.map_err(PagerDutyError)
}

const ENDPOINT_LABEL: &str = "pagerduty";

#[tracing::instrument(skip_all)]
async fn accept(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let received_at = jiff::Timestamp::now();
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let rejected = |reason: &str| {
        state
            .metrics
            .payloads_rejected
            .with_label_values(&[ENDPOINT_LABEL, reason])
            .inc();
    };
    let event = pagerduty::parse(&body).map_err(|errors| {
        rejected("invalid_event");
        ApiError::InvalidEvent { errors }
    })?;
    let Some(integration) = state.pagerduty.find(&event.routing_key) else {
        state
            .metrics
            .ingest_unauthorized
            .with_label_values(&[ENDPOINT_LABEL, "unknown_routing_key"])
            .inc();
        return Err(ApiError::InvalidEvent {
            errors: vec!["Invalid routing key".to_owned()],
        });
    };
    let sender = format!("pagerduty:{}", integration.name);
    check_rate(state, &integration.source, &integration.source, &sender)?;
    match event.action {
        Action::Acknowledge => acknowledge(state, &event, integration, &sender).await?,
        Action::Trigger | Action::Resolve => {
            let stored = Stored {
                sender,
                // Kept as sent, but the routing key is a credential: it names its
                // integration instead.
                payload: String::from_utf8_lossy(&body).replace(
                    event.routing_key.as_str(),
                    &format!("[routing key of {}]", integration.name),
                ),
                received_at,
            };
            store(state, &event, integration, stored)
                .await
                .inspect_err(|e| {
                    if matches!(e, ApiError::InvalidEvent { .. }) {
                        rejected("no_rule");
                    }
                })?;
        }
    }
    tracing::debug!(integration = %integration.name, action = event.action.as_str(), "PagerDuty event accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "success",
            message: "Event processed",
            dedup_key: event.dedup_key,
        }),
    ))
}

/// The tool's acknowledgement is kept on the alert's open event; with none open it
/// changes nothing, as PagerDuty drops it.
async fn acknowledge(
    state: &AppState,
    event: &Event,
    integration: &Integration,
    sender: &str,
) -> ApiResult<()> {
    let now = to_millis(jiff::Timestamp::now());
    let fingerprint = event.fingerprint(integration);
    events::ack_open(
        state.store.pool(),
        &integration.source,
        fingerprint.as_str(),
        sender,
        now,
    )
    .await?;
    Ok(())
}

struct Stored {
    sender: String,
    payload: String,
    received_at: jiff::Timestamp,
}

/// Reads the event with the integration's rules and waits until it is committed.
async fn store(
    state: &AppState,
    event: &Event,
    integration: &Integration,
    stored: Stored,
) -> ApiResult<()> {
    let rules = state.rules();
    // The configuration named a rule file that a reload has since removed: the sender
    // should retry once it is back, not drop the event.
    let source_rules = rules.get(&integration.source).ok_or_else(|| {
        ApiError::Unavailable(format!(
            "integration `{}` is read by rules/{}.yaml, which is not loaded; retry later",
            integration.name, integration.source
        ))
    })?;
    // A unit missing from the registry would own nothing: the central desk triages.
    let unit = integration
        .unit
        .clone()
        .filter(|u| state.live.registry().unit(u).is_some());
    let payload = Payload {
        sender: stored.sender,
        body: stored.payload.as_bytes(),
        received_at: stored.received_at,
        delivery_id: None,
        document: Some(event.document(integration)),
        unit,
    };
    accept::accept(&state.intake, &state.metrics, source_rules, payload)
        .await
        .map_err(|e| match e {
            AcceptError::Intake(e) => e.into(),
            // The event passed the contract: the rule file refused it.
            refused => ApiError::InvalidEvent {
                errors: vec![refused.to_string()],
            },
        })?;
    Ok(())
}
