//! SLA: business calendars, policies, clocks computed from their log of start / pause /
//! resume / stop, warnings and breaches, and the figures the reports and metrics use.

pub mod config;

pub use config::SlaConfig;
