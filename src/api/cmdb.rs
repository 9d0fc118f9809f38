//! The CI registry over HTTP: units, configuration items, what a CI impacts and what it
//! needs, and bulk import. Writes are the administrator's; each is validated against the
//! whole registry, written in one transaction, and in force for the next alert.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Admin, Person};
use super::views::CiSummary;
use super::{ApiError, ApiResult, AppState, Problem};
use crate::cmdb::apply::{self, ImportReport};
use crate::cmdb::graph::{Node, Registry};
use crate::cmdb::import::{self, Format};
use crate::cmdb::model::{ConfigItem, Unit};
use crate::domain::to_millis;
use crate::store::cmdb::{self, CiFilter, Written};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_units))
        .routes(routes!(get_unit, put_unit, delete_unit))
        .routes(routes!(list_cis, create_ci))
        .routes(routes!(get_ci, put_ci, delete_ci))
        .routes(routes!(ci_impact))
        .routes(routes!(ci_dependencies))
        .routes(routes!(import_registry))
}

fn now() -> i64 {
    to_millis(jiff::Timestamp::now())
}

fn unit_not_found(code: &str) -> ApiError {
    ApiError::NotFound(format!("no unit `{code}`"))
}

fn ci_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no CI `{id}`"))
}

/// List the units.
#[utoipa::path(get, path = "/api/v1/units", tag = "registry",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Unit>)))]
async fn list_units(State(state): State<AppState>, _who: Person) -> ApiResult<Json<Vec<Unit>>> {
    let mut conn = state.store.pool().acquire().await?;
    Ok(Json(cmdb::units(&mut conn).await?))
}

/// Read one unit.
#[utoipa::path(get, path = "/api/v1/units/{code}", tag = "registry",
    params(("code" = String, Path, description = "Unit code")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Unit),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_unit(
    State(state): State<AppState>,
    _who: Person,
    Path(code): Path<String>,
) -> ApiResult<Json<Unit>> {
    let mut conn = state.store.pool().acquire().await?;
    let unit = cmdb::unit(&mut conn, &code).await?;
    unit.map(Json).ok_or_else(|| unit_not_found(&code))
}

/// Create or replace a unit.
#[utoipa::path(put, path = "/api/v1/units/{code}", tag = "registry",
    params(("code" = String, Path, description = "Unit code")),
    request_body = Unit,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Unit, description = "Replaced"),
        (status = 201, body = Unit, description = "Created"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_unit(
    State(state): State<AppState>,
    _who: Admin,
    Path(code): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Unit>)> {
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let mut unit: Unit = ApiError::parse_json(&body)?;
    import::normalize_unit(&mut unit).map_err(invalid)?;
    if unit.code != code {
        return Err(invalid(format!(
            "the body's code `{}` is not the path's `{code}`",
            unit.code
        )));
    }
    let mut tx = cmdb::begin_registry_write(&state.store).await?;
    let created = cmdb::put_unit(&mut tx, &unit, now()).await?;
    tx.commit().await?;
    state.live.refresh(&state.store).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(unit)))
}

