//! The monthly report as data: what the JSON format shows, what the snapshot stores and
//! hashes, and what the CSV and HTML formats are rendered from. Times are RFC 3339 in the
//! unit's time zone; durations are business milliseconds; rates are fractions (0–1),
//! `null` when nothing was measured.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MonthlyReport {
    pub unit: String,
    pub unit_name: String,
    /// `YYYY-MM`.
    pub month: String,
    /// The calendar whose time zone bounds the month.
    pub calendar: String,
    pub time_zone: String,
    /// The month's first instant, and the next month's (excluded).
    pub from: String,
    pub to: String,
    pub generated_at: String,
    /// The language of `definitions` (`es` or `en`).
    pub lang: String,
    pub totals: Totals,
    pub volume: Volume,
    pub backlog: Backlog,
    pub sla: Sla,
    /// Mean time to acknowledge and to resolve, in business time.
    pub mtta: Durations,
    pub mttr: Durations,
    pub quality: Quality,
    pub problems: Problems,
    /// Every ticket attended, oldest first, with its state.
    pub annex: Vec<AnnexRow>,
    /// What each figure means, in `lang`.
    pub definitions: Vec<Definition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Totals {
    pub attended: u64,
    pub opened: u64,
    pub resolved: u64,
    pub closed: u64,
    pub canceled: u64,
}

/// Tickets opened in the month, counted four ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Volume {
    pub by_kind: BTreeMap<String, u64>,
    /// `monitoring` for tickets monitoring opened.
    pub by_channel: BTreeMap<String, u64>,
    /// `none` for tickets without one.
    pub by_priority: BTreeMap<String, u64>,
    pub by_category: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Backlog {
    pub start: BacklogAt,
    pub end: BacklogAt,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BacklogAt {
    pub at: String,
    pub total: u64,
    /// `lt_1d`, `1d_3d`, `3d_7d`, `gt_7d`: age since opening, on the wall clock.
    pub aging: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sla {
    /// Priority (`P1`…`P5`, `none`) → metric (`acknowledge`, `resolve`) → compliance.
    pub by_priority: BTreeMap<String, BTreeMap<String, Compliance>>,
    /// Every priority together, by metric.
    pub overall: BTreeMap<String, Compliance>,
    pub breaches: Vec<Breach>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Compliance {
    /// Clocks stopped in the month.
    pub measured: u64,
    pub met: u64,
    pub missed: u64,
    /// met / measured.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Breach {
    pub ticket: String,
    pub summary: String,
    pub priority: Option<String>,
    pub metric: String,
    pub target_ms: i64,
    pub elapsed_ms: i64,
    pub breached_at: Option<String>,
    pub stopped_at: Option<String>,
    /// Still counting when the month ended.
    pub running_at_end: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Durations {
    pub count: u64,
    pub mean_ms: Option<i64>,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

/// Over the tickets resolved in the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Quality {
    pub resolved: u64,
    pub first_contact: u64,
    pub first_contact_rate: Option<f64>,
    /// Reassignments of the resolved tickets, all told.
    pub reassignments: u64,
    /// Resolved tickets reassigned at least once.
    pub reassigned: u64,
    pub reopened: u64,
    pub reopen_rate: Option<f64>,
    /// Tier (`1`, `2`, `3`, `none`) → resolved there.
    pub by_tier: BTreeMap<String, TierShare>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TierShare {
    pub resolved: u64,
    pub share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problems {
    pub raised: u64,
    /// Tickets linked to those problems.
    pub linked_tickets: u64,
    pub list: Vec<ProblemRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProblemRow {
    pub id: String,
    pub summary: String,
    pub state: String,
    pub linked_tickets: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnnexRow {
    pub id: String,
    pub kind: String,
    /// `new`, `assigned`, `in_progress`, `on_hold`, `resolved`, `closed`, `canceled`.
    pub state: String,
    pub hold_reason: Option<String>,
    pub summary: String,
    pub channel: String,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub tier: Option<i64>,
    pub assignee: Option<String>,
    pub opened_at: String,
    pub acked_at: Option<String>,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    pub reassignments: i64,
    pub reopens: i64,
    pub problem_id: Option<String>,
    pub cancel_reason: Option<String>,
    pub sla_breached: bool,
    /// Open when the month ended.
    pub open_at_end: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Definition {
    pub key: String,
    pub term: String,
    pub text: String,
}
