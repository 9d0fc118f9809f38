//! Intake: turning accepted payloads into committed events and incidents.
//!
//! In: a [`Submission`] (the raw payload, its source, and the signals the rules made of
//! it). Out: one [`AlertResult`] per signal, returned only after the transaction that
//! holds them has committed. Concurrent submissions share transactions (group commit).

pub mod accept;
mod commit;
pub mod credentials;
pub mod limits;
pub mod pagerduty;
pub mod plan;
pub mod sweep;
mod write;

pub use commit::{Intake, IntakeError, WriterSetting};

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{IncidentAction, Outcome, Signal};

/// One accepted payload, ready to be written.
#[derive(Debug, Clone)]
pub struct Submission {
    pub source: String,
    /// Name of the token that sent it.
    pub sender: String,
    pub rule: String,
    pub payload: String,
    pub signals: Vec<Signal>,
    pub received_at: Timestamp,
    pub kind: SubmissionKind,
    /// For Vigía's own submissions, the event each signal stands for: the signal acts
    /// only if that event is still its alert's open one (else it is stale).
    pub expected: Vec<String>,
    /// The message it came from, for channels that may deliver it twice (Kafka:
    /// `kafka:<topic>:<partition>:<offset>`): a copy whose delivery is already stored
    /// changes nothing and is answered [`Answer::AlreadyStored`].
    pub delivery_id: Option<String>,
}

/// The writer's answer to a submission.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Committed now: what happened to each alert.
    Stored(Vec<AlertResult>),
    /// Its delivery was committed before; nothing was written again.
    AlreadyStored,
}

/// Who is speaking: the monitoring tool, or Vigía on the tool's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionKind {
    /// A payload a tool sent.
    Alert,
    /// Resolutions of events nobody updated within their source's timeout or lease.
    Timeout,
    /// Still-firing events re-evaluated when the window or silence that held them ends.
    Replay,
}

impl AlertResult {
    /// Nothing changed: the signal was about an occurrence that is over.
    pub fn stale(signal: &Signal, latest: Option<&crate::pipeline::dedup::LatestEvent>) -> Self {
        AlertResult {
            fingerprint: signal.fingerprint.to_string(),
            outcome: Outcome::Stale,
            event_id: latest.map(|l| l.id.clone()),
            incident_id: None,
            incident_action: None,
            ci: None,
            held_by: None,
        }
    }
}

/// What happened to one alert of a payload.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertResult {
    pub fingerprint: String,
    pub outcome: Outcome,
    pub event_id: Option<String>,
    pub incident_id: Option<String>,
    /// What happened to the incident, if the alert has one.
    pub incident_action: Option<IncidentAction>,
    /// The configuration item the alert was bound to; none: unbound.
    pub ci: Option<String>,
    /// What kept the alert from opening an incident (`maintenance:<id>`,
    /// `silence:<id>`, `threshold`, `flapping`).
    pub held_by: Option<String>,
}
