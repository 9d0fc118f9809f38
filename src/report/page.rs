//! What the printable page shows: the report's figures as the reader's words, times and
//! percentages, ready for the template (`templates/monthly.html`), which only lays them
//! out and escapes them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::*;
use super::monthly::{AGING, METRICS, NONE};
use super::render::{duration, month_name, percent, short_time, DASH};
use super::text::Text;

#[derive(Serialize)]
struct Row {
    label: String,
    value: String,
    share: String,
}

#[derive(Serialize)]
struct Table {
    title: String,
    rows: Vec<Row>,
}

#[derive(Serialize)]
struct BacklogRow {
    label: String,
    total: u64,
    buckets: Vec<u64>,
}

#[derive(Serialize)]
struct Cell {
    measured: u64,
    met: u64,
    missed: u64,
    rate: String,
}

#[derive(Serialize)]
struct SlaRow {
    label: String,
    cells: Vec<Cell>,
}

#[derive(Serialize)]
struct TimeRow {
    label: String,
    count: u64,
    mean: String,
    median: String,
    p90: String,
}

#[derive(Serialize)]
pub struct Page<'a> {
    lang: &'a str,
    t: &'a BTreeMap<String, String>,
    unit: &'a str,
    unit_name: &'a str,
    month_name: String,
    period: String,
    time_zone: &'a str,
    calendar: &'a str,
    generated_at: String,
    totals: Vec<Row>,
    volume: Vec<Table>,
    aging: Vec<String>,
    backlog: Vec<BacklogRow>,
    metrics: Vec<String>,
    sla: Vec<SlaRow>,
    breaches: Vec<BTreeMap<&'static str, String>>,
    times: Vec<TimeRow>,
    quality: Vec<Row>,
    tiers: Vec<Row>,
    problems_raised: u64,
    problems_linked: u64,
    problems: Vec<BTreeMap<&'static str, String>>,
    annex: Vec<BTreeMap<&'static str, String>>,
    definitions: &'a [Definition],
}

/// The printable page.
pub fn page<'a>(r: &'a MonthlyReport, text: &'a Text) -> Page<'a> {
    let label = |key: &str| text.label(key);
    let row = |key: &str, value: String| Row {
        label: label(key),
        value,
        share: String::new(),
    };
    let count_rows = |map: &BTreeMap<String, u64>| {
        map.iter()
            .map(|(code, n)| Row {
                label: text.word(code),
                value: n.to_string(),
                share: String::new(),
            })
            .collect()
    };
    let backlog_row = |key: &str, at: &BacklogAt| BacklogRow {
        label: format!("{} ({})", label(key), short_time(&at.at)),
        total: at.total,
        buckets: AGING
            .iter()
            .map(|b| at.aging.get(*b).copied().unwrap_or(0))
            .collect(),
    };
    let cells = |metrics: &BTreeMap<String, Compliance>| {
        METRICS
            .iter()
            .map(|m| match metrics.get(*m) {
                Some(c) => Cell {
                    measured: c.measured,
                    met: c.met,
                    missed: c.missed,
                    rate: percent(c.rate, text),
                },
                None => Cell {
                    measured: 0,
                    met: 0,
                    missed: 0,
                    rate: DASH.to_owned(),
                },
            })
            .collect()
    };
    let mut sla: Vec<SlaRow> = r
        .sla
        .by_priority
        .iter()
        .map(|(p, metrics)| SlaRow {
            label: text.word(p),
            cells: cells(metrics),
        })
        .collect();
    sla.push(SlaRow {
        label: label("all_priorities"),
        cells: cells(&r.sla.overall),
    });
    let time_row = |key: &str, d: &Durations| TimeRow {
        label: label(key),
        count: d.count,
        mean: duration(d.mean_ms),
        median: duration(d.median_ms),
        p90: duration(d.p90_ms),
    };
    let q = &r.quality;
    Page {
        lang: &text.lang,
        t: &text.labels,
        unit: &r.unit,
        unit_name: &r.unit_name,
        month_name: month_name(r, text),
        period: format!("{} – {}", short_time(&r.from), short_time(&r.to)),
        time_zone: &r.time_zone,
        calendar: &r.calendar,
        generated_at: short_time(&r.generated_at),
        totals: ["attended", "opened", "resolved", "closed", "canceled"]
            .iter()
            .zip([
                r.totals.attended,
                r.totals.opened,
                r.totals.resolved,
                r.totals.closed,
                r.totals.canceled,
            ])
            .map(|(key, n)| row(key, n.to_string()))
            .collect(),
        volume: [
            ("by_kind", &r.volume.by_kind),
            ("by_channel", &r.volume.by_channel),
            ("by_priority", &r.volume.by_priority),
            ("by_category", &r.volume.by_category),
        ]
        .iter()
        .map(|(key, map)| Table {
            title: label(key),
            rows: count_rows(map),
        })
        .collect(),
        aging: AGING.iter().map(|b| text.word(b)).collect(),
        backlog: vec![
            backlog_row("backlog_start", &r.backlog.start),
            backlog_row("backlog_end", &r.backlog.end),
        ],
        metrics: METRICS.iter().map(|m| text.word(m)).collect(),
        sla,
        breaches: r
            .sla
            .breaches
            .iter()
            .map(|b| breach_view(b, text))
            .collect(),
        times: vec![time_row("mtta", &r.mtta), time_row("mttr", &r.mttr)],
        quality: vec![
            row("resolved", q.resolved.to_string()),
            row(
                "first_contact",
                format!(
                    "{} ({})",
                    q.first_contact,
                    percent(q.first_contact_rate, text)
                ),
            ),
            row("reassignments", q.reassignments.to_string()),
            row("reassigned", q.reassigned.to_string()),
            row(
                "reopen_rate",
                format!("{} ({})", q.reopened, percent(q.reopen_rate, text)),
            ),
        ],
        tiers: q
            .by_tier
            .iter()
            .map(|(tier, s)| Row {
                label: match tier.as_str() {
                    NONE => text.word(NONE),
                    n => format!("{} {n}", label("tier")),
                },
                value: s.resolved.to_string(),
                share: percent(s.share, text),
            })
            .collect(),
        problems_raised: r.problems.raised,
        problems_linked: r.problems.linked_tickets,
        problems: r
            .problems
            .list
            .iter()
            .map(|p| {
                BTreeMap::from([
                    ("id", p.id.clone()),
                    ("summary", p.summary.clone()),
                    ("state", text.word(&p.state)),
                    ("linked", p.linked_tickets.to_string()),
                ])
            })
            .collect(),
        annex: r.annex.iter().map(|a| annex_view(a, text)).collect(),
        definitions: &r.definitions,
    }
}

