//! Reading and acknowledging events.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Person;
use super::paging::{ListParams, Page};
use super::views::EventView;
use super::{ApiError, ApiResult, AppState, Problem};
use crate::auth::{Principal, Role};
use crate::domain::to_millis;
use crate::store::events;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(get_event))
        .routes(routes!(ack_event))
}

/// List events, newest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<EventView>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_events(
    State(state): State<AppState>,
    Person(who): Person,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Json<Page<EventView>>> {
    let Query(mut params) = params?;
    if let Some(unit) = unit_scope(&who)? {
        if params.unit.as_ref().is_some_and(|u| *u != unit) {
            return Err(other_unit(&who, &unit));
        }
        params.unit = Some(unit);
    }
    if params.priority.is_some() {
        return Err(ApiError::BadRequest(
            "`priority` filters incidents; events have none".to_owned(),
        ));
    }
    let query = params.validate(&["open", "resolved"])?;
    let rows = events::list(state.store.pool(), &query).await?;
    let views = rows
        .into_iter()
        .map(EventView::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Page::from_rows(views, &query, |e| e.id.clone())))
}

/// Read one event.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events",
    params(("id" = String, Path, description = "Event id (`evt_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = EventView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_event(
    State(state): State<AppState>,
    Person(who): Person,
    Path(id): Path<String>,
) -> ApiResult<Json<EventView>> {
    visible(&state, &who, &id).await?;
    load(&state, &id).await.map(Json)
}

/// Acknowledge an event. The first acknowledgement is kept; repeating it is harmless.
#[utoipa::path(post, path = "/api/v1/events/{id}/ack", tag = "events",
    params(("id" = String, Path, description = "Event id (`evt_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = EventView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn ack_event(
    State(state): State<AppState>,
    Person(who): Person,
    Path(id): Path<String>,
) -> ApiResult<Json<EventView>> {
    visible(&state, &who, &id).await?;
    let now = to_millis(jiff::Timestamp::now());
    if !events::ack(state.store.pool(), &id, &who.name, now).await? {
        return Err(not_found(&id));
    }
    load(&state, &id).await.map(Json)
}

/// The unit whose events the caller may see; `None` for the admin, who sees all.
/// Events are the desk's staff's: requesters see their own tickets, not monitoring.
fn unit_scope(who: &Principal) -> ApiResult<Option<String>> {
    match (who.role, &who.unit) {
        (Role::Admin, _) => Ok(None),
        (Role::UnitHead | Role::Technician, Some(unit)) => Ok(Some(unit.clone())),
        _ => Err(ApiError::forbidden(
            "events.read",
            "events are for the desk's staff (admin, unit heads, technicians)",
        )),
    }
}

fn other_unit(who: &Principal, unit: &str) -> ApiError {
    ApiError::forbidden(
        "events.read",
        format!("`{}` sees the events of unit {unit} only", who.name),
    )
}

async fn visible(state: &AppState, who: &Principal, id: &str) -> ApiResult<()> {
    let Some(unit) = unit_scope(who)? else {
        return Ok(());
    };
    let row = events::get(state.store.pool(), id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if row.unit.as_deref() != Some(unit.as_str()) {
        return Err(other_unit(who, &unit));
    }
    Ok(())
}

async fn load(state: &AppState, id: &str) -> ApiResult<EventView> {
    let row = events::get(state.store.pool(), id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(EventView::from_row(row)?)
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no event `{id}`"))
}
