//! The monthly report per unit (PROCEDURE.md, stage 3: "every month the desk
//! administrator sends each unit head a report of the cases attended and their status").
//!
//! In: a unit and a month (`YYYY-MM`, in the unit's time zone). Reads the unit's tickets
//! attended in the month, their SLA clocks and the tickets linked to its problems
//! (`store::reports`). Out: a `MonthlyReport` (`model`) computed by pure functions
//! (`monthly`), rendered as JSON, the annex as CSV, or a printable HTML page in Spanish or
//! English (`render`). `schedule` emails each unit head (copy to the administrators) the
//! previous month's report on the month's first business day, storing the JSON sent and
//! its SHA-256 in `report_snapshots` so it can be proven later.

pub mod cli;
pub mod email;
pub mod model;
pub mod monthly;
pub mod page;
pub mod period;
pub mod render;
pub mod schedule;
pub mod text;

use std::sync::Arc;

use serde::Deserialize;

pub use model::MonthlyReport;
pub use period::{BadMonth, Month, UnitCalendar};

use crate::domain::Lang;
use crate::sla::SlaConfig;
use crate::store::{reports, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no unit `{0}` in the registry")]
    UnknownUnit(String),
    #[error("the unit's calendar is invalid")]
    Calendar(#[source] crate::sla::calendar::CalendarError),
    #[error("month {month} has no first instant in the unit's time zone")]
    Month {
        month: String,
        #[source]
        source: jiff::Error,
    },
    #[error("the report's words do not load")]
    Text(#[source] serde_json::Error),
    #[error("the report's page cannot be rendered")]
    Template(#[source] minijinja::Error),
    #[error("the annex cannot be written as CSV")]
    Csv(#[source] csv::Error),
    #[error("the report cannot be written as JSON")]
    Json(#[source] serde_json::Error),
    #[error("the database failed")]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ReportError {
    fn from(e: sqlx::Error) -> Self {
        ReportError::Store(e.into())
    }
}

/// A report's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// The annex only.
    Csv,
    Html,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "html" => Some(Format::Html),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

/// `es` or `en`, exactly; for the `lang` parameters.
pub fn parse_lang(text: &str) -> Option<Lang> {
    match text {
        "es" => Some(Lang::Es),
        "en" => Some(Lang::En),
        _ => None,
    }
}

/// Makes reports: holds the `[sla]` settings that say each unit's time zone and calendar
/// and when reports go out. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Reports {
    sla: Arc<SlaConfig>,
}

impl Reports {
    pub fn new(sla: &SlaConfig) -> Reports {
        Reports {
            sla: Arc::new(sla.clone()),
        }
    }

    /// Whether the scheduler emails the reports (`[sla] reports_enabled`).
    pub fn enabled(&self) -> bool {
        self.sla.reports_enabled
    }

    /// The local hour from which a first business day's reports go out.
    pub fn hour(&self) -> i8 {
        i8::try_from(self.sla.report_hour).unwrap_or(23)
    }

    pub fn calendar(&self, unit: &str) -> Result<UnitCalendar, ReportError> {
        UnitCalendar::of(&self.sla, unit)
    }

    /// The unit's report for the month, as the data stands now (`now_ms` is printed as
    /// its generation time).
    pub async fn monthly(
        &self,
        store: &Store,
        unit: &str,
        month: Month,
        lang: Lang,
        now_ms: i64,
    ) -> Result<MonthlyReport, ReportError> {
        let text = text::Text::of(lang)?;
        let calendar = self.calendar(unit)?;
        let (start, end) = calendar.bounds(month)?;
        let mut tx = reports::snapshot_read(store).await?;
        let unit_name = reports::unit_name(&mut tx, unit)
            .await?
            .ok_or_else(|| ReportError::UnknownUnit(unit.to_owned()))?;
        let tickets = reports::attended(&mut tx, unit, start, end).await?;
        let clocks = reports::clocks(&mut tx, unit, start, end).await?;
        let linked = reports::linked_to_problems(&mut tx, unit, start, end).await?;
        tx.commit().await?;
        Ok(monthly::compute(&monthly::Inputs {
            unit,
            unit_name: &unit_name,
            month,
            calendar: &calendar,
            start,
            end,
            tickets: &tickets,
            clocks: &clocks,
            linked: &linked,
            generated_at: now_ms,
            text: &text,
        }))
    }
}

/// The report in a format: its content type and text. JSON is indented for people.
pub fn render(
    report: &MonthlyReport,
    format: Format,
    lang: Lang,
) -> Result<(&'static str, String), ReportError> {
    let body = match format {
        Format::Json => serde_json::to_string_pretty(report).map_err(ReportError::Json)?,
        Format::Csv => render::csv(report)?,
        Format::Html => render::html(report, &text::Text::of(lang)?)?,
    };
    Ok((format.content_type(), body))
}

/// `[sla] report_hour`: an hour of the day, 0 to 23.
pub fn deserialize_hour<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let hour = u8::deserialize(d)?;
    if hour > 23 {
        return Err(serde::de::Error::custom(format!(
            "{hour} is not an hour of the day (0 to 23)"
        )));
    }
    Ok(hour)
}

#[cfg(test)]
// figment's `Jail` closures return its own (large) error type; that is its API.
#[allow(clippy::result_large_err)]
mod tests {
    use std::path::Path;

    use figment::Jail;

    use crate::config::Config;
    use crate::sla::SlaConfig;

    #[test]
    fn the_example_file_states_the_report_defaults() {
        Jail::expect_with(|_jail| {
            let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("vigia.example.toml");
            let config = Config::load(Some(&example)).expect("the example loads");
            let defaults = SlaConfig::default();
            assert_eq!(config.sla.reports_enabled, defaults.reports_enabled);
            assert_eq!(config.sla.report_hour, defaults.report_hour);
            Ok(())
        });
    }

    #[test]
    fn a_report_hour_that_is_no_hour_is_refused_with_its_key() {
        Jail::expect_with(|jail| {
            jail.create_file("v.toml", "[sla]\nreport_hour = 24\n")?;
            let err = Config::load(Some(Path::new("v.toml"))).expect_err("refused");
            assert!(err.to_string().contains("report_hour"), "{err}");
            Ok(())
        });
    }
}
