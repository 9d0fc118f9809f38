//! The procedure's moves as rules: from which states each may be made, and by whom.
//! Pure: the desk service asks `check` before it changes anything.

use super::ticket::{word_enum, HoldReason, Kind, State, Ticket};
use crate::auth::{Principal, Role};

word_enum!(
    /// A move on a ticket (`POST /api/v1/tickets/{id}/{action}`).
    Action {
        Accept => "accept",
        RequestInfo => "request_info",
        Comment => "comment",
        Escalate => "escalate",
        RequestApproval => "request_approval",
        Approve => "approve",
        Reject => "reject",
        GiveUp => "give_up",
        FormGroup => "form_group",
        RequestProblem => "request_problem",
        RaiseProblem => "raise_problem",
        Hold => "hold",
        Resume => "resume",
        Reschedule => "reschedule",
        Resolve => "resolve",
        Confirm => "confirm",
        Reopen => "reopen",
        Cancel => "cancel",
        Assign => "assign",
        SetRequester => "set_requester",
    }
);

/// Who may make a move (the admin, as the central desk, always may).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// The ticket's assignee, while the ticket is at one of these tiers (any when empty).
    Assignee(&'static [u8]),
    /// The head of the ticket's unit.
    Head,
    Requester,
    /// Anyone who may see the ticket.
    Anyone,
    /// The requester (to withdraw), the assignee or the unit head.
    Party,
    /// The assignee or the unit head.
    Handler,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a move from the ticket's state.
    Illegal {
        state: String,
        allowed: Vec<&'static str>,
    },
    /// The caller lacks the permission; `needs` says who holds it.
    Forbidden { permission: String, needs: String },
}

impl Action {
    fn who(self) -> Who {
        use Action::*;
        match self {
            Accept | RequestInfo | Hold | Resume | Reschedule | Resolve => Who::Assignee(&[]),
            Escalate => Who::Assignee(&[1]),
            GiveUp => Who::Assignee(&[2]),
            RequestApproval => Who::Assignee(&[2, 3]),
            RequestProblem => Who::Assignee(&[3]),
            Approve | Reject | FormGroup | RaiseProblem | Assign => Who::Head,
            Confirm | Reopen => Who::Requester,
            Comment => Who::Anyone,
            Cancel => Who::Party,
            SetRequester => Who::Handler,
        }
    }

    /// Whether the move can be made from this state.
    fn from(self, state: State, hold: Option<HoldReason>) -> bool {
        use Action::*;
        use State::*;
        match self {
            Accept => matches!(state, New | Assigned),
            RequestInfo | Reschedule | Hold | Resolve => matches!(state, Assigned | InProgress),
            Escalate | FormGroup | Assign => matches!(state, New | Assigned | InProgress),
            RequestApproval | GiveUp | RequestProblem => state == InProgress,
            RaiseProblem => matches!(state, Assigned | InProgress),
            Approve | Reject => state == OnHold && hold == Some(HoldReason::AwaitingApproval),
            Resume => {
                state == OnHold
                    && matches!(
                        hold,
                        Some(HoldReason::Rescheduled | HoldReason::AwaitingVendor)
                    )
            }
            Comment => !matches!(state, Closed | Canceled),
            Confirm | Reopen => state == Resolved,
            Cancel | SetRequester => state.is_open(),
        }
    }
}

/// The moves that can be made from the ticket's state, whoever makes them.
pub fn allowed(ticket: &Ticket) -> Vec<&'static str> {
    Action::ALL
        .iter()
        .filter(|a| a.from(ticket.state, ticket.hold_reason))
        .filter(|a| !(**a == Action::RaiseProblem && ticket.kind == Kind::Problem))
        .map(|a| a.as_str())
        .collect()
}

/// Whether the caller may see the ticket: the admin all; heads and technicians their
/// unit's and those assigned to them; everyone the tickets they requested.
pub fn can_see(who: &Principal, ticket: &Ticket) -> bool {
    let own_unit = who.unit.is_some() && who.unit == ticket.unit;
    who.role == Role::Admin
        || ticket.requester.as_deref() == Some(who.name.as_str())
        || ticket.assignee.as_deref() == Some(who.name.as_str())
        || (matches!(who.role, Role::UnitHead | Role::Technician) && own_unit)
}

/// Checks a move against the ticket's state, then against who makes it.
pub fn check(action: Action, who: &Principal, ticket: &Ticket) -> Result<(), Refusal> {
    let problem_on_problem = action == Action::RaiseProblem && ticket.kind == Kind::Problem;
    if !action.from(ticket.state, ticket.hold_reason) || problem_on_problem {
        return Err(Refusal::Illegal {
            state: ticket.state_label(),
            allowed: allowed(ticket),
        });
    }
    if who.role == Role::Admin || permitted(action.who(), who, ticket) {
        return Ok(());
    }
    Err(Refusal::Forbidden {
        permission: format!("tickets.{action}"),
        needs: needs(action, ticket),
    })
}

