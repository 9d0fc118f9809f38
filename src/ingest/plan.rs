//! Plans a whole batch in memory: for every signal, in arrival order, the dedup decision,
//! the CI binding, the noise controls and the incident it belongs to, against the stored
//! state plus what earlier signals of the same batch changed. The result is a set of rows
//! to insert and changes to apply, so the batch is written with a handful of statements
//! instead of several per alert. Pure apart from id generation.

use std::collections::{BTreeMap, HashMap};

use super::{AlertResult, Submission, SubmissionKind};
use crate::cmdb::graph::{Node, Registry};
use crate::domain::{ids, to_millis, AlertStatus, IncidentAction, Signal};
use crate::pipeline::correlate::{Active, ActiveIncident, Reason};
use crate::pipeline::dedup::{decide, Action, LatestEvent};
use crate::pipeline::noise::{Marks, Suppressions};
use crate::pipeline::priority::PriorityConfig;
use crate::store::batch::Key;
use crate::store::events::{Binding, EventChange, NewEvent};
use crate::store::incidents::{IncidentChange, Link, LogEntry, Merge, NewIncident, Rating};

pub fn key_of(signal: &Signal) -> Key {
    (signal.source.clone(), signal.fingerprint.to_string())
}

/// What binding, correlation and priority decide against.
pub struct Context<'a> {
    pub registry: &'a Registry,
    pub suppressions: &'a Suppressions,
    pub priority: &'a PriorityConfig,
    /// The central desk, which triages what no CI owns.
    pub admin_unit: &'a str,
}

/// What the store holds for the batch's keys before the batch.
#[derive(Debug, Default)]
pub struct KnownState {
    pub latest: HashMap<Key, LatestEvent>,
    pub open_incidents: HashMap<Key, String>,
    pub marks: HashMap<Key, Marks>,
    /// Open incidents recent enough to correlate with, and those of the batch's keys.
    pub active: Active,
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
    pub links: Vec<Link>,
    /// Incidents found to share the cause of another, in the order they were found.
    pub merges: Vec<Merge>,
    pub log: Vec<LogEntry>,
    /// The CIs of the incidents whose CIs changed.
    pub members: Vec<(String, Vec<String>)>,
    /// Incidents merged in this batch, and where into.
    merged: HashMap<String, String>,
    /// Incidents one of whose events resolved, with whether their rule auto-resolves.
    pub maybe_cleared: BTreeMap<String, (bool, i64)>,
    /// Per job, per signal: the answer; `incident_action` of resolutions is settled
    /// once the store says whether the incident's alerts all cleared.
    pub results: Vec<Vec<AlertResult>>,
}

struct KeyState {
    latest: Option<LatestEvent>,
    open_incident: Option<String>,
    marks: Marks,
    /// Changing state too often, by its rule's flapping setting.
    flapping: bool,
}

/// One signal with what the batch knows about it.
struct Step<'s> {
    signal: &'s Signal,
    raw_id: &'s str,
    now: i64,
    kind: SubmissionKind,
    ci: Option<Node>,
    binding: Binding,
}

pub fn plan(jobs: &[Submission], mut known: KnownState, ctx: &Context) -> Plan {
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
        for (position, signal) in job.signals.iter().enumerate() {
            let key = key_of(signal);
            let state = keys.entry(key.clone()).or_insert_with(|| KeyState {
                latest: known.latest.get(&key).cloned(),
                open_incident: known.open_incidents.get(&key).cloned(),
                marks: known.marks.remove(&key).unwrap_or_default(),
                flapping: false,
            });
            if let Some(expected) = job.expected.get(position) {
                let open = state.latest.as_ref().filter(|l| l.open).map(|l| &l.id);
                if open != Some(expected) {
                    results.push(AlertResult::stale(signal, state.latest.as_ref()));
                    continue;
                }
            }
            let ci = ctx.registry.bind(&signal.ci_candidates).map(|(n, _)| n);
            let step = Step {
                signal,
                raw_id: &raw_id,
                now,
                kind: job.kind,
                ci,
                binding: binding(ctx.registry, ci, signal),
            };
            results.push(plan.apply(state, &mut known.active, &step, ctx));
        }
        plan.results.push(results);
    }
    plan.members = known.active.changed_members(ctx.registry);
    plan
}

