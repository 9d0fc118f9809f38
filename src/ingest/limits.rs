//! Rate limits on the ingest endpoints (governor's GCRA): per source, per token, and a
//! global ceiling that protects the database during alert storms. A request over a
//! limit is refused before anything of it is read or stored, with the time to wait.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

/// `[intake.rate_limit]`: requests per second (a burst of as many is allowed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// All ingest requests together.
    pub global: u32,
    /// Each source, unless `sources` names it.
    pub per_source: u32,
    /// Source name → its own limit.
    pub sources: BTreeMap<String, u32>,
    /// Each token.
    pub per_token: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            global: 20_000,
            per_source: 5_000,
            sources: BTreeMap::new(),
            per_token: 5_000,
        }
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Source,
    Token,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Source => "source",
            Scope::Token => "token",
        }
    }
}

/// A request over a limit: which one, and how long until it would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    pub retry_after: Duration,
}

pub struct Limits {
    global: DefaultDirectRateLimiter,
    sources: BTreeMap<String, DefaultDirectRateLimiter>,
    per_source: DefaultKeyedRateLimiter<String>,
    per_token: DefaultKeyedRateLimiter<String>,
}

fn quota(per_second: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
}

impl Limits {
    pub fn new(c: &RateLimitConfig) -> Limits {
        Limits {
            global: RateLimiter::direct(quota(c.global)),
            sources: c
                .sources
                .iter()
                .map(|(name, n)| (name.clone(), RateLimiter::direct(quota(*n))))
                .collect(),
            per_source: RateLimiter::keyed(quota(c.per_source)),
            per_token: RateLimiter::keyed(quota(c.per_token)),
        }
    }

    /// Takes one request from the token's, the source's and the global allowance, the
    /// narrowest first, so a noisy token does not spend its source's share.
    pub fn check(&self, source: &str, token: &str) -> Result<(), Limited> {
        let clock = DefaultClock::default();
        let wait = |scope, not_until: governor::NotUntil<_>| Limited {
            scope,
            retry_after: not_until.wait_time_from(clock.now()),
        };
        self.per_token
            .check_key(&token.to_owned())
            .map_err(|n| wait(Scope::Token, n))?;
        match self.sources.get(source) {
            Some(limiter) => limiter.check(),
            None => self.per_source.check_key(&source.to_owned()),
        }
        .map_err(|n| wait(Scope::Source, n))?;
        self.global.check().map_err(|n| wait(Scope::Global, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_over_its_own_limit_is_refused_while_others_pass() {
        let config = RateLimitConfig {
            sources: BTreeMap::from([("noisy".to_owned(), 2)]),
            ..RateLimitConfig::default()
        };
        let limits = Limits::new(&config);
        assert!(limits.check("noisy", "tok_a").is_ok());
        assert!(limits.check("noisy", "tok_b").is_ok());
        let refused = limits
            .check("noisy", "tok_c")
            .expect_err("third in a second");
        assert_eq!(refused.scope, Scope::Source);
        assert!(refused.retry_after > Duration::ZERO);
        assert!(refused.retry_after <= Duration::from_secs(1));
        assert!(limits.check("quiet", "tok_c").is_ok());
    }

    #[test]
    fn each_token_and_the_whole_service_have_their_ceilings() {
        let config = RateLimitConfig {
            global: 3,
            per_token: 1,
            ..RateLimitConfig::default()
        };
        let limits = Limits::new(&config);
        assert!(limits.check("a", "t1").is_ok());
        assert_eq!(
            limits.check("a", "t1").map_err(|l| l.scope),
            Err(Scope::Token)
        );
        assert!(limits.check("b", "t2").is_ok());
        assert!(limits.check("c", "t3").is_ok());
        assert_eq!(
            limits.check("d", "t4").map_err(|l| l.scope),
            Err(Scope::Global)
        );
    }
}
