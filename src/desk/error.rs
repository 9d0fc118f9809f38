//! The desk's one error type; the API maps it to problem details in one place.

use super::moves::Refusal;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("{0}")]
    NotFound(String),
    /// The caller lacks `permission`; `detail` says who holds it.
    #[error("{detail}")]
    Forbidden { permission: String, detail: String },
    /// Not a move from the ticket's state.
    #[error("cannot `{action}` a ticket that is {state}")]
    Illegal {
        action: String,
        state: String,
        allowed: Vec<&'static str>,
    },
    /// The request is well formed but its content is refused.
    #[error("{0}")]
    Invalid(String),
    /// The move is legal but the ticket's situation refuses it (e.g. SLA breached).
    #[error("{0}")]
    Conflict(String),
    #[error("the desk could not read or write the database")]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for DeskError {
    fn from(e: sqlx::Error) -> Self {
        DeskError::Store(e.into())
    }
}

impl DeskError {
    pub fn refused(action: &str, refusal: Refusal) -> DeskError {
        match refusal {
            Refusal::Illegal { state, allowed } => DeskError::Illegal {
                action: action.to_owned(),
                state,
                allowed,
            },
            Refusal::Forbidden { permission, needs } => DeskError::Forbidden {
                detail: format!("`{action}` is for {needs}"),
                permission,
            },
        }
    }

    pub fn unseen(id: &str, who: &str) -> DeskError {
        DeskError::Forbidden {
            permission: "tickets.read".to_owned(),
            detail: format!(
                "`{who}` may not see ticket `{id}`: it belongs to another unit and is neither assigned to nor requested by them"
            ),
        }
    }
}

pub type DeskResult<T> = Result<T, DeskError>;