fn permitted(rule: Who, who: &Principal, ticket: &Ticket) -> bool {
    let me = Some(who.name.as_str());
    let assignee = ticket.assignee.as_deref() == me;
    let head = who.role == Role::UnitHead && who.unit.is_some() && who.unit == ticket.unit;
    let requester = ticket.requester.as_deref() == me;
    match rule {
        Who::Assignee(tiers) => {
            assignee && (tiers.is_empty() || ticket.tier.is_some_and(|t| tiers.contains(&t)))
        }
        Who::Head => head,
        Who::Requester => requester,
        Who::Anyone => can_see(who, ticket),
        Who::Party => assignee || head || requester,
        Who::Handler => assignee || head,
    }
}

/// Who holds the permission, in words for the 403 answer.
fn needs(action: Action, ticket: &Ticket) -> String {
    let unit = ticket.unit.as_deref().unwrap_or("-");
    match action.who() {
        Who::Assignee([]) => "the ticket's assignee".to_owned(),
        Who::Assignee(tiers) => {
            let tiers: Vec<String> = tiers.iter().map(u8::to_string).collect();
            format!(
                "the ticket's assignee while the ticket is at tier {} (it is at tier {})",
                tiers.join(" or "),
                ticket.tier.map_or("-".to_owned(), |t| t.to_string())
            )
        }
        Who::Head => format!("the head of unit {unit}"),
        Who::Requester => "the ticket's requester".to_owned(),
        Who::Anyone => format!("someone who may see the ticket (unit {unit})"),
        Who::Party => "the requester, the assignee or the unit head".to_owned(),
        Who::Handler => format!("the ticket's assignee or the head of unit {unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(state: State, tier: u8) -> Ticket {
        Ticket {
            id: "inc_1".into(),
            kind: Kind::Incident,
            state,
            hold_reason: None,
            unit: Some("DINAFI".into()),
            summary: "s".into(),
            priority: Some("P2".into()),
            tier: Some(tier),
            assignee: Some("ana.lopez".into()),
            requester: Some("luis".into()),
            ..Ticket::blank()
        }
    }

    fn person(name: &str, role: Role, unit: &str) -> Principal {
        Principal {
            token_id: "tok".into(),
            name: name.into(),
            role,
            unit: Some(unit.into()),
            tier: None,
            person: true,
        }
    }

    #[test]
    fn only_the_tier_one_assignee_escalates() {
        let t = ticket(State::InProgress, 1);
        let ana = person("ana.lopez", Role::Technician, "DINAFI");
        let carlos = person("carlos.mejia", Role::Technician, "DINAFI");
        assert_eq!(check(Action::Escalate, &ana, &t), Ok(()));
        let Err(Refusal::Forbidden { permission, needs }) = check(Action::Escalate, &carlos, &t)
        else {
            panic!("carlos is not the assignee")
        };
        assert_eq!(permission, "tickets.escalate");
        assert!(needs.contains("tier 1"), "{needs}");
        // At tier 2 the same assignee may no longer escalate.
        assert!(check(Action::Escalate, &ana, &ticket(State::InProgress, 2)).is_err());
    }

    #[test]
    fn heads_decide_only_for_their_unit() {
        let mut t = ticket(State::OnHold, 2);
        t.hold_reason = Some(HoldReason::AwaitingApproval);
        assert_eq!(
            check(
                Action::Approve,
                &person("jefe.dinafi", Role::UnitHead, "DINAFI"),
                &t
            ),
            Ok(())
        );
        assert!(matches!(
            check(
                Action::Approve,
                &person("jefe.dga", Role::UnitHead, "DGA"),
                &t
            ),
            Err(Refusal::Forbidden { .. })
        ));
    }

    #[test]
    fn an_illegal_move_names_the_state_and_the_moves_allowed() {
        let t = ticket(State::Resolved, 1);
        let Err(Refusal::Illegal { state, allowed }) = check(
            Action::Escalate,
            &person("ana.lopez", Role::Technician, "DINAFI"),
            &t,
        ) else {
            panic!("escalating a resolved ticket is illegal")
        };
        assert_eq!(state, "resolved");
        assert_eq!(allowed, vec!["comment", "confirm", "reopen"]);
    }

    #[test]
    fn visibility_follows_role_and_unit() {
        let t = ticket(State::InProgress, 1);
        assert!(can_see(&person("x", Role::Technician, "DINAFI"), &t));
        assert!(!can_see(&person("x", Role::Technician, "DGA"), &t));
        assert!(can_see(&person("luis", Role::Requester, "DGA"), &t));
        assert!(!can_see(&person("otro", Role::Requester, "DINAFI"), &t));
        assert!(can_see(&person("root", Role::Admin, "DGA"), &t));
    }
}
