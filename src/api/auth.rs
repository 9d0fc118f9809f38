//! Bearer-token extractors: `Monitor` for ingest endpoints, `Person` for the rest.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::auth::{Principal, VerifyError};

async fn principal(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("an `Authorization: Bearer <token>` header is required".to_owned())
    })?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".to_owned())
        })?;
    state.tokens.verify(token).await.map_err(|e| match e {
        VerifyError::Invalid => {
            ApiError::Unauthorized("the token is unknown or revoked".to_owned())
        }
        VerifyError::Store(e) => e.into(),
    })
}

/// A caller allowed to send alerts (role `monitor`, or `admin`).
pub struct Monitor(pub Principal);

/// A person (any role but `monitor`).
pub struct Person(pub Principal);

impl FromRequestParts<AppState> for Monitor {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = principal(parts, state).await?;
        if p.role.may_ingest() {
            Ok(Monitor(p))
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
        if p.role == crate::auth::Role::Admin {
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
