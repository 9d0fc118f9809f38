//! Maintenance windows and silences: created, listed, read and ended early through the
//! API. Every change is in force for the next alert (the in-memory copy is refreshed
//! before the answer).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Admin, Person};
use super::views::time;
use super::{ApiError, ApiResult, AppState, Problem};
use crate::domain::{ids, to_millis};
use crate::pipeline::noise::{Matcher, MatcherSpec};
use crate::store::noise::{self, Kind, MaintenanceRow, SilenceRow};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_maintenance, create_maintenance))
        .routes(routes!(get_maintenance, end_maintenance))
        .routes(routes!(list_silences, create_silence))
        .routes(routes!(get_silence, expire_silence))
}

/// A new maintenance window.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMaintenance {
    /// The CI under maintenance.
    pub ci: String,
    /// Also hold alerts on every CI that depends on it.
    #[serde(default)]
    pub include_dependants: bool,
    /// RFC 3339; now when absent.
    pub starts_at: Option<String>,
    /// RFC 3339, after `starts_at`.
    pub ends_at: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceView {
    pub id: String,
    pub ci: String,
    pub include_dependants: bool,
    pub starts_at: String,
    pub ends_at: String,
    pub reason: String,
    pub author: String,
    pub created_at: String,
    /// When it was ended early, if it was.
    pub canceled_at: Option<String>,
    /// When the alerts it held were evaluated again.
    pub replayed_at: Option<String>,
    /// Holding alerts right now.
    pub active: bool,
}

impl MaintenanceView {
    fn of(row: MaintenanceRow, now: i64) -> Self {
        MaintenanceView {
            active: row.starts_at <= now && now < row.effective_end(),
            id: row.id,
            ci: row.ci_id,
            include_dependants: row.include_dependants != 0,
            starts_at: time(row.starts_at),
            ends_at: time(row.ends_at),
            reason: row.reason,
            author: row.author,
            created_at: time(row.created_at),
            canceled_at: row.canceled_at.map(time),
            replayed_at: row.replayed_at.map(time),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MaintenanceParams {
    /// Only those not over yet.
    #[serde(default)]
    pub current: bool,
    /// Only windows on this CI.
    pub ci: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SilenceParams {
    /// Only those not over yet.
    #[serde(default)]
    pub current: bool,
}

/// Most windows or silences one listing returns, newest first.
const LISTING_LIMIT: i64 = 1000;

fn now() -> i64 {
    to_millis(jiff::Timestamp::now())
}

fn parse_time(field: &str, value: &str) -> Result<i64, ApiError> {
    value
        .parse::<jiff::Timestamp>()
        .map(to_millis)
        .map_err(|e| ApiError::Invalid {
            detail: format!("`{field}` is not an RFC 3339 time: {e}"),
            errors: Vec::new(),
        })
}

fn span(starts: Option<&str>, ends: &str, now: i64) -> Result<(i64, i64), ApiError> {
    let starts_at = starts.map(|s| parse_time("starts_at", s)).transpose()?;
    let starts_at = starts_at.unwrap_or(now);
    let ends_at = parse_time("ends_at", ends)?;
    if ends_at <= starts_at || ends_at <= now {
        return Err(ApiError::Invalid {
            detail: "`ends_at` must be after `starts_at` and in the future".to_owned(),
            errors: Vec::new(),
        });
    }
    Ok((starts_at, ends_at))
}

fn required(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::Invalid {
            detail: format!("`{field}` must not be empty"),
            errors: Vec::new(),
        });
    }
    Ok(())
}

/// Open a maintenance window on a CI: its alerts are kept as suppressed events and open
/// nothing until the window ends; those still firing then are evaluated again.
#[utoipa::path(post, path = "/api/v1/maintenance", tag = "noise",
    request_body = NewMaintenance,
    security(("bearer" = [])),
    responses(
        (status = 201, body = MaintenanceView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_maintenance(
    State(state): State<AppState>,
    Admin(who): Admin,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<MaintenanceView>)> {
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let new: NewMaintenance = ApiError::parse_json(&body)?;
    required("reason", &new.reason)?;
    let now = now();
    let (starts_at, ends_at) = span(new.starts_at.as_deref(), &new.ends_at, now)?;
    if state
        .live
        .fresh_registry(&state.store)
        .await?
        .find(&new.ci)
        .is_none()
    {
        return Err(ApiError::Invalid {
            detail: format!("no CI `{}` in the registry", new.ci),
            errors: Vec::new(),
        });
    }
    let row = MaintenanceRow {
        id: ids::new(ids::MAINTENANCE),
        ci_id: new.ci,
        include_dependants: i64::from(new.include_dependants),
        starts_at,
        ends_at,
        reason: new.reason,
        author: who.name,
        created_at: now,
        canceled_at: None,
        replayed_at: None,
    };
    let mut tx = state.store.begin_write().await?;
    noise::insert_maintenance(&mut tx, &row).await?;
    tx.commit().await?;
    state.live.refresh(&state.store).await?;
    Ok((StatusCode::CREATED, Json(MaintenanceView::of(row, now))))
}

/// List maintenance windows, newest first.
#[utoipa::path(get, path = "/api/v1/maintenance", tag = "noise",
    params(MaintenanceParams),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<MaintenanceView>)))]
