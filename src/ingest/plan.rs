//! Plans a whole batch in memory: the dedup decision for every signal, in arrival order,
//! against the stored state plus what earlier signals of the same batch changed. The
//! result is a set of rows to insert and changes to apply, so the batch is written with
//! a handful of statements instead of several per alert. Pure apart from id generation.

use std::collections::{BTreeMap, HashMap};

use super::{AlertResult, Submission};
use crate::domain::{ids, to_millis, IncidentAction, Signal};
use crate::pipeline::dedup::{decide, Action, LatestEvent};
use crate::store::batch::Key;
use crate::store::events::{EventChange, NewEvent};
use crate::store::incidents::{IncidentChange, NewIncident};

pub fn key_of(signal: &Signal) -> Key {
    (signal.source.clone(), signal.fingerprint.to_string())
}

/// What the store holds for the batch's keys before the batch.
#[derive(Debug, Default)]
pub struct KnownState {
    pub latest: HashMap<Key, LatestEvent>,
    pub open_incidents: HashMap<Key, String>,
}

#[derive(Debug, Clone)]
pub struct RawRow {
    pub id: String,
    pub job: usize,
    pub received_at: i64,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub raws: Vec<RawRow>,
    pub new_events: BTreeMap<String, NewEvent>,
    pub event_changes: BTreeMap<String, EventChange>,
    pub new_incidents: BTreeMap<String, NewIncident>,
    pub incident_changes: BTreeMap<String, IncidentChange>,
    pub links: Vec<(String, String, i64)>,
    /// Incidents one of whose events resolved, with whether their rule auto-resolves.
    pub maybe_cleared: BTreeMap<String, (bool, i64)>,
    /// Per job, per signal: the answer; `incident_action` of resolutions is settled
    /// once the store says whether the incident's alerts all cleared.
    pub results: Vec<Vec<AlertResult>>,
}

struct KeyState {
    latest: Option<LatestEvent>,
    open_incident: Option<String>,
}

pub fn plan(jobs: &[Submission], known: &KnownState) -> Plan {
    let mut plan = Plan::default();
    let mut keys: HashMap<Key, KeyState> = HashMap::new();
    for (index, job) in jobs.iter().enumerate() {
        let raw_id = ids::new(ids::RAW_ALERT);
        let now = to_millis(job.received_at);
        plan.raws.push(RawRow {
            id: raw_id.clone(),
            job: index,
            received_at: now,
        });
        let mut results = Vec::with_capacity(job.signals.len());
        for signal in &job.signals {
            let key = key_of(signal);
            let state = keys.entry(key.clone()).or_insert_with(|| KeyState {
                latest: known.latest.get(&key).cloned(),
                open_incident: known.open_incidents.get(&key).cloned(),
            });
            results.push(plan.apply(state, signal, &raw_id, now));
        }
        plan.results.push(results);
    }
    plan
}

