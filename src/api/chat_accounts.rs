//! The chat channel's administration: people's linked chat accounts, and the senders
//! the bots refused.

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
use super::paging::MAX_LIMIT;
use super::views::time;
use super::{ApiError, ApiResult, AppState, Problem};
use crate::auth::Role;
use crate::chat::TELEGRAM;
use crate::store::chat::{self, IdentityRow};
use crate::store::people;

/// Longest external id linked, in characters.
const MAX_EXTERNAL_ID: usize = 256;
const DEFAULT_REFUSALS: i64 = 100;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_refusals))
        .routes(routes!(list_links))
        .routes(routes!(link_account, unlink_account))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefusalParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalView {
    pub id: String,
    pub platform: String,
    /// The sender's id on the platform: what to link to a person.
    pub external_id: String,
    pub name: Option<String>,
    /// The start of what they wrote.
    pub excerpt: String,
    pub received_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalPage {
    pub items: Vec<RefusalView>,
    pub next_cursor: Option<String>,
}

/// Messages from senders linked to nobody, newest first (the admin).
#[utoipa::path(get, path = "/api/v1/chat/refusals", tag = "chat",
    params(RefusalParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = RefusalPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_refusals(
    State(state): State<AppState>,
    Admin(_who): Admin,
    params: Result<Query<RefusalParams>, QueryRejection>,
) -> ApiResult<Json<RefusalPage>> {
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(DEFAULT_REFUSALS);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "`limit` must be between 1 and {MAX_LIMIT}"
        )));
    }
    let mut conn = state.store.pool().acquire().await?;
    let mut rows = chat::refusals(&mut conn, params.cursor.as_deref(), limit + 1).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(0);
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = more.then(|| rows.last().map(|r| r.id.clone())).flatten();
    let items = rows
        .into_iter()
        .map(|r| RefusalView {
            received_at: time(r.received_at),
            id: r.id,
            platform: r.platform,
            external_id: r.external_id,
            name: r.name,
            excerpt: r.excerpt,
        })
        .collect();
    Ok(Json(RefusalPage { items, next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    pub person: String,
    /// telegram, or a configured bot's name.
    pub platform: String,
    pub external_id: String,
    pub linked_by: String,
    pub linked_at: String,
}

impl From<IdentityRow> for LinkView {
    fn from(r: IdentityRow) -> Self {
        LinkView {
            person: r.person,
            platform: r.platform,
            external_id: r.external_id,
            linked_by: r.linked_by,
            linked_at: time(r.linked_at),
        }
    }
}

/// A person's linked chat accounts: the person themselves, or the admin.
#[utoipa::path(get, path = "/api/v1/people/{login}/chat", tag = "chat",
    params(("login" = String, Path, description = "The person's login")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<LinkView>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_links(
    State(state): State<AppState>,
    Person(who): Person,
    Path(login): Path<String>,
) -> ApiResult<Json<Vec<LinkView>>> {
    if who.role != Role::Admin && who.name != login {
        return Err(ApiError::forbidden(
            "people.chat.read",
            format!("only `{login}` and the admin see their chat accounts"),
        ));
    }
    let mut conn = state.store.pool().acquire().await?;
    if people::contact(&mut conn, &login).await?.is_none() {
        return Err(ApiError::NotFound(format!("no person `{login}`")));
    }
    let rows = chat::identities_of(&mut conn, &login).await?;
    Ok(Json(rows.into_iter().map(LinkView::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The person's id on the platform (Telegram: the numeric user id, which a refusal
    /// shows).
    pub external_id: String,
}

/// Link a person's chat account (the admin): messages from it then act as that
/// person. Replaces the person's account on that platform, if any.
#[utoipa::path(put, path = "/api/v1/people/{login}/chat/{platform}", tag = "chat",
    params(
        ("login" = String, Path, description = "The person's login"),
        ("platform" = String, Path, description = "telegram, or a configured bot's name"),
    ),
    request_body = LinkRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = LinkView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn link_account(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path((login, platform)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<LinkView>> {
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let request: LinkRequest = ApiError::parse_json(&body)?;
    known_platform(&state, &platform)?;
    let external_id = request.external_id.trim();
    if external_id.is_empty() || external_id.chars().count() > MAX_EXTERNAL_ID {
        return Err(ApiError::Invalid {
            detail: format!("`external_id` must have 1 to {MAX_EXTERNAL_ID} characters"),
            errors: Vec::new(),
        });
    }
    let mut tx = state.store.begin_write().await?;
    if people::contact(&mut tx, &login).await?.is_none() {
        return Err(ApiError::NotFound(format!("no person `{login}`")));
    }
    if let Some(other) = chat::holder(&mut tx, &platform, external_id).await? {
        if other != login {
            return Err(ApiError::Conflict(format!(
                "`{external_id}` on {platform} is already linked to `{other}`; unlink it first"
            )));
        }
    }
    let row = IdentityRow {
        platform,
        external_id: external_id.to_owned(),
        person: login,
        linked_by: who.name,
        linked_at: crate::desk::now(),
    };
    chat::link(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

/// Unlink a person's chat account (the admin): messages from it are refused again.
#[utoipa::path(delete, path = "/api/v1/people/{login}/chat/{platform}", tag = "chat",
    params(
        ("login" = String, Path, description = "The person's login"),
        ("platform" = String, Path, description = "telegram, or a configured bot's name"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn unlink_account(
    State(state): State<AppState>,
    Admin(_who): Admin,
    Path((login, platform)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let mut conn = state.store.pool().acquire().await?;
    if chat::unlink(&mut conn, &login, &platform).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "`{login}` has no account linked on `{platform}`"
        )))
    }
}

fn known_platform(state: &AppState, platform: &str) -> ApiResult<()> {
    let config = state.chat.config();
    if config.knows_platform(platform) {
        return Ok(());
    }
    let mut known = vec![TELEGRAM.to_owned()];
    known.extend(config.bots.iter().map(|b| b.name.clone()));
    Err(ApiError::Invalid {
        detail: format!(
            "no chat platform `{platform}`: it must be one of {}",
            known.join(", ")
        ),
        errors: Vec::new(),
    })
}
