//! A clock is computed from its log (start, pause, resume, stop, restart) with the
//! frozen definition it started with: elapsed business time, when it breached, and when
//! it comes due. Pure; the store keeps the log and a copy of what it computes.

use serde::{Deserialize, Serialize};

use super::calendar::Calendar;
use super::config::CalendarConfig;

/// What a clock measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Registration to the first human acknowledgement (`accept`).
    Acknowledge,
    /// Registration to resolution.
    Resolve,
}

impl Metric {
    pub const ALL: [Metric; 2] = [Metric::Acknowledge, Metric::Resolve];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Acknowledge => "acknowledge",
            Metric::Resolve => "resolve",
        }
    }

    pub fn parse(text: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Start,
    Pause,
    Resume,
    Stop,
    /// Back to counting after a stop (a reopened ticket).
    Restart,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Start => "start",
            EventKind::Pause => "pause",
            EventKind::Resume => "resume",
            EventKind::Stop => "stop",
            EventKind::Restart => "restart",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        [
            EventKind::Start,
            EventKind::Pause,
            EventKind::Resume,
            EventKind::Stop,
            EventKind::Restart,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub kind: EventKind,
}

/// The definition a clock keeps from its start: a policy change never rewrites it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    pub policy: String,
    pub metric: Metric,
    pub target_ms: i64,
    pub calendar_name: String,
    /// `None` for 24×7.
    pub calendar: Option<CalendarConfig>,
    pub warn_at: Vec<f64>,
}

impl Definition {
    pub fn calendar(&self) -> Calendar {
        self.calendar
            .as_ref()
            .and_then(|c| Calendar::from_config(&self.calendar_name, c).ok())
            .unwrap_or(Calendar::Always)
    }
}

/// A clock as its log and definition make it at some instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    pub started_at: i64,
    pub running: bool,
    /// Business time counted up to `counted_to`.
    pub elapsed_ms: i64,
    pub counted_to: i64,
    pub stopped_at: Option<i64>,
    /// Start + target, as if it never paused.
    pub original_due_at: i64,
    /// When it breaches (breached) if it keeps running; `None` while paused or stopped
    /// in time.
    pub due_at: Option<i64>,
    /// The instant the elapsed time reached the target.
    pub breached_at: Option<i64>,
}

impl Clock {
    /// Replays `events` (in order) up to `now`.
    pub fn replay(def: &Definition, cal: &Calendar, events: &[Event], now: i64) -> Clock {
        let started_at = events.first().map_or(now, |e| e.at);
        let mut clock = Clock {
            started_at,
            running: false,
            elapsed_ms: 0,
            counted_to: started_at,
            stopped_at: None,
            original_due_at: cal.add_business(started_at, def.target_ms),
            due_at: None,
            breached_at: None,
        };
        for event in events.iter().filter(|e| e.at <= now) {
            clock.apply(def, cal, *event);
        }
        clock.count(def, cal, now);
        clock.due_at = match (clock.running, clock.breached_at) {
            (_, Some(at)) => Some(at),
            (true, None) => {
                Some(cal.add_business(clock.counted_to, def.target_ms - clock.elapsed_ms))
            }
            (false, None) => None,
        };
        clock
    }

    fn apply(&mut self, def: &Definition, cal: &Calendar, e: Event) {
        match e.kind {
            EventKind::Start | EventKind::Resume | EventKind::Restart => {
                self.count(def, cal, e.at);
                if e.kind == EventKind::Restart {
                    self.stopped_at = None;
                }
                if self.stopped_at.is_none() {
                    self.running = true;
                }
            }
            EventKind::Pause => {
                self.count(def, cal, e.at);
                self.running = false;
            }
            EventKind::Stop => {
                self.count(def, cal, e.at);
                self.running = false;
                self.stopped_at.get_or_insert(e.at);
            }
        }
    }

    /// Counts business time up to `to` while running, noting when the target was reached.
    fn count(&mut self, def: &Definition, cal: &Calendar, to: i64) {
        if self.running && to > self.counted_to {
            let gained = cal.business_ms(self.counted_to, to);
            if self.breached_at.is_none() && self.elapsed_ms + gained >= def.target_ms {
                let left = def.target_ms - self.elapsed_ms;
                self.breached_at = Some(cal.add_business(self.counted_to, left));
            }
            self.elapsed_ms += gained;
        }
        self.counted_to = self.counted_to.max(to);
    }

    pub fn remaining_ms(&self, def: &Definition) -> i64 {
        def.target_ms - self.elapsed_ms
    }

    /// Stopped within its target.
    pub fn met(&self) -> Option<bool> {
        self.stopped_at.map(|_| self.breached_at.is_none())
    }

    /// When a running clock reaches `fraction` of its target (past instants included).
    pub fn reaches(&self, def: &Definition, cal: &Calendar, fraction: f64) -> Option<i64> {
        if !self.running {
            return None;
        }
        // Targets are far below 2^52 ms, so the product is exact enough.
        let mark = (def.target_ms as f64 * fraction).round() as i64;
        Some(if mark <= self.elapsed_ms {
            self.counted_to
        } else {
            cal.add_business(self.counted_to, mark - self.elapsed_ms)
        })
    }
}

/// `45s`, `30m`, `8h`, `1h 30m`, `2d` (24 h): a duration in milliseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    for part in text.split_whitespace() {
        let split = part.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = part.split_at(split);
        let n: i64 = number.parse().ok()?;
        let unit_ms = match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit_ms)?)?;
    }
    (total > 0).then_some(total)
}