fn breach_view(b: &Breach, text: &Text) -> BTreeMap<&'static str, String> {
    let stopped = match (&b.stopped_at, b.running_at_end) {
        (Some(at), false) => short_time(at),
        _ => text.label("running_at_end"),
    };
    BTreeMap::from([
        ("ticket", b.ticket.clone()),
        ("summary", b.summary.clone()),
        (
            "priority",
            b.priority.clone().unwrap_or_else(|| text.word(NONE)),
        ),
        ("metric", text.word(&b.metric)),
        ("target", duration(Some(b.target_ms))),
        ("elapsed", duration(Some(b.elapsed_ms))),
        (
            "breached_at",
            b.breached_at
                .as_deref()
                .map_or_else(|| DASH.to_owned(), short_time),
        ),
        ("stopped_at", stopped),
    ])
}

fn annex_view(a: &AnnexRow, text: &Text) -> BTreeMap<&'static str, String> {
    let time = |t: &Option<String>| t.as_deref().map_or_else(String::new, short_time);
    let state = match &a.hold_reason {
        Some(reason) => format!("{} ({})", text.word(&a.state), text.word(reason)),
        None => text.word(&a.state),
    };
    let yes_no = |b: bool| text.label(if b { "yes" } else { "no" });
    BTreeMap::from([
        ("id", a.id.clone()),
        ("kind", text.word(&a.kind)),
        ("state", state),
        ("summary", a.summary.clone()),
        ("channel", text.word(&a.channel)),
        ("priority", a.priority.clone().unwrap_or_default()),
        ("category", a.category.clone().unwrap_or_default()),
        ("tier", a.tier.map(|t| t.to_string()).unwrap_or_default()),
        ("assignee", a.assignee.clone().unwrap_or_default()),
        ("opened_at", short_time(&a.opened_at)),
        ("resolved_at", time(&a.resolved_at)),
        ("closed_at", time(&a.closed_at)),
        ("reassignments", a.reassignments.to_string()),
        ("reopens", a.reopens.to_string()),
        ("open_at_end", yes_no(a.open_at_end)),
    ])
}
