//! Times in payloads, in the forms tools send them.

use jiff::Timestamp;

/// RFC 3339 (any offset); a date-time without offset, taken as UTC; or Unix seconds
/// (milliseconds when the number is too large to be seconds), as tools send all three.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    if let Ok(civil) = text.parse::<jiff::civil::DateTime>() {
        return civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    let number: f64 = text.parse().ok()?;
    let millis = if number.abs() < 1e11 {
        number * 1000.0
    } else {
        number
    };
    Timestamp::from_millisecond(millis as i64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_come_as_rfc3339_civil_utc_or_unix_numbers() {
        let want: Timestamp = "2026-11-29T21:22:40Z".parse().expect("time");
        for text in [
            "2026-11-29T15:22:40-06:00",
            "2026-11-29T21:22:40",
            "1795987360",
            "1795987360000",
        ] {
            assert_eq!(parse_time(text), Some(want), "{text}");
        }
        assert_eq!(parse_time("yesterday"), None);
    }
}
