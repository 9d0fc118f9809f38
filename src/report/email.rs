//! The monthly report as an email: the summary and the annex in plain text (the
//! notifier sends plain text only), where to read the printable page, and the snapshot's
//! id and SHA-256 that prove which report was sent.

use super::model::MonthlyReport;
use super::render::{duration, month_name, percent};
use super::text::Text;

/// Who the email is for, and whether it is the administrators' copy.
pub struct Addressee<'a> {
    pub name: &'a str,
    pub copy: bool,
}

/// The snapshot the email tells about.
pub struct Proof<'a> {
    pub id: &'a str,
    pub hash: &'a str,
}

/// The subject and the body.
pub fn compose(
    report: &MonthlyReport,
    text: &Text,
    to: &Addressee,
    proof: &Proof,
) -> (String, String) {
    let label = |key: &str| text.label(key);
    let month = month_name(report, text);
    let subject = format!("{}: {}, {month}", label("title"), report.unit);
    let mut lines = vec![label("dear").replace("{name}", to.name), String::new()];
    lines.push(
        label("email_intro")
            .replace("{unit}", &report.unit)
            .replace("{unit_name}", &report.unit_name)
            .replace("{month}", &month)
            .replace("{time_zone}", &report.time_zone),
    );
    if to.copy {
        lines.push(label("email_copy"));
    }
    lines.push(String::new());
    lines.push(label("summary"));
    lines.extend(summary(report, text).into_iter().map(|l| format!("- {l}")));
    lines.push(String::new());
    lines.push(format!("{} ({})", label("annex"), report.annex.len()));
    for row in &report.annex {
        let state = match &row.hold_reason {
            Some(reason) => format!("{} ({})", text.word(&row.state), text.word(reason)),
            None => text.word(&row.state),
        };
        let priority = row.priority.as_deref().unwrap_or("-");
        lines.push(format!(
            "{} · {} · {state} · {priority} · {}",
            row.id,
            text.word(&row.kind),
            one_line(&row.summary)
        ));
    }
    lines.push(String::new());
    lines.push(label("email_full"));
    for format in ["html", "csv"] {
        lines.push(format!(
            "  GET /api/v1/reports/monthly?unit={}&month={}&format={format}&lang={}",
            report.unit, report.month, text.lang
        ));
    }
    lines.push(
        label("email_proof")
            .replace("{id}", proof.id)
            .replace("{hash}", proof.hash),
    );
    lines.push(format!("  GET /api/v1/reports/snapshots/{}", proof.id));
    (subject, lines.join("\n") + "\n")
}

fn summary(r: &MonthlyReport, text: &Text) -> Vec<String> {
    let label = |key: &str| text.label(key);
    let of = label("of");
    let compliance = |metric: &str| {
        let c = r.sla.overall.get(metric);
        let (met, measured) = c.map_or((0, 0), |c| (c.met, c.measured));
        format!(
            "{} ({}): {} ({met} {of} {measured})",
            label("compliance"),
            text.word(metric),
            percent(c.and_then(|c| c.rate), text)
        )
    };
    let times = |key: &str, d: &super::model::Durations| {
        format!(
            "{}: {} {} · {} {} · {} {}",
            label(key),
            label("mean"),
            duration(d.mean_ms),
            label("median"),
            duration(d.median_ms),
            label("p90"),
            duration(d.p90_ms)
        )
    };
    let t = &r.totals;
    let q = &r.quality;
    vec![
        format!("{}: {}", label("attended"), t.attended),
        format!(
            "{}: {} · {}: {} · {}: {} · {}: {}",
            label("opened"),
            t.opened,
            label("resolved"),
            t.resolved,
            label("closed"),
            t.closed,
            label("canceled"),
            t.canceled
        ),
        format!(
            "{}: {} {} · {} {}",
            label("backlog"),
            label("backlog_start").to_lowercase(),
            r.backlog.start.total,
            label("backlog_end").to_lowercase(),
            r.backlog.end.total
        ),
        compliance("acknowledge"),
        compliance("resolve"),
        format!("{}: {}", label("breaches"), r.sla.breaches.len()),
        times("mtta", &r.mtta),
        times("mttr", &r.mttr),
        format!(
            "{}: {} · {}: {} · {}: {}",
            label("first_contact"),
            percent(q.first_contact_rate, text),
            label("reopen_rate"),
            percent(q.reopen_rate, text),
            label("reassignments"),
            q.reassignments
        ),
        format!(
            "{}: {} ({}: {})",
            label("problems"),
            r.problems.raised,
            label("linked_tickets"),
            r.problems.linked_tickets
        ),
    ]
}

/// A summary on one line, whatever line breaks it carries.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