impl Plan {
    fn apply(
        &mut self,
        state: &mut KeyState,
        signal: &Signal,
        raw_id: &str,
        now: i64,
    ) -> AlertResult {
        let action = decide(signal, state.latest.as_ref());
        let mut result = AlertResult {
            fingerprint: signal.fingerprint.to_string(),
            outcome: action.outcome(),
            event_id: None,
            incident_id: None,
            incident_action: None,
        };
        match action {
            Action::Open { previous } => {
                let id = ids::new(ids::EVENT);
                self.new_events
                    .insert(id.clone(), new_event(&id, signal, previous, raw_id, now));
                let incident = signal
                    .incident
                    .opens
                    .then(|| self.attach(state, signal, &id, now));
                if let Some((incident, action)) = &incident {
                    result.incident_id = Some(incident.clone());
                    result.incident_action = Some(*action);
                }
                state.latest = Some(LatestEvent {
                    id: id.clone(),
                    open: true,
                    starts_at: signal.starts_at,
                    ends_at: None,
                    incident_id: incident.map(|(i, _)| i),
                });
                result.event_id = Some(id);
            }
            Action::Repeat {
                event_id,
                incident_id,
            } => {
                self.repeat_event(&event_id, signal, raw_id, now);
                match incident_id {
                    Some(incident) => {
                        self.touch_incident(&incident, now);
                        result.incident_id = Some(incident);
                        result.incident_action = Some(IncidentAction::Updated);
                    }
                    None if signal.incident.opens => {
                        let (incident, action) = self.attach(state, signal, &event_id, now);
                        if let Some(latest) = state.latest.as_mut() {
                            latest.incident_id = Some(incident.clone());
                        }
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
                self.resolve_event(&event_id, signal, raw_id, now);
                if let Some(latest) = state.latest.as_mut() {
                    latest.open = false;
                    latest.ends_at = ended_at(signal).or(latest.ends_at);
                }
                if let Some(incident) = incident_id {
                    self.maybe_cleared
                        .insert(incident.clone(), (signal.incident.auto_resolve, now));
                    result.incident_id = Some(incident);
                }
                result.event_id = Some(event_id);
            }
            Action::Stale | Action::NothingToResolve => {
                result.event_id = state.latest.as_ref().map(|ev| ev.id.clone());
            }
        }
        result
    }

    /// Links the event to its identity's open incident, opening one if there is none.
    fn attach(
        &mut self,
        state: &mut KeyState,
        signal: &Signal,
        event_id: &str,
        now: i64,
    ) -> (String, IncidentAction) {
        let (incident, action) = match &state.open_incident {
            Some(incident) => {
                self.link_to_existing(incident, signal, now);
                (incident.clone(), IncidentAction::Updated)
            }
            None => {
                let id = ids::new(ids::INCIDENT);
                self.new_incidents
                    .insert(id.clone(), new_incident(&id, signal, now));
                state.open_incident = Some(id.clone());
                (id, IncidentAction::Opened)
            }
        };
        self.links
            .push((incident.clone(), event_id.to_owned(), now));
        (incident, action)
    }

    fn link_to_existing(&mut self, incident: &str, signal: &Signal, now: i64) {
        let latest = (signal.severity.as_str().to_owned(), signal.summary.clone());
        if let Some(row) = self.new_incidents.get_mut(incident) {
            row.event_count += 1;
            row.alert_count += 1;
            row.last_seen = now;
            (row.severity, row.summary) = latest;
            return;
        }
        let change = self
            .incident_changes
            .entry(incident.to_owned())
            .or_default();
        change.add_events += 1;
        change.add_alerts += 1;
        change.last_seen = now;
        change.latest = Some(latest);
        change.reopened = true;
    }

    fn touch_incident(&mut self, incident: &str, now: i64) {
        if let Some(row) = self.new_incidents.get_mut(incident) {
            row.alert_count += 1;
            row.last_seen = now;
            return;
        }
        let change = self
            .incident_changes
            .entry(incident.to_owned())
            .or_default();
        change.add_alerts += 1;
        change.last_seen = now;
    }

    fn repeat_event(&mut self, event_id: &str, signal: &Signal, raw_id: &str, now: i64) {
        if let Some(row) = self.new_events.get_mut(event_id) {
            row.count += 1;
            row.last_seen = now;
            row.raw_id = raw_id.to_owned();
            row.latest = refreshed(&row.latest, signal);
            return;
        }
        let change = self.event_changes.entry(event_id.to_owned()).or_default();
        change.add_count += 1;
        change.last_seen = now;
        change.raw_id = raw_id.to_owned();
        change.latest = Some(signal.clone());
    }

    fn resolve_event(&mut self, event_id: &str, signal: &Signal, raw_id: &str, now: i64) {
        let ends_at = ended_at(signal).map(to_millis);
        if let Some(row) = self.new_events.get_mut(event_id) {
            row.open = false;
            row.resolved_at = Some(now);
            row.last_seen = now;
            row.ends_at = ends_at.or(row.ends_at);
            row.raw_id = raw_id.to_owned();
            return;
        }
        let change = self.event_changes.entry(event_id.to_owned()).or_default();
        change.last_seen = now;
        change.resolved_at = Some(now);
        change.ends_at = ends_at;
        change.raw_id = raw_id.to_owned();
    }
}

/// When a resolution says its alert ended: its end time, or else its own time (a probe's
/// "UP" check says so by when it ran).
fn ended_at(resolution: &Signal) -> Option<jiff::Timestamp> {
    resolution.ends_at.or(resolution.starts_at)
}

/// A repeat refreshes what the tool says now, but an occurrence keeps its start, and a
/// description the repeat does not repeat (as for events stored before the batch).
fn refreshed(current: &Signal, repeat: &Signal) -> Signal {
    Signal {
        starts_at: current.starts_at,
        description: repeat
            .description
            .clone()
            .or_else(|| current.description.clone()),
        ..repeat.clone()
    }
}

fn new_event(
    id: &str,
    signal: &Signal,
    previous: Option<String>,
    raw_id: &str,
    now: i64,
) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        latest: signal.clone(),
        open: true,
        count: 1,
        first_seen: now,
        last_seen: now,
        resolved_at: None,
        ends_at: signal.ends_at.map(to_millis),
        previous_event_id: previous,
        raw_id: raw_id.to_owned(),
    }
}

