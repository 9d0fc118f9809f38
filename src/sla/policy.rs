//! Policies compiled from `[sla]`: which target a ticket gets, on which calendar, and
//! the frozen definition its clocks keep.

use std::collections::BTreeMap;

use super::calendar::{Calendar, ALWAYS};
use super::clock::{parse_duration, Definition, Metric};
use super::config::{Policy, SlaConfig};

/// What a policy is chosen for.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub kind: &'a str,
    pub priority: &'a str,
    pub unit: Option<&'a str>,
    pub ci_type: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct Policies {
    config: SlaConfig,
    pause_on: Vec<String>,
}

impl Policies {
    /// Checks every policy, calendar and threshold; the error names the key at fault.
    pub fn compile(config: &SlaConfig) -> Result<Policies, String> {
        for (name, calendar) in &config.calendars {
            Calendar::from_config(name, calendar).map_err(|e| format!("`sla.calendars`: {e}"))?;
        }
        let known = |name: &str| name == ALWAYS || config.calendars.contains_key(name);
        if !known(&config.default_calendar) {
            return Err(format!(
                "`sla.default_calendar`: no calendar `{}`",
                config.default_calendar
            ));
        }
        for (unit, name) in &config.unit_calendars {
            if !known(name) {
                return Err(format!("`sla.unit_calendars.{unit}`: no calendar `{name}`"));
            }
        }
        for (i, p) in config.policies.iter().enumerate() {
            for (key, value) in [("acknowledge", &p.acknowledge), ("resolve", &p.resolve)] {
                if parse_duration(value).is_none() {
                    return Err(format!(
                        "`sla.policies[{i}].{key}` (`{}`): `{value}` is not a duration such as 30m, 8h or 1h 30m",
                        p.name
                    ));
                }
            }
            if let Some(name) = p.calendar.as_deref().filter(|n| !known(n)) {
                return Err(format!(
                    "`sla.policies[{i}].calendar`: no calendar `{name}`"
                ));
            }
        }
        if config.warn_at.iter().any(|w| !(*w > 0.0 && *w < 1.0)) {
            return Err("`sla.warn_at`: each threshold must be between 0 and 1".into());
        }
        let mut config = config.clone();
        // Warnings are given in order; the timers count how many were given.
        config.warn_at.sort_by(f64::total_cmp);
        config.warn_at.dedup();
        Ok(Policies {
            config: config.clone(),
            pause_on: config.pause_on.clone(),
        })
    }

    pub fn pauses(&self, hold_reason: &str) -> bool {
        self.pause_on.iter().any(|r| r == hold_reason)
    }

    pub fn escalate_on_breach(&self) -> bool {
        self.config.escalate_on_breach
    }

    /// The most specific matching policy's definition for `metric`, if any matches.
    pub fn select(&self, s: Subject<'_>, metric: Metric) -> Option<Definition> {
        let policy = self
            .config
            .policies
            .iter()
            .filter(|p| matches(p, &s))
            // `max_by_key` keeps the last of equals; reverse so the first one wins.
            .rev()
            .max_by_key(|p| {
                8 * u8::from(p.unit.is_some())
                    + 4 * u8::from(p.ci_type.is_some())
                    + 2 * u8::from(p.kind.is_some())
                    + u8::from(p.priority.is_some())
            })?;
        let target = match metric {
            Metric::Acknowledge => &policy.acknowledge,
            Metric::Resolve => &policy.resolve,
        };
        let calendar_name = policy
            .calendar
            .clone()
            .or_else(|| {
                s.unit
                    .and_then(|u| self.config.unit_calendars.get(u).cloned())
            })
            .unwrap_or_else(|| self.config.default_calendar.clone());
        Some(Definition {
            policy: policy.name.clone(),
            metric,
            target_ms: parse_duration(target)?,
            calendar: self.config.calendars.get(&calendar_name).cloned(),
            calendar_name,
            warn_at: self.config.warn_at.clone(),
        })
    }

    /// The calendar a unit works by (for reviews and reports).
    pub fn unit_calendar(&self, unit: &str) -> Calendar {
        let name = self
            .config
            .unit_calendars
            .get(unit)
            .unwrap_or(&self.config.default_calendar);
        self.calendars().remove(name).unwrap_or(Calendar::Always)
    }

    fn calendars(&self) -> BTreeMap<String, Calendar> {
        self.config
            .calendars
            .iter()
            .filter_map(|(n, c)| Some((n.clone(), Calendar::from_config(n, c).ok()?)))
            .collect()
    }
}

fn matches(p: &Policy, s: &Subject<'_>) -> bool {
    let fits =
        |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| Some(w) == have);
    fits(&p.kind, Some(s.kind))
        && fits(&p.priority, Some(s.priority))
        && fits(&p.unit, s.unit)
        && fits(&p.ci_type, s.ci_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::config::Policy;

    fn subject<'a>(kind: &'a str, priority: &'a str, unit: Option<&'a str>) -> Subject<'a> {
        Subject {
            kind,
            priority,
            unit,
            ci_type: None,
        }
    }

    #[test]
    fn the_shipped_defaults_cover_every_kind_and_priority() {
        let p = Policies::compile(&SlaConfig::default()).expect("defaults compile");
        for kind in ["incident", "service_request", "event", "problem"] {
            for priority in ["P1", "P2", "P3", "P4", "P5"] {
                let d = p.select(subject(kind, priority, Some("DGT")), Metric::Resolve);
                assert!(d.is_some(), "{kind} {priority}");
            }
        }
        let p1 = p
            .select(subject("incident", "P1", None), Metric::Acknowledge)
            .expect("P1");
        assert_eq!(
            (p1.target_ms, p1.calendar_name.as_str()),
            (15 * 60_000, "24x7")
        );
        let sr = p
            .select(subject("service_request", "P3", None), Metric::Resolve)
            .expect("SR");
        assert_eq!(
            (sr.target_ms, sr.calendar_name.as_str()),
            (21 * 3_600_000, "ministerio")
        );
    }

    #[test]
    fn a_unit_specific_policy_wins_and_keeps_the_units_calendar() {
        let mut config = SlaConfig::default();
        config.policies.push(Policy {
            name: "dga-requests".into(),
            kind: Some("service_request".into()),
            priority: None,
            unit: Some("DGA".into()),
            ci_type: None,
            acknowledge: "1h".into(),
            resolve: "4h".into(),
            calendar: None,
        });
        config.unit_calendars.insert("DGA".into(), "24x7".into());
        let p = Policies::compile(&config).expect("compiles");
        let d = p
            .select(
                subject("service_request", "P4", Some("DGA")),
                Metric::Resolve,
            )
            .expect("dga");
        assert_eq!(
            (d.policy.as_str(), d.target_ms, d.calendar_name.as_str()),
            ("dga-requests", 4 * 3_600_000, "24x7")
        );
        let other = p
            .select(
                subject("service_request", "P4", Some("DGT")),
                Metric::Resolve,
            )
            .expect("dgt");
        assert_eq!(other.policy, "service_request-P4");
    }

    #[test]
    fn bad_settings_name_the_key() {
        let mut config = SlaConfig::default();
        config.policies[0].resolve = "soon".into();
        let err = Policies::compile(&config).expect_err("bad duration");
        assert!(err.starts_with("`sla.policies[0].resolve`"), "{err}");
        let mut config = SlaConfig::default();
        config.unit_calendars.insert("DGT".into(), "lunar".into());
        let err = Policies::compile(&config).expect_err("bad calendar");
        assert_eq!(err, "`sla.unit_calendars.DGT`: no calendar `lunar`");
    }
}
