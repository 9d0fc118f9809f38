//! The report's figures counted again, plainly, from the generated rows: loops over the
//! data following the printed definitions, sharing no code with the report.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::month::{november, Clock, Generated, Ticket, DAY};

fn in_month(time: Option<i64>) -> bool {
    let (start, end) = november();
    matches!(time, Some(t) if t >= start && t < end)
}

/// Open at `at`: opened before it, and neither resolved nor closed before it.
pub fn open_at(t: &Ticket, at: i64) -> bool {
    if t.opened_at >= at {
        return false;
    }
    let resolved_before = matches!(t.resolved_at, Some(r) if r < at);
    let closed_before = matches!(t.closed_at, Some(c) if c < at);
    !resolved_before && !closed_before
}

pub fn attended(g: &Generated) -> Vec<&Ticket> {
    let (start, end) = november();
    let mut list: Vec<&Ticket> = Vec::new();
    for t in &g.tickets {
        if t.unit != "DINAFI" || t.opened_at >= end {
            continue;
        }
        if t.opened_at >= start
            || open_at(t, start)
            || in_month(t.resolved_at)
            || in_month(t.closed_at)
        {
            list.push(t);
        }
    }
    list.sort_by_key(|t| t.opened_at);
    list
}

fn count_by(tickets: &[&Ticket], zeros: &[&str], key: impl Fn(&Ticket) -> String) -> Value {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for z in zeros {
        counts.insert(z.to_string(), 0);
    }
    for t in tickets {
        *counts.entry(key(t)).or_insert(0) += 1;
    }
    json!(counts)
}

fn rate(part: u64, whole: u64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        json!(part as f64 / whole as f64)
    }
}

fn backlog(tickets: &[&Ticket], at: i64) -> (u64, Value) {
    let mut total = 0;
    let mut aging = BTreeMap::from([("lt_1d", 0u64), ("1d_3d", 0), ("3d_7d", 0), ("gt_7d", 0)]);
    for t in tickets.iter().filter(|t| open_at(t, at)) {
        total += 1;
        let age = at - t.opened_at;
        let bucket = if age < DAY {
            "lt_1d"
        } else if age < 3 * DAY {
            "1d_3d"
        } else if age < 7 * DAY {
            "3d_7d"
        } else {
            "gt_7d"
        };
        *aging.get_mut(bucket).expect("bucket") += 1;
    }
    (total, json!(aging))
}

fn stats(mut values: Vec<i64>) -> Value {
    values.sort();
    let n = values.len();
    if n == 0 {
        return json!({"count": 0, "mean_ms": null, "median_ms": null, "p90_ms": null});
    }
    let sum: i64 = values.iter().sum();
    let n64 = n as i64;
    let nearest = |p: usize| values[(p * n).div_ceil(100) - 1];
    json!({
        "count": n,
        "mean_ms": (2 * sum + n64) / (2 * n64),
        "median_ms": nearest(50),
        "p90_ms": nearest(90),
    })
}

