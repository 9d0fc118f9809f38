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

/// What a token may do. `monitor` tokens belong to sources and may only ingest; the
/// other roles belong to people (a person's token takes the person's role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Monitor,
    /// The central desk (DINAFI): sees and may do everything.
    Admin,
    UnitHead,
    Technician,
    Requester,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Monitor,
        Role::Admin,
        Role::UnitHead,
        Role::Technician,
        Role::Requester,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Monitor => "monitor",
            Role::Admin => "admin",
            Role::UnitHead => "unit_head",
            Role::Technician => "technician",
            Role::Requester => "requester",
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
#[error("unknown role `{0}` (expected monitor, admin, unit_head, technician or requester)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_id: String,
    /// The person's login, or the token's name for sources and bootstrap tokens.
    pub name: String,
    pub role: Role,
    /// A person's unit and, for technicians, tier.
    pub unit: Option<String>,
    pub tier: Option<u8>,
    /// Whether the token belongs to a person of the registry.
    pub person: bool,
}

const TOKEN_PREFIX: &str = "vga_";

/// Whether a secret sent (a chat platform's header, a bot's token, a PagerDuty routing
/// key) is the configured one. Both are hashed first, so the comparison takes the same
/// time whatever their lengths and contents.
pub fn secret_matches(sent: &[u8], configured: &str) -> bool {
    use subtle::ConstantTimeEq;
    let sent = Sha256::digest(sent);
    let configured = Sha256::digest(configured.as_bytes());
    sent.ct_eq(&configured).into()
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token just created: its id (to revoke it) and the secret, which exists in clear
/// only here.
#[derive(Debug, Serialize)]
pub struct NewToken {
    pub id: String,
    pub token: String,
}

/// Creates a token for a source (`monitor`) or a bootstrap `admin` not in the registry.
pub async fn create_token(store: &Store, name: &str, role: Role) -> StoreResult<String> {
    Ok(issue(store, name, role.as_str(), None).await?.token)
}

/// Creates a token for a person of the registry; it carries their role, unit and tier
/// as they are when it is used.
pub async fn create_person_token(store: &Store, login: &str, label: &str) -> StoreResult<NewToken> {
    issue(store, label, "person", Some(login)).await
}

async fn issue(
    store: &Store,
    name: &str,
    role: &str,
    person: Option<&str>,
) -> StoreResult<NewToken> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
    let id = ids::new(ids::TOKEN);
    let now = to_millis(jiff::Timestamp::now());
    let new = tokens::NewTokenRow {
        id: &id,
        name,
        role,
        person,
        token_hash: &hash_token(&token),
    };
    tokens::insert(store.pool(), &new, now).await?;
    Ok(NewToken { id, token })
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
        let role = row.role().parse().map_err(|_| VerifyError::Invalid)?;
        let principal = Principal {
            token_id: row.id.clone(),
            name: row.person.clone().unwrap_or(row.name),
            role,
            unit: row.unit,
            tier: row.tier.and_then(|t| u8::try_from(t).ok()),
            person: row.person.is_some(),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, (_, at)| at.elapsed() < self.ttl);
        cache.insert(hash, (principal.clone(), Instant::now()));
        Ok(principal)
    }

    /// Drops a revoked token from the cache, so this replica refuses it at once (others
    /// within the cache's lifetime).
    pub fn forget(&self, token_id: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, (p, _)| p.token_id != token_id);
    }

    fn cached(&self, hash: &str) -> Option<Principal> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(p, _)| p.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_must_match_exactly() {
        assert!(secret_matches(b"abc-123", "abc-123"));
        assert!(!secret_matches(b"abc-12", "abc-123"));
        assert!(!secret_matches(b"abc-1234", "abc-123"));
        assert!(!secret_matches(b"", "abc-123"));
    }
}
