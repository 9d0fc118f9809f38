//! The report's formats besides JSON: the annex as CSV (the JSON's codes, for
//! spreadsheets and scripts) and the printable HTML page in the reader's language (the
//! template escapes every value, ticket summaries included); and how the page and the
//! email write times, durations and percentages.

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};

use super::model::MonthlyReport;
use super::page::page;
use super::text::Text;
use super::ReportError;

const PAGE: &str = include_str!("templates/monthly.html");
/// Shown for a figure with nothing to measure.
pub const DASH: &str = "—";

/// The CSV's columns: `AnnexRow`'s fields, in order.
pub const CSV_COLUMNS: [&str; 20] = [
    "id",
    "kind",
    "state",
    "hold_reason",
    "summary",
    "channel",
    "priority",
    "category",
    "tier",
    "assignee",
    "opened_at",
    "acked_at",
    "resolved_at",
    "closed_at",
    "reassignments",
    "reopens",
    "problem_id",
    "cancel_reason",
    "sla_breached",
    "open_at_end",
];

/// The annex, one row per ticket attended, after a header row (there even when the
/// month had none).
pub fn csv(report: &MonthlyReport) -> Result<String, ReportError> {
    let mut out = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    out.write_record(CSV_COLUMNS).map_err(ReportError::Csv)?;
    for row in &report.annex {
        out.serialize(row).map_err(ReportError::Csv)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ReportError::Csv(e.into_error().into()))?;
    // Every field came from a String: the bytes are UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
pub fn html(report: &MonthlyReport, text: &Text) -> Result<String, ReportError> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(ReportError::Template)?,
    );
    // A misspelt field must fail the tests, not print a page with a hole in it.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template("monthly.html", PAGE)
        .map_err(ReportError::Template)?;
    let page = page(report, text);
    env.get_template("monthly.html")
        .and_then(|t| t.render(Serde(&page)))
        .map_err(ReportError::Template)
}
pub fn month_name(r: &MonthlyReport, text: &Text) -> String {
    let (year, month) = r.month.split_once('-').unwrap_or((&r.month, "1"));
    text.month_name(year.parse().unwrap_or(0), month.parse().unwrap_or(1))
}

/// `2026-11-03T14:05:00.000-06:00` → `2026-11-03 14:05` (already the unit's local time).
pub fn short_time(stamp: &str) -> String {
    match (stamp.get(..10), stamp.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time}"),
        _ => stamp.to_owned(),
    }
}

/// Business time as hours and minutes (a business day has no fixed length).
pub fn duration(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => {
            let minutes = (ms + 30_000).div_euclid(60_000);
            format!("{} h {:02} min", minutes / 60, minutes % 60)
        }
        None => DASH.to_owned(),
    }
}

/// `90,0 %` in Spanish, `90.0%` in English.
pub fn percent(rate: Option<f64>, text: &Text) -> String {
    match rate {
        Some(rate) if text.lang == "es" => format!("{:.1} %", rate * 100.0).replace('.', ","),
        Some(rate) => format!("{:.1}%", rate * 100.0),
        None => DASH.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Lang;
    use crate::report::model::AnnexRow;

    #[test]
    fn the_csv_columns_are_the_annex_fields_in_order() {
        let row = AnnexRow {
            id: "inc_1".into(),
            kind: "incident".into(),
            state: "on_hold".into(),
            hold_reason: Some("awaiting_user".into()),
            summary: "Caída, \"total\"".into(),
            channel: "monitoring".into(),
            priority: None,
            category: None,
            tier: Some(1),
            assignee: None,
            opened_at: "2026-11-03T08:00:00.000-06:00".into(),
            acked_at: None,
            resolved_at: None,
            closed_at: None,
            reassignments: 0,
            reopens: 0,
            problem_id: None,
            cancel_reason: None,
            sla_breached: false,
            open_at_end: true,
        };
        let value = serde_json::to_value(&row).expect("JSON");
        let fields: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fields, CSV_COLUMNS);
    }

    #[test]
    fn numbers_read_as_each_language_writes_them() {
        let es = Text::of(Lang::Es).expect("es");
        let en = Text::of(Lang::En).expect("en");
        assert_eq!(percent(Some(0.9), &es), "90,0 %");
        assert_eq!(percent(Some(0.9), &en), "90.0%");
        assert_eq!(percent(None, &es), DASH);
        assert_eq!(duration(Some(45 * 60_000 + 29_999)), "0 h 45 min");
        assert_eq!(duration(Some(26 * 3_600_000 + 5 * 60_000)), "26 h 05 min");
        assert_eq!(
            short_time("2026-11-03T14:05:00.000-06:00"),
            "2026-11-03 14:05"
        );
    }
}
