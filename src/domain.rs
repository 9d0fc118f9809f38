//! Domain types shared by every stage: what a normalized alert (`Signal`) is, and the
//! small value types it is made of. Payloads become these types at the edge (the rules
//! stage); nothing deeper handles raw strings for severities, statuses or ids.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Vigía's severity scale, ordered from least to most severe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Minor,
    Major,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Warning,
        Severity::Minor,
        Severity::Major,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown severity `{0}` (expected one of critical, major, minor, warning, info)")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str() == s)
            .ok_or_else(|| UnknownSeverity(s.to_owned()))
    }
}

/// Whether an alert says its condition holds (firing) or has ended (resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown alert status `{0}` (expected firing or resolved)")]
pub struct UnknownStatus(pub String);

impl FromStr for AlertStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "firing" => Ok(AlertStatus::Firing),
            "resolved" => Ok(AlertStatus::Resolved),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// The identity of an alert within its source: equal fingerprints are the same alert.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Longest fingerprint accepted from a payload; longer ones are hashed instead.
    pub const MAX_LEN: usize = 128;

    pub fn new(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        (!trimmed.is_empty() && trimmed.len() <= Self::MAX_LEN)
            .then(|| Fingerprint(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a signal opens an incident, and what happens to it when its alerts clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IncidentPolicy {
    /// The signal opens (or updates) an incident.
    pub opens: bool,
    /// When every event of the incident is resolved, resolve the incident too.
    pub auto_resolve: bool,
    /// Fire this often before an incident opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Rate>,
    /// Change state more than this often and the alert is flapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flapping: Option<Rate>,
    pub correlation: Correlation,
}

impl IncidentPolicy {
    /// A signal that stays an event.
    pub fn event_only() -> Self {
        IncidentPolicy {
            opens: false,
            auto_resolve: false,
            threshold: None,
            flapping: None,
            correlation: Correlation::default(),
        }
    }
}

/// `count` times within `within_secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rate {
    pub count: u32,
    pub within_secs: u64,
}

impl Rate {
    pub fn within_ms(self) -> i64 {
        i64::try_from(self.within_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

/// Whether alerts join the incidents of the CIs they depend on, and how recent those
/// incidents must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Correlation {
    pub enabled: bool,
    pub window_secs: u64,
    /// Dependency relations that correlate; empty: all.
    pub relations: Vec<String>,
}

impl Correlation {
    pub const DEFAULT_WINDOW_SECS: u64 = 30 * 60;

    pub fn window_ms(&self) -> i64 {
        i64::try_from(self.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

impl Default for Correlation {
    fn default() -> Self {
        Correlation {
            enabled: true,
            window_secs: Self::DEFAULT_WINDOW_SECS,
            relations: Vec::new(),
        }
    }
}

/// One normalized alert: what the rules stage makes of one alert in a payload.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Signal {
    pub source: String,
    /// Name of the rule that produced this signal.
    pub rule: String,
    pub fingerprint: Fingerprint,
    pub status: AlertStatus,
    pub severity: Severity,
    pub summary: String,
    pub description: Option<String>,
    /// Values that may name the configuration item, in the order they should be tried.
    pub ci_candidates: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// When the alert's condition started, as the tool says (identifies an occurrence).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Timestamp>,
    pub incident: IncidentPolicy,
    /// The unit the sender says owns the alert when no CI of the registry does (a
    /// PagerDuty integration's unit); a bound CI's unit always wins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// What happened to one alert at intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new occurrence: a new event.
    Created,
    /// A repeat of the open event.
    Updated,
    /// The open event's alert ended.
    Resolved,
    /// A late copy of an occurrence that already ended: nothing changed.
    Stale,
    /// A resolution for an alert with no open event: nothing changed.
    Ignored,
}

impl Outcome {
    /// The metric label; also the word in API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Resolved => "resolved",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
        }
    }

    /// What the outcome did to its event, for `vigia_events_total`.
    pub fn event_action(self) -> Option<&'static str> {
        match self {
            Outcome::Created => Some("opened"),
            Outcome::Updated => Some("updated"),
            Outcome::Resolved => Some("resolved"),
            Outcome::Stale | Outcome::Ignored => None,
        }
    }
}

/// What one alert did to its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentAction {
    Opened,
    Updated,
    /// Every alert of the incident has ended; it stays for a technician.
    AlertsCleared,
    /// Every alert ended and the rule resolves such incidents.
    Resolved,
}

impl IncidentAction {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentAction::Opened => "opened",
            IncidentAction::Updated => "updated",
            IncidentAction::AlertsCleared => "alerts_cleared",
            IncidentAction::Resolved => "resolved",
        }
    }
}

/// The language of user-facing text: Spanish by default, English available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Es,
    En,
}

impl Lang {
    /// The first of Spanish or English the header names, by order of preference.
    pub fn of(headers: &axum::http::HeaderMap) -> Lang {
        let header = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        header
            .split(',')
            .map(|part| part.split(';').next().unwrap_or("").trim().to_lowercase())
            .find_map(|tag| match tag.get(..2) {
                Some("en") => Some(Lang::En),
                Some("es") => Some(Lang::Es),
                _ => None,
            })
            .unwrap_or(Lang::Es)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// A stored or configured language code; anything but `en` is Spanish.
    pub fn from_code(code: &str) -> Lang {
        if code.eq_ignore_ascii_case("en") {
            Lang::En
        } else {
            Lang::Es
        }
    }
}

/// Prefixed, time-ordered identifiers (`evt_…`, `inc_…`): sortable, so newest-first
/// listings and cursors are plain comparisons.
pub mod ids {
    use std::sync::Mutex;
    use ulid::Generator;

    static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);

    fn next_ulid() -> ulid::Ulid {
        let mut guard = GENERATOR
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let generator = guard.get_or_insert_with(Generator::new);
        // Overflow within one millisecond is astronomically unlikely; fall back to a fresh,
        // still time-ordered ULID instead of failing.
        generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
    }

    pub fn new(prefix: &str) -> String {
        format!("{prefix}_{}", next_ulid().to_string().to_lowercase())
    }

    pub const EVENT: &str = "evt";
    pub const INCIDENT: &str = "inc";
    pub const RAW_ALERT: &str = "raw";
    pub const TOKEN: &str = "tok";
    pub const LOG: &str = "log";
    pub const MAINTENANCE: &str = "mnt";
    pub const SILENCE: &str = "sil";
    pub const REQUEST: &str = "req";
    pub const PROBLEM: &str = "prb";
    pub const TICKET_EVENT: &str = "tev";
    pub const GROUP: &str = "grp";
    pub const COMMENT: &str = "cmt";
    pub const APPROVAL: &str = "apr";
    pub const ATTACHMENT: &str = "att";
    pub const NOTIFICATION: &str = "ntf";
    pub const CHAT_REFUSAL: &str = "chr";
}

/// Milliseconds since the Unix epoch: the portable time column of both stores.
pub fn to_millis(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

pub fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}
