//! One change to one ticket, as it is being made: the ticket copy being edited, the
//! audit records and the notices it will leave. `Desk::commit_change` writes them all in
//! the change's transaction.

use serde_json::{json, Map, Value};

use super::ticket::{HoldReason, State, Ticket};
use crate::notify::Topic;
use crate::store::audit::AuditRecord;

/// Who makes a change and under which request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub who: crate::auth::Principal,
    pub request_id: Option<String>,
}

impl Caller {
    /// The desk's own timers.
    pub fn system() -> Caller {
        Caller::service(SYSTEM)
    }

    /// A part of Vigía acting under its own name with the central desk's rights (the
    /// timers, a desk mailbox registering what arrived on a user's behalf).
    pub fn service(name: &str) -> Caller {
        Caller {
            who: crate::auth::Principal {
                token_id: String::new(),
                name: name.to_owned(),
                role: crate::auth::Role::Admin,
                unit: None,
                tier: None,
                person: false,
            },
            request_id: None,
        }
    }

    /// A person of the registry acting through a channel other than the API (a reply
    /// to a desk mailbox), with the role, unit and tier the registry gives them.
    pub fn person(contact: &crate::store::people::Contact) -> Caller {
        Caller {
            who: crate::auth::Principal {
                token_id: String::new(),
                name: contact.login.clone(),
                role: contact.role.parse().unwrap_or(crate::auth::Role::Requester),
                unit: Some(contact.unit.clone()),
                tier: contact.tier.and_then(|t| u8::try_from(t).ok()),
                person: true,
            },
            request_id: None,
        }
    }
}

pub const SYSTEM: &str = "system";

/// A notice to send once the change commits.
#[derive(Debug, Clone)]
pub struct Draft {
    pub topic: Topic,
    pub login: String,
    pub comment: Option<String>,
    /// SLA notices: the clock (`acknowledge`, `resolve`) and when it is due.
    pub sla: Option<(String, i64)>,
}

pub struct Change {
    /// The ticket as it was before the change.
    pub before: Ticket,
    pub ticket: Ticket,
    pub now: i64,
    actor: String,
    request_id: Option<String>,
    pub records: Vec<AuditRecord>,
    pub notices: Vec<Draft>,
}

impl Change {
    pub fn new(ticket: Ticket, caller: &Caller, now: i64) -> Change {
        Change {
            before: ticket.clone(),
            ticket,
            now,
            actor: caller.who.name.clone(),
            request_id: caller.request_id.clone(),
            records: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// A change to another ticket, made by the same caller at the same time.
    pub fn derived(&self, ticket: Ticket) -> Change {
        Change {
            before: ticket.clone(),
            ticket,
            now: self.now,
            actor: self.actor.clone(),
            request_id: self.request_id.clone(),
            records: Vec::new(),
            notices: Vec::new(),
        }
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Appends an audit record of `action`, from the state `from` to the ticket's state now.
    pub fn record(
        &mut self,
        action: &str,
        from: Option<String>,
        comment: Option<&str>,
        detail: Value,
    ) {
        self.records.push(AuditRecord {
            ticket_id: self.ticket.id.clone(),
            at: self.now,
            actor: self.actor.clone(),
            action: action.to_owned(),
            from_state: from,
            to_state: Some(self.ticket.state_label()),
            comment: comment.map(str::to_owned),
            request_id: self.request_id.clone(),
            detail: match detail {
                Value::Null => Value::Object(Map::new()),
                other => other,
            },
        });
    }

    pub fn notify(&mut self, topic: Topic, login: Option<&str>, comment: Option<&str>) {
        if let Some(login) = login {
            self.notices.push(Draft {
                topic,
                login: login.to_owned(),
                comment: comment.map(str::to_owned),
                sla: None,
            });
        }
    }

    pub fn hold(&mut self, reason: HoldReason) {
        self.ticket.state = State::OnHold;
        self.ticket.hold_reason = Some(reason);
        self.ticket.held_at = Some(self.now);
    }

    /// Back from a hold (the SLA clocks resume with it): to work, or, for a ticket
    /// nobody accepted yet, to its assignee's acceptance.
    pub fn resume(&mut self) {
        let t = &mut self.ticket;
        t.state = if t.acked_at.is_some() {
            State::InProgress
        } else {
            State::Assigned
        };
        t.hold_reason = None;
        t.held_at = None;
        t.resume_at = None;
    }

    /// Hands the ticket to someone at a tier (counted as a reassignment when it had an
    /// assignee already).
    pub fn hand_to(&mut self, login: &str, tier: Option<u8>) {
        let t = &mut self.ticket;
        if t.assignee.is_some() && t.assignee.as_deref() != Some(login) {
            t.reassignments += 1;
        }
        t.assignee = Some(login.to_owned());
        t.tier = tier;
        t.central_desk = false;
        t.state = State::Assigned;
        t.hold_reason = None;
        t.held_at = None;
        t.resume_at = None;
        self.notify(Topic::Assigned, Some(login), None);
    }
}

/// The detail of an assignment, for the audit record.
pub fn assignment_detail(t: &Ticket) -> Value {
    json!({ "assignee": t.assignee, "tier": t.tier, "group_id": t.group_id })
}
