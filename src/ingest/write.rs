//! Writes a planned batch with set-based statements: a constant number of round trips
//! per batch, so the writer's cost no longer grows with one statement per alert.

use std::collections::HashSet;

use sqlx::AnyConnection;

use super::plan::{key_of, plan, KnownState, Plan};
use super::{AlertResult, Submission};
use crate::domain::{IncidentAction, Outcome};
use crate::store::batch::{self, Key};
use crate::store::raw_alerts::{self, RawInsert};
use crate::store::StoreResult;
use crate::store::{events, incidents};

pub async fn write_batch(
    conn: &mut AnyConnection,
    jobs: &[Submission],
) -> StoreResult<Vec<Vec<AlertResult>>> {
    let keys = distinct_keys(jobs);
    let (latest, open_incidents) = batch::known_state(conn, &keys).await?;
    let known = KnownState {
        latest,
        open_incidents,
    };
    let mut plan = plan(jobs, &known);
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
            }
        })
        .collect();
    raw_alerts::insert(conn, &raws).await?;
    incidents::insert_new(conn, &plan.new_incidents.values().collect::<Vec<_>>()).await?;
    events::insert_new(conn, &plan.new_events.values().collect::<Vec<_>>()).await?;
    events::apply_changes(conn, &plan.event_changes.iter().collect::<Vec<_>>()).await?;
    incidents::apply_changes(conn, &plan.incident_changes.iter().collect::<Vec<_>>()).await?;
    incidents::insert_links(conn, &plan.links).await?;
    settle_cleared(conn, &mut plan).await?;
    Ok(plan.results)
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
async fn settle_cleared(conn: &mut AnyConnection, plan: &mut Plan) -> StoreResult<()> {
    if plan.maybe_cleared.is_empty() {
        return Ok(());
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
    Ok(())
}
