//! How tickets, their comments, approvals and audit trail look in the API.

use serde::Serialize;
use utoipa::ToSchema;

use super::views::time;
use crate::store::attachments::AttachmentInfo;
use crate::store::audit::StoredRecord;
use crate::store::mailbox::MessageRow;
use crate::store::tickets::{ApprovalRow, CommentRow, TicketRow};

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    pub id: String,
    /// incident, service_request, event or problem.
    pub kind: String,
    /// new, assigned, in_progress, on_hold, resolved, closed or canceled.
    pub state: String,
    /// Why it is on hold: awaiting_user, awaiting_approval, rescheduled,
    /// awaiting_problem or awaiting_vendor.
    pub hold_reason: Option<String>,
    pub summary: String,
    pub description: Option<String>,
    pub category: Option<String>,
    /// How it reached the desk: portal, phone, chat, email, note, form, in_person or
    /// monitoring.
    pub channel: String,
    /// The monitoring source, or `desk` for tickets people registered.
    pub source: String,
    pub ci: Option<String>,
    pub unit: Option<String>,
    pub impact: Option<String>,
    pub urgency: Option<String>,
    pub priority: Option<String>,
    pub tier: Option<i64>,
    pub group_id: Option<String>,
    pub assignee: Option<String>,
    /// Waiting in the central desk's queue because its unit had no tier-1 technician.
    pub central_desk: bool,
    pub requester: Option<String>,
    pub registered_by: Option<String>,
    pub problem_id: Option<String>,
    /// Tier 3 asked the unit head to raise a problem.
    pub problem_requested: bool,
    pub opened_at: String,
    pub updated_at: String,
    /// The first acknowledgement (accept) by a person.
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    /// When a rescheduled ticket resumes.
    pub resume_at: Option<String>,
    /// When it is due to be resolved, paused time added back.
    pub due_at: Option<String>,
    pub reassignments: i64,
    pub reopens: i64,
    pub solution: Option<String>,
    pub resolution_code: Option<String>,
    pub duplicate_of: Option<String>,
    pub cancel_reason: Option<String>,
    /// A target of its SLA was missed.
    pub sla_breached: bool,
}

impl From<TicketRow> for TicketView {
    fn from(r: TicketRow) -> Self {
        let channel = r.channel.unwrap_or_else(|| "monitoring".to_owned());
        TicketView {
            id: r.id,
            kind: r.kind,
            state: r.status,
            hold_reason: r.hold_reason,
            summary: r.summary,
            description: r.description,
            category: r.category,
            channel,
            source: r.source,
            ci: r.ci_id,
            unit: r.unit,
            impact: r.impact,
            urgency: r.urgency,
            priority: r.priority,
            tier: r.tier,
            group_id: r.group_id,
            assignee: r.assignee,
            central_desk: r.central_desk != 0,
            requester: r.requester,
            registered_by: r.registered_by,
            problem_id: r.problem_id,
            problem_requested: r.problem_requested != 0,
            opened_at: time(r.opened_at),
            updated_at: time(r.updated_at),
            acknowledged_at: r.acked_at.map(time),
            acknowledged_by: r.acked_by,
            resolved_at: r.resolved_at.map(time),
            closed_at: r.closed_at.map(time),
            resume_at: r.resume_at.map(time),
            due_at: r.due_at.map(time),
            reassignments: r.reassignments,
            reopens: r.reopens,
            solution: r.solution,
            resolution_code: r.resolution_code,
            duplicate_of: r.duplicate_of,
            cancel_reason: r.cancel_reason,
            sla_breached: r.sla_breached != 0,
        }
    }
}

/// A ticket with its conversation and approvals.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: TicketView,
    pub comments: Vec<CommentView>,
    pub approvals: Vec<ApprovalView>,
    /// The SLA clocks: time to acknowledge and time to resolve.
    pub sla: Vec<ClockView>,
    /// The email it came from, when a desk mailbox registered it: the sender as the
    /// message gave it, whether or not the registry knows them.
    pub email: Option<EmailOrigin>,
}

/// The message a desk mailbox registered a ticket from.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailOrigin {
    pub from_address: String,
    pub from_name: Option<String>,
    pub subject: String,
    /// The Message-ID (or `sha256:` and the message's hash when it had none).
    pub message_id: String,
    /// The unit whose mailbox received it.
    pub mailbox_unit: String,
    pub received_at: String,
}

