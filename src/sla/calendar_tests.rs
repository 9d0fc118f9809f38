//! Business-time arithmetic: worked examples and properties.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::calendar::Calendar;
use super::config::CalendarConfig;

/// Mon–Fri 08:00–12:00 and 13:00–17:00, Saturday 08:00–12:00, in El Salvador, with
/// Christmas off.
fn office() -> Calendar {
    let day = vec!["08:00-12:00".to_owned(), "13:00-17:00".to_owned()];
    let mut hours: BTreeMap<String, Vec<String>> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| (d.to_string(), day.clone()))
        .collect();
    hours.insert("sat".into(), vec!["08:00-12:00".into()]);
    let config = CalendarConfig {
        time_zone: "America/El_Salvador".into(),
        hours,
        holidays: vec!["2026-12-25".into()],
    };
    Calendar::from_config("office", &config).expect("calendar")
}

fn at(local: &str) -> i64 {
    super::salvador(local)
}

const HOUR: i64 = 3_600_000;

#[test]
fn a_working_day_counts_its_intervals_only() {
    let c = office();
    // Tuesday 2026-12-01, from 07:00 to 19:00: 4 h + 4 h, the lunch hour excluded.
    assert_eq!(
        c.business_ms(at("2026-12-01T07:00"), at("2026-12-01T19:00")),
        8 * HOUR
    );
    assert_eq!(
        c.business_ms(at("2026-12-01T11:30"), at("2026-12-01T13:30")),
        HOUR
    );
}

#[test]
fn nights_weekends_and_holidays_do_not_count() {
    let c = office();
    // Friday 16:00 → Monday 09:00: 1 h Friday, 4 h Saturday, 1 h Monday.
    assert_eq!(
        c.business_ms(at("2026-12-04T16:00"), at("2026-12-07T09:00")),
        6 * HOUR
    );
    // Christmas (Friday) is a holiday: Thursday 16:00 → Saturday 09:00 is 1 h + 1 h.
    assert_eq!(
        c.business_ms(at("2026-12-24T16:00"), at("2026-12-26T09:00")),
        2 * HOUR
    );
    assert!(!c.is_business_day("2026-12-25".parse().expect("date")));
    assert!(!c.is_business_day("2026-12-27".parse().expect("date")));
}

#[test]
fn business_days_count_the_working_dates_after_the_first() {
    let c = office();
    // Wednesday 23 → Monday 28 December: Thursday, Saturday, Monday (Christmas and
    // Sunday off).
    assert_eq!(
        c.business_days_between(at("2026-12-23T15:00"), at("2026-12-28T08:00")),
        3
    );
    assert_eq!(
        c.business_days_between(at("2026-12-23T08:00"), at("2026-12-23T18:00")),
        0
    );
}

#[test]
fn adding_business_time_skips_lunch_nights_and_holidays() {
    let c = office();
    assert_eq!(
        c.add_business(at("2026-12-01T11:00"), 2 * HOUR),
        at("2026-12-01T14:00")
    );
    // From Thursday 24 December 16:00, 3 h: 1 h Thursday, Christmas skipped, then
    // Saturday 08:00–10:00.
    assert_eq!(
        c.add_business(at("2026-12-24T16:00"), 3 * HOUR),
        at("2026-12-26T10:00")
    );
    // Starting outside working hours starts at the next interval.
    assert_eq!(
        c.add_business(at("2026-12-01T05:00"), HOUR),
        at("2026-12-01T09:00")
    );
    assert_eq!(Calendar::Always.add_business(5, 10), 15);
}

#[test]
fn bad_calendars_are_refused_with_the_reason() {
    let mut config = CalendarConfig {
        time_zone: "Mars/Olympus".into(),
        hours: BTreeMap::from([("mon".to_owned(), vec!["08:00-12:00".to_owned()])]),
        holidays: vec![],
    };
    let err = Calendar::from_config("x", &config).expect_err("bad zone");
    assert!(err.0.contains("unknown time zone `Mars/Olympus`"), "{err}");
    config.time_zone = "America/El_Salvador".into();
    config
        .hours
        .insert("mon".into(), vec!["12:00-08:00".into()]);
    let err = Calendar::from_config("x", &config).expect_err("backwards");
    assert!(err.0.contains("ends before it starts"), "{err}");
    config.hours = BTreeMap::from([("funday".to_owned(), vec!["08:00-12:00".to_owned()])]);
    let err = Calendar::from_config("x", &config).expect_err("no such day");
    assert!(err.0.contains("`funday` is not a weekday"), "{err}");
}

/// Instants over two years around the holidays, at minute resolution.
fn instant() -> impl Strategy<Value = i64> {
    let start = at("2026-11-01T00:00");
    (0i64..(2 * 365 * 24 * 60)).prop_map(move |m| start + m * 60_000)
}

proptest! {
    #[test]
    fn business_time_adds_up_over_any_split(a in instant(), b in instant(), c in instant()) {
        let mut v = [a, b, c];
        v.sort_unstable();
        let cal = office();
        prop_assert_eq!(
            cal.business_ms(v[0], v[2]),
            cal.business_ms(v[0], v[1]) + cal.business_ms(v[1], v[2])
        );
        prop_assert!(cal.business_ms(v[0], v[2]) <= v[2] - v[0]);
    }

    #[test]
    fn adding_then_measuring_gives_back_the_duration(a in instant(), minutes in 0i64..(200 * 60)) {
        let cal = office();
        let ms = minutes * 60_000;
        let due = cal.add_business(a, ms);
        prop_assert_eq!(cal.business_ms(a, due), ms);
        // The due instant is the earliest: a minute before, less had passed.
        if ms > 0 {
            prop_assert!(cal.business_ms(a, due - 60_000) < ms);
        }
    }

    #[test]
    fn around_the_clock_counts_wall_time(a in instant(), b in instant()) {
        prop_assert_eq!(Calendar::Always.business_ms(a.min(b), a.max(b)), (a - b).abs());
    }
}