/// Every figure but the annex's times, the definitions and the header, as the report's
/// JSON should show them.
pub fn figures(g: &Generated) -> Value {
    let (start, end) = november();
    let tickets = attended(g);
    let opened: Vec<&Ticket> = tickets
        .iter()
        .copied()
        .filter(|t| t.opened_at >= start)
        .collect();
    let resolved: Vec<&Ticket> = tickets
        .iter()
        .copied()
        .filter(|t| in_month(t.resolved_at))
        .collect();
    let ended = |status: &str| {
        tickets
            .iter()
            .filter(|t| t.status == status && in_month(t.closed_at))
            .count()
    };
    let (start_total, start_aging) = backlog(&tickets, start);
    let (end_total, end_aging) = backlog(&tickets, end);

    // SLA: clocks of attended tickets neither canceled nor merged.
    let measured: BTreeMap<&str, &Ticket> = tickets
        .iter()
        .filter(|t| t.status != "canceled" && t.merged_into.is_none())
        .map(|t| (t.id.as_str(), *t))
        .collect();
    let mut table: BTreeMap<String, BTreeMap<&str, [u64; 3]>> = BTreeMap::new();
    for p in ["P1", "P2", "P3", "P4", "P5"] {
        table.insert(
            p.into(),
            BTreeMap::from([("acknowledge", [0; 3]), ("resolve", [0; 3])]),
        );
    }
    let mut overall = BTreeMap::from([("acknowledge", [0u64; 3]), ("resolve", [0; 3])]);
    let mut elapsed: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut breaches: Vec<Value> = Vec::new();
    let mut clocks: Vec<&Clock> = g.clocks.iter().collect();
    clocks.sort_by(|a, b| (&a.ticket, a.metric).cmp(&(&b.ticket, b.metric)));
    for c in clocks {
        let Some(t) = measured.get(c.ticket.as_str()) else {
            continue;
        };
        let stopped_in_month = in_month(c.stopped_at);
        let met = c.stopped_at.is_some() && c.elapsed <= c.target && c.breached_at.is_none();
        if stopped_in_month {
            let priority = t.priority.unwrap_or("none").to_string();
            let row = table.entry(priority).or_default();
            for cell in [
                row.entry(c.metric).or_insert([0; 3]),
                overall.get_mut(c.metric).expect("metric"),
            ] {
                cell[0] += 1;
                cell[if met { 1 } else { 2 }] += 1;
            }
            elapsed.entry(c.metric).or_default().push(c.elapsed);
        }
        let running_at_end = match c.stopped_at {
            None => true,
            Some(s) => s >= end,
        };
        let breached_by_end = matches!(c.breached_at, Some(b) if b < end);
        if (stopped_in_month && !met) || (running_at_end && breached_by_end) {
            breaches.push(json!({
                "ticket": c.ticket, "metric": c.metric, "target_ms": c.target,
                "elapsed_ms": c.elapsed, "running_at_end": running_at_end,
                "priority": t.priority,
            }));
        }
    }
    let cell = |[m, ok, missed]: [u64; 3]| json!({"measured": m, "met": ok, "missed": missed, "rate": rate(ok, m)});
    let by_priority: BTreeMap<String, Value> = table
        .into_iter()
        .map(|(p, metrics)| {
            (
                p,
                json!(metrics
                    .into_iter()
                    .map(|(k, v)| (k, cell(v)))
                    .collect::<BTreeMap<_, _>>()),
            )
        })
        .collect();
    let overall: BTreeMap<&str, Value> = overall.into_iter().map(|(k, v)| (k, cell(v))).collect();

    // Quality, over those resolved in the month.
    let n = resolved.len() as u64;
    let first = resolved
        .iter()
        .filter(|t| t.tier == Some(1) && t.reassignments == 0)
        .count() as u64;
    let reopened = resolved.iter().filter(|t| t.reopens > 0).count() as u64;
    let mut tiers = BTreeMap::from([("1".to_string(), 0u64), ("2".into(), 0), ("3".into(), 0)]);
    for t in &resolved {
        let key = t
            .tier
            .map(|x| x.to_string())
            .unwrap_or_else(|| "none".into());
        *tiers.entry(key).or_insert(0) += 1;
    }
    let by_tier: BTreeMap<String, Value> = tiers
        .into_iter()
        .map(|(k, v)| (k, json!({"resolved": v, "share": rate(v, n)})))
        .collect();

    // Problems opened in the month, and every ticket linked to each.
    let mut problems = Vec::new();
    let mut linked_total = 0;
    for p in opened.iter().filter(|t| t.kind == "problem") {
        let linked = g
            .tickets
            .iter()
            .filter(|t| t.problem_id.as_deref() == Some(p.id.as_str()))
            .count();
        linked_total += linked;
        problems.push(
            json!({"id": p.id, "summary": p.summary, "state": p.status, "linked_tickets": linked}),
        );
    }

    json!({
        "totals": {
            "attended": tickets.len(), "opened": opened.len(), "resolved": resolved.len(),
            "closed": ended("closed"), "canceled": ended("canceled"),
        },
        "volume": {
            "by_kind": count_by(&opened, &["incident", "service_request", "event", "problem"], |t| t.kind.to_string()),
            "by_channel": count_by(&opened, &[], |t| t.channel.unwrap_or("monitoring").to_string()),
            "by_priority": count_by(&opened, &["P1", "P2", "P3", "P4", "P5"], |t| t.priority.unwrap_or("none").to_string()),
            "by_category": count_by(&opened, &[], |t| t.category.unwrap_or("none").to_string()),
        },
        "backlog": {
            "start": {"total": start_total, "aging": start_aging},
            "end": {"total": end_total, "aging": end_aging},
        },
        "sla": {"by_priority": by_priority, "overall": overall, "breaches": breaches},
        "mtta": stats(elapsed.remove("acknowledge").unwrap_or_default()),
        "mttr": stats(elapsed.remove("resolve").unwrap_or_default()),
        "quality": {
            "resolved": n, "first_contact": first, "first_contact_rate": rate(first, n),
            "reassignments": resolved.iter().map(|t| t.reassignments as u64).sum::<u64>(),
            "reassigned": resolved.iter().filter(|t| t.reassignments > 0).count(),
            "reopened": reopened, "reopen_rate": rate(reopened, n), "by_tier": by_tier,
        },
        "problems": {"raised": problems.len(), "linked_tickets": linked_total, "list": problems},
    })
}
