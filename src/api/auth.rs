//! Bearer-token extractors: `Person` and its kinds for the API, and each ingest source's
//! own credentials (a token, or an HMAC signature of the body) for the ingest endpoints.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::{ApiError, AppState};
use crate::auth::{Principal, Role, VerifyError};
use crate::ingest::credentials::{self, AuthKind};

async fn principal(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    bearer(&parts.headers, state).await
}

/// The token of an `Authorization: Bearer <token>` header; None if the header is
/// missing or is not that.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

async fn bearer(headers: &HeaderMap, state: &AppState) -> Result<Principal, ApiError> {
    if !headers.contains_key(AUTHORIZATION) {
        return Err(ApiError::Unauthorized(
            "an `Authorization: Bearer <token>` header is required".to_owned(),
        ));
    }
    let token = bearer_token(headers).ok_or_else(|| {
        ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".to_owned())
    })?;
    state.tokens.verify(token).await.map_err(|e| match e {
        VerifyError::Invalid => {
            ApiError::Unauthorized("the token is unknown or revoked".to_owned())
        }
        VerifyError::Store(e) => e.into(),
    })
}

/// Who sent to an ingest endpoint: the token's name (or `hmac:<source>` for a signed
/// request) and the key its rate limit is counted under.
pub struct Sender {
    pub name: String,
    pub limit_key: String,
}

/// How an ingest request to a source proved who sent it, as far as the headers tell:
/// a bearer token is checked before the body is read; a signature needs the body.
pub enum IngestCredentials {
    Checked(Sender),
    /// The source signs its bodies: `verify_signed` once the body is read.
    Signed,
}

/// The metric label of a source: only known sources name one, so the set of label values
/// stays bounded.
pub fn source_label<'a>(rules: &crate::rules::RuleSet, source: &'a str) -> &'a str {
    if rules.get(source).is_some() {
        source
    } else {
        "unknown"
    }
}

impl FromRequestParts<AppState> for IngestCredentials {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let axum::extract::Path(source) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let auth = state.sources.get(&source).cloned().unwrap_or_default();
        if auth.auth == AuthKind::Hmac {
            return Ok(IngestCredentials::Signed);
        }
        let rules = state.rules();
        let label = source_label(&rules, &source);
        let refuse = |reason: &str, e: ApiError| refused(state, label, reason, e);
        let who = bearer(&parts.headers, state).await.map_err(|e| {
            let reason = if parts.headers.contains_key(AUTHORIZATION) {
                "invalid_token"
            } else {
                "missing_token"
            };
            match e {
                ApiError::Unauthorized(_) => refuse(reason, e),
                other => other,
            }
        })?;
        let who = may_send(who)?;
        // The admin may test any source by hand.
        if !auth.tokens.is_empty() && who.role != Role::Admin && !auth.tokens.contains(&who.name) {
            return Err(refuse(
                "wrong_token",
                ApiError::Unauthorized(format!(
                    "token `{}` is not one of source `{source}`'s credentials",
                    who.name
                )),
            ));
        }
        Ok(IngestCredentials::Checked(Sender {
            name: who.name,
            limit_key: who.token_id,
        }))
    }
}

/// Checks a signing source's request: the signature of `body`, within its age.
pub fn verify_signed(
    state: &AppState,
    source: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Sender, ApiError> {
    let auth = state.sources.get(source).cloned().unwrap_or_default();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let now = jiff::Timestamp::now().as_second();
    credentials::verify_signature(&auth, header, body, now).map_err(|e| {
        refused(
            state,
            source_label(&state.rules(), source),
            e.reason(),
            ApiError::Unauthorized(format!("source `{source}` signs its requests: {e}")),
        )
    })?;
    let name = format!("hmac:{source}");
    Ok(Sender {
        limit_key: name.clone(),
        name,
    })
}

/// A 401 for a source's credentials, counted by source and reason.
fn refused(state: &AppState, label: &str, reason: &str, e: ApiError) -> ApiError {
    state
        .metrics
        .ingest_unauthorized
        .with_label_values(&[label, reason])
        .inc();
    e
}

/// A person (any role but `monitor`).
pub struct Person(pub Principal);

fn may_send(p: Principal) -> Result<Principal, ApiError> {
    if p.role.may_ingest() {
        Ok(p)
    } else {
        Err(ApiError::forbidden(
            "alerts.send",
            format!(
                "sending alerts needs the `monitor` role; this token has `{}`",
                p.role
            ),
        ))
    }
}

impl FromRequestParts<AppState> for Person {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = principal(parts, state).await?;
        if p.role.is_person() {
            Ok(Person(p))
        } else {
            Err(ApiError::forbidden(
                "person",
                format!(
                    "this endpoint needs a person's token; `{}` tokens may only send alerts",
                    p.role
                ),
            ))
        }
    }
}

/// The desk administrator (role `admin`): the only one who changes the registry and the
/// noise controls.
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = principal(parts, state).await?;
        if p.role == Role::Admin {
            Ok(Admin(p))
        } else {
            Err(ApiError::forbidden(
                "admin",
                format!(
                    "this needs the `admin` role (the central desk); this token has `{}`",
                    p.role
                ),
            ))
        }
    }
}

/// A person acting on the desk, with the id of their request for the audit trail.
pub struct DeskCaller(pub crate::desk::Caller);

impl FromRequestParts<AppState> for DeskCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Person(who) = Person::from_request_parts(parts, state).await?;
        let request_id = parts
            .headers
            .get(super::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(DeskCaller(crate::desk::Caller { who, request_id }))
    }
}
