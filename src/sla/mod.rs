//! SLA: business calendars, policies, clocks computed from their log of start / pause /
//! resume / stop, warnings and breaches, and the figures the reports and metrics use.

pub mod calendar;
pub mod clock;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod policy;

pub use calendar::Calendar;
pub use config::SlaConfig;
pub use policy::Policies;

#[cfg(test)]
mod calendar_tests;

#[cfg(test)]
mod clock_tests;

/// A local time in El Salvador (UTC−6, no DST) as epoch milliseconds, for tests.
#[cfg(test)]
pub(crate) fn salvador(local: &str) -> i64 {
    let dt: jiff::civil::DateTime = local.parse().expect("datetime");
    dt.to_zoned(jiff::tz::TimeZone::get("America/El_Salvador").expect("tz"))
        .expect("zoned")
        .timestamp()
        .as_millisecond()
}
