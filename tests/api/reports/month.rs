//! A generated month: November 2026 (America/El_Salvador, UTC−6) of DINAFI tickets of
//! every kind, channel, priority, category, tier and fate, with their SLA clocks, plus
//! tickets that must not count (another unit's, other months'). Seeded, so every run
//! sees the same month; written straight into the tables.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;

/// 2026-11-01T00:00 and 2026-12-01T00:00 in El Salvador, read from text so the test
/// does not share the report's arithmetic.
pub fn november() -> (i64, i64) {
    let at = |s: &str| s.parse::<jiff::Timestamp>().expect("time").as_millisecond();
    (
        at("2026-11-01T00:00:00-06:00"),
        at("2026-12-01T00:00:00-06:00"),
    )
}

#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: String,
    pub unit: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub hold_reason: Option<&'static str>,
    pub summary: String,
    pub channel: Option<&'static str>,
    pub priority: Option<&'static str>,
    pub category: Option<&'static str>,
    pub tier: Option<i64>,
    pub assignee: Option<&'static str>,
    pub opened_at: i64,
    pub acked_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub reassignments: i64,
    pub reopens: i64,
    pub problem_id: Option<String>,
    pub cancel_reason: Option<&'static str>,
    pub merged_into: Option<String>,
    pub sla_breached: bool,
}

#[derive(Debug, Clone)]
pub struct Clock {
    pub ticket: String,
    pub metric: &'static str,
    /// The ticket's kind and priority, as the engine records what chose the target (no
    /// priority: empty, so the SLA timers see nothing to reconcile).
    pub kind: &'static str,
    pub priority: &'static str,
    pub target: i64,
    pub elapsed: i64,
    pub started_at: i64,
    pub stopped_at: Option<i64>,
    pub breached_at: Option<i64>,
}

pub struct Generated {
    pub tickets: Vec<Ticket>,
    pub clocks: Vec<Clock>,
}

const KINDS: [&str; 3] = ["incident", "service_request", "event"];
const CHANNELS: [Option<&str>; 6] = [
    None,
    Some("portal"),
    Some("phone"),
    Some("email"),
    Some("chat"),
    Some("in_person"),
];
const PRIORITIES: [Option<&str>; 6] = [
    Some("P1"),
    Some("P2"),
    Some("P3"),
    Some("P4"),
    Some("P5"),
    None,
];
const CATEGORIES: [Option<&str>; 5] = [
    Some("red"),
    Some("correo"),
    Some("aplicaciones"),
    Some("hardware"),
    None,
];

struct Gen {
    rng: StdRng,
    tickets: Vec<Ticket>,
    clocks: Vec<Clock>,
}

impl Gen {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        self.rng.random_range(low..high)
    }

    /// A ticket opened at `opened` (plus its index, so no two open at the same instant)
    /// with a random fate, and its clocks.
    fn ticket(&mut self, unit: &str, kind: &'static str, opened: i64) -> String {
        let n = self.tickets.len();
        let prefix = match kind {
            "incident" => "inc",
            "service_request" => "req",
            "event" => "tev",
            _ => "prb",
        };
        let opened_at = opened + i64::try_from(n).expect("small");
        let tier = match self.between(0, 20) {
            0..=11 => Some(1),
            12..=16 => Some(2),
            17..=18 => Some(3),
            _ => None,
        };
        let mut t = Ticket {
            id: format!("{prefix}_gen{n:03}"),
            unit: unit.to_owned(),
            kind,
            status: "in_progress",
            hold_reason: None,
            summary: format!("Caso generado {n}, <b>«{unit}»</b> & más"),
            channel: self.pick(&CHANNELS),
            priority: self.pick(&PRIORITIES),
            category: self.pick(&CATEGORIES),
            tier,
            assignee: Some(self.pick(&["ana.lopez", "carlos.mejia", "rosa.hernandez"])),
            opened_at,
            acked_at: Some(opened_at + self.between(MIN, 3 * HOUR)),
            resolved_at: None,
            closed_at: None,
            reassignments: self.pick(&[0, 0, 0, 1, 1, 2, 3]),
            reopens: 0,
            problem_id: None,
            cancel_reason: None,
            merged_into: None,
            sla_breached: false,
        };
        let took = self.between(30 * MIN, 8 * DAY);
        match self.between(0, 100) {
            0..=24 => {
                t.status = self.pick(&["assigned", "in_progress", "on_hold"]);
                if t.status == "on_hold" {
                    t.hold_reason = Some(self.pick(&["awaiting_user", "awaiting_vendor"]));
                }
                if self.rng.random_bool(0.2) {
                    t.reopens = 1;
                    t.status = "in_progress";
                }
            }
            25..=49 => {
                t.status = "resolved";
                t.resolved_at = Some(opened_at + took);
            }
            50..=74 => {
                t.status = "closed";
                t.resolved_at = Some(opened_at + took);
                t.closed_at = Some(opened_at + took + self.between(HOUR, 5 * DAY));
            }
            75..=86 => {
                t.status = "canceled";
                t.closed_at = Some(opened_at + self.between(10 * MIN, 3 * DAY));
                t.cancel_reason = Some(self.pick(&["duplicate", "invalid", "withdrawn"]));
            }
            87..=92 if n > 0 => {
                t.status = "closed";
                t.closed_at = Some(opened_at + self.between(HOUR, 2 * DAY));
                let into = self.between(0, i64::try_from(n).expect("small"));
                t.merged_into = Some(
                    self.tickets[usize::try_from(into).expect("index")]
                        .id
                        .clone(),
                );
            }
            _ => {
                t.status = self.pick(&["resolved", "closed"]);
                t.reopens = self.pick(&[1, 2]);
                t.resolved_at = Some(opened_at + took);
                if t.status == "closed" {
                    t.closed_at = Some(opened_at + took + DAY);
                }
            }
        }
        self.clocks_for(&mut t);
        let id = t.id.clone();
        self.tickets.push(t);
        id
    }

    fn clocks_for(&mut self, t: &mut Ticket) {
        let hours = match t.priority {
            Some("P1") => [0.25, 4.0],
            Some("P2") => [0.5, 8.0],
            Some("P3") => [2.0, 16.0],
            Some("P4") => [4.0, 24.0],
            _ => [8.0, 40.0],
        };
        let end = match (t.resolved_at, t.closed_at) {
            (Some(r), Some(c)) => Some(r.min(c)),
            (r, c) => r.or(c),
        };
        for (metric, target_hours) in ["acknowledge", "resolve"].into_iter().zip(hours) {
            if self.rng.random_bool(0.1) {
                continue;
            }
            // Whole milliseconds: the targets are in business time.
            let target = (target_hours * 3_600_000.0) as i64;
            let elapsed = target * self.between(20, 170) / 100;
            let stopped_at = match metric {
                "acknowledge" => t.acked_at,
                _ => end,
            };
            let late = elapsed > target;
            let breached_at = if (late && self.rng.random_bool(0.85)) || self.rng.random_bool(0.05)
            {
                let at = t.opened_at + self.between(HOUR, 15 * DAY);
                Some(stopped_at.map_or(at, |s| at.min(s)))
            } else {
                None
            };
            t.sla_breached |= breached_at.is_some();
            self.clocks.push(Clock {
                ticket: t.id.clone(),
                metric,
                kind: t.kind,
                priority: t.priority.unwrap_or(""),
                target,
                elapsed,
                started_at: t.opened_at,
                stopped_at,
                breached_at,
            });
        }
    }
}

