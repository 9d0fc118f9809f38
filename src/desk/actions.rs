//! What each move does to the ticket, once `moves::check` allowed it.

use serde_json::json;
use sqlx::AnyConnection;

use super::body::MoveBody;
use super::change::{assignment_detail, Caller, Change};
use super::error::{DeskError, DeskResult};
use super::moves::Action;
use super::service::{not_found, Desk};
use super::ticket::{CancelReason, HoldReason, Kind, State};
use crate::auth::Role;
use crate::notify::Topic;
use crate::store::{people, tickets};

type Extra = Vec<Change>;

impl Desk {
    /// Applies `action` to `change`; returns changes to other tickets it caused.
    pub(super) async fn perform<'b>(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        action: Action,
        body: &'b MoveBody,
        change: &mut Change,
    ) -> DeskResult<Extra> {
        let from = Some(change.ticket.state_label());
        let name = action.as_str();
        let comment = body
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let need = |field: &'b Option<String>, n: &str| MoveBody::required(field, n, name);
        let mut extra = Vec::new();
        let detail = match action {
            Action::Accept => {
                let (now, actor) = (change.now, change.actor().to_owned());
                let t = &mut change.ticket;
                t.state = State::InProgress;
                // The admin accepting a ticket nobody has (the central desk's) takes it.
                if t.assignee.is_none() {
                    t.assignee = Some(actor.clone());
                    t.central_desk = false;
                }
                t.acked_at = t.acked_at.or(Some(now));
                t.acked_by = t.acked_by.clone().or(Some(actor));
                json!({})
            }
            Action::RequestInfo => {
                let question = need(&body.comment, "comment")?;
                let requester = change.ticket.requester.clone().ok_or_else(|| {
                    DeskError::Conflict(
                        "the ticket has no requester to ask: it was opened by monitoring".into(),
                    )
                })?;
                self.add_comment(conn, change, question).await?;
                change.hold(HoldReason::AwaitingUser);
                change.notify(Topic::InfoRequested, Some(&requester), Some(question));
                json!({ "asked": requester })
            }
            Action::Comment => {
                let text = need(&body.comment, "comment")?;
                self.add_comment(conn, change, text).await?;
                let t = &change.ticket;
                let reply = t.hold_reason == Some(HoldReason::AwaitingUser)
                    && t.requester.as_deref() == Some(change.actor());
                if reply {
                    change.resume();
                }
                json!({ "resumed": reply })
            }
            Action::Escalate => self.escalate(conn, body, change).await?,
            Action::RequestApproval => {
                let request = need(&body.comment, "comment")?;
                let id = crate::domain::ids::new(crate::domain::ids::APPROVAL);
                let (ticket, actor) = (change.ticket.id.clone(), change.actor().to_owned());
                tickets::request_approval(conn, &id, &ticket, &actor, request, change.now).await?;
                change.hold(HoldReason::AwaitingApproval);
                let head = self.head_of(conn, &change.ticket).await?;
                change.notify(Topic::ApprovalRequested, head.as_deref(), Some(request));
                json!({ "approval_id": id, "head": head })
            }
            Action::Approve | Action::Reject => {
                let decision = if action == Action::Approve {
                    "approved"
                } else {
                    "rejected"
                };
                if action == Action::Reject {
                    need(&body.comment, "comment")?;
                }
                let (ticket, actor) = (change.ticket.id.clone(), change.actor().to_owned());
                tickets::decide_approval(conn, &ticket, &actor, decision, comment, change.now)
                    .await?;
                change.resume();
                let topic = if action == Action::Approve {
                    Topic::ApprovalGranted
                } else {
                    Topic::ApprovalRejected
                };
                let assignee = change.ticket.assignee.clone();
                change.notify(topic, assignee.as_deref(), comment);
                json!({ "decision": decision })
            }
            Action::GiveUp => {
                let why = need(&body.comment, "comment")?;
                let head = self.head_of(conn, &change.ticket).await?.ok_or_else(|| {
                    DeskError::Conflict("the ticket's unit has no head to inform".into())
                })?;
                change.hand_to(&head, Some(3));
                change.ticket.group_id = None;
                // The head hears it as tier 2 giving up, not as a plain assignment.
                change.notices.clear();
                change.notify(Topic::Unsolvable, Some(&head), Some(why));
                assignment_detail(&change.ticket)
            }
            Action::FormGroup => self.form_group(conn, body, change).await?,
            Action::RequestProblem => {
                let why = need(&body.comment, "comment")?;
                change.ticket.problem_requested = true;
                let head = self.head_of(conn, &change.ticket).await?;
                change.notify(Topic::ProblemRequested, head.as_deref(), Some(why));
                json!({ "head": head })
            }
            Action::RaiseProblem => {
                self.raise_problem(conn, caller, body, change, &mut extra)
                    .await?
            }
            Action::Hold => {
                let reason = need(&body.reason, "reason")?;
                if reason != HoldReason::AwaitingVendor.as_str() {
                    return Err(DeskError::Invalid(
                        "`hold` takes `reason: awaiting_vendor`; the other waits have their own moves (request_info, request_approval, reschedule, raise_problem)".into(),
                    ));
                }
                change.hold(HoldReason::AwaitingVendor);
                json!({ "reason": reason })
            }
            Action::Resume => {
                change.resume();
                json!({})
            }
            Action::Reschedule => self.reschedule(conn, body, change).await?,
            Action::Resolve => self.resolve(conn, body, change, &mut extra).await?,
            Action::Confirm => {
                change.ticket.state = State::Closed;
                change.ticket.closed_at = Some(change.now);
                json!({ "confirmed": true })
            }
            Action::Reopen => self.reopen(body, change)?,
            Action::Cancel => self.cancel(conn, caller, body, change, &mut extra).await?,
            Action::Assign => self.assign_to(conn, caller, body, change).await?,
            Action::SetRequester => {
                let login = need(&body.requester, "requester")?;
                let channel = need(&body.channel, "channel")?;
                if people::contact(conn, login).await?.is_none() {
                    return Err(DeskError::Invalid(format!(
                        "`requester`: no person `{login}`"
                    )));
                }
                if super::ticket::Channel::parse(channel).is_none() {
                    return Err(DeskError::Invalid(format!(
                        "`channel` must be one of {}",
                        super::ticket::Channel::choices()
                    )));
                }
                let previous = change.ticket.requester.replace(login.to_owned());
                json!({ "requester": login, "previous": previous, "channel": channel })
            }
        };
        change.record(name, from, comment, detail);
        Ok(extra)
    }

    async fn add_comment(
        &self,
        conn: &mut AnyConnection,
        change: &Change,
        text: &str,
    ) -> DeskResult<()> {
        let id = crate::domain::ids::new(crate::domain::ids::COMMENT);
        tickets::add_comment(
            conn,
            &id,
            &change.ticket.id,
            change.actor(),
            text,
            change.now,
        )
        .await?;
        Ok(())
    }

    pub(super) async fn head_of(
        &self,
        conn: &mut AnyConnection,
        t: &super::ticket::Ticket,
    ) -> DeskResult<Option<String>> {
        match &t.unit {
            Some(unit) => Ok(people::unit_head(conn, unit).await?),
            None => Ok(None),
        }
    }

    async fn escalate(
        &self,
        conn: &mut AnyConnection,
        body: &MoveBody,
        change: &mut Change,
    ) -> DeskResult<serde_json::Value> {
        let unit = self.unit_of(&change.ticket);
        let Some(named) = &body.assignee else {
            if self.hand_to_tier(conn, change, 2).await?.0.is_none() {
                return Err(DeskError::Conflict(format!(
                    "unit {unit} has no available tier-2 technician; the unit head can assign the ticket"
                )));
            }
            return Ok(assignment_detail(&change.ticket));
        };
        let tier2 = tickets::candidates(conn, &unit, 2).await?;
        if !tier2.iter().any(|c| &c.login == named) {
            return Err(DeskError::Invalid(format!(
                "`{named}` is not a tier-2 technician of unit {unit}"
            )));
        }
        tickets::mark_assigned(conn, named, change.now).await?;
        change.hand_to(named, Some(2));
        Ok(assignment_detail(&change.ticket))
    }

    async fn form_group(
        &self,
        conn: &mut AnyConnection,
        body: &MoveBody,
        change: &mut Change,
    ) -> DeskResult<serde_json::Value> {
        let unit = self.unit_of(&change.ticket);
        let taker = MoveBody::required(&body.assignee, "assignee", "form_group")?.to_owned();
        let group_id = match (&body.group_id, &body.group) {
            (Some(id), None) => {
                let group = crate::store::groups::get(conn, id)
                    .await?
                    .filter(|g| g.unit == unit)
                    .ok_or_else(|| DeskError::Invalid(format!("unit {unit} has no group `{id}`")))?;
                group.id
            }
            (None, Some(spec)) => super::register::create_group(conn, &unit, spec, change).await?,
            _ => {
                return Err(DeskError::Invalid(
                    "`form_group` requires either `group_id` (an existing group) or `group` (a new one)".into(),
                ))
            }
        };
        let members = crate::store::groups::members(conn, &group_id).await?;
        if !members.contains(&taker) {
            return Err(DeskError::Invalid(format!(
                "`{taker}` is not a member of the group (members: {})",
                members.join(", ")
            )));
        }
        tickets::mark_assigned(conn, &taker, change.now).await?;
        change.ticket.group_id = Some(group_id);
        change.hand_to(&taker, Some(3));
        Ok(assignment_detail(&change.ticket))
    }

    async fn raise_problem(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        body: &MoveBody,
        change: &mut Change,
        extra: &mut Extra,
    ) -> DeskResult<serde_json::Value> {
        let problem_id = match (&body.problem_id, &body.summary) {
            (Some(id), None) => {
                // Locked, so a resolution of the problem cannot pass this link unseen.
                let problem = match tickets::lock(conn, id).await? {
                    Some(row) => Some(row.ticket()?),
                    None => None,
                };
                let open_here = problem.filter(|p| {
                    p.kind == Kind::Problem && p.state.is_open() && p.unit == change.ticket.unit
                });
                let Some(problem) = open_here else {
                    return Err(DeskError::Invalid(format!(
                        "`{id}` is not an open problem of the ticket's unit"
                    )));
                };
                problem.id
            }
            (None, Some(summary)) => {
                let problem = self
                    .new_problem(conn, caller, &change.ticket, summary, body.description.as_deref())
                    .await?;
                let id = problem.ticket.id.clone();
                extra.push(problem);
                id
            }
            _ => {
                return Err(DeskError::Invalid(
                    "`raise_problem` requires either `problem_id` (an existing problem) or `summary` (a new one)".into(),
                ))
            }
        };
        change.ticket.problem_id = Some(problem_id.clone());
        change.hold(HoldReason::AwaitingProblem);
        Ok(json!({ "problem_id": problem_id }))
    }

    async fn reschedule(
        &self,
        conn: &mut AnyConnection,
        body: &MoveBody,
        change: &mut Change,
    ) -> DeskResult<serde_json::Value> {
        let reason = MoveBody::required(&body.reason, "reason", "reschedule")?.to_owned();
        let when = MoveBody::required(&body.resume_at, "resume_at", "reschedule")?;
        let resume_at = when
            .parse::<jiff::Timestamp>()
            .map(crate::domain::to_millis)
            .map_err(|e| DeskError::Invalid(format!("`resume_at` is not an RFC 3339 time: {e}")))?;
        if resume_at <= change.now {
            return Err(DeskError::Invalid(
                "`resume_at` must be in the future".into(),
            ));
        }
        let clocks = crate::sla::engine::live(conn, &change.ticket.id, change.now).await?;
        let resolve = clocks
            .iter()
            .find(|c| c.definition.metric == crate::sla::clock::Metric::Resolve);
        if let Some(breached) = resolve.and_then(|c| c.clock.breached_at) {
            return Err(DeskError::Conflict(format!(
                "the ticket's resolution target was missed at {}: only a ticket within its SLA may be rescheduled",
                crate::domain::from_millis(breached)
            )));
        }
        change.hold(HoldReason::Rescheduled);
        change.ticket.resume_at = Some(resume_at);
        Ok(json!({ "resume_at": when, "reason": reason }))
    }

    async fn resolve(
        &self,
        conn: &mut AnyConnection,
        body: &MoveBody,
        change: &mut Change,
        extra: &mut Extra,
    ) -> DeskResult<serde_json::Value> {
        let solution = MoveBody::required(&body.solution, "solution", "resolve")?.to_owned();
        let code = MoveBody::required(&body.resolution_code, "resolution_code", "resolve")?;
        if !self.config.resolution_codes.iter().any(|c| c == code) {
            return Err(DeskError::Invalid(format!(
                "`resolution_code` must be one of {}",
                self.config.resolution_codes.join(", ")
            )));
        }
        settle(change, &solution, code);
        if change.ticket.kind == Kind::Problem {
            for mut linked in self.waiting_on(conn, change).await? {
                let from = Some(linked.ticket.state_label());
                linked.resume();
                settle(&mut linked, &solution, code);
                let detail = json!({ "problem_id": change.ticket.id, "resolution_code": code });
                linked.record("resolved_by_problem", from, None, detail);
                extra.push(linked);
            }
        }
        Ok(json!({ "solution": solution, "resolution_code": code }))
    }

    fn reopen(&self, body: &MoveBody, change: &mut Change) -> DeskResult<serde_json::Value> {
        let why = MoveBody::required(&body.comment, "comment", "reopen")?.to_owned();
        let days = i64::try_from(self.config.confirm_days).unwrap_or(i64::MAX / 86_400_000);
        let deadline = change.ticket.resolved_at.unwrap_or(change.now) + days * 86_400_000;
        if change.now > deadline {
            return Err(DeskError::Conflict(format!(
                "a solution may be rejected within {days} days of its resolution; that ended at {}",
                crate::domain::from_millis(deadline)
            )));
        }
        let t = &mut change.ticket;
        let previous = json!({ "solution": t.solution, "resolution_code": t.resolution_code });
        t.state = State::InProgress;
        t.reopens += 1;
        t.resolved_at = None;
        t.solution = None;
        t.resolution_code = None;
        let assignee = t.assignee.clone();
        change.notify(Topic::Reopened, assignee.as_deref(), Some(&why));
        Ok(json!({ "rejected": previous, "reopens": change.ticket.reopens }))
    }

    async fn cancel(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        body: &MoveBody,
        change: &mut Change,
        extra: &mut Extra,
    ) -> DeskResult<serde_json::Value> {
        let text = MoveBody::required(&body.reason, "reason", "cancel")?;
        let reason = CancelReason::parse(text).ok_or_else(|| {
            DeskError::Invalid(format!(
                "`reason` must be one of {}",
                CancelReason::choices()
            ))
        })?;
        let t = &change.ticket;
        let only_requester = caller.who.role != Role::Admin
            && t.requester.as_deref() == Some(caller.who.name.as_str())
            && t.assignee.as_deref() != Some(caller.who.name.as_str())
            && !(caller.who.role == Role::UnitHead && caller.who.unit == t.unit);
        if only_requester && reason != CancelReason::Withdrawn {
            return Err(DeskError::Forbidden {
                permission: format!("tickets.cancel.{reason}"),
                detail: "a requester may only withdraw their request (`reason: withdrawn`)".into(),
            });
        }
        if reason == CancelReason::Duplicate {
            let other = MoveBody::required(&body.duplicate_of, "duplicate_of", "cancel")?;
            if other == t.id || tickets::get(conn, other).await?.is_none() {
                return Err(DeskError::Invalid(format!(
                    "`duplicate_of` must name another existing ticket; `{other}` does not"
                )));
            }
            change.ticket.duplicate_of = Some(other.to_owned());
        }
        if change.ticket.kind == Kind::Problem {
            self.release_linked(conn, change, extra).await?;
        }
        let t = &mut change.ticket;
        t.state = State::Canceled;
        t.hold_reason = None;
        t.closed_at = Some(change.now);
        t.cancel_reason = Some(reason.as_str().to_owned());
        Ok(json!({ "reason": reason, "duplicate_of": t.duplicate_of }))
    }

    /// The tickets still waiting on the problem `change` is about, locked, each as a
    /// change of its own. One listed but changed since (e.g. canceled) is left out.
    async fn waiting_on(
        &self,
        conn: &mut AnyConnection,
        change: &Change,
    ) -> DeskResult<Vec<Change>> {
        let mut out = Vec::new();
        for id in tickets::awaiting_problem(conn, &change.ticket.id).await? {
            let row = tickets::lock(conn, &id)
                .await?
                .ok_or_else(|| not_found(&id))?;
            let linked = change.derived(row.ticket()?);
            if linked.ticket.hold_reason == Some(HoldReason::AwaitingProblem) {
                out.push(linked);
            }
        }
        Ok(out)
    }

    /// A problem canceled: the tickets waiting on it go back to their assignees.
    async fn release_linked(
        &self,
        conn: &mut AnyConnection,
        change: &Change,
        extra: &mut Extra,
    ) -> DeskResult<()> {
        for mut linked in self.waiting_on(conn, change).await? {
            let from = Some(linked.ticket.state_label());
            linked.ticket.problem_id = None;
            linked.resume();
            let assignee = linked.ticket.assignee.clone();
            linked.notify(Topic::Assigned, assignee.as_deref(), None);
            let detail = json!({ "problem_id": change.ticket.id, "problem": "canceled" });
            linked.record("released_from_problem", from, None, detail);
            extra.push(linked);
        }
        Ok(())
    }

    async fn assign_to(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        body: &MoveBody,
        change: &mut Change,
    ) -> DeskResult<serde_json::Value> {
        let login = MoveBody::required(&body.assignee, "assignee", "assign")?;
        let person = people::contact(conn, login)
            .await?
            .ok_or_else(|| DeskError::Invalid(format!("no person `{login}`")))?;
        let same_unit = change.ticket.unit.as_deref() == Some(person.unit.as_str());
        if caller.who.role != Role::Admin && !same_unit {
            return Err(DeskError::Invalid(format!(
                "`{login}` is not of the ticket's unit; a unit head assigns within the unit"
            )));
        }
        if person.role != "technician" && person.role != "unit_head" {
            return Err(DeskError::Invalid(format!(
                "`{login}` is a {}, not a technician",
                person.role
            )));
        }
        let tier = person.tier.and_then(|t| u8::try_from(t).ok());
        tickets::mark_assigned(conn, login, change.now).await?;
        change.hand_to(login, tier.or(change.ticket.tier));
        Ok(assignment_detail(&change.ticket))
    }
}

/// Marks a ticket resolved with a solution; the requester is told.
fn settle(change: &mut Change, solution: &str, code: &str) {
    let t = &mut change.ticket;
    t.state = State::Resolved;
    t.hold_reason = None;
    t.held_at = None;
    t.resolved_at = Some(change.now);
    t.solution = Some(solution.to_owned());
    t.resolution_code = Some(code.to_owned());
    let requester = t.requester.clone();
    change.notify(Topic::Resolved, requester.as_deref(), None);
}
