//! The report's rules on hand-made rows; the integration test checks a generated month.

use super::*;
use crate::domain::Lang;
use crate::sla::SlaConfig;

const H: i64 = 3_600_000;
/// 2026-11-01T00:00 in El Salvador.
const START: i64 = 1_793_512_800_000;
const END: i64 = START + 30 * 24 * H;

fn ticket(id: &str, opened_at: i64) -> ReportTicket {
    ReportTicket {
        id: id.into(),
        kind: "incident".into(),
        status: "in_progress".into(),
        hold_reason: None,
        summary: format!("summary of {id}"),
        channel: Some("phone".into()),
        priority: Some("P3".into()),
        category: Some("red".into()),
        tier: Some(1),
        assignee: Some("ana.lopez".into()),
        opened_at,
        acked_at: None,
        resolved_at: None,
        closed_at: None,
        reassignments: 0,
        reopens: 0,
        problem_id: None,
        cancel_reason: None,
        merged_into: None,
        sla_breached: 0,
    }
}

fn resolved(mut t: ReportTicket, at: i64) -> ReportTicket {
    t.status = "resolved".into();
    t.resolved_at = Some(at);
    t
}

fn clock(ticket: &str, metric: &str, target: i64, elapsed: i64) -> ReportClock {
    ReportClock {
        ticket_id: ticket.into(),
        metric: metric.into(),
        target_ms: target,
        elapsed_ms: elapsed,
        stopped_at: Some(START + 10 * H),
        breached_at: None,
    }
}

fn report(tickets: &[ReportTicket], clocks: &[ReportClock]) -> MonthlyReport {
    let calendar = UnitCalendar::of(&SlaConfig::default(), "DINAFI").expect("calendar");
    let text = Text::of(Lang::Es).expect("text");
    let linked = BTreeMap::new();
    compute(&Inputs {
        unit: "DINAFI",
        unit_name: "Dirección",
        month: "2026-11".parse().expect("month"),
        calendar: &calendar,
        start: START,
        end: END,
        tickets,
        clocks,
        linked: &linked,
        generated_at: END,
        text: &text,
    })
}

#[test]
fn the_month_starts_at_local_midnight() {
    let calendar = UnitCalendar::of(&SlaConfig::default(), "DINAFI").expect("calendar");
    assert_eq!(stamp(&calendar, START), "2026-11-01T00:00:00.000-06:00");
}

#[test]
fn a_ticket_ending_on_the_boundary_was_open_then_and_ended_in_the_month() {
    // Open at an instant: opened before it, not ended before it. So the backlog at the
    // start, plus those opened, less those ended in the month, is the backlog at the end.
    let t = resolved(ticket("a", START - 5 * H), START);
    assert!(open_at(&t, START));
    assert!(!open_at(&t, START + 1));
    assert!(attended(&t, START, END));
    let r = report(&[t], &[]);
    assert_eq!(
        (
            r.backlog.start.total,
            r.totals.resolved,
            r.backlog.end.total
        ),
        (1, 1, 0)
    );
}

#[test]
fn resolved_before_and_closed_in_the_month_is_attended_but_not_resolved_in_it() {
    let mut t = resolved(ticket("a", START - 50 * H), START - 30 * H);
    t.status = "closed".into();
    t.closed_at = Some(START + H);
    assert!(attended(&t, START, END));
    t.closed_at = Some(END + H);
    assert!(!attended(&t, START, END), "closed after the month");
    assert!(
        !attended(&ticket("b", END), START, END),
        "opened at the end"
    );
}

#[test]
fn a_reopened_ticket_is_open_from_its_opening() {
    let mut t = ticket("a", START - 100 * H);
    t.reopens = 1;
    let r = report(&[t], &[]);
    assert_eq!(r.backlog.start.total, 1);
    assert_eq!(r.backlog.end.total, 1);
    assert_eq!(r.backlog.start.aging["3d_7d"], 1);
    assert_eq!(r.backlog.end.aging["gt_7d"], 1);
    assert!(r.annex[0].open_at_end);
}