/// The month: ~65 DINAFI tickets that count, and ~20 that must not.
pub fn generate(seed: u64) -> Generated {
    let (start, end) = november();
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        tickets: Vec::new(),
        clocks: Vec::new(),
    };
    // Problems first, so tickets can link to them: one from October, three of November.
    let mut problems = vec![g.ticket("DINAFI", "problem", start - 12 * DAY)];
    for day in [2, 9, 20] {
        problems.push(g.ticket("DINAFI", "problem", start + day * DAY));
    }
    for i in 0..62 {
        let kind = g.pick(&KINDS);
        let opened = match i % 10 {
            0 | 1 => start - g.between(HOUR, 20 * DAY),
            2 if i < 10 => start,
            _ => start + g.between(0, 30 * DAY - 10 * HOUR),
        };
        let id = g.ticket("DINAFI", kind, opened);
        if g.rng.random_bool(0.2) {
            let problem = g
                .pick(&problems.iter().map(String::as_str).collect::<Vec<_>>())
                .to_owned();
            link(&mut g, &id, &problem);
        }
    }
    // Another unit's November, two of them linked to a DINAFI problem.
    for i in 0..8 {
        let kind = g.pick(&KINDS);
        let opened = start + g.between(0, 29 * DAY);
        let id = g.ticket("DGA", kind, opened);
        if i < 2 {
            let problem = problems[1].clone();
            link(&mut g, &id, &problem);
        }
    }
    // DINAFI's other months: over before November, or opened after it.
    for _ in 0..6 {
        let opened = start - g.between(40 * DAY, 60 * DAY);
        let id = g.ticket("DINAFI", "incident", opened);
        finish_before(&mut g, &id, start - DAY);
    }
    for _ in 0..3 {
        let opened = end + g.between(0, 10 * DAY);
        g.ticket("DINAFI", "service_request", opened);
    }
    // Resolved in October and closed in December: neither resolved nor closed in November.
    let id = g.ticket("DINAFI", "incident", start - 10 * DAY);
    set(
        &mut g,
        &id,
        "closed",
        Some(start - 2 * DAY),
        Some(end + DAY),
    );
    // Resolved in October, closed by the desk in November: closed in the month, attended.
    let id = g.ticket("DINAFI", "service_request", start - 9 * DAY);
    set(
        &mut g,
        &id,
        "closed",
        Some(start - DAY),
        Some(start + 2 * DAY),
    );
    Generated {
        tickets: g.tickets,
        clocks: g.clocks,
    }
}

fn link(g: &mut Gen, ticket: &str, problem: &str) {
    if let Some(t) = g
        .tickets
        .iter_mut()
        .find(|t| t.id == ticket && t.kind != "problem")
    {
        t.problem_id = Some(problem.to_owned());
    }
}

fn finish_before(g: &mut Gen, ticket: &str, before: i64) {
    let opened = g
        .tickets
        .iter()
        .find(|t| t.id == ticket)
        .map(|t| t.opened_at);
    let at = opened.map(|o| (o + DAY).min(before));
    set(g, ticket, "closed", at, at.map(|a| a + HOUR));
}

fn set(
    g: &mut Gen,
    ticket: &str,
    status: &'static str,
    resolved: Option<i64>,
    closed: Option<i64>,
) {
    if let Some(t) = g.tickets.iter_mut().find(|t| t.id == ticket) {
        t.status = status;
        t.hold_reason = None;
        t.merged_into = None;
        t.cancel_reason = None;
        t.resolved_at = resolved;
        t.closed_at = closed;
    }
    for c in g
        .clocks
        .iter_mut()
        .filter(|c| c.ticket == ticket && c.metric == "resolve")
    {
        c.stopped_at = resolved;
    }
}
