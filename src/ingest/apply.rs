//! Carries out the dedup decision for one signal inside the batch's transaction.

use sqlx::AnyConnection;

use super::AlertResult;
use crate::domain::{ids, Signal};
use crate::pipeline::dedup::{decide, Action};
use crate::store::{events, incidents, StoreResult};

pub async fn apply(
    conn: &mut AnyConnection,
    signal: &Signal,
    raw_id: &str,
    now: i64,
) -> StoreResult<AlertResult> {
    let latest = events::latest(conn, &signal.source, signal.fingerprint.as_str()).await?;
    let action = decide(signal, latest.as_ref());
    let mut result = AlertResult {
        fingerprint: signal.fingerprint.to_string(),
        outcome: action.outcome(),
        event_id: None,
        incident_id: None,
        incident_action: None,
    };
    match action {
        Action::Open { previous } => {
            let new_id = ids::new(ids::EVENT);
            let held =
                events::open(conn, &new_id, signal, previous.as_deref(), raw_id, now).await?;
            if held != new_id {
                // Another writer opened it first; ours counted as a repeat of theirs.
                result.outcome = "updated";
            }
            if signal.incident.opens {
                let (incident, action) = attach_incident(conn, signal, &held, now).await?;
                result.incident_id = Some(incident);
                result.incident_action = Some(action);
            }
            result.event_id = Some(held);
        }
        Action::Repeat {
            event_id,
            incident_id,
        } => {
            events::repeat(conn, &event_id, signal, raw_id, now).await?;
            match incident_id {
                Some(incident) => {
                    incidents::touch(conn, &incident, now).await?;
                    result.incident_id = Some(incident);
                    result.incident_action = Some("updated");
                }
                // The alert grew severe enough to matter since it first fired.
                None if signal.incident.opens => {
                    let (incident, action) = attach_incident(conn, signal, &event_id, now).await?;
                    result.incident_id = Some(incident);
                    result.incident_action = Some(action);
                }
                None => {}
            }
            result.event_id = Some(event_id);
        }
        Action::Resolve {
            event_id,
            incident_id,
        } => {
            events::resolve(conn, &event_id, signal, raw_id, now).await?;
            if let Some(incident) = incident_id {
                if events::open_count_for_incident(conn, &incident).await? == 0 {
                    let resolved = incidents::alerts_cleared(
                        conn,
                        &incident,
                        signal.incident.auto_resolve,
                        now,
                    )
                    .await?;
                    result.incident_action = Some(if resolved {
                        "resolved"
                    } else {
                        "alerts_cleared"
                    });
                }
                result.incident_id = Some(incident);
            }
            result.event_id = Some(event_id);
        }
        Action::Stale | Action::NothingToResolve => {
            result.event_id = latest.map(|ev| ev.id);
        }
    }
    Ok(result)
}

/// Links the event to the open incident of its identity, opening one if there is none.
async fn attach_incident(
    conn: &mut AnyConnection,
    signal: &Signal,
    event_id: &str,
    now: i64,
) -> StoreResult<(String, &'static str)> {
    let existing = incidents::open_for(conn, &signal.source, signal.fingerprint.as_str()).await?;
    let (incident, action) = match existing {
        Some(id) => (id, "updated"),
        None => {
            let id = ids::new(ids::INCIDENT);
            incidents::insert(conn, &id, signal, now).await?;
            (id, "opened")
        }
    };
    incidents::link_event(conn, &incident, event_id, signal, now).await?;
    Ok((incident, action))
}
