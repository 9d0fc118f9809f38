//! SLA: business calendars, policies, clocks computed from their log of start / pause /
//! resume / stop, warnings and breaches, and the figures the reports and metrics use.

pub mod calendar;
pub mod clock;
pub mod config;
pub mod engine;
pub mod policy;

pub use calendar::Calendar;
pub use config::SlaConfig;
pub use policy::Policies;

#[cfg(test)]
mod calendar_tests;

#[cfg(test)]
mod clock_tests;