fn binding(registry: &Registry, ci: Option<Node>, signal: &Signal) -> Binding {
    match ci {
        Some(node) => {
            let ci = registry.node(node);
            Binding {
                ci_id: Some(ci.id.clone()),
                unit: Some(ci.unit.clone()),
            }
        }
        None => Binding {
            ci_id: None,
            unit: signal.unit.clone(),
        },
    }
}

impl Plan {
    fn apply(
        &mut self,
        state: &mut KeyState,
        active: &mut Active,
        step: &Step,
        ctx: &Context,
    ) -> AlertResult {
        let signal = step.signal;
        let action = decide(signal, state.latest.as_ref());
        let mut result = AlertResult {
            fingerprint: signal.fingerprint.to_string(),
            outcome: action.outcome(),
            event_id: None,
            incident_id: None,
            incident_action: None,
            ci: step.binding.ci_id.clone(),
            held_by: None,
        };
        match action {
            Action::Open { previous } => {
                self.open_occurrence(state, active, step, ctx, previous, &mut result)
            }
            Action::Repeat {
                event_id,
                incident_id,
            } => {
                let occurrence = (event_id, incident_id);
                self.repeat_occurrence(state, active, step, ctx, occurrence, &mut result)
            }
            Action::Resolve {
                event_id,
                incident_id,
            } => self.resolve_occurrence(state, step, event_id, incident_id, &mut result),
            Action::Stale | Action::NothingToResolve => {
                result.event_id = state.latest.as_ref().map(|ev| ev.id.clone());
            }
        }
        result
    }

