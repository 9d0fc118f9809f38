//! Notifications: email (SMTP, through lettre) and outbound webhooks (HMAC-signed JSON)
//! about ticket changes, in the recipient's language (Spanish by default, English).
//!
//! In: `Notice`s the desk builds inside a ticket change's transaction. `Notifier::enqueue`
//! renders them and writes one outbox row per delivery (an email per recipient, a
//! webhook per unit that configured one) in that same transaction. Out: the `Dispatcher`
//! sends due outbox rows afterwards, retrying failures with backoff; a failure never
//! blocks or undoes the ticket change.

use serde::{Deserialize, Serialize};

use crate::domain::Lang;

/// What happened, from the recipient's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// To the assignee: a ticket is now theirs.
    Assigned,
    /// To the assignee: a rescheduled ticket is back in progress.
    Resumed,
    /// To the unit head: an assignee asks for approval.
    ApprovalRequested,
    /// To the unit head: tier 2 cannot solve the ticket.
    Unsolvable,
    /// To the unit head: tier 3 asks for a problem to be raised.
    ProblemRequested,
    /// To the requester: the technician needs more information.
    InfoRequested,
    /// To the requester: the ticket is resolved, with the solution.
    Resolved,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Assigned => "assigned",
            Topic::Resumed => "resumed",
            Topic::ApprovalRequested => "approval_requested",
            Topic::Unsolvable => "unsolvable",
            Topic::ProblemRequested => "problem_requested",
            Topic::InfoRequested => "info_requested",
            Topic::Resolved => "resolved",
        }
    }
}

/// Who receives a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    pub login: String,
    pub name: String,
    pub email: String,
    pub language: Lang,
}

/// The facts of the ticket a notice is about, as they are after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketFacts {
    pub id: String,
    /// `incident`, `service_request`, `event` or `problem`.
    pub kind: String,
    pub summary: String,
    pub unit: Option<String>,
    /// State after the change, e.g. `assigned` or `on_hold`.
    pub state: String,
    pub priority: Option<String>,
    /// Login of whoever made the change (`system` for the desk's timers).
    pub actor: String,
    /// The question, approval request or explanation that came with the change.
    pub comment: Option<String>,
    pub solution: Option<String>,
    pub resolution_code: Option<String>,
    /// When a rescheduled ticket resumes (milliseconds since the epoch).
    pub resume_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub topic: Topic,
    pub recipient: Recipient,
    pub ticket: TicketFacts,
}

/// `[notify]` in the configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {}
mod pending;
pub use pending::Notifier;
