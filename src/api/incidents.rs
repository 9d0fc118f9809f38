//! Reading and acknowledging incidents.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use std::collections::HashMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::DeskCaller;
use super::explain::{explain, Lang};
use super::paging::{ListParams, Page};
use super::views::{CiSummary, EventView, HistoryEntry, IncidentDetail, IncidentView, LinkedEvent};
use super::{ApiError, ApiResult, AppState, Problem};
use crate::desk::moves::Action;
use crate::desk::ticket::{Kind, State as TicketState};
use crate::desk::{DeskError, MoveBody};
use crate::pipeline::correlate::Reason;
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
    DeskCaller(caller): DeskCaller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Json<Page<IncidentView>>> {
    let Query(params) = params?;
    let states: Vec<&str> = TicketState::ALL.iter().map(|s| s.as_str()).collect();
    let mut query = params.validate(&states)?;
    query.kind = Some(Kind::Incident.as_str().to_owned());
    query.visible_to = super::tickets::visibility(&caller);
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
    DeskCaller(caller): DeskCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<IncidentDetail>> {
    state.desk.read(&caller, &id).await?;
    load(&state, &id, Lang::of(&headers)).await.map(Json)
}

/// Acknowledge an incident: the desk's `accept` move (the assignee, or the admin, who
/// takes it when nobody has it). The first acknowledgement is kept; repeating it is
/// harmless.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/ack", tag = "incidents",
    params(("id" = String, Path, description = "Incident id (`inc_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = IncidentDetail),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn ack_incident(
    State(state): State<AppState>,
    DeskCaller(caller): DeskCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<IncidentDetail>> {
    let accepted = state
        .desk
        .act(&caller, &id, Action::Accept, &MoveBody::default())
        .await;
    match accepted {
        Ok(_) => {}
        Err(DeskError::Illegal { .. })
            if state.desk.read(&caller, &id).await?.acked_at.is_some() => {}
        Err(e) => return Err(e.into()),
    }
    load(&state, &id, Lang::of(&headers)).await.map(Json)
}

async fn load(state: &AppState, id: &str, lang: Lang) -> ApiResult<IncidentDetail> {
    let pool = state.store.pool();
    let row = incidents::get(pool, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let links: HashMap<String, (String, Option<String>)> = incidents::links(pool, id)
        .await?
        .into_iter()
        .map(|(event, relation, reason)| (event, (relation, reason)))
        .collect();
    let mut events = Vec::new();
    let mut cis = Vec::new();
    for event in events::for_incident(pool, id).await? {
        let (relation, reason) = links.get(&event.id).cloned().unwrap_or_default();
        let reason: Option<Reason> = reason.as_deref().and_then(|r| serde_json::from_str(r).ok());
        cis.extend(event.ci_id.clone());
        events.push(LinkedEvent {
            event: EventView::from_row(event)?,
            relation,
            explanation: reason
                .as_ref()
                .map(|r| explain(r, lang))
                .unwrap_or_default(),
            reason: serde_json::to_value(&reason).unwrap_or_default(),
        });
    }
    let registry = state.live.fresh_registry(&state.store).await?;
    let root = row.ci_id.as_deref().and_then(|ci| registry.find(ci));
    let mut services: Vec<CiSummary> = cis
        .iter()
        .filter_map(|ci| registry.find(ci))
        .chain(root)
        .flat_map(|node| registry.impacted_services(node))
        .map(|node| CiSummary::of(&registry, node))
        .collect();
    services.sort_by(|a, b| a.id.cmp(&b.id));
    services.dedup_by(|a, b| a.id == b.id);
    Ok(IncidentDetail {
        root_ci: root.map(|node| CiSummary::of(&registry, node)),
        impacted_services: services,
        events,
        merged: incidents::merged_into(pool, id).await?,
        history: incidents::history(pool, id)
            .await?
            .into_iter()
            .map(|(at, kind, detail)| HistoryEntry::new(at, kind, &detail))
            .collect(),
        incident: row.into(),
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no incident `{id}`"))
}