    /// A new occurrence: its event, and its incident unless something holds it.
    fn open_occurrence(
        &mut self,
        state: &mut KeyState,
        active: &mut Active,
        step: &Step,
        ctx: &Context,
        previous: Option<String>,
        result: &mut AlertResult,
    ) {
        let signal = step.signal;
        if previous.is_some() {
            self.note_change(state, signal, step.now);
        }
        let held = self.gate(state, step, ctx);
        let id = ids::new(ids::EVENT);
        let row = new_event(&id, step, previous, held.clone(), state);
        self.new_events.insert(id.clone(), row);
        let incident = (signal.incident.opens && held.is_none())
            .then(|| self.attach(state, active, step, &id, ctx));
        self.keep_marks(&id, step.signal, state);
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
            timed_out: false,
        });
        result.held_by = held;
        result.event_id = Some(id);
    }

    /// The open event fired again: count it, and open or update its incident.
    fn repeat_occurrence(
        &mut self,
        state: &mut KeyState,
        active: &mut Active,
        step: &Step,
        ctx: &Context,
        (event_id, incident_id): (String, Option<String>),
        result: &mut AlertResult,
    ) {
        let signal = step.signal;
        let incident_id = incident_id.map(|id| self.surviving(&id));
        let held = self.gate(state, step, ctx);
        self.repeat_event(&event_id, step, held.clone(), state);
        match incident_id {
            Some(incident) => {
                self.join_incident(active, &incident, step, ctx, false);
                result.incident_id = Some(incident);
                result.incident_action = Some(IncidentAction::Updated);
            }
            None if signal.incident.opens && held.is_none() => {
                let (incident, action) = self.attach(state, active, step, &event_id, ctx);
                self.keep_marks(&event_id, step.signal, state);
                if let Some(latest) = state.latest.as_mut() {
                    latest.incident_id = Some(incident.clone());
                }
                result.incident_id = Some(incident);
                result.incident_action = Some(action);
            }
            None => result.held_by = held,
        }
        result.event_id = Some(event_id);
    }

    /// The open event's alert ended; its incident may have cleared.
    fn resolve_occurrence(
        &mut self,
        state: &mut KeyState,
        step: &Step,
        event_id: String,
        incident_id: Option<String>,
        result: &mut AlertResult,
    ) {
        let signal = step.signal;
        let incident_id = incident_id.map(|id| self.surviving(&id));
        self.note_change(state, signal, step.now);
        self.resolve_event(&event_id, step, state);
        if let Some(latest) = state.latest.as_mut() {
            latest.open = false;
            latest.ends_at = ended_at(signal).or(latest.ends_at);
            latest.timed_out = step.kind == SubmissionKind::Timeout;
        }
        if let Some(incident) = incident_id {
            self.maybe_cleared
                .insert(incident.clone(), (signal.incident.auto_resolve, step.now));
            result.incident_id = Some(incident);
        }
        result.event_id = Some(event_id);
    }

    /// The incident that holds `id`'s alerts now: itself, or where a merge earlier in
    /// the batch sent them (following chains).
    fn surviving(&self, id: &str) -> String {
        let mut current = id;
        for _ in 0..=self.merged.len() {
            match self.merged.get(current) {
                Some(into) => current = into,
                None => break,
            }
        }
        current.to_owned()
    }

    /// Stores the marks as they are after the alert found its incident (which they
    /// remember for flapping).
    fn keep_marks(&mut self, event_id: &str, signal: &Signal, state: &KeyState) {
        let marks = marks_json(signal, &state.marks);
        match self.new_events.get_mut(event_id) {
            Some(row) => row.marks = marks,
            None => {
                self.event_changes
                    .entry(event_id.to_owned())
                    .or_default()
                    .marks = Some(marks);
            }
        }
    }

    /// Records a change of state for flapping detection.
    fn note_change(&mut self, state: &mut KeyState, signal: &Signal, now: i64) {
        if let Some(rate) = signal.incident.flapping {
            state.marks.change(rate, now);
            state.flapping = state.marks.flapping(rate, now);
        }
    }

    /// Whether a firing alert may open or join an incident now; if not, what holds it:
    /// a maintenance window or silence, a threshold not yet reached, or flapping.
    fn gate(&mut self, state: &mut KeyState, step: &Step, ctx: &Context) -> Option<String> {
        let policy = &step.signal.incident;
        // A replay is Vigía asking again, not the tool firing again: it is not counted.
        let reached = policy.threshold.is_none_or(|rate| match step.kind {
            SubmissionKind::Replay => state.marks.reached(rate, step.now),
            _ => state.marks.fire(rate, step.now),
        });
        let suppressed =
            ctx.suppressions
                .held_by(ctx.registry, step.ci, &step.signal.labels, step.now);
        if suppressed.is_some() {
            return suppressed;
        }
        if !reached {
            return Some("threshold".to_owned());
        }
        let flapping = policy
            .flapping
            .is_some_and(|rate| state.marks.flapping(rate, step.now));
        state.flapping = flapping;
        let opened_before = state.marks.incident.is_some();
        (flapping && state.open_incident.is_none() && opened_before).then(|| "flapping".to_owned())
    }

    /// Links the event to the incident it belongs to: its own alert's open incident, else
    /// the incident of its CI or of a CI it depends on, else a new one. Incidents the
    /// alert reveals to share its cause are then merged into it.
    fn attach(
        &mut self,
        state: &mut KeyState,
        active: &mut Active,
        step: &Step,
        event_id: &str,
        ctx: &Context,
    ) -> (String, IncidentAction) {
        let correlation = &step.signal.incident.correlation;
        let relations = ctx.registry.relations(&correlation.relations);
        let correlated = step
            .ci
            .filter(|_| correlation.enabled)
            .and_then(|ci| active.cause(ctx.registry, ci, correlation, relations, step.now));
        let (incident, reason, action) = match (&state.open_incident, correlated) {
            (Some(own), _) => (self.surviving(own), Reason::Repeat, IncidentAction::Updated),
            (None, Some(join)) => (join.incident, join.reason, IncidentAction::Updated),
            (None, None) => {
                let id = self.open_incident(active, step, ctx);
                let reason = Reason::Origin {
                    ci: step.binding.ci_id.clone(),
                };
                (id, reason, IncidentAction::Opened)
            }
        };
        // Only a CI new to the incident can reveal incidents that share its cause: those
        // on a member's dependants were merged when the member joined.
        let new_member = step.ci.is_some_and(|ci| {
            action == IncidentAction::Opened || !active.has_member(&incident, ci)
        });
        if action == IncidentAction::Updated {
            self.join_incident(active, &incident, step, ctx, true);
        }
        self.links
            .push(Link::new(&incident, event_id, step.now, &reason));
        if let (Some(ci), true) = (step.ci, correlation.enabled && new_member) {
            let merges = active.dependants(
                ctx.registry,
                ci,
                &incident,
                correlation,
                relations,
                step.now,
            );
            for (from, reason) in merges {
                self.merge(active, &from, &incident, reason, step.now, ctx);
            }
        }
        state.open_incident = Some(incident.clone());
        if step.signal.incident.flapping.is_some() {
            state.marks.incident = Some(incident.clone());
        }
        (incident, action)
    }

    fn open_incident(&mut self, active: &mut Active, step: &Step, ctx: &Context) -> String {
        let id = ids::new(ids::INCIDENT);
        let signal = step.signal;
        let impact = ctx.priority.impact(ctx.registry, step.ci);
        let urgency = ctx.priority.urgency(signal.severity);
        let rating = Rating {
            impact,
            urgency,
            priority: ctx.priority.priority(impact, urgency),
        };
        let unit = step
            .binding
            .unit
            .clone()
            .unwrap_or_else(|| ctx.admin_unit.to_owned());
        self.new_incidents.insert(
            id.clone(),
            NewIncident {
                id: id.clone(),
                first: signal.clone(),
                severity: signal.severity.as_str().to_owned(),
                summary: signal.summary.clone(),
                opened_at: step.now,
                last_seen: step.now,
                event_count: 1,
                alert_count: 1,
                ci_id: step.binding.ci_id.clone(),
                unit,
                triage: step.ci.is_none(),
                rating,
            },
        );
        active.opened(ActiveIncident {
            id: id.clone(),
            root: step.ci,
            members: step.ci.into_iter().collect(),
            opened_at: step.now,
            last_seen: step.now,
            severity: signal.severity,
            impact,
            urgency,
            priority: rating.priority,
        });
        self.log.push(LogEntry::new(
            &id,
            step.now,
            "opened",
            serde_json::json!({ "ci": step.binding.ci_id, "priority": rating.priority }),
        ));
        id
    }

    /// Counts the alert on the incident and re-rates it: a more severe alert, or one on
    /// a CI with more impact, raises its priority, and the change is logged.
    fn join_incident(
        &mut self,
        active: &mut Active,
        incident: &str,
        step: &Step,
        ctx: &Context,
        new_event: bool,
    ) {
        active.touch(incident, step.ci, step.now);
        let rerated = active.get_mut(incident).and_then(|entry| {
            let severity = entry.severity.max(step.signal.severity);
            let impact = entry.impact.max(ctx.priority.impact(ctx.registry, step.ci));
            let urgency = entry
                .urgency
                .max(ctx.priority.urgency(step.signal.severity));
            let priority = ctx.priority.priority(impact, urgency);
            let before = entry.priority;
            let changed =
                severity != entry.severity || impact != entry.impact || urgency != entry.urgency;
            (entry.severity, entry.impact, entry.urgency, entry.priority) =
                (severity, impact, urgency, priority);
            changed.then_some((
                severity,
                Rating {
                    impact,
                    urgency,
                    priority,
                },
                before,
            ))
        });
        if let Some((_, rating, before)) = &rerated {
            if rating.priority != *before {
                self.log.push(LogEntry::new(
                    incident,
                    step.now,
                    "priority_changed",
                    serde_json::json!({
                        "from": before, "to": rating.priority,
                        "impact": rating.impact, "urgency": rating.urgency,
                        "severity": step.signal.severity, "ci": step.binding.ci_id,
                    }),
                ));
            }
        }
        let severity = rerated.as_ref().map(|(s, _, _)| s.as_str().to_owned());
        let rating = rerated.map(|(_, r, _)| r);
        // A replay stands for its held alert when it joins, but repeats nothing.
        let counted = i64::from(step.kind == SubmissionKind::Alert || new_event);
        if let Some(row) = self.new_incidents.get_mut(incident) {
            row.event_count += i64::from(new_event);
            row.alert_count += counted;
            row.last_seen = step.now;
            if let Some(severity) = severity {
                row.severity = severity;
            }
            if let Some(rating) = rating {
                row.rating = rating;
            }
            return;
        }
        let change = self
            .incident_changes
            .entry(incident.to_owned())
            .or_default();
        change.add_events += i64::from(new_event);
        change.add_alerts += counted;
        change.last_seen = step.now;
        change.reopened |= new_event;
        change.severity = severity.or(change.severity.take());
        change.rating = rating.or(change.rating);
    }

    /// Closes `from` as merged into `into`; its alerts move to `into` when written.
    fn merge(
        &mut self,
        active: &mut Active,
        from: &str,
        into: &str,
        reason: Reason,
        now: i64,
        ctx: &Context,
    ) {
        let merged = active.get(from).cloned();
        active.merge(from, into);
        if let Some(merged) = merged {
            let step_severity = merged.severity;
            if let Some(entry) = active.get_mut(into) {
                let impact = entry.impact.max(merged.impact);
                let urgency = entry.urgency.max(merged.urgency);
                let priority = ctx.priority.priority(impact, urgency);
                if priority != entry.priority {
                    self.log.push(LogEntry::new(
                        into,
                        now,
                        "priority_changed",
                        serde_json::json!({ "from": entry.priority, "to": priority, "merged": from }),
                    ));
                }
                entry.severity = entry.severity.max(step_severity);
                (entry.impact, entry.urgency, entry.priority) = (impact, urgency, priority);
                let rating = Rating {
                    impact,
                    urgency,
                    priority,
                };
                let severity = entry.severity.as_str().to_owned();
                match self.new_incidents.get_mut(into) {
                    Some(row) => (row.rating, row.severity) = (rating, severity),
                    None => {
                        let change = self.incident_changes.entry(into.to_owned()).or_default();
                        change.rating = Some(rating);
                        change.severity = Some(severity);
                        change.last_seen = change.last_seen.max(now);
                    }
                }
            }
        }
        self.log.push(LogEntry::new(
            from,
            now,
            "merged_into",
            serde_json::json!({ "into": into }),
        ));
        self.log.push(LogEntry::new(
            into,
            now,
            "merged",
            serde_json::json!({ "from": from, "reason": &reason }),
        ));
        self.merged.insert(from.to_owned(), into.to_owned());
        self.merges.push(Merge {
            from: from.to_owned(),
            into: into.to_owned(),
            at: now,
            reason: Link::reason_json(&reason),
        });
    }

    fn repeat_event(
        &mut self,
        event_id: &str,
        step: &Step,
        held: Option<String>,
        state: &KeyState,
    ) {
        let counted = i64::from(step.kind == SubmissionKind::Alert);
        let marks = marks_json(step.signal, &state.marks);
        let flapping = state.flapping;
        // A firing alert's end time is its lease (as Alertmanager's `endsAt`): renewed.
        let lease = step.signal.ends_at.map(to_millis);
        if let Some(row) = self.new_events.get_mut(event_id) {
            row.count += counted;
            row.last_seen = step.now;
            row.raw_id = step.raw_id.to_owned();
            row.latest = refreshed(&row.latest, step.signal);
            row.binding = step.binding.clone();
            row.held_by = held;
            row.marks = marks;
            row.flapping = flapping;
            row.ends_at = lease.or(row.ends_at);
            return;
        }
        let change = self.event_changes.entry(event_id.to_owned()).or_default();
        change.flapping = Some(flapping);
        change.ends_at = lease.or(change.ends_at);
        change.add_count += counted;
        change.last_seen = step.now;
        change.raw_id = step.raw_id.to_owned();
        change.latest = Some(step.signal.clone());
        change.binding = Some(step.binding.clone());
        change.held_by = Some(held);
        change.marks = Some(marks);
    }

    fn resolve_event(&mut self, event_id: &str, step: &Step, state: &KeyState) {
        let flapping = state.flapping;
        let ends_at = ended_at(step.signal).map(to_millis);
        let resolved_by = match step.kind {
            SubmissionKind::Timeout => "timeout",
            _ => "alert",
        };
        let marks = marks_json(step.signal, &state.marks);
        if let Some(row) = self.new_events.get_mut(event_id) {
            row.flapping = flapping;
            row.open = false;
            row.resolved_at = Some(step.now);
            row.last_seen = step.now;
            row.ends_at = ends_at.or(row.ends_at);
            row.raw_id = step.raw_id.to_owned();
            row.resolved_by = Some(resolved_by.to_owned());
            row.marks = marks;
            return;
        }
        let change = self.event_changes.entry(event_id.to_owned()).or_default();
        change.last_seen = step.now;
        change.resolved_at = Some(step.now);
        change.ends_at = ends_at;
        change.raw_id = step.raw_id.to_owned();
        change.resolved_by = Some(resolved_by.to_owned());
        change.marks = Some(marks);
        change.flapping = Some(flapping);
    }
}