fn new_incident(id: &str, signal: &Signal, now: i64) -> NewIncident {
    NewIncident {
        id: id.to_owned(),
        first: signal.clone(),
        severity: signal.severity.as_str().to_owned(),
        summary: signal.summary.clone(),
        opened_at: now,
        last_seen: now,
        event_count: 1,
        alert_count: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AlertStatus, Fingerprint, IncidentPolicy, Outcome, Severity};

    fn signal(fp: &str, status: AlertStatus, starts: &str) -> Signal {
        Signal {
            source: "am".into(),
            rule: "r".into(),
            fingerprint: Fingerprint::new(fp).expect("valid"),
            status,
            severity: Severity::Critical,
            summary: format!("{fp} {}", status.as_str()),
            description: None,
            ci_candidates: vec![],
            labels: Default::default(),
            annotations: Default::default(),
            starts_at: Some(starts.parse().expect("time")),
            ends_at: None,
            incident: IncidentPolicy {
                opens: true,
                ..IncidentPolicy::event_only()
            },
        }
    }

    fn job(signals: Vec<Signal>) -> Submission {
        Submission {
            source: "am".into(),
            sender: "t".into(),
            rule: "r".into(),
            payload: "{}".into(),
            signals,
            received_at: jiff::Timestamp::now(),
        }
    }

    const T0: &str = "2026-11-30T00:00:00Z";
    const T1: &str = "2026-11-30T01:00:00Z";

    #[test]
    fn repeats_within_a_batch_fold_into_one_new_event_and_one_incident() {
        let jobs: Vec<_> = (0..50)
            .map(|_| job(vec![signal("a", AlertStatus::Firing, T0)]))
            .collect();
        let plan = plan(&jobs, &KnownState::default());
        assert_eq!(plan.new_events.len(), 1);
        let event = plan.new_events.values().next().expect("event");
        assert_eq!(event.count, 50);
        assert_eq!(plan.new_incidents.len(), 1);
        assert_eq!(
            plan.new_incidents
                .values()
                .next()
                .expect("incident")
                .alert_count,
            50
        );
        assert_eq!(plan.links.len(), 1);
        assert_eq!(plan.results[0][0].outcome, Outcome::Created);
        assert!(plan.results[1..]
            .iter()
            .all(|r| r[0].outcome == Outcome::Updated));
    }

    #[test]
    fn fire_resolve_fire_in_one_batch_makes_two_occurrences_in_one_incident() {
        let jobs = vec![
            job(vec![signal("a", AlertStatus::Firing, T0)]),
            job(vec![signal("a", AlertStatus::Resolved, T0)]),
            job(vec![signal("a", AlertStatus::Firing, T0)]),
            job(vec![signal("a", AlertStatus::Firing, T1)]),
        ];
        let plan = plan(&jobs, &KnownState::default());
        let outcomes: Vec<_> = plan.results.iter().map(|r| r[0].outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Created,
                Outcome::Resolved,
                Outcome::Stale,
                Outcome::Created
            ]
        );
        assert_eq!(plan.new_events.len(), 2);
        let first = plan
            .new_events
            .get(plan.results[0][0].event_id.as_deref().expect("id"))
            .expect("row");
        assert!(!first.open && first.resolved_at.is_some());
        let second = plan
            .new_events
            .get(plan.results[3][0].event_id.as_deref().expect("id"))
            .expect("row");
        assert!(second.open);
        assert_eq!(second.previous_event_id.as_deref(), Some(first.id.as_str()));
        assert_eq!(plan.new_incidents.len(), 1);
        assert_eq!(
            plan.new_incidents
                .values()
                .next()
                .expect("incident")
                .event_count,
            2
        );
    }

    #[test]
    fn stored_events_get_changes_not_new_rows() {
        let mut known = KnownState::default();
        let key = ("am".to_owned(), "a".to_owned());
        known.latest.insert(
            key.clone(),
            LatestEvent {
                id: "evt_1".into(),
                open: true,
                starts_at: Some(T0.parse().expect("t")),
                ends_at: None,
                incident_id: Some("inc_1".into()),
            },
        );
        known.open_incidents.insert(key, "inc_1".into());
        let jobs = vec![
            job(vec![signal("a", AlertStatus::Firing, T0)]),
            job(vec![signal("a", AlertStatus::Resolved, T0)]),
        ];
        let plan = plan(&jobs, &known);
        assert!(plan.new_events.is_empty() && plan.new_incidents.is_empty());
        let change = plan.event_changes.get("evt_1").expect("change");
        assert_eq!(change.add_count, 1);
        assert!(change.resolved_at.is_some());
        assert_eq!(
            plan.incident_changes
                .get("inc_1")
                .expect("incident change")
                .add_alerts,
            1
        );
        assert!(plan.maybe_cleared.contains_key("inc_1"));
    }
}
