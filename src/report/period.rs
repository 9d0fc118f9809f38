//! The month a report covers, in its unit's time zone, and the unit's business calendar
//! (which day is the first working day of a month, when the report is sent).

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::ReportError;
use crate::sla::calendar::Calendar;
use crate::sla::config::SlaConfig;

/// The zone of `24x7` (and of units whose calendar the configuration lacks).
pub const DESK_TIME_ZONE: &str = "America/El_Salvador";

/// A calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i16,
    month: i8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`month` must be a month written YYYY-MM (e.g. 2026-11), from 1970-01 to 9999-12; `{0}` is not"
)]
pub struct BadMonth(pub String);

impl FromStr for Month {
    type Err = BadMonth;

    fn from_str(text: &str) -> Result<Month, BadMonth> {
        let bad = || BadMonth(text.to_owned());
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return Err(bad());
        }
        let year: i16 = year.parse().map_err(|_| bad())?;
        let month: i8 = month.parse().map_err(|_| bad())?;
        if year < 1970 || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Month {
    /// The month a local date falls in.
    pub fn of(date: Date) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn year(self) -> i16 {
        self.year
    }

    /// 1 to 12.
    pub fn number(self) -> i8 {
        self.month
    }

    pub fn first_day(self) -> Date {
        // Year 1970–9999 and month 1–12 are checked on parsing; day 1 always exists.
        Date::new(self.year, self.month, 1).unwrap_or(Date::MIN)
    }

    pub fn previous(self) -> Month {
        match self.month {
            1 => Month {
                year: self.year - 1,
                month: 12,
            },
            m => Month {
                year: self.year,
                month: m - 1,
            },
        }
    }

    pub fn next(self) -> Month {
        match self.month {
            12 => Month {
                year: self.year + 1,
                month: 1,
            },
            m => Month {
                year: self.year,
                month: m + 1,
            },
        }
    }
}

/// A unit's calendar as the reports use it: its time zone, and its working days (the
/// SLA engine's calendar, so a business day means the same to both).
#[derive(Debug, Clone)]
pub struct UnitCalendar {
    pub name: String,
    pub time_zone: String,
    pub zone: TimeZone,
    calendar: Calendar,
}

impl UnitCalendar {
    /// The unit's calendar (`[sla] unit_calendars`, else `default_calendar`). `24x7` (or a
    /// name `[sla] calendars` lacks, which the configuration's validation refuses) works
    /// every day, in El Salvador's time.
    pub fn of(sla: &SlaConfig, unit: &str) -> Result<UnitCalendar, ReportError> {
        let name = sla
            .unit_calendars
            .get(unit)
            .unwrap_or(&sla.default_calendar)
            .clone();
        let (calendar, time_zone) = match sla.calendars.get(&name) {
            Some(config) => (
                Calendar::from_config(&name, config).map_err(ReportError::Calendar)?,
                config.time_zone.clone(),
            ),
            None => (Calendar::Always, DESK_TIME_ZONE.to_owned()),
        };
        Ok(UnitCalendar {
            name,
            time_zone,
            zone: calendar.time_zone(),
            calendar,
        })
    }

    /// A day with working hours that is not a holiday.
    pub fn is_business_day(&self, date: Date) -> bool {
        self.calendar.is_business_day(date)
    }

    /// The first business day of the month; None if the calendar works none of its days.
    pub fn first_business_day(&self, month: Month) -> Option<Date> {
        let first = month.first_day();
        (0..31)
            .filter_map(|offset| first.checked_add(jiff::Span::new().days(offset)).ok())
            .take_while(|day| Month::of(*day) == month)
            .find(|day| self.is_business_day(*day))
    }

    /// The month's first instant and the next month's, in milliseconds since the epoch.
    pub fn bounds(&self, month: Month) -> Result<(i64, i64), ReportError> {
        let instant = |m: Month| {
            m.first_day()
                .to_zoned(self.zone.clone())
                .map(|z| z.timestamp().as_millisecond())
                .map_err(|source| ReportError::Month {
                    month: m.to_string(),
                    source,
                })
        };
        Ok((instant(month)?, instant(month.next())?))
    }

    /// An instant as local time.
    pub fn local(&self, ms: i64) -> jiff::Zoned {
        Timestamp::from_millisecond(ms)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(self.zone.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::calendar::ALWAYS;

    fn month(text: &str) -> Month {
        text.parse().expect("a month")
    }

    #[test]
    fn months_are_yyyy_mm_and_nothing_else() {
        assert_eq!(month("2026-11").to_string(), "2026-11");
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "2026-11-01",
            "",
            "1969-12",
            "２026-11",
        ] {
            let err = bad.parse::<Month>().expect_err(bad);
            assert!(err.to_string().contains("YYYY-MM"), "{err}");
        }
        assert_eq!(month("2026-01").previous(), month("2025-12"));
        assert_eq!(month("2026-12").next(), month("2027-01"));
    }

    #[test]
    fn the_month_runs_from_local_midnight_to_local_midnight() {
        let calendar = UnitCalendar::of(&SlaConfig::default(), "DINAFI").expect("calendar");
        assert_eq!(calendar.time_zone, "America/El_Salvador");
        let (start, end) = calendar.bounds(month("2026-11")).expect("bounds");
        let utc = |s: &str| s.parse::<Timestamp>().expect("time").as_millisecond();
        // El Salvador is UTC−6 all year.
        assert_eq!(start, utc("2026-11-01T06:00:00Z"));
        assert_eq!(end, utc("2026-12-01T06:00:00Z"));
    }

    #[test]
    fn the_first_business_day_skips_weekends_and_holidays() {
        let sla = SlaConfig::default();
        let calendar = UnitCalendar::of(&sla, "DINAFI").expect("calendar");
        // 1 November 2026 is a Sunday and the 2nd is a holiday (Día de los Difuntos).
        let day = calendar.first_business_day(month("2026-11"));
        assert_eq!(day, Some(jiff::civil::date(2026, 11, 3)));
        let day = calendar.first_business_day(month("2026-12"));
        assert_eq!(day, Some(jiff::civil::date(2026, 12, 1)));

        let mut round = sla.clone();
        round.unit_calendars.insert("DGA".into(), ALWAYS.into());
        let calendar = UnitCalendar::of(&round, "DGA").expect("calendar");
        assert_eq!(calendar.name, ALWAYS);
        assert_eq!(calendar.time_zone, DESK_TIME_ZONE);
        let day = calendar.first_business_day(month("2026-11"));
        assert_eq!(day, Some(jiff::civil::date(2026, 11, 1)));
    }

    #[test]
    fn an_unknown_time_zone_is_an_error_that_names_it() {
        let mut sla = SlaConfig::default();
        if let Some(calendar) = sla.calendars.get_mut("ministerio") {
            calendar.time_zone = "Mars/Olympus".into();
        }
        let err = UnitCalendar::of(&sla, "DINAFI").expect_err("refused");
        let text = crate::notify::error_chain(&err);
        assert!(text.contains("Mars/Olympus"), "{text}");
    }
}
