//! What the API shows of events and incidents: stored rows in API form (RFC 3339 times,
//! parsed JSON columns).

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::from_millis;
use crate::store::events::EventRow;
use crate::store::incidents::IncidentRow;
use crate::store::StoreResult;

/// RFC 3339 in UTC with exactly three decimals, so times sort as text too.
pub(crate) fn time(ms: i64) -> String {
    format!("{:.3}", from_millis(ms))
}

fn opt_time(ms: Option<i64>) -> Option<String> {
    ms.map(time)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    pub source: String,
    pub fingerprint: String,
    pub rule: String,
    /// open or resolved
    pub status: String,
    pub severity: String,
    pub summary: String,
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub ci_candidates: Vec<String>,
    /// How many times the alert was received while this event was open.
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub resolved_at: Option<String>,
    /// The earlier occurrence of the same alert, if any.
    pub previous_event_id: Option<String>,
    /// The payload that last changed this event.
    pub raw_alert_id: String,
    pub incident_id: Option<String>,
    pub acked_at: Option<String>,
    pub acked_by: Option<String>,
    /// The configuration item the alert is about.
    pub ci: Option<String>,
    /// The unit that owns that CI.
    pub unit: Option<String>,
    /// No CI candidate of the alert names a CI of the registry.
    pub unbound: bool,
    /// What kept the alert from opening an incident: `maintenance:<id>`, `silence:<id>`,
    /// `threshold` or `flapping`.
    pub held_by: Option<String>,
    /// Held by a maintenance window or a silence.
    pub suppressed: bool,
    /// Changing state more often than its rule allows.
    pub flapping: bool,
    /// `alert` (the tool said so) or `timeout` (no update within the source's timeout).
    pub resolved_by: Option<String>,
}

impl EventView {
    pub fn from_row(row: EventRow) -> StoreResult<Self> {
        Ok(EventView {
            labels: row.labels()?,
            annotations: row.annotations()?,
            ci_candidates: row.ci_candidates()?,
            id: row.id,
            source: row.source,
            fingerprint: row.fingerprint,
            rule: row.rule,
            status: row.status,
            severity: row.severity,
            summary: row.summary,
            description: row.description,
            count: row.alert_count,
            first_seen: time(row.first_seen),
            last_seen: time(row.last_seen),
            starts_at: opt_time(row.starts_at),
            ends_at: opt_time(row.ends_at),
            resolved_at: opt_time(row.resolved_at),
            previous_event_id: row.previous_event_id,
            raw_alert_id: row.last_raw_alert_id,
            incident_id: row.incident_id,
            acked_at: opt_time(row.acked_at),
            acked_by: row.acked_by,
            unbound: row.ci_id.is_none(),
            ci: row.ci_id,
            unit: row.unit,
            suppressed: row
                .held_by
                .as_deref()
                .is_some_and(|h| h.starts_with("maintenance:") || h.starts_with("silence:")),
            held_by: row.held_by,
            flapping: row.flapping != 0,
            resolved_by: row.resolved_by,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    pub id: String,
    pub source: String,
    pub fingerprint: String,
    /// new; resolved (when its rule resolves incidents whose alerts cleared); or closed
    /// (merged into another: see `merged_into`).
    pub status: String,
    pub severity: String,
    pub summary: String,
    pub description: Option<String>,
    pub opened_at: String,
    pub updated_at: String,
    pub last_seen: String,
    /// Occurrences (events) linked to the incident.
    pub event_count: i64,
    /// Alerts received for the incident, repeats included.
    pub alert_count: i64,
    /// Every event of the incident is resolved.
    pub alerts_cleared: bool,
    pub alerts_cleared_at: Option<String>,
    pub resolved_at: Option<String>,
    pub resolution: Option<String>,
    pub acked_at: Option<String>,
    pub acked_by: Option<String>,
    /// The CI the incident is about: the most upstream cause among its alerts' CIs.
    pub ci: Option<String>,
    /// The unit whose desk has the incident (the central desk's when no CI is bound).
    pub unit: Option<String>,
    /// Bound to no CI: the central desk must sort it out.
    pub triage: bool,
    /// high, medium or low
    pub impact: Option<String>,
    /// high, medium or low
    pub urgency: Option<String>,
    /// P1 (most urgent) to P5
    pub priority: Option<String>,
    /// The incident this one was merged into (it is then closed).
    pub merged_into: Option<String>,
    pub closed_at: Option<String>,
}

impl From<IncidentRow> for IncidentView {
    fn from(row: IncidentRow) -> Self {
        IncidentView {
            id: row.id,
            source: row.source,
            fingerprint: row.fingerprint,
            status: row.status,
            severity: row.severity,
            summary: row.summary,
            description: row.description,
            opened_at: time(row.opened_at),
            updated_at: time(row.updated_at),
            last_seen: time(row.last_seen),
            event_count: row.event_count,
            alert_count: row.alert_count,
            alerts_cleared: row.alerts_cleared_at.is_some(),
            alerts_cleared_at: opt_time(row.alerts_cleared_at),
            resolved_at: opt_time(row.resolved_at),
            resolution: row.resolution,
            acked_at: opt_time(row.acked_at),
            acked_by: row.acked_by,
            ci: row.ci_id,
            unit: row.unit,
            triage: row.triage != 0,
            impact: row.impact,
            urgency: row.urgency,
            priority: row.priority,
            merged_into: row.merged_into,
            closed_at: opt_time(row.closed_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: IncidentView,
    /// The root CI as the registry describes it now.
    pub root_ci: Option<CiSummary>,
    /// Services that depend on the incident's CIs, transitively (itself included).
    pub impacted_services: Vec<CiSummary>,
    /// The incident's events, newest first, each with why it belongs here.
    pub events: Vec<LinkedEvent>,
    /// Incidents merged into this one.
    pub merged: Vec<String>,
    /// What happened to the incident, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// An event of an incident and why it is there.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedEvent {
    #[serde(flatten)]
    pub event: EventView,
    /// `origin`, `repeat`, `same_ci`, `related` or `merged`.
    pub relation: String,
    /// The reason as data (`kind`, `ci`, `path`, `incident`…).
    #[schema(value_type = Object)]
    pub reason: serde_json::Value,
    /// The reason in words, in the caller's language (`Accept-Language`; Spanish by default).
    pub explanation: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub at: String,
    /// `opened`, `priority_changed`, `merged`, `merged_into`…
    pub kind: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl HistoryEntry {
    pub fn new(at: i64, kind: String, detail: &str) -> Self {
        HistoryEntry {
            at: time(at),
            kind,
            detail: serde_json::from_str(detail).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A CI, briefly.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CiSummary {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub unit: String,
    pub criticality: crate::cmdb::model::Criticality,
}

impl CiSummary {
    pub fn of(registry: &crate::cmdb::graph::Registry, node: crate::cmdb::graph::Node) -> Self {
        let ci = registry.node(node);
        CiSummary {
            id: ci.id.clone(),
            name: ci.name.clone(),
            kind: ci.kind.clone(),
            unit: ci.unit.clone(),
            criticality: ci.criticality,
        }
    }
}
