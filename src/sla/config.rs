//! `[sla]` in the configuration: policies per kind × priority (optionally per unit or CI
//! type), business calendars and which unit uses which, pauses, warnings and breaches.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    /// Targets; the most specific policy that matches a ticket wins (unit and CI type
    /// count), the first of equals. Shipped defaults cover every kind × priority.
    pub policies: Vec<Policy>,
    /// Hold reasons that pause the clocks.
    pub pause_on: Vec<String>,
    /// Fractions of a target at which the assignee is warned.
    pub warn_at: Vec<f64>,
    /// At breach, move the ticket up one tier (tier 1 → 2) as well as telling the head.
    pub escalate_on_breach: bool,
    /// Calendars by name; `24x7` is always there.
    pub calendars: BTreeMap<String, CalendarConfig>,
    /// The calendar of units that name none in `unit_calendars`.
    pub default_calendar: String,
    /// Unit code → calendar name.
    pub unit_calendars: BTreeMap<String, String>,
    /// Seconds between runs of the SLA timers (warnings and breaches).
    pub timer_interval_secs: u64,
    /// Seconds between two readings of the desk's figures for `/metrics` (a scrape
    /// reads them too when the last reading is older than 2 s).
    pub metrics_refresh_secs: u64,
    /// Days back `vigia_sla_compliance_ratio` looks at resolve clocks stopped.
    pub compliance_window_days: u64,
    /// Email each unit head (copy to the administrators) the previous month's report on
    /// the first business day of its calendar; off, reports are made on demand only.
    pub reports_enabled: bool,
    /// Local hour (0–23, the unit's time zone) from which that day's reports go out.
    #[serde(deserialize_with = "crate::report::deserialize_hour")]
    pub report_hour: u8,
}

/// One target pair. Durations are business time, written `45s`, `30m`, `8h`, `1h 30m`
/// (`d` is 24 hours: in a calendar of 7 working hours a day, 3 working days is `21h`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    /// incident, service_request, event or problem; any when absent.
    pub kind: Option<String>,
    /// P1 … P5; any when absent.
    pub priority: Option<String>,
    pub unit: Option<String>,
    /// A CI type (`database`, `server`, …).
    pub ci_type: Option<String>,
    pub acknowledge: String,
    pub resolve: String,
    /// This policy's own calendar (e.g. `24x7` for P1), instead of the unit's.
    pub calendar: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// IANA time zone, e.g. `America/El_Salvador`.
    pub time_zone: String,
    /// Weekday (`mon` … `sun`) → working intervals `HH:MM-HH:MM`; a day absent is not
    /// worked.
    pub hours: BTreeMap<String, Vec<String>>,
    /// Dates (`YYYY-MM-DD`) not worked.
    #[serde(default)]
    pub holidays: Vec<String>,
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            policies: default_policies(),
            pause_on: ["rescheduled", "awaiting_user", "awaiting_problem"]
                .map(String::from)
                .to_vec(),
            warn_at: vec![0.75, 0.9],
            escalate_on_breach: false,
            calendars: BTreeMap::from([("ministerio".to_owned(), ministry_calendar())]),
            default_calendar: "ministerio".to_owned(),
            unit_calendars: BTreeMap::new(),
            timer_interval_secs: 15,
            metrics_refresh_secs: 15,
            compliance_window_days: 30,
            reports_enabled: true,
            report_hour: 8,
        }
    }
}

/// Monday to Friday, 08:00–12:00 and 13:00–16:00 in El Salvador, with the national
/// holidays of 2026 and 2027.
fn ministry_calendar() -> CalendarConfig {
    let day = vec!["08:00-12:00".to_owned(), "13:00-16:00".to_owned()];
    let hours = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| (d.to_string(), day.clone()))
        .collect();
    let holidays = [
        "2026-01-01",
        "2026-04-02",
        "2026-04-03",
        "2026-04-04",
        "2026-05-01",
        "2026-05-10",
        "2026-06-17",
        "2026-08-06",
        "2026-09-15",
        "2026-11-02",
        "2026-12-25",
        "2027-01-01",
        "2027-03-25",
        "2027-03-26",
        "2027-03-27",
        "2027-05-01",
        "2027-05-10",
        "2027-06-17",
        "2027-08-06",
        "2027-09-15",
        "2027-11-02",
        "2027-12-25",
    ]
    .map(String::from)
    .to_vec();
    CalendarConfig {
        time_zone: "America/El_Salvador".to_owned(),
        hours,
        holidays,
    }
}

/// Every kind × priority. Incidents P1 and P2 run on the clock (24×7); the rest in
/// business hours.
fn default_policies() -> Vec<Policy> {
    let targets = [
        ("incident", "P1", "15m", "4h", Some("24x7")),
        ("incident", "P2", "30m", "8h", Some("24x7")),
        ("incident", "P3", "2h", "16h", None),
        ("incident", "P4", "4h", "21h", None),
        ("incident", "P5", "8h", "35h", None),
        ("service_request", "P1", "1h", "8h", None),
        ("service_request", "P2", "2h", "16h", None),
        ("service_request", "P3", "4h", "21h", None),
        ("service_request", "P4", "8h", "35h", None),
        ("service_request", "P5", "7h", "70h", None),
        ("event", "P1", "15m", "4h", Some("24x7")),
        ("event", "P2", "30m", "8h", Some("24x7")),
        ("event", "P3", "2h", "16h", None),
        ("event", "P4", "4h", "21h", None),
        ("event", "P5", "8h", "35h", None),
        ("problem", "P1", "7h", "70h", None),
        ("problem", "P2", "7h", "105h", None),
        ("problem", "P3", "14h", "140h", None),
        ("problem", "P4", "21h", "210h", None),
        ("problem", "P5", "35h", "280h", None),
    ];
    targets
        .iter()
        .map(|(kind, priority, ack, resolve, calendar)| Policy {
            name: format!("{kind}-{priority}"),
            kind: Some(kind.to_string()),
            priority: Some(priority.to_string()),
            unit: None,
            ci_type: None,
            acknowledge: ack.to_string(),
            resolve: resolve.to_string(),
            calendar: calendar.map(String::from),
        })
        .collect()
}
