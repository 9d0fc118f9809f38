//! What a move or a registration may carry. Each move says which fields it needs.

use serde::Deserialize;
use utoipa::ToSchema;

/// The body of `POST /api/v1/tickets/{id}/{action}`; each action reads the fields it
/// needs and refuses the request when one it requires is missing.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// The question (request_info), the approval request (request_approval), the
    /// explanation (give_up, request_problem, reject, reopen) or a plain comment.
    pub comment: Option<String>,
    /// reschedule: why; cancel: duplicate, invalid or withdrawn; hold: awaiting_vendor.
    pub reason: Option<String>,
    /// reschedule: when work resumes (RFC 3339).
    pub resume_at: Option<String>,
    /// resolve: what was done.
    pub solution: Option<String>,
    /// resolve: one of the configured resolution codes.
    pub resolution_code: Option<String>,
    /// escalate, assign, form_group: who takes the ticket.
    pub assignee: Option<String>,
    /// form_group: an existing group of the unit…
    pub group_id: Option<String>,
    /// …or a new one.
    pub group: Option<NewGroup>,
    /// raise_problem: link to an existing problem…
    pub problem_id: Option<String>,
    /// …or create one with this summary (and description).
    pub summary: Option<String>,
    pub description: Option<String>,
    /// cancel (duplicate): the ticket this one duplicates.
    pub duplicate_of: Option<String>,
    /// set_requester: the user who reported it (e.g. who called about an outage
    /// monitoring had already opened), told when more is needed and when it is resolved.
    pub requester: Option<String>,
    /// set_requester: how they reached the desk (phone, chat, email, note, form, in_person).
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub name: String,
    /// Logins of existing people.
    #[serde(default)]
    pub members: Vec<String>,
    /// Specialists or vendor contacts created for the case (tier-3 technicians of the unit).
    #[serde(default)]
    pub new_members: Vec<NewMember>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub login: String,
    pub name: String,
    pub email: String,
    /// The vendor or organization they work for.
    pub organization: Option<String>,
    /// `es` (default) or `en`.
    pub language: Option<String>,
}

/// `POST /api/v1/tickets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// incident, service_request or event (problem: unit heads and the admin).
    pub kind: String,
    pub summary: String,
    pub description: Option<String>,
    pub category: Option<String>,
    /// low, medium (default) or high.
    pub urgency: Option<String>,
    /// The owning unit; by default the CI's unit, else the requester's.
    pub unit: Option<String>,
    /// The CI concerned, if known.
    pub ci: Option<String>,
    /// Registering on a user's behalf: the user's login (a channel is then required).
    pub requester: Option<String>,
    /// phone, chat, email, note, form or in_person when registering on a user's
    /// behalf; portal otherwise.
    pub channel: Option<String>,
}

impl MoveBody {
    /// A required text field, trimmed and non-empty.
    pub fn required<'a>(
        field: &'a Option<String>,
        name: &str,
        action: &str,
    ) -> Result<&'a str, super::DeskError> {
        field
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| super::DeskError::Invalid(format!("`{action}` requires `{name}`")))
    }
}
