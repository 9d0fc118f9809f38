//! Reading and acknowledging incidents.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Person;
use super::paging::{ListParams, Page};
use super::views::{EventView, IncidentDetail, IncidentView};
use super::{ApiError, ApiResult, AppState, Problem};
use crate::domain::to_millis;
use crate::store::events;
use crate::store::incidents;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_incidents))
        .routes(routes!(get_incident))
        .routes(routes!(ack_incident))
}

/// List incidents, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<IncidentView>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_incidents(
    State(state): State<AppState>,
    _who: Person,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Json<Page<IncidentView>>> {
    let Query(params) = params?;
    let query = params.validate(&["new", "resolved", "closed", "canceled"])?;
    let rows = incidents::list(state.store.pool(), &query).await?;
    let views = rows.into_iter().map(IncidentView::from).collect();
    Ok(Json(Page::from_rows(views, &query, |i| i.id.clone())))
}

/// Read one incident with its events.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "Incident id (`inc_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = IncidentDetail),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_incident(
    State(state): State<AppState>,
    _who: Person,
    Path(id): Path<String>,
) -> ApiResult<Json<IncidentDetail>> {
    load(&state, &id).await.map(Json)
}

/// Acknowledge an incident. The first acknowledgement is kept; repeating it is harmless.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/ack", tag = "incidents",
    params(("id" = String, Path, description = "Incident id (`inc_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = IncidentDetail),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn ack_incident(
    State(state): State<AppState>,
    Person(who): Person,
    Path(id): Path<String>,
) -> ApiResult<Json<IncidentDetail>> {
    let now = to_millis(jiff::Timestamp::now());
    if !incidents::ack(state.store.pool(), &id, &who.name, now).await? {
        return Err(not_found(&id));
    }
    load(&state, &id).await.map(Json)
}

async fn load(state: &AppState, id: &str) -> ApiResult<IncidentDetail> {
    let pool = state.store.pool();
    let row = incidents::get(pool, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let events = events::for_incident(pool, id)
        .await?
        .into_iter()
        .map(EventView::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(IncidentDetail {
        incident: row.into(),
        events,
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no incident `{id}`"))
}
