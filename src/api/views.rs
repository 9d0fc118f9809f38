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
fn time(ms: i64) -> String {
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
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    pub id: String,
    pub source: String,
    pub fingerprint: String,
    /// new, or resolved (when its rule resolves incidents whose alerts cleared).
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
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: IncidentView,
    /// The incident's events, newest first.
    pub events: Vec<EventView>,
}
