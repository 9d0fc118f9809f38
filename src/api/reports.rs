//! Monthly reports over HTTP: a unit's report for a month (JSON, the annex as CSV, or a
//! printable HTML page), and the snapshots of the reports sent, with their SHA-256. The
//! admin reads every unit's; a unit head their own unit's.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Person;
use super::views::time;
use super::{ApiError, ApiResult, AppState, Problem};
use crate::auth::{Principal, Role};
use crate::domain::Lang;
use crate::report::{parse_lang, render, BadMonth, Format, Month, MonthlyReport, ReportError};
use crate::store::reports::{self, Snapshot};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(monthly_report))
        .routes(routes!(list_snapshots))
        .routes(routes!(get_snapshot))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthlyParams {
    /// Unit code (required).
    pub unit: Option<String>,
    /// `YYYY-MM` in the unit's time zone (required).
    pub month: Option<String>,
    /// `json` (default), `csv` (the annex) or `html` (a printable page).
    pub format: Option<String>,
    /// `es` or `en`; without it, `Accept-Language` (Spanish by default).
    pub lang: Option<String>,
}

impl MonthlyParams {
    /// The month, the format and the language asked for.
    fn choices(&self, headers: &HeaderMap) -> ApiResult<(Month, Format, Lang)> {
        let month: Month = required(&self.month, "month")?
            .parse()
            .map_err(|e: BadMonth| ApiError::BadRequest(e.to_string()))?;
        let format = match self.format.as_deref() {
            None => Format::Json,
            Some(text) => Format::parse(text).ok_or_else(|| {
                ApiError::BadRequest("`format` must be json, csv or html".to_owned())
            })?,
        };
        let lang = match self.lang.as_deref() {
            None => Lang::of(headers),
            Some(text) => parse_lang(text)
                .ok_or_else(|| ApiError::BadRequest("`lang` must be es or en".to_owned()))?,
        };
        Ok((month, format, lang))
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::UnknownUnit(_) => ApiError::NotFound(e.to_string()),
            ReportError::Store(e) => e.into(),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

/// The admin reads every unit's reports; a unit head their own unit's.
fn may_read(who: &Principal, unit: &str) -> ApiResult<()> {
    match who.role {
        Role::Admin => Ok(()),
        Role::UnitHead if who.unit.as_deref() == Some(unit) => Ok(()),
        _ => Err(ApiError::forbidden(
            "reports.read",
            format!(
                "permission `reports.read` missing: the reports of {unit} are for its unit head and the desk administrator"
            ),
        )),
    }
}

fn required<'a>(value: &'a Option<String>, name: &str) -> ApiResult<&'a str> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("`{name}` is required")))
}

/// A unit's monthly report: volume, backlog with aging, SLA compliance and breaches,
/// MTTA and MTTR in business time, resolution quality, problems, the annex of every
/// ticket attended with its state, and the definitions used. `format=csv` answers the
/// annex as CSV; `format=html` a printable page in Spanish (`lang=en`: English).
#[utoipa::path(get, path = "/api/v1/reports/monthly", tag = "reports",
    params(MonthlyParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MonthlyReport, description = "JSON; text/csv or text/html with `format`"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn monthly_report(
    State(state): State<AppState>,
    Person(who): Person,
    headers: HeaderMap,
    params: Result<Query<MonthlyParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params?;
    let unit = required(&params.unit, "unit")?;
    may_read(&who, unit)?;
    let (month, format, lang) = params.choices(&headers)?;
    let now = crate::desk::now();
    let report = state
        .reports
        .monthly(&state.store, unit, month, lang, now)
        .await?;
    if format == Format::Json {
        return Ok(Json(report).into_response());
    }
    let (content_type, body) = render(&report, format, lang)?;
    let mut response = ([(CONTENT_TYPE, content_type)], body).into_response();
    if format == Format::Csv {
        let name = format!(
            "attachment; filename=\"report-{}-{month}.csv\"",
            report.unit
        );
        if let Ok(value) = name.parse() {
            response.headers_mut().insert(CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotParams {
    /// Only this unit's (a unit head's own by default).
    pub unit: Option<String>,
}

/// A report as stored when it was sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotView {
    pub id: String,
    pub unit: String,
    /// `YYYY-MM`.
    pub month: String,
    pub generated_at: String,
    /// SHA-256 of `body`, lowercase hex.
    pub hash: String,
    /// When its emails were queued; null when none were (email off, nothing attended).
    pub sent_at: Option<String>,
    pub recipients: Vec<String>,
    /// The report's JSON exactly as stored and hashed (only when reading one snapshot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl SnapshotView {
    fn new(s: Snapshot, with_body: bool) -> ApiResult<SnapshotView> {
        let recipients = match &s.recipients {
            Some(list) => crate::store::json_column(list, "report_snapshots.recipients")?,
            None => Vec::new(),
        };
        Ok(SnapshotView {
            id: s.id,
            unit: s.unit,
            month: s.month,
            generated_at: time(s.generated_at),
            hash: s.hash,
            sent_at: s.sent_at.map(time),
            recipients,
            body: with_body.then_some(s.body),
        })
    }
}

/// The reports stored by the scheduler, newest month first, with their hashes.
#[utoipa::path(get, path = "/api/v1/reports/snapshots", tag = "reports",
    params(SnapshotParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<SnapshotView>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_snapshots(
    State(state): State<AppState>,
    Person(who): Person,
    params: Result<Query<SnapshotParams>, QueryRejection>,
) -> ApiResult<Json<Vec<SnapshotView>>> {
    let Query(params) = params?;
    // The admin lists every unit's unless one is named; anyone else their own unit's.
    let unit = match (params.unit, who.role) {
        (None, Role::Admin) => None,
        (unit, _) => Some(unit.or_else(|| who.unit.clone()).unwrap_or_default()),
    };
    if let Some(unit) = &unit {
        may_read(&who, unit)?;
    }
    let mut conn = state.store.pool().acquire().await?;
    let rows = reports::snapshots(&mut conn, unit.as_deref()).await?;
    let views = rows
        .into_iter()
        .map(|s| SnapshotView::new(s, false))
        .collect::<ApiResult<_>>()?;
    Ok(Json(views))
}

/// One stored report with its body: recompute the SHA-256 of `body` to check `hash`.
#[utoipa::path(get, path = "/api/v1/reports/snapshots/{id}", tag = "reports",
    params(("id" = String, Path, description = "Snapshot id (`rps_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = SnapshotView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_snapshot(
    State(state): State<AppState>,
    Person(who): Person,
    Path(id): Path<String>,
) -> ApiResult<Json<SnapshotView>> {
    let mut conn = state.store.pool().acquire().await?;
    let snapshot = reports::snapshot(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report snapshot `{id}`")))?;
    may_read(&who, &snapshot.unit)?;
    Ok(Json(SnapshotView::new(snapshot, true)?))
}