impl From<MessageRow> for EmailOrigin {
    fn from(m: MessageRow) -> Self {
        EmailOrigin {
            from_address: m.from_address,
            from_name: m.from_name,
            subject: m.subject,
            message_id: m.message_key,
            mailbox_unit: m.unit,
            received_at: time(m.received_at),
        }
    }
}

/// A file that came with the ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    /// false when it was over the size limit: listed, its content not kept.
    pub stored: bool,
    /// Who sent it (their email address).
    pub sender: String,
    pub added_at: String,
}

impl From<AttachmentInfo> for AttachmentView {
    fn from(a: AttachmentInfo) -> Self {
        AttachmentView {
            id: a.id,
            filename: a.filename,
            content_type: a.content_type,
            size_bytes: a.size_bytes,
            stored: a.stored != 0,
            sender: a.sender,
            added_at: time(a.added_at),
        }
    }
}

/// One SLA clock as it stands at the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockView {
    /// `acknowledge` or `resolve`.
    pub metric: String,
    /// The policy the clock started with (kept even if the policy changes).
    pub policy: String,
    pub calendar: String,
    pub target_seconds: i64,
    /// Business time counted so far, pauses excluded.
    pub elapsed_seconds: i64,
    /// Business time left (negative once breached).
    pub remaining_seconds: i64,
    /// running, paused or stopped.
    pub state: String,
    pub started_at: String,
    /// Start plus target, as if it never paused.
    pub original_due_at: String,
    /// When it comes due with its pauses; absent while paused, or once stopped in time.
    pub due_at: Option<String>,
    pub stopped_at: Option<String>,
    pub breached_at: Option<String>,
    /// Stopped within the target (absent while it runs).
    pub met: Option<bool>,
    /// A warning threshold passed and not breached.
    pub at_risk: bool,
}

impl From<crate::sla::engine::Live> for ClockView {
    fn from(l: crate::sla::engine::Live) -> Self {
        let (d, c) = (&l.definition, &l.clock);
        let state = match (c.running, c.stopped_at) {
            (true, _) => "running",
            (false, Some(_)) => "stopped",
            (false, None) => "paused",
        };
        ClockView {
            metric: d.metric.as_str().to_owned(),
            policy: d.policy.clone(),
            calendar: d.calendar_name.clone(),
            target_seconds: d.target_ms / 1000,
            elapsed_seconds: c.elapsed_ms / 1000,
            remaining_seconds: c.remaining_ms(d) / 1000,
            state: state.to_owned(),
            started_at: time(c.started_at),
            original_due_at: time(c.original_due_at),
            due_at: c.due_at.map(time),
            stopped_at: c.stopped_at.map(time),
            breached_at: c.breached_at.map(time),
            met: c.met(),
            at_risk: l.warned > 0 && c.breached_at.is_none() && c.stopped_at.is_none(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommentView {
    pub id: String,
    pub author: String,
    pub at: String,
    pub body: String,
}

impl From<CommentRow> for CommentView {
    fn from(c: CommentRow) -> Self {
        CommentView {
            id: c.id,
            author: c.author,
            at: time(c.at),
            body: c.body,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    pub id: String,
    pub requested_by: String,
    pub requested_at: String,
    pub request: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    /// approved or rejected; absent while pending.
    pub decision: Option<String>,
    pub comment: Option<String>,
}

impl From<ApprovalRow> for ApprovalView {
    fn from(a: ApprovalRow) -> Self {
        ApprovalView {
            id: a.id,
            requested_by: a.requested_by,
            requested_at: time(a.requested_at),
            request: a.request,
            decided_by: a.decided_by,
            decided_at: a.decided_at.map(time),
            decision: a.decision,
            comment: a.comment,
        }
    }
}

/// One record of a ticket's audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// Position in the audit chain.
    pub seq: i64,
    pub at: String,
    /// Login of who made the change (`system` for the desk's timers).
    pub actor: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub comment: Option<String>,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub hash: String,
}

impl From<StoredRecord> for AuditView {
    fn from(r: StoredRecord) -> Self {
        AuditView {
            seq: r.seq,
            at: time(r.at),
            actor: r.actor,
            action: r.action,
            from_state: r.from_state,
            to_state: r.to_state,
            comment: r.comment,
            request_id: r.request_id,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::String(r.detail)),
            hash: r.hash,
        }
    }
}
