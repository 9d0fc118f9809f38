//! Deduplication: what a signal does to the latest event with its fingerprint.
//!
//! In: a signal and the latest stored event of its (source, fingerprint), if any.
//! Out: an [`Action`]. Stores nothing; the intake stage carries the action out in the
//! batch's transaction, and the database's unique index on open events backs it up.

use jiff::Timestamp;

use crate::domain::{AlertStatus, Outcome, Signal};

/// The latest event stored for a (source, fingerprint).
#[derive(Debug, Clone, PartialEq)]
pub struct LatestEvent {
    pub id: String,
    pub open: bool,
    pub starts_at: Option<Timestamp>,
    /// When the occurrence ended, as its source said (for a resolved event).
    pub ends_at: Option<Timestamp>,
    /// The event's incident, while that incident is not resolved, closed or canceled.
    pub incident_id: Option<String>,
    /// Vigía resolved it for want of news, not the tool: the alert may still be firing.
    pub timed_out: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A new occurrence: a new event, linked to the previous one if any.
    Open { previous: Option<String> },
    /// The open event fired again: count it and refresh it.
    Repeat {
        event_id: String,
        incident_id: Option<String>,
    },
    /// The open event's alert ended.
    Resolve {
        event_id: String,
        incident_id: Option<String>,
    },
    /// A late copy of an occurrence that already ended (a retry, or the other half of
    /// an HA pair): nothing changes.
    Stale,
    /// A resolution for an alert with no open event: nothing to resolve.
    NothingToResolve,
}

impl Action {
    pub fn outcome(&self) -> Outcome {
        match self {
            Action::Open { .. } => Outcome::Created,
            Action::Repeat { .. } => Outcome::Updated,
            Action::Resolve { .. } => Outcome::Resolved,
            Action::Stale => Outcome::Stale,
            Action::NothingToResolve => Outcome::Ignored,
        }
    }
}

pub fn decide(signal: &Signal, latest: Option<&LatestEvent>) -> Action {
    match (signal.status, latest) {
        (AlertStatus::Firing, Some(ev)) if ev.open => Action::Repeat {
            event_id: ev.id.clone(),
            incident_id: ev.incident_id.clone(),
        },
        // A copy of an occurrence Vigía timed out says it still fires: a new occurrence.
        (AlertStatus::Firing, Some(ev))
            if !ev.timed_out && same_or_older(signal.starts_at, ev.ends_at.or(ev.starts_at)) =>
        {
            Action::Stale
        }
        (AlertStatus::Firing, previous) => Action::Open {
            previous: previous.map(|ev| ev.id.clone()),
        },
        (AlertStatus::Resolved, Some(ev)) if ev.open && !older(signal.starts_at, ev.starts_at) => {
            Action::Resolve {
                event_id: ev.id.clone(),
                incident_id: ev.incident_id.clone(),
            }
        }
        (AlertStatus::Resolved, Some(ev)) if ev.open => Action::Stale,
        (AlertStatus::Resolved, _) => Action::NothingToResolve,
    }
}

/// Whether a firing signal started no later than the stored occurrence ended (or, with no
/// end known, started): then it is a late copy, not a new occurrence. Without times on
/// both sides nothing can be told, so the signal counts as new.
fn same_or_older(signal: Option<Timestamp>, stored: Option<Timestamp>) -> bool {
    matches!((signal, stored), (Some(s), Some(e)) if s <= e)
}

fn older(signal: Option<Timestamp>, stored: Option<Timestamp>) -> bool {
    matches!((signal, stored), (Some(s), Some(e)) if s < e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Fingerprint, IncidentPolicy, Severity};

    fn signal(status: AlertStatus, starts: Option<&str>) -> Signal {
        Signal {
            source: "alertmanager".into(),
            rule: "r".into(),
            fingerprint: Fingerprint::new("abc").expect("valid"),
            status,
            severity: Severity::Critical,
            summary: "s".into(),
            description: None,
            ci_candidates: vec![],
            labels: Default::default(),
            annotations: Default::default(),
            starts_at: starts.map(|s| s.parse().expect("time")),
            ends_at: None,
            incident: IncidentPolicy {
                opens: true,
                ..IncidentPolicy::event_only()
            },
            unit: None,
        }
    }

    fn stored(open: bool, starts: Option<&str>) -> LatestEvent {
        LatestEvent {
            id: "evt_1".into(),
            open,
            starts_at: starts.map(|s| s.parse().expect("time")),
            ends_at: None,
            incident_id: Some("inc_1".into()),
            timed_out: false,
        }
    }

    const T0: &str = "2026-11-30T00:00:00Z";
    const T1: &str = "2026-11-30T01:00:00Z";

    #[test]
    fn a_new_fingerprint_opens_an_event() {
        assert_eq!(
            decide(&signal(AlertStatus::Firing, Some(T0)), None),
            Action::Open { previous: None }
        );
    }

    #[test]
    fn firing_while_open_repeats_the_open_event() {
        let action = decide(
            &signal(AlertStatus::Firing, Some(T0)),
            Some(&stored(true, Some(T0))),
        );
        assert_eq!(
            action,
            Action::Repeat {
                event_id: "evt_1".into(),
                incident_id: Some("inc_1".into())
            }
        );
    }

    #[test]
    fn a_late_copy_of_a_resolved_occurrence_changes_nothing() {
        let action = decide(
            &signal(AlertStatus::Firing, Some(T0)),
            Some(&stored(false, Some(T0))),
        );
        assert_eq!(action, Action::Stale);
    }

    #[test]
    fn firing_again_after_resolution_is_a_new_occurrence_linked_to_the_old() {
        let action = decide(
            &signal(AlertStatus::Firing, Some(T1)),
            Some(&stored(false, Some(T0))),
        );
        assert_eq!(
            action,
            Action::Open {
                previous: Some("evt_1".into())
            }
        );
        let no_times = decide(
            &signal(AlertStatus::Firing, None),
            Some(&stored(false, None)),
        );
        assert_eq!(
            no_times,
            Action::Open {
                previous: Some("evt_1".into())
            }
        );
    }

    #[test]
    fn a_late_probe_result_from_before_the_recovery_is_stale() {
        // A probe's DOWN at 00:30 arrives after its UP at 00:45 was processed.
        let mut resolved = stored(false, Some(T0));
        resolved.ends_at = Some("2026-11-30T00:45:00Z".parse().expect("time"));
        let late = decide(
            &signal(AlertStatus::Firing, Some("2026-11-30T00:30:00Z")),
            Some(&resolved),
        );
        assert_eq!(late, Action::Stale);
        let later = decide(
            &signal(AlertStatus::Firing, Some("2026-11-30T00:50:00Z")),
            Some(&resolved),
        );
        assert!(matches!(later, Action::Open { .. }));
    }

    #[test]
    fn resolution_closes_only_the_open_occurrence_it_belongs_to() {
        let open = stored(true, Some(T1));
        assert!(matches!(
            decide(&signal(AlertStatus::Resolved, Some(T1)), Some(&open)),
            Action::Resolve { .. }
        ));
        assert_eq!(
            decide(&signal(AlertStatus::Resolved, Some(T0)), Some(&open)),
            Action::Stale
        );
        assert_eq!(
            decide(
                &signal(AlertStatus::Resolved, Some(T1)),
                Some(&stored(false, Some(T1)))
            ),
            Action::NothingToResolve
        );
        assert_eq!(
            decide(&signal(AlertStatus::Resolved, None), None),
            Action::NothingToResolve
        );
    }
}