/// Delete a unit that owns no CI.
#[utoipa::path(delete, path = "/api/v1/units/{code}", tag = "registry",
    params(("code" = String, Path, description = "Unit code")),
    security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_unit(
    State(state): State<AppState>,
    _who: Admin,
    Path(code): Path<String>,
) -> ApiResult<StatusCode> {
    let mut tx = cmdb::begin_registry_write(&state.store).await?;
    let owned = cmdb::cis_of_unit(&mut tx, &code).await?;
    if owned > 0 {
        return Err(ApiError::Conflict(format!(
            "unit `{code}` still owns {owned} CIs; move or delete them first"
        )));
    }
    if !cmdb::delete_unit(&mut tx, &code).await? {
        return Err(unit_not_found(&code));
    }
    tx.commit().await?;
    state.live.refresh(&state.store).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CiParams {
    /// Only CIs of this unit.
    pub unit: Option<String>,
    /// Only CIs of this type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Only CIs of this criticality.
    pub criticality: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CiPage {
    pub items: Vec<ConfigItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// List CIs by id, with filters.
#[utoipa::path(get, path = "/api/v1/cis", tag = "registry",
    params(CiParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = CiPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_cis(
    State(state): State<AppState>,
    _who: Person,
    params: Result<Query<CiParams>, QueryRejection>,
) -> ApiResult<Json<CiPage>> {
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "`limit` must be between 1 and 500".to_owned(),
        ));
    }
    if let Some(c) = &params.criticality {
        c.parse::<crate::cmdb::model::Criticality>()
            .map_err(|e| ApiError::BadRequest(format!("`criticality`: {e}")))?;
    }
    let filter = CiFilter {
        unit: params.unit,
        kind: params.kind,
        criticality: params.criticality,
        after: params.cursor,
        limit: limit + 1,
    };
    let mut conn = state.store.pool().acquire().await?;
    let mut items = cmdb::list_cis(&mut conn, &filter).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = more.then(|| items.last().map(|ci| ci.id.clone())).flatten();
    Ok(Json(CiPage { items, next_cursor }))
}

/// Read one CI.
#[utoipa::path(get, path = "/api/v1/cis/{id}", tag = "registry",
    params(("id" = String, Path, description = "CI id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ConfigItem),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_ci(
    State(state): State<AppState>,
    _who: Person,
    Path(id): Path<String>,
) -> ApiResult<Json<ConfigItem>> {
    let mut conn = state.store.pool().acquire().await?;
    let ci = cmdb::ci(&mut conn, &id).await?;
    ci.map(Json).ok_or_else(|| ci_not_found(&id))
}

/// Create a CI. Refused (422, every reason listed) if its unit is unknown, an identifier
/// is taken, a dependency is missing or it would close a dependency cycle.
#[utoipa::path(post, path = "/api/v1/cis", tag = "registry",
    request_body = ConfigItem,
    security(("bearer" = [])),
    responses(
        (status = 201, body = ConfigItem),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_ci(
    State(state): State<AppState>,
    _who: Admin,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<ConfigItem>)> {
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let ci = parse_ci(&body)?;
    apply::put_ci(&state.store, ci.clone(), now(), true).await?;
    state.live.refresh(&state.store).await?;
    Ok((StatusCode::CREATED, Json(ci)))
}

/// Create or replace a CI, checked as on creation.
#[utoipa::path(put, path = "/api/v1/cis/{id}", tag = "registry",
    params(("id" = String, Path, description = "CI id")),
    request_body = ConfigItem,
    security(("bearer" = [])),
    responses(
        (status = 200, body = ConfigItem, description = "Replaced"),
        (status = 201, body = ConfigItem, description = "Created"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_ci(
    State(state): State<AppState>,
    _who: Admin,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<ConfigItem>)> {
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let ci = parse_ci(&body)?;
    if ci.id != id {
        return Err(invalid(format!(
            "the body's id `{}` is not the path's `{id}`",
            ci.id
        )));
    }
    let written = apply::put_ci(&state.store, ci.clone(), now(), false).await?;
    state.live.refresh(&state.store).await?;
    let status = match written {
        Written::Created => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    Ok((status, Json(ci)))
}

/// Delete a CI nothing depends on.
#[utoipa::path(delete, path = "/api/v1/cis/{id}", tag = "registry",
    params(("id" = String, Path, description = "CI id")),
    security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_ci(
    State(state): State<AppState>,
    _who: Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let mut tx = cmdb::begin_registry_write(&state.store).await?;
    let direct = cmdb::dependants(&mut tx, &id).await?;
    if !direct.is_empty() {
        return Err(ApiError::Conflict(format!(
            "CI `{id}` is needed by {}; change their dependencies first",
            direct.join(", ")
        )));
    }
    if !cmdb::delete_ci(&mut tx, &id).await? {
        return Err(ci_not_found(&id));
    }
    tx.commit().await?;
    state.live.refresh(&state.store).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A CI and the CIs on one side of it in the dependency graph.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reach {
    pub ci: CiSummary,
    /// Every CI reached, transitively, nearest first.
    pub cis: Vec<CiSummary>,
    /// The services among them.
    pub services: Vec<CiSummary>,
}

fn reach(registry: &Registry, node: Node, nodes: Vec<Node>) -> Reach {
    let cis: Vec<CiSummary> = nodes.iter().map(|&n| CiSummary::of(registry, n)).collect();
    let services = nodes
        .iter()
        .filter(|&&n| registry.node(n).is_service())
        .map(|&n| CiSummary::of(registry, n))
        .collect();
    Reach {
        ci: CiSummary::of(registry, node),
        cis,
        services,
    }
}

/// Every CI and service that depends on this CI, transitively: what its failure impacts.
#[utoipa::path(get, path = "/api/v1/cis/{id}/impact", tag = "registry",
    params(("id" = String, Path, description = "CI id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Reach),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn ci_impact(
    State(state): State<AppState>,
    _who: Person,
    Path(id): Path<String>,
) -> ApiResult<Json<Reach>> {
    let registry = state.live.fresh_registry(&state.store).await?;
    let node = registry.find(&id).ok_or_else(|| ci_not_found(&id))?;
    Ok(Json(reach(&registry, node, registry.impact(node))))
}

/// Every CI this CI depends on, transitively.
#[utoipa::path(get, path = "/api/v1/cis/{id}/dependencies", tag = "registry",
    params(("id" = String, Path, description = "CI id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Reach),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn ci_dependencies(
    State(state): State<AppState>,
    _who: Person,
    Path(id): Path<String>,
) -> ApiResult<Json<Reach>> {
    let registry = state.live.fresh_registry(&state.store).await?;
    let node = registry.find(&id).ok_or_else(|| ci_not_found(&id))?;
    Ok(Json(reach(&registry, node, registry.dependencies(node))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Check and count, but write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Import a registry file: YAML or JSON (`units`, `people`, `config_items`) or CSV (one
/// CI per row), by `Content-Type`. All or nothing: any problem refuses the whole file
/// with every offending line listed. Importing the same file again changes nothing.
#[utoipa::path(post, path = "/api/v1/cis:import", tag = "registry",
    params(ImportParams),
    request_body(content = String, content_type = "application/yaml",
        description = "The registry file (also application/json or text/csv)"),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ImportReport),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn import_registry(
    State(state): State<AppState>,
    _who: Admin,
    headers: HeaderMap,
    params: Result<Query<ImportParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ImportReport>> {
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let Query(params) = params?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = Format::from_content_type(content_type).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "`{content_type}` is not a registry format; send application/yaml, \
             application/json or text/csv"
        ))
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::BadRequest(format!("the file is not UTF-8: {e}")))?;
    let catalog = import::parse(text, format).map_err(ApiError::invalid)?;
    let report = apply::import(&state.store, &catalog, now(), params.dry_run).await?;
    state.live.refresh(&state.store).await?;
    Ok(Json(report))
}

fn parse_ci(body: &[u8]) -> ApiResult<ConfigItem> {
    let mut ci: ConfigItem = ApiError::parse_json(body)?;
    import::normalize_ci(&mut ci).map_err(invalid)?;
    Ok(ci)
}

fn invalid(detail: String) -> ApiError {
    ApiError::Invalid {
        detail,
        errors: Vec::new(),
    }
}
