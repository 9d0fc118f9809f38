//! Clocks replayed from their logs: the worked examples.

use std::collections::BTreeMap;

use super::calendar::Calendar;
use super::clock::{parse_duration, Clock, Definition, Event, EventKind, Metric};
use super::config::CalendarConfig;

const HOUR: i64 = 3_600_000;

/// Monday to Friday, 08:00–17:00 in El Salvador; 2026-12-08 a holiday (a Tuesday).
fn weekdays() -> CalendarConfig {
    CalendarConfig {
        time_zone: "America/El_Salvador".into(),
        hours: ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| (d.to_string(), vec!["08:00-17:00".to_owned()]))
            .collect::<BTreeMap<_, _>>(),
        holidays: vec!["2026-12-08".into()],
    }
}

fn def(hours: i64) -> (Definition, Calendar) {
    let d = Definition {
        policy: "test".into(),
        metric: Metric::Resolve,
        target_ms: hours * HOUR,
        calendar_name: "weekdays".into(),
        calendar: Some(weekdays()),
        warn_at: vec![0.75, 0.9],
    };
    let cal = d.calendar();
    (d, cal)
}

fn at(local: &str) -> i64 {
    super::salvador(local)
}

fn log(events: &[(&str, EventKind)]) -> Vec<Event> {
    events
        .iter()
        .map(|(t, kind)| Event {
            at: at(t),
            kind: *kind,
        })
        .collect()
}

#[test]
fn friday_afternoon_ticket_paused_monday_to_tuesday_meets_its_eight_hours_with_seven() {
    let (d, cal) = def(8);
    // Friday 2026-12-04 16:00; paused Monday 09:00 to Tuesday 10:00; resolved Tuesday 15:00.
    let events = log(&[
        ("2026-12-04T16:00", EventKind::Start),
        ("2026-12-07T09:00", EventKind::Pause),
        ("2026-12-09T10:00", EventKind::Resume),
        ("2026-12-09T15:00", EventKind::Stop),
    ]);
    // (2026-12-08 is a holiday here, so "Tuesday" of the example is Wednesday 9th.)
    let clock = Clock::replay(&d, &cal, &events, at("2026-12-10T12:00"));
    assert_eq!(clock.elapsed_ms, 7 * HOUR);
    assert_eq!(clock.met(), Some(true));
    assert_eq!(clock.breached_at, None);
    // Without the pause it was due Monday 15:00 (1 h Friday + 7 h Monday).
    assert_eq!(clock.original_due_at, at("2026-12-07T15:00"));
}

#[test]
fn the_same_week_without_a_holiday_counts_tuesday() {
    let (d, cal) = def(8);
    let events = log(&[
        ("2026-11-27T16:00", EventKind::Start),
        ("2026-11-30T09:00", EventKind::Pause),
        ("2026-12-01T10:00", EventKind::Resume),
        ("2026-12-01T15:00", EventKind::Stop),
    ]);
    let clock = Clock::replay(&d, &cal, &events, at("2026-12-02T09:00"));
    assert_eq!(clock.elapsed_ms, 7 * HOUR);
    assert_eq!(clock.met(), Some(true));
}

#[test]
fn a_reschedule_near_the_end_of_the_day_moves_the_due_time_by_the_pause() {
    let (d, cal) = def(4);
    // Monday 14:00 start; rescheduled at 16:30 until Wednesday 09:00; still running
    // Wednesday 10:00.
    let events = log(&[
        ("2026-11-30T14:00", EventKind::Start),
        ("2026-11-30T16:30", EventKind::Pause),
        ("2026-12-02T09:00", EventKind::Resume),
    ]);
    let clock = Clock::replay(&d, &cal, &events, at("2026-12-02T10:00"));
    assert_eq!(clock.elapsed_ms, 2 * HOUR + HOUR / 2 + HOUR);
    assert_eq!(clock.due_at, Some(at("2026-12-02T10:30")));
    assert_eq!(clock.original_due_at, at("2026-12-01T09:00"));
    assert!(clock.running);
}

#[test]
fn a_holiday_does_not_count_and_a_late_stop_is_a_breach_at_the_due_instant() {
    let (d, cal) = def(8);
    // Monday 7th 12:00: 5 h Monday, the 8th is a holiday, due Wednesday 11:00.
    let events = log(&[
        ("2026-12-07T12:00", EventKind::Start),
        ("2026-12-09T16:00", EventKind::Stop),
    ]);
    let clock = Clock::replay(&d, &cal, &events, at("2026-12-10T00:00"));
    assert_eq!(clock.elapsed_ms, 13 * HOUR);
    assert_eq!(clock.breached_at, Some(at("2026-12-09T11:00")));
    assert_eq!(clock.met(), Some(false));
}

#[test]
fn time_spent_resolved_before_a_reopen_does_not_count() {
    let (d, cal) = def(8);
    let events = log(&[
        ("2026-11-30T08:00", EventKind::Start),
        ("2026-11-30T10:00", EventKind::Stop),
        ("2026-12-02T08:00", EventKind::Restart),
        ("2026-12-02T09:00", EventKind::Stop),
    ]);
    let clock = Clock::replay(&d, &cal, &events, at("2026-12-03T08:00"));
    assert_eq!(clock.elapsed_ms, 3 * HOUR);
    assert_eq!(clock.stopped_at, Some(at("2026-12-02T09:00")));
}

#[test]
fn warnings_fall_at_their_share_of_the_target() {
    let (d, cal) = def(4);
    let events = log(&[("2026-11-30T08:00", EventKind::Start)]);
    let clock = Clock::replay(&d, &cal, &events, at("2026-11-30T09:00"));
    assert_eq!(clock.reaches(&d, &cal, 0.75), Some(at("2026-11-30T11:00")));
    assert_eq!(clock.reaches(&d, &cal, 0.9), Some(at("2026-11-30T11:36")));
}

#[test]
fn durations_read_as_written() {
    assert_eq!(parse_duration("30m"), Some(30 * 60_000));
    assert_eq!(parse_duration("1h 30m"), Some(90 * 60_000));
    assert_eq!(parse_duration("2d"), Some(48 * HOUR));
    assert_eq!(parse_duration("8 h"), None);
    assert_eq!(parse_duration("0m"), None);
    assert_eq!(parse_duration("soon"), None);
}
