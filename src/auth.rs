//! API tokens and roles. A token is shown once when created; only its SHA-256 is stored.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::{ids, to_millis};
use crate::store::{tokens, Store, StoreResult};

/// What a token may do. `monitor` tokens belong to sources and may only ingest;
/// the other roles belong to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Monitor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Monitor => "monitor",
            Role::Admin => "admin",
        }
    }

    pub fn is_person(self) -> bool {
        !matches!(self, Role::Monitor)
    }

    /// Sending alerts: monitors, and the admin (who may test a source by hand).
    pub fn may_ingest(self) -> bool {
        matches!(self, Role::Monitor | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}` (expected monitor or admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "monitor" => Ok(Role::Monitor),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

const TOKEN_PREFIX: &str = "vga_";

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token and returns it in clear, the only time it exists outside the caller.
pub async fn create_token(store: &Store, name: &str, role: Role) -> StoreResult<String> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
    let now = to_millis(jiff::Timestamp::now());
    tokens::insert(
        store.pool(),
        &ids::new(ids::TOKEN),
        name,
        role.as_str(),
        &hash_token(&token),
        now,
    )
    .await?;
    Ok(token)
}

/// Checks bearer tokens, remembering good ones briefly so the ingest path does not
/// read the database on every request.
pub struct TokenVerifier {
    store: Store,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Principal, Instant)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is unknown or revoked")]
    Invalid,
    #[error("token lookup failed")]
    Store(#[from] crate::store::StoreError),
}

impl TokenVerifier {
    pub fn new(store: Store, ttl: Duration) -> Self {
        TokenVerifier {
            store,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, VerifyError> {
        let hash = hash_token(token);
        if let Some(principal) = self.cached(&hash) {
            return Ok(principal);
        }
        let row = tokens::find_live(self.store.pool(), &hash)
            .await?
            .ok_or(VerifyError::Invalid)?;
        let role = row.role.parse().map_err(|_| VerifyError::Invalid)?;
        let principal = Principal {
            name: row.name,
            role,
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, (_, at)| at.elapsed() < self.ttl);
        cache.insert(hash, (principal.clone(), Instant::now()));
        Ok(principal)
    }

    fn cached(&self, hash: &str) -> Option<Principal> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(p, _)| p.clone())
    }
}