async fn list_maintenance(
    State(state): State<AppState>,
    _who: Person,
    params: Result<Query<MaintenanceParams>, QueryRejection>,
) -> ApiResult<Json<Vec<MaintenanceView>>> {
    let Query(params) = params?;
    let now = now();
    let mut conn = state.store.pool().acquire().await?;
    let rows = noise::list_maintenance(
        &mut conn,
        params.current.then_some(now),
        params.ci.as_deref(),
        Some(LISTING_LIMIT),
    )
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| MaintenanceView::of(r, now))
            .collect(),
    ))
}

/// Read one maintenance window.
#[utoipa::path(get, path = "/api/v1/maintenance/{id}", tag = "noise",
    params(("id" = String, Path, description = "Window id (`mnt_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MaintenanceView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_maintenance(
    State(state): State<AppState>,
    _who: Person,
    Path(id): Path<String>,
) -> ApiResult<Json<MaintenanceView>> {
    let mut conn = state.store.pool().acquire().await?;
    let row = noise::maintenance(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no maintenance window `{id}`")))?;
    Ok(Json(MaintenanceView::of(row, now())))
}

/// End a maintenance window now. The alerts it held are evaluated again at the
/// sweeper's next pass (`intake.sweep_interval_secs`).
#[utoipa::path(delete, path = "/api/v1/maintenance/{id}", tag = "noise",
    params(("id" = String, Path, description = "Window id (`mnt_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MaintenanceView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ))]
async fn end_maintenance(
    State(state): State<AppState>,
    _who: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<MaintenanceView>> {
    let now = now();
    let mut tx = state.store.begin_write().await?;
    if noise::maintenance(&mut tx, &id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no maintenance window `{id}`")));
    }
    let ended = noise::end_now(&mut tx, Kind::Maintenance, &id, now).await?;
    tx.commit().await?;
    if !ended {
        return Err(ApiError::Conflict(format!(
            "maintenance window `{id}` is already over"
        )));
    }
    state.live.refresh(&state.store).await?;
    let mut conn = state.store.pool().acquire().await?;
    let row = noise::maintenance(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no maintenance window `{id}`")))?;
    Ok(Json(MaintenanceView::of(row, now)))
}

/// A new silence: alerts whose labels match every matcher open nothing until it expires.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    pub matchers: Vec<MatcherSpec>,
    /// RFC 3339; now when absent.
    pub starts_at: Option<String>,
    /// RFC 3339: when the silence expires.
    pub ends_at: String,
    pub comment: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceView {
    pub id: String,
    pub matchers: Vec<MatcherSpec>,
    pub comment: String,
    pub author: String,
    pub starts_at: String,
    pub ends_at: String,
    pub created_at: String,
    pub canceled_at: Option<String>,
    pub replayed_at: Option<String>,
    pub active: bool,
}

impl SilenceView {
    fn of(row: SilenceRow, now: i64) -> Self {
        SilenceView {
            active: row.starts_at <= now && now < row.effective_end(),
            id: row.id,
            matchers: row.matchers,
            comment: row.comment,
            author: row.author,
            starts_at: time(row.starts_at),
            ends_at: time(row.ends_at),
            created_at: time(row.created_at),
            canceled_at: row.canceled_at.map(time),
            replayed_at: row.replayed_at.map(time),
        }
    }
}

/// Silence alerts by label matchers (`=`, `!=`, `=~`, `!~`, as Alertmanager's).
#[utoipa::path(post, path = "/api/v1/silences", tag = "noise",
    request_body = NewSilence,
    security(("bearer" = [])),
    responses(
        (status = 201, body = SilenceView),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_silence(
    State(state): State<AppState>,
    Admin(who): Admin,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<SilenceView>)> {
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let new: NewSilence = ApiError::parse_json(&body)?;
    required("comment", &new.comment)?;
    if new.matchers.is_empty() {
        return Err(ApiError::Invalid {
            detail: "a silence needs at least one matcher".to_owned(),
            errors: Vec::new(),
        });
    }
    let errors: Vec<String> = new
        .matchers
        .iter()
        .filter_map(|m| Matcher::compile(m).err())
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::Invalid {
            detail: "some matchers are invalid".to_owned(),
            errors,
        });
    }
    let now = now();
    let (starts_at, ends_at) = span(new.starts_at.as_deref(), &new.ends_at, now)?;
    let row = SilenceRow {
        id: ids::new(ids::SILENCE),
        matchers: new.matchers,
        comment: new.comment,
        author: who.name,
        starts_at,
        ends_at,
        created_at: now,
        canceled_at: None,
        replayed_at: None,
    };
    let mut tx = state.store.begin_write().await?;
    noise::insert_silence(&mut tx, &row).await?;
    tx.commit().await?;
    state.live.refresh(&state.store).await?;
    Ok((StatusCode::CREATED, Json(SilenceView::of(row, now))))
}

/// List silences, newest first.
#[utoipa::path(get, path = "/api/v1/silences", tag = "noise",
    params(SilenceParams),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<SilenceView>)))]
async fn list_silences(
    State(state): State<AppState>,
    _who: Person,
    params: Result<Query<SilenceParams>, QueryRejection>,
) -> ApiResult<Json<Vec<SilenceView>>> {
    let Query(params) = params?;
    let now = now();
    let mut conn = state.store.pool().acquire().await?;
    let rows = noise::list_silences(
        &mut conn,
        params.current.then_some(now),
        Some(LISTING_LIMIT),
    )
    .await?;
    Ok(Json(
        rows.into_iter().map(|r| SilenceView::of(r, now)).collect(),
    ))
}

/// Read one silence.
#[utoipa::path(get, path = "/api/v1/silences/{id}", tag = "noise",
    params(("id" = String, Path, description = "Silence id (`sil_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = SilenceView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_silence(
    State(state): State<AppState>,
    _who: Person,
    Path(id): Path<String>,
) -> ApiResult<Json<SilenceView>> {
    let mut conn = state.store.pool().acquire().await?;
    let row = noise::silence(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no silence `{id}`")))?;
    Ok(Json(SilenceView::of(row, now())))
}

/// Expire a silence now.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "noise",
    params(("id" = String, Path, description = "Silence id (`sil_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = SilenceView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ))]
async fn expire_silence(
    State(state): State<AppState>,
    _who: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<SilenceView>> {
    let now = now();
    let mut tx = state.store.begin_write().await?;
    if noise::silence(&mut tx, &id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no silence `{id}`")));
    }
    let expired = noise::end_now(&mut tx, Kind::Silence, &id, now).await?;
    tx.commit().await?;
    if !expired {
        return Err(ApiError::Conflict(format!(
            "silence `{id}` has already expired"
        )));
    }
    state.live.refresh(&state.store).await?;
    let mut conn = state.store.pool().acquire().await?;
    let row = noise::silence(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no silence `{id}`")))?;
    Ok(Json(SilenceView::of(row, now)))
}
