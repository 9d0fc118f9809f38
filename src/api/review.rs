//! The unit head's periodic review (PROCEDURE.md, stage 3): the unit's open tickets
//! with age, state, assignee, SLA remaining, at-risk and breached flags, stale tickets
//! and rescheduled ones with their resume time.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Person;
use super::views::time;
use super::{ApiError, ApiResult, AppState, Problem};
use crate::auth::Role;
use crate::sla::clock::Metric;
use crate::store::tickets;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(unit_review))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewParams {
    /// A ticket with no change in this many business days (of the unit's calendar) is
    /// stale; default 3.
    pub stale_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Review {
    pub unit: String,
    pub at: String,
    pub stale_days: i64,
    pub open: i64,
    pub at_risk: i64,
    pub breached: i64,
    pub stale: i64,
    pub rescheduled: i64,
    /// Oldest first.
    pub tickets: Vec<ReviewItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewItem {
    pub id: String,
    pub kind: String,
    pub summary: String,
    pub state: String,
    pub hold_reason: Option<String>,
    pub priority: Option<String>,
    pub tier: Option<i64>,
    pub assignee: Option<String>,
    pub opened_at: String,
    /// Wall-clock age.
    pub age_seconds: i64,
    pub updated_at: String,
    /// Business time left to resolve (negative once breached); absent without a clock.
    pub sla_remaining_seconds: Option<i64>,
    pub at_risk: bool,
    pub breached: bool,
    pub stale: bool,
    /// When a rescheduled ticket resumes.
    pub resume_at: Option<String>,
}

/// Review a unit's queue: its head or the admin.
#[utoipa::path(get, path = "/api/v1/units/{code}/review", tag = "desk",
    params(("code" = String, Path, description = "Unit code"), ReviewParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Review),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn unit_review(
    State(state): State<AppState>,
    Person(who): Person,
    Path(code): Path<String>,
    params: Result<Query<ReviewParams>, QueryRejection>,
) -> ApiResult<Json<Review>> {
    let Query(params) = params?;
    let head = who.role == Role::UnitHead && who.unit.as_deref() == Some(code.as_str());
    if !(head || who.role == Role::Admin) {
        return Err(ApiError::forbidden(
            "units.review",
            format!("the review of unit {code} is for its head and the admin"),
        ));
    }
    let stale_days = params.stale_days.unwrap_or(3);
    if !(1..=365).contains(&stale_days) {
        return Err(ApiError::BadRequest(
            "`stale_days` must be between 1 and 365".into(),
        ));
    }
    let mut conn = state.store.pool().acquire().await?;
    if crate::store::cmdb::unit(&mut conn, &code).await?.is_none() {
        return Err(ApiError::NotFound(format!("no unit `{code}`")));
    }
    let rows = tickets::open_of_unit(&mut conn, &code).await?;
    let now = crate::desk::now();
    let calendar = state.desk.policies().unit_calendar(&code);
    let mut items = Vec::new();
    for row in rows {
        let clocks = crate::sla::engine::live(&mut conn, &row.id, now).await?;
        let resolve = clocks
            .iter()
            .find(|c| c.definition.metric == Metric::Resolve);
        let at_risk = clocks
            .iter()
            .any(|c| c.warned > 0 && c.clock.breached_at.is_none());
        let stale = calendar.business_days_between(row.updated_at, now) >= stale_days;
        items.push(ReviewItem {
            sla_remaining_seconds: resolve.map(|c| c.clock.remaining_ms(&c.definition) / 1000),
            breached: row.sla_breached != 0,
            at_risk,
            stale,
            age_seconds: (now - row.opened_at) / 1000,
            resume_at: row
                .resume_at
                .filter(|_| row.hold_reason.as_deref() == Some("rescheduled"))
                .map(time),
            opened_at: time(row.opened_at),
            updated_at: time(row.updated_at),
            id: row.id,
            kind: row.kind,
            summary: row.summary,
            state: row.status,
            hold_reason: row.hold_reason,
            priority: row.priority,
            tier: row.tier,
            assignee: row.assignee,
        });
    }
    let count = |f: fn(&ReviewItem) -> bool| {
        i64::try_from(items.iter().filter(|i| f(i)).count()).unwrap_or(0)
    };
    Ok(Json(Review {
        unit: code,
        at: time(now),
        stale_days,
        open: i64::try_from(items.len()).unwrap_or(0),
        at_risk: count(|i| i.at_risk),
        breached: count(|i| i.breached),
        stale: count(|i| i.stale),
        rescheduled: count(|i| i.resume_at.is_some()),
        tickets: items,
    }))
}
