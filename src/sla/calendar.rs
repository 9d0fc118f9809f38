//! Business time: working intervals per weekday in a time zone, minus holidays. `24x7`
//! counts every millisecond. All instants are milliseconds since the epoch; local
//! times come from the time zone database (jiff), never from fixed offsets.

use std::collections::BTreeSet;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

use super::config::CalendarConfig;
use crate::domain::from_millis;

/// The name of the calendar that counts all the time.
pub const ALWAYS: &str = "24x7";

/// How far the arithmetic looks for working time before giving up (a calendar whose
/// every day is a holiday): about ten years.
const MAX_DAYS: i32 = 3700;

#[derive(Debug, Clone, PartialEq)]
pub enum Calendar {
    Always,
    Hours(Hours),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hours {
    tz: TimeZone,
    /// Monday first; each day's intervals in minutes since midnight, sorted, disjoint.
    week: [Vec<(i32, i32)>; 7],
    holidays: BTreeSet<Date>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct CalendarError(pub String);

impl Calendar {
    pub fn from_config(name: &str, c: &CalendarConfig) -> Result<Calendar, CalendarError> {
        let bad = |why: String| CalendarError(format!("calendar `{name}`: {why}"));
        let tz = TimeZone::get(&c.time_zone)
            .map_err(|e| bad(format!("unknown time zone `{}`: {e}", c.time_zone)))?;
        let mut week: [Vec<(i32, i32)>; 7] = Default::default();
        for (day, intervals) in &c.hours {
            let index = weekday_index(day)
                .ok_or_else(|| bad(format!("`{day}` is not a weekday (mon … sun)")))?;
            for interval in intervals {
                week[index].push(parse_interval(interval).map_err(bad)?);
            }
            week[index].sort_unstable();
            if week[index].windows(2).any(|w| w[0].1 > w[1].0) {
                return Err(bad(format!("the intervals of `{day}` overlap")));
            }
        }
        if week.iter().all(Vec::is_empty) {
            return Err(bad("no working hours on any day".into()));
        }
        let holidays = c
            .holidays
            .iter()
            .map(|d| {
                d.parse::<Date>()
                    .map_err(|e| bad(format!("holiday `{d}`: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Calendar::Hours(Hours { tz, week, holidays }))
    }

    /// Business milliseconds between two instants (0 when `to` is not after `from`).
    pub fn business_ms(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        match self {
            Calendar::Always => to - from,
            Calendar::Hours(h) => h
                .days(from)
                .take_while(|(start, _)| *start < to)
                .map(|(start, end)| (end.min(to) - start.max(from)).max(0))
                .sum(),
        }
    }

    /// The instant when `ms` business milliseconds have passed since `from`.
    pub fn add_business(&self, from: i64, ms: i64) -> i64 {
        if ms <= 0 {
            return from;
        }
        match self {
            Calendar::Always => from.saturating_add(ms),
            Calendar::Hours(h) => {
                let mut left = ms;
                for (start, end) in h.days(from) {
                    let start = start.max(from);
                    if end <= start {
                        continue;
                    }
                    if end - start >= left {
                        return start + left;
                    }
                    left -= end - start;
                }
                i64::MAX
            }
        }
    }

    pub fn time_zone(&self) -> TimeZone {
        match self {
            Calendar::Always => TimeZone::get("America/El_Salvador").unwrap_or(TimeZone::UTC),
            Calendar::Hours(h) => h.tz.clone(),
        }
    }

    /// Working days after the day of `from` up to and including the day of `to`.
    pub fn business_days_between(&self, from: i64, to: i64) -> i64 {
        let tz = self.time_zone();
        let (mut day, last) = (
            from_millis(from).to_zoned(tz.clone()).date(),
            from_millis(to).to_zoned(tz).date(),
        );
        let mut count = 0;
        while day < last {
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
            count += i64::from(self.is_business_day(day));
        }
        count
    }

    /// Whether the date has working time.
    pub fn is_business_day(&self, date: Date) -> bool {
        match self {
            Calendar::Always => true,
            Calendar::Hours(h) => !h.intervals(date).is_empty(),
        }
    }
}

impl Hours {
    fn intervals(&self, date: Date) -> &[(i32, i32)] {
        if self.holidays.contains(&date) {
            return &[];
        }
        &self.week[usize::from(date.weekday().to_monday_zero_offset() as u8)]
    }

    /// Working intervals as instants, day after day from the day of `from`.
    fn days(&self, from: i64) -> impl Iterator<Item = (i64, i64)> + '_ {
        let first = from_millis(from).to_zoned(self.tz.clone()).date();
        (0..MAX_DAYS)
            .filter_map(move |n| first.checked_add(jiff::Span::new().days(n)).ok())
            .flat_map(move |date| {
                self.intervals(date).iter().filter_map(move |&(a, b)| {
                    Some((self.instant(date, a)?, self.instant(date, b)?))
                })
            })
    }

    /// The instant of a local time on a date (minutes since midnight; 24:00 is the next
    /// midnight). A time a DST change skips resolves as the time zone database says.
    fn instant(&self, date: Date, minutes: i32) -> Option<i64> {
        let (date, minutes) = if minutes >= 24 * 60 {
            (date.tomorrow().ok()?, minutes - 24 * 60)
        } else {
            (date, minutes)
        };
        let time = Time::new(
            i8::try_from(minutes / 60).ok()?,
            i8::try_from(minutes % 60).ok()?,
            0,
            0,
        )
        .ok()?;
        let zoned = date.to_datetime(time).to_zoned(self.tz.clone()).ok()?;
        Some(zoned.timestamp().as_millisecond())
    }
}

fn weekday_index(day: &str) -> Option<usize> {
    let days = [
        ("mon", Weekday::Monday),
        ("tue", Weekday::Tuesday),
        ("wed", Weekday::Wednesday),
        ("thu", Weekday::Thursday),
        ("fri", Weekday::Friday),
        ("sat", Weekday::Saturday),
        ("sun", Weekday::Sunday),
    ];
    days.iter()
        .find(|(name, _)| *name == day)
        .map(|(_, w)| usize::from(w.to_monday_zero_offset() as u8))
}

/// `HH:MM-HH:MM` as minutes since midnight (`24:00` allowed as an end).
fn parse_interval(text: &str) -> Result<(i32, i32), String> {
    let bad = || format!("`{text}` is not an interval HH:MM-HH:MM");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let minutes = |t: &str| -> Option<i32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
        ((0..=24).contains(&h) && (0..60).contains(&m) && (h < 24 || m == 0)).then_some(h * 60 + m)
    };
    let (a, b) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
    if a >= b {
        return Err(format!("`{text}` ends before it starts"));
    }
    Ok((a, b))
}
