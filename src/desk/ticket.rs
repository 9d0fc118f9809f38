//! A ticket's vocabulary: kinds, states, hold reasons, channels, cancel reasons, and the
//! ticket as the desk reads it. Tier, group and assignee are fields, not states.

/// A closed vocabulary stored and exchanged as snake_case words.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }

            /// The accepted words, for error messages.
            pub fn choices() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use word_enum;

word_enum!(
    /// What was registered (PROCEDURE.md's glossary).
    Kind {
        Incident => "incident",
        ServiceRequest => "service_request",
        Event => "event",
        Problem => "problem",
    }
);

word_enum!(
    State {
        New => "new",
        Assigned => "assigned",
        InProgress => "in_progress",
        OnHold => "on_hold",
        Resolved => "resolved",
        Closed => "closed",
        Canceled => "canceled",
    }
);

word_enum!(
    /// Why a ticket is on hold.
    HoldReason {
        AwaitingUser => "awaiting_user",
        AwaitingApproval => "awaiting_approval",
        Rescheduled => "rescheduled",
        AwaitingProblem => "awaiting_problem",
        AwaitingVendor => "awaiting_vendor",
    }
);

word_enum!(
    /// How a request reached the desk.
    Channel {
        Portal => "portal",
        Phone => "phone",
        Chat => "chat",
        Email => "email",
        Note => "note",
        Form => "form",
        InPerson => "in_person",
        Monitoring => "monitoring",
    }
);

word_enum!(
    CancelReason {
        Duplicate => "duplicate",
        Invalid => "invalid",
        Withdrawn => "withdrawn",
    }
);

impl State {
    pub fn is_open(self) -> bool {
        !matches!(self, State::Resolved | State::Closed | State::Canceled)
    }
}

impl Kind {
    /// Id prefix of tickets registered at the desk.
    pub fn id_prefix(self) -> &'static str {
        use crate::domain::ids;
        match self {
            Kind::Incident => ids::INCIDENT,
            Kind::ServiceRequest => ids::REQUEST,
            Kind::Event => ids::TICKET_EVENT,
            Kind::Problem => ids::PROBLEM,
        }
    }
}

/// The desk's view of a ticket: every field a move reads or writes. The desk locks the
/// row, changes this copy and writes the desk's fields back whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: String,
    pub kind: Kind,
    pub state: State,
    pub hold_reason: Option<HoldReason>,
    pub unit: Option<String>,
    pub ci: Option<String>,
    pub summary: String,
    pub priority: Option<String>,
    pub tier: Option<u8>,
    pub group_id: Option<String>,
    pub assignee: Option<String>,
    /// Waiting in the central desk's queue: its unit had no tier-1 technician.
    pub central_desk: bool,
    pub requester: Option<String>,
    pub problem_id: Option<String>,
    pub problem_requested: bool,
    pub opened_at: i64,
    pub acked_at: Option<i64>,
    pub acked_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub held_at: Option<i64>,
    pub resume_at: Option<i64>,
    pub due_at: Option<i64>,
    pub reassignments: i64,
    pub reopens: i64,
    pub solution: Option<String>,
    pub resolution_code: Option<String>,
    pub duplicate_of: Option<String>,
    pub cancel_reason: Option<String>,
}

impl Ticket {
    /// The state as people read it: `on_hold (rescheduled)`.
    pub fn state_label(&self) -> String {
        match self.hold_reason {
            Some(reason) if self.state == State::OnHold => format!("on_hold ({reason})"),
            _ => self.state.to_string(),
        }
    }
}

#[cfg(test)]
impl Ticket {
    /// A new incident with nothing set, for tests to fill in.
    pub fn blank() -> Ticket {
        Ticket {
            id: "inc_test".into(),
            kind: Kind::Incident,
            state: State::New,
            hold_reason: None,
            unit: None,
            ci: None,
            summary: String::new(),
            priority: None,
            tier: None,
            group_id: None,
            assignee: None,
            central_desk: false,
            requester: None,
            problem_id: None,
            problem_requested: false,
            opened_at: 0,
            acked_at: None,
            acked_by: None,
            resolved_at: None,
            closed_at: None,
            held_at: None,
            resume_at: None,
            due_at: None,
            reassignments: 0,
            reopens: 0,
            solution: None,
            resolution_code: None,
            duplicate_of: None,
            cancel_reason: None,
        }
    }
}
