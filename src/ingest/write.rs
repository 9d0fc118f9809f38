//! Writes a planned batch with set-based statements: a constant number of round trips
//! per batch, so the writer's cost no longer grows with one statement per alert.

use std::collections::{BTreeSet, HashSet};

use sqlx::AnyConnection;

use super::plan::{key_of, plan, Context, KnownState, Plan};
use super::{AlertResult, Answer, Submission};
use crate::cmdb::graph::Registry;
use crate::cmdb::Live;
use crate::domain::{to_millis, IncidentAction, Outcome};
use crate::pipeline::correlate::Active;
use crate::pipeline::priority::PriorityConfig;
use crate::store::audit::{self, AuditRecord};
use crate::store::batch::{self, Key};
use crate::store::raw_alerts::{self, RawInsert};
use crate::store::StoreResult;
use crate::store::{events, incidents};

/// What the writer plans against besides the stored alerts.
pub struct Setting<'a> {
    pub live: &'a Live,
    pub priority: &'a PriorityConfig,
    pub admin_unit: &'a str,
}

/// Writes the batch's submissions, except copies of deliveries already stored (before,
/// or earlier in the same batch), which are answered [`Answer::AlreadyStored`].
pub async fn write_batch(
    conn: &mut AnyConnection,
    jobs: &[Submission],
    setting: &Setting<'_>,
) -> StoreResult<Vec<Answer>> {
    let copies = redelivered(conn, jobs).await?;
    if !copies.contains(&true) {
        let results = write_fresh(conn, jobs, setting).await?;
        return Ok(results.into_iter().map(Answer::Stored).collect());
    }
    // Rare (a consumer restarted before committing its offsets): the copy is cheap.
    let fresh: Vec<Submission> = jobs
        .iter()
        .zip(&copies)
        .filter(|(_, copy)| !**copy)
        .map(|(job, _)| job.clone())
        .collect();
    let mut results = if fresh.is_empty() {
        Vec::new()
    } else {
        write_fresh(conn, &fresh, setting).await?
    }
    .into_iter();
    Ok(copies
        .iter()
        .map(|copy| match copy {
            true => Answer::AlreadyStored,
            false => Answer::Stored(results.next().unwrap_or_default()),
        })
        .collect())
}

/// Per job: whether its delivery is already stored, or repeats one before it in the batch.
async fn redelivered(conn: &mut AnyConnection, jobs: &[Submission]) -> StoreResult<Vec<bool>> {
    let ids: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j.delivery_id.as_deref())
        .collect();
    if ids.is_empty() {
        return Ok(vec![false; jobs.len()]);
    }
    let mut seen = raw_alerts::delivered(conn, &ids).await?;
    Ok(jobs
        .iter()
        .map(|job| {
            job.delivery_id
                .as_ref()
                .is_some_and(|id| !seen.insert(id.clone()))
        })
        .collect())
}

async fn write_fresh(
    conn: &mut AnyConnection,
    jobs: &[Submission],
    setting: &Setting<'_>,
) -> StoreResult<Vec<Vec<AlertResult>>> {
    let (registry, suppressions) = setting.live.current(conn).await?;
    let keys = distinct_keys(jobs);
    let stored = batch::known_state(conn, &keys).await?;
    let also: BTreeSet<&String> = stored
        .open_incidents
        .values()
        .chain(
            stored
                .latest
                .values()
                .filter_map(|l| l.incident_id.as_ref()),
        )
        .collect();
    let since = correlation_horizon(jobs, &registry);
    let also: Vec<&String> = also.into_iter().collect();
    let active = incidents::active(conn, since, &also, &registry).await?;
    let known = KnownState {
        latest: stored.latest,
        open_incidents: stored.open_incidents,
        marks: stored.marks,
        active: Active::new(active),
    };
    let ctx = Context {
        registry: &registry,
        suppressions: &suppressions,
        priority: setting.priority,
        admin_unit: setting.admin_unit,
    };
    let mut plan = plan(jobs, known, &ctx);
    let raws: Vec<RawInsert> = plan
        .raws
        .iter()
        .map(|raw| {
            let job = &jobs[raw.job];
            RawInsert {
                id: &raw.id,
                source: &job.source,
                received_by: &job.sender,
                rule: &job.rule,
                alert_count: job.signals.len(),
                payload: &job.payload,
                received_at: raw.received_at,
                delivery_id: job.delivery_id.as_deref(),
            }
        })
        .collect();
    raw_alerts::insert(conn, &raws).await?;
    incidents::insert_new(conn, &plan.new_incidents.values().collect::<Vec<_>>()).await?;
    events::insert_new(conn, &plan.new_events.values().collect::<Vec<_>>()).await?;
    events::apply_changes(conn, &plan.event_changes.iter().collect::<Vec<_>>()).await?;
    incidents::apply_changes(conn, &plan.incident_changes.iter().collect::<Vec<_>>()).await?;
    incidents::insert_links(conn, &plan.links).await?;
    incidents::apply_merges(conn, &plan.merges).await?;
    incidents::set_members(conn, &plan.members).await?;
    incidents::insert_log(conn, &plan.log).await?;
    let resolved = settle_cleared(conn, &mut plan).await?;
    audit::append(conn, &monitoring_records(&plan, &resolved)).await?;
    Ok(plan.results)
}

