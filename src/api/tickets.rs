//! The service desk over HTTP: register tickets, list and read them, make the
//! procedure's moves, read a ticket's audit trail.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::DeskCaller;
use super::paging::{ListParams, Page};
use super::ticket_views::{AttachmentView, AuditView, TicketDetail, TicketView};
use super::{ApiError, ApiResult, AppState, Problem};
use crate::auth::Role;
use crate::desk::moves::Action;
use crate::desk::ticket::{Kind, State as TicketState};
use crate::desk::{Caller, MoveBody, Registration};
use crate::store::{attachments, audit, tickets, Visibility};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tickets, register_ticket))
        .routes(routes!(get_ticket))
        .routes(routes!(ticket_history))
        .routes(routes!(move_ticket))
        .routes(routes!(list_attachments))
        .routes(routes!(download_attachment))
}

/// The files that came with a ticket (by email), those over the size limit included
/// with `stored: false`.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/attachments", tag = "desk",
    params(("id" = String, Path, description = "Ticket id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<AttachmentView>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_attachments(
    State(state): State<AppState>,
    DeskCaller(caller): DeskCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<AttachmentView>>> {
    state.desk.read(&caller, &id).await?;
    let mut conn = state.store.pool().acquire().await?;
    let list = attachments::list(&mut conn, &id).await?;
    Ok(Json(list.into_iter().map(AttachmentView::from).collect()))
}

/// Download one attachment, as sent (always as a download: `Content-Disposition:
/// attachment`). 410 when it was over the size limit and its content was not kept.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/attachments/{attachment_id}", tag = "desk",
    params(
        ("id" = String, Path, description = "Ticket id"),
        ("attachment_id" = String, Path, description = "Attachment id (`att_…`)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
    ))]
async fn download_attachment(
    State(state): State<AppState>,
    DeskCaller(caller): DeskCaller,
    Path((id, attachment_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    state.desk.read(&caller, &id).await?;
    let mut conn = state.store.pool().acquire().await?;
    let (info, content) = attachments::content(&mut conn, &id, &attachment_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("ticket `{id}` has no attachment `{attachment_id}`"))
        })?;
    let content = content.ok_or_else(|| {
        ApiError::Gone(format!(
            "attachment `{attachment_id}` ({}, {} bytes) was over the size limit when it \
             arrived; its content was not kept",
            info.filename, info.size_bytes
        ))
    })?;
    let content_type = HeaderValue::from_str(&info.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let disposition = HeaderValue::from_str(&content_disposition(&info.filename))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        content,
    )
        .into_response())
}

/// `attachment` with an ASCII `filename` and the exact name in `filename*` (RFC 6266),
/// so a browser never shows the sender's file inline.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Register a ticket: a requester's own, or a user's on their behalf (with the channel).
/// It is assigned at once to a tier-1 technician of its unit, or to the central desk.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "desk",
    request_body = Registration,
    security(("bearer" = [])),
    responses(
        (status = 201, body = TicketDetail),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn register_ticket(
    State(state): State<AppState>,
    DeskCaller(caller): DeskCaller,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<TicketDetail>)> {
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let registration: Registration = ApiError::parse_json(&body)?;
    let row = state.desk.register(&caller, &registration).await?;
    let detail = detail(&state, row).await?;
    Ok((StatusCode::CREATED, Json(detail)))
}

/// List the tickets the caller may see, newest first: the admin all; unit heads and
/// technicians their unit's; requesters their own.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "desk",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<TicketView>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_tickets(
    State(state): State<AppState>,
    DeskCaller(caller): DeskCaller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Json<Page<TicketView>>> {
    let Query(params) = params?;
    if let Some(kind) = &params.kind {
        Kind::parse(kind).ok_or_else(|| {
            ApiError::BadRequest(format!("`kind` must be one of {}", Kind::choices()))
        })?;
    }
    let states: Vec<&str> = TicketState::ALL.iter().map(|s| s.as_str()).collect();
    let mut query = params.validate(&states)?;
    query.visible_to = visibility(&caller);
    let rows = tickets::list(state.store.pool(), &query).await?;
    let views = rows.into_iter().map(TicketView::from).collect();
    Ok(Json(Page::from_rows(views, &query, |t| t.id.clone())))
}

/// What a caller who is not the admin may list.
pub(super) fn visibility(caller: &Caller) -> Option<Visibility> {
    let who = &caller.who;
    let login = who.name.clone();
    match (who.role, &who.unit) {
        (Role::Admin, _) => None,
        (Role::UnitHead | Role::Technician, Some(unit)) => Some(Visibility::Unit {
            unit: unit.clone(),
            login,
        }),
        _ => Some(Visibility::Own { login }),
    }
}

/// Read a ticket with its comments and approvals.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "desk",
    params(("id" = String, Path, description = "Ticket id (`inc_…`, `req_…`, `prb_…`, `tev_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = TicketDetail),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_ticket(
    State(state): State<AppState>,
    DeskCaller(caller): DeskCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketDetail>> {
    let row = state.desk.read(&caller, &id).await?;
    Ok(Json(detail(&state, row).await?))
}

/// The ticket's timeline from the audit trail: who, when, from → to, comment, request id.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/history", tag = "desk",
    params(("id" = String, Path, description = "Ticket id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<AuditView>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn ticket_history(
    State(state): State<AppState>,
    DeskCaller(caller): DeskCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<AuditView>>> {
    state.desk.read(&caller, &id).await?;
    let records = audit::for_ticket(state.store.pool(), &id).await?;
    Ok(Json(records.into_iter().map(AuditView::from).collect()))
}

/// Make a move of the procedure. Actions: accept, request_info, comment, escalate,
/// request_approval, approve, reject, give_up, form_group, request_problem,
/// raise_problem, hold, resume, reschedule, resolve, confirm, reopen, cancel, assign.
/// A move the ticket's state does not allow is a 409 naming the state and the moves
/// allowed; a move the caller may not make is a 403 naming the permission.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/{action}", tag = "desk",
    params(
        ("id" = String, Path, description = "Ticket id"),
        ("action" = String, Path, description = "The move"),
    ),
    request_body = MoveBody,
    security(("bearer" = [])),
    responses(
        (status = 200, body = TicketDetail),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn move_ticket(
    State(state): State<AppState>,
    DeskCaller(caller): DeskCaller,
    Path((id, action)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<TicketDetail>> {
    let action = Action::parse(&action).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no move `{action}`; the moves are {}",
            Action::choices()
        ))
    })?;
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let body: MoveBody = if body.iter().all(u8::is_ascii_whitespace) {
        MoveBody::default()
    } else {
        ApiError::parse_json(&body)?
    };
    let row = state.desk.act(&caller, &id, action, &body).await?;
    Ok(Json(detail(&state, row).await?))
}

async fn detail(state: &AppState, row: tickets::TicketRow) -> ApiResult<TicketDetail> {
    let mut conn = state.store.pool().acquire().await?;
    let comments = tickets::comments(&mut conn, &row.id).await?;
    let approvals = tickets::approvals(&mut conn, &row.id).await?;
    let clocks = crate::sla::engine::live(&mut conn, &row.id, crate::desk::now()).await?;
    let email = crate::store::mailbox::origin(&mut conn, &row.id).await?;
    Ok(TicketDetail {
        email: email.map(Into::into),
        sla: clocks.into_iter().map(Into::into).collect(),
        ticket: row.into(),
        comments: comments.into_iter().map(Into::into).collect(),
        approvals: approvals.into_iter().map(Into::into).collect(),
    })
}