#[test]
fn aging_buckets_close_on_the_left() {
    let day = 24 * H;
    assert_eq!(aging_bucket(day - 1), "lt_1d");
    assert_eq!(aging_bucket(day), "1d_3d");
    assert_eq!(aging_bucket(3 * day), "3d_7d");
    assert_eq!(aging_bucket(7 * day - 1), "3d_7d");
    assert_eq!(aging_bucket(7 * day), "gt_7d");
}

#[test]
fn percentiles_are_by_nearest_rank_and_the_mean_rounds_half_up() {
    let d = durations((1..=10).rev().collect());
    assert_eq!(
        (d.count, d.mean_ms, d.median_ms, d.p90_ms),
        (10, Some(6), Some(5), Some(9))
    );
    let d = durations(vec![7]);
    assert_eq!(
        (d.mean_ms, d.median_ms, d.p90_ms),
        (Some(7), Some(7), Some(7))
    );
    let d = durations(Vec::new());
    assert_eq!(
        (d.count, d.mean_ms, d.median_ms, d.p90_ms),
        (0, None, None, None)
    );
}

#[test]
fn compliance_counts_stopped_clocks_of_tickets_not_canceled() {
    let mut canceled = ticket("c", START + H);
    canceled.status = "canceled".into();
    canceled.closed_at = Some(START + 2 * H);
    let tickets = [
        resolved(ticket("a", START + H), START + 10 * H),
        ticket("b", START + H),
        canceled,
    ];
    let mut flagged = clock("a", "resolve", 20 * H, 9 * H);
    flagged.breached_at = Some(START + 9 * H);
    let mut running = clock("b", "resolve", H, 2 * H);
    running.stopped_at = None;
    running.breached_at = Some(START + 3 * H);
    let clocks = [
        clock("a", "acknowledge", H, H),
        flagged,
        clock("b", "acknowledge", H, 2 * H),
        running,
        clock("c", "acknowledge", H, 5 * H),
    ];
    let r = report(&tickets, &clocks);
    let p3 = &r.sla.by_priority["P3"];
    assert_eq!((p3["acknowledge"].measured, p3["acknowledge"].met), (2, 1));
    assert_eq!((p3["resolve"].measured, p3["resolve"].missed), (1, 1));
    assert_eq!(p3["acknowledge"].rate, Some(0.5));
    assert_eq!(r.sla.by_priority["P1"]["resolve"].rate, None);
    let listed: Vec<(&str, &str, bool)> = r
        .sla
        .breaches
        .iter()
        .map(|b| (b.ticket.as_str(), b.metric.as_str(), b.running_at_end))
        .collect();
    assert_eq!(
        listed,
        [
            ("a", "resolve", false),
            ("b", "acknowledge", false),
            ("b", "resolve", true)
        ]
    );
    assert_eq!(r.mtta.count, 2, "the canceled ticket's clock is left out");
    assert_eq!(r.mttr.median_ms, Some(9 * H));
}

#[test]
fn first_contact_is_tier_one_without_reassignment() {
    let mut escalated = resolved(ticket("b", START), START + H);
    escalated.tier = Some(2);
    escalated.reassignments = 1;
    let mut back = resolved(ticket("c", START), START + H);
    back.reassignments = 2;
    back.reopens = 1;
    let tickets = [resolved(ticket("a", START), START + H), escalated, back];
    let q = report(&tickets, &[]).quality;
    assert_eq!(
        (q.resolved, q.first_contact, q.reassignments, q.reassigned),
        (3, 1, 3, 2)
    );
    assert_eq!(
        (q.reopened, q.by_tier["1"].resolved, q.by_tier["2"].resolved),
        (1, 2, 1)
    );
    assert_eq!(q.by_tier["3"].share, Some(0.0));
}
