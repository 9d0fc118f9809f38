//! The service-desk procedure (PROCEDURE.md): tickets of every kind, their states and
//! moves, automatic tier-1 assignment, approvals, tier-3 groups, problems, rescheduling,
//! and the audit chain every change is appended to.

pub mod config;

pub use config::DeskConfig;
