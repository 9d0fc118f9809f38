//! People of the desk: the directory, availability and language, their tokens, and the
//! tier-3 groups of each unit.

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
use crate::auth::{create_person_token, NewToken, Principal, Role};
use crate::desk::now;
use crate::store::people::{self, Contact};
use crate::store::{groups, tokens};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_people))
        .routes(routes!(update_person))
        .routes(routes!(create_token))
        .routes(routes!(list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(list_groups))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnitParams {
    /// Only this unit's.
    pub unit: Option<String>,
    /// Tokens: only this person's.
    pub person: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    pub login: String,
    pub name: String,
    pub email: String,
    pub unit: String,
    /// admin, unit_head, technician or requester.
    pub role: String,
    pub tier: Option<i64>,
    /// es or en: the language of their notifications.
    pub language: String,
    /// Whether automatic assignment gives them work.
    pub available: bool,
    pub organization: Option<String>,
}

impl From<Contact> for PersonView {
    fn from(c: Contact) -> Self {
        PersonView {
            login: c.login,
            name: c.name,
            email: c.email,
            unit: c.unit,
            role: c.role,
            tier: c.tier,
            language: c.language,
            available: c.available != 0,
            organization: c.organization,
        }
    }
}

/// Staff only: requesters do not browse the directory (personal data stays need-to-know).
fn staff(who: &Principal) -> ApiResult<()> {
    match who.role {
        Role::Admin | Role::UnitHead | Role::Technician => Ok(()),
        _ => Err(ApiError::forbidden(
            "people.read",
            "the directory is for the desk's staff (admin, unit heads, technicians)",
        )),
    }
}

/// List the people of the desk, by login.
#[utoipa::path(get, path = "/api/v1/people", tag = "people",
    params(UnitParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<PersonView>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_people(
    State(state): State<AppState>,
    Person(who): Person,
    params: Result<Query<UnitParams>, QueryRejection>,
) -> ApiResult<Json<Vec<PersonView>>> {
    let Query(params) = params?;
    staff(&who)?;
    let mut conn = state.store.pool().acquire().await?;
    let people = people::contacts(&mut conn, params.unit.as_deref()).await?;
    Ok(Json(people.into_iter().map(PersonView::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonUpdate {
    /// false while on leave or otherwise away: automatic assignment skips them.
    pub available: Option<bool>,
    /// es or en.
    pub language: Option<String>,
}

/// Set a person's availability or language: themselves, their unit head, or the admin.
#[utoipa::path(patch, path = "/api/v1/people/{login}", tag = "people",
    params(("login" = String, Path, description = "The person's login")),
    request_body = PersonUpdate,
    security(("bearer" = [])),
    responses(
        (status = 200, body = PersonView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_person(
    State(state): State<AppState>,
    Person(who): Person,
    Path(login): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<PersonView>> {
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let update: PersonUpdate = ApiError::parse_json(&body)?;
    let mut conn = state.store.pool().acquire().await?;
    let person = people::contact(&mut conn, &login)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no person `{login}`")))?;
    let head = who.role == Role::UnitHead && who.unit.as_deref() == Some(person.unit.as_str());
    if !(who.role == Role::Admin || head || who.name == login) {
        return Err(ApiError::forbidden(
            "people.update",
            format!(
                "only `{login}`, the head of unit {} or the admin may change this",
                person.unit
            ),
        ));
    }
    if let Some(language) = &update.language {
        if language != "es" && language != "en" {
            return Err(ApiError::Invalid {
                detail: "`language` must be es or en".to_owned(),
                errors: Vec::new(),
            });
        }
    }
    people::set_preferences(
        &mut conn,
        &login,
        update.available,
        update.language.as_deref(),
        now(),
    )
    .await?;
    let person = people::contact(&mut conn, &login)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no person `{login}`")))?;
    Ok(Json(person.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// What the token is for, e.g. `laptop` (default: the login).
    pub name: Option<String>,
}

/// Create a token for a person. The token is shown in this answer only; it carries the
/// person's role, unit and tier as they are each time it is used.
#[utoipa::path(post, path = "/api/v1/people/{login}/tokens", tag = "people",
    params(("login" = String, Path, description = "The person's login")),
    request_body = TokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = Object),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_token(
    State(state): State<AppState>,
    Admin(_who): Admin,
    Path(login): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let request: TokenRequest = if body.is_empty() {
        TokenRequest::default()
    } else {
        ApiError::parse_json(&body)?
    };
    let mut conn = state.store.pool().acquire().await?;
    if people::contact(&mut conn, &login).await?.is_none() {
        return Err(ApiError::NotFound(format!("no person `{login}`")));
    }
    let label = request.name.unwrap_or_else(|| login.clone());
    let token = create_person_token(&state.store, &login, &label).await?;
    Ok((StatusCode::CREATED, Json(token)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// monitor or admin for tokens of sources; person for a person's.
    pub role: String,
    pub person: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// List tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "people",
    params(UnitParams),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenView>)))]
async fn list_tokens(
    State(state): State<AppState>,
    Admin(_who): Admin,
    params: Result<Query<UnitParams>, QueryRejection>,
) -> ApiResult<Json<Vec<TokenView>>> {
    let Query(params) = params?;
    let rows = tokens::list(state.store.pool(), params.person.as_deref()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|t| TokenView {
                id: t.id,
                name: t.name,
                role: t.role,
                person: t.person,
                created_at: time(t.created_at),
                revoked_at: t.revoked_at.map(time),
            })
            .collect(),
    ))
}

/// Revoke a token: the admin any, a person their own. It stops working at once on this
/// replica, and within the token cache's lifetime (10 s) on the others.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "people",
    params(("id" = String, Path, description = "Token id (`tok_…`)")),
    security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_token(
    State(state): State<AppState>,
    Person(who): Person,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let token = tokens::get(state.store.pool(), &id)
        .await?
        .filter(|t| t.revoked_at.is_none())
        .ok_or_else(|| ApiError::NotFound(format!("no live token `{id}`")))?;
    let own = who.person && token.person.as_deref() == Some(who.name.as_str());
    if who.role != Role::Admin && !own {
        return Err(ApiError::forbidden(
            "tokens.revoke",
            "a token is revoked by its owner or the admin",
        ));
    }
    tokens::revoke(state.store.pool(), &id, now()).await?;
    state.tokens.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    pub id: String,
    pub unit: String,
    pub name: String,
    pub created_by: String,
    pub created_at: String,
    pub members: Vec<String>,
}

/// The tier-3 groups unit heads formed: heads and technicians see their unit's.
#[utoipa::path(get, path = "/api/v1/groups", tag = "people",
    params(UnitParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<GroupView>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_groups(
    State(state): State<AppState>,
    Person(who): Person,
    params: Result<Query<UnitParams>, QueryRejection>,
) -> ApiResult<Json<Vec<GroupView>>> {
    let Query(params) = params?;
    staff(&who)?;
    let unit = match who.role {
        Role::Admin => params.unit,
        _ => who.unit.clone(),
    };
    let mut conn = state.store.pool().acquire().await?;
    let mut views = Vec::new();
    for g in groups::list(&mut conn, unit.as_deref()).await? {
        let members = groups::members(&mut conn, &g.id).await?;
        views.push(GroupView {
            created_at: time(g.created_at),
            id: g.id,
            unit: g.unit,
            name: g.name,
            created_by: g.created_by,
            members,
        });
    }
    Ok(Json(views))
}