/// Marks are kept only for rules with a threshold or flapping.
fn marks_json(signal: &Signal, marks: &Marks) -> Option<String> {
    let wanted = signal.incident.threshold.is_some() || signal.incident.flapping.is_some();
    (wanted && !marks.is_empty()).then(|| crate::store::events::to_json(marks))
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
    step: &Step,
    previous: Option<String>,
    held: Option<String>,
    state: &KeyState,
) -> NewEvent {
    let signal = step.signal;
    debug_assert_eq!(signal.status, AlertStatus::Firing);
    NewEvent {
        id: id.to_owned(),
        latest: signal.clone(),
        open: true,
        count: 1,
        first_seen: step.now,
        last_seen: step.now,
        resolved_at: None,
        ends_at: signal.ends_at.map(to_millis),
        previous_event_id: previous,
        raw_id: step.raw_id.to_owned(),
        binding: step.binding.clone(),
        held_by: held,
        marks: marks_json(signal, &state.marks),
        flapping: state.flapping,
        resolved_by: None,
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
            unit: None,
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
            kind: SubmissionKind::Alert,
            expected: Vec::new(),
            delivery_id: None,
        }
    }

    /// Plans against an empty registry: every alert unbound.
    fn plan_alone(jobs: &[Submission], known: KnownState) -> Plan {
        let registry = Registry::default();
        let suppressions = Suppressions::default();
        let priority = PriorityConfig::default();
        let ctx = Context {
            registry: &registry,
            suppressions: &suppressions,
            priority: &priority,
            admin_unit: "DESK",
        };
        plan(jobs, known, &ctx)
    }

    const T0: &str = "2026-11-30T00:00:00Z";
    const T1: &str = "2026-11-30T01:00:00Z";

    #[test]
    fn repeats_within_a_batch_fold_into_one_new_event_and_one_incident() {
        let jobs: Vec<_> = (0..50)
            .map(|_| job(vec![signal("a", AlertStatus::Firing, T0)]))
            .collect();
        let plan = plan_alone(&jobs, KnownState::default());
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
        let plan = plan_alone(&jobs, KnownState::default());
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
                timed_out: false,
            },
        );
        known.open_incidents.insert(key, "inc_1".into());
        let jobs = vec![
            job(vec![signal("a", AlertStatus::Firing, T0)]),
            job(vec![signal("a", AlertStatus::Resolved, T0)]),
        ];
        let plan = plan_alone(&jobs, known);
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

    #[test]
    fn alerts_of_an_incident_merged_earlier_in_the_batch_go_to_the_survivor() {
        let ci = crate::cmdb::model::test_ci;
        let registry = Registry::build(1, vec![], vec![ci("db", &[]), ci("app", &["db"])]);
        let on = |fp: &str, target: &str, status| {
            let mut s = signal(fp, status, T0);
            s.ci_candidates = vec![target.to_owned()];
            s
        };
        let jobs = vec![
            job(vec![on("a", "app", AlertStatus::Firing)]),
            job(vec![on("b", "db", AlertStatus::Firing)]),
            job(vec![on("a", "app", AlertStatus::Resolved)]),
        ];
        let (suppressions, priority) = (Suppressions::default(), PriorityConfig::default());
        let ctx = Context {
            registry: &registry,
            suppressions: &suppressions,
            priority: &priority,
            admin_unit: "DESK",
        };
        let plan = plan(&jobs, KnownState::default(), &ctx);
        let first = plan.results[0][0].incident_id.clone().expect("opened");
        let survivor = plan.results[1][0].incident_id.clone().expect("opened");
        assert_eq!(plan.merges.len(), 1);
        assert_eq!(
            (&plan.merges[0].from, &plan.merges[0].into),
            (&first, &survivor)
        );
        assert_eq!(plan.results[2][0].incident_id.as_ref(), Some(&survivor));
        assert!(plan.maybe_cleared.contains_key(&survivor));
        assert!(!plan.maybe_cleared.contains_key(&first));
    }

    #[test]
    fn vigias_own_signals_act_only_on_the_event_they_were_meant_for() {
        let mut known = KnownState::default();
        known.latest.insert(
            ("am".to_owned(), "a".to_owned()),
            LatestEvent {
                id: "evt_2".into(),
                open: true,
                starts_at: Some(T1.parse().expect("t")),
                ends_at: None,
                incident_id: None,
                timed_out: false,
            },
        );
        let mut timeout = job(vec![
            signal("a", AlertStatus::Resolved, T0),
            signal("a", AlertStatus::Resolved, T1),
        ]);
        timeout.kind = SubmissionKind::Timeout;
        timeout.expected = vec!["evt_1".into(), "evt_2".into()];
        let plan = plan_alone(&[timeout], known);
        assert_eq!(
            plan.results[0][0].outcome,
            Outcome::Stale,
            "evt_1 is not open any more"
        );
        assert_eq!(plan.results[0][1].outcome, Outcome::Resolved);
        let change = plan.event_changes.get("evt_2").expect("resolved");
        assert_eq!(change.resolved_by.as_deref(), Some("timeout"));
    }
}
