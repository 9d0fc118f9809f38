//! The service-desk procedure (PROCEDURE.md): tickets of every kind, their states and
//! moves, automatic tier-1 assignment, approvals, tier-3 groups, problems, rescheduling,
//! and the audit chain every change is appended to.
//!
//! In: registrations and moves from the API (with the caller), new incidents the intake
//! writer opened. Out: ticket rows, audit records and notification outbox rows, written
//! in one transaction per change. Timers (`timers`) assign new incidents, resume
//! rescheduled tickets and close unconfirmed ones.

mod actions;
mod assign;
pub mod audit;
mod body;
mod change;
pub mod config;
mod error;
pub mod moves;
mod register;
mod service;
mod sla_checks;
pub mod ticket;
pub mod timers;

pub use body::{MoveBody, NewGroup, NewMember, Registration};
pub use change::{Caller, SYSTEM};
pub use config::DeskConfig;
pub use error::{DeskError, DeskResult};
pub use register::MAX_SUMMARY;
pub use service::{now, Desk};