/// Who monitoring's changes to tickets are recorded as in the audit trail.
const MONITORING: &str = "monitoring";

/// Audit records of what monitoring changed on tickets: merges, priority changes and
/// resolutions when alerts cleared. (Opening is recorded when the desk registers and
/// assigns the new incident.)
fn monitoring_records(plan: &Plan, resolved: &[(String, i64)]) -> Vec<AuditRecord> {
    let record = |ticket: &str, at: i64, action: &str, to: Option<&str>, detail| AuditRecord {
        ticket_id: ticket.to_owned(),
        at,
        actor: MONITORING.to_owned(),
        action: action.to_owned(),
        from_state: None,
        to_state: to.map(str::to_owned),
        comment: None,
        request_id: None,
        detail,
    };
    let logged = plan.log.iter().filter(|e| e.kind != "opened").map(|e| {
        let detail = serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null);
        let to = (e.kind == "merged_into").then_some("closed");
        record(&e.incident, e.at, e.kind, to, detail)
    });
    let cleared = resolved.iter().map(|(id, at)| {
        let detail = serde_json::json!({ "resolution": "alerts cleared" });
        record(id, *at, "resolved_by_monitoring", Some("resolved"), detail)
    });
    logged.chain(cleared).collect()
}

/// The oldest last alert an incident may have and still be joined by one of the batch's
/// alerts; `None` when no alert of the batch may correlate (none is bound to a CI, or
/// their rules do not correlate), so a batch of unbound alerts reads no incidents.
fn correlation_horizon(jobs: &[Submission], registry: &Registry) -> Option<i64> {
    jobs.iter()
        .flat_map(|job| {
            let now = to_millis(job.received_at);
            job.signals
                .iter()
                .filter(|s| s.incident.opens && s.incident.correlation.enabled)
                .filter(|s| registry.bind(&s.ci_candidates).is_some())
                .map(move |s| now.saturating_sub(s.incident.correlation.window_ms()))
        })
        .min()
}

fn distinct_keys(jobs: &[Submission]) -> Vec<Key> {
    let mut seen = HashSet::new();
    jobs.iter()
        .flat_map(|job| job.signals.iter().map(key_of))
        .filter(|key| seen.insert(key.clone()))
        .collect()
}

/// Incidents whose last open event resolved in this batch record that their alerts
/// cleared (and resolve, where their rule says so); the answers say which.
/// Returns the incidents it resolved (their rule resolves incidents whose alerts cleared).
async fn settle_cleared(
    conn: &mut AnyConnection,
    plan: &mut Plan,
) -> StoreResult<Vec<(String, i64)>> {
    if plan.maybe_cleared.is_empty() {
        return Ok(Vec::new());
    }
    let candidates: Vec<&String> = plan.maybe_cleared.keys().collect();
    let still_open = incidents::with_open_events(conn, &candidates).await?;
    let cleared: Vec<(&String, bool, i64)> = plan
        .maybe_cleared
        .iter()
        .filter(|(id, _)| !still_open.contains(*id))
        .map(|(id, (auto, at))| (id, *auto, *at))
        .collect();
    incidents::mark_cleared(conn, &cleared).await?;
    let auto: Vec<&String> = cleared.iter().filter(|c| c.1).map(|c| c.0).collect();
    let resolved = incidents::resolved_when_cleared(conn, &auto).await?;
    let actions: std::collections::HashMap<String, IncidentAction> = cleared
        .iter()
        .map(|(id, auto, _)| {
            (
                (*id).clone(),
                if *auto {
                    IncidentAction::Resolved
                } else {
                    IncidentAction::AlertsCleared
                },
            )
        })
        .collect();
    for result in plan.results.iter_mut().flatten() {
        if result.outcome == Outcome::Resolved {
            if let Some(action) = result.incident_id.as_ref().and_then(|id| actions.get(id)) {
                result.incident_action = Some(*action);
            }
        }
    }
    Ok(resolved)
}
