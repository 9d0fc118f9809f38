//! Noise controls: maintenance windows and silences (which keep alerts from opening
//! incidents while they last), and the marks behind thresholds and flapping. Pure.

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cmdb::graph::{Node, Registry, Relations};
use crate::domain::Rate;

/// A maintenance window as the pipeline needs it.
#[derive(Debug, Clone)]
pub struct Maintenance {
    pub id: String,
    pub ci: String,
    pub include_dependants: bool,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// How a silence matcher compares a label, as Alertmanager's `=`, `!=`, `=~`, `!~`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum MatchOp {
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = "=~")]
    Regex,
    #[serde(rename = "!~")]
    NotRegex,
}

/// One label condition of a silence, as written through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatcherSpec {
    /// A label name.
    pub name: String,
    #[serde(default = "equal")]
    pub op: MatchOp,
    pub value: String,
}

fn equal() -> MatchOp {
    MatchOp::Equal
}

#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    /// Anchored, as Alertmanager anchors its regular expressions.
    regex: Option<Regex>,
}

impl Matcher {
    pub fn compile(spec: &MatcherSpec) -> Result<Matcher, String> {
        if spec.name.trim().is_empty() {
            return Err("a matcher needs a label name".to_owned());
        }
        let regex = match spec.op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{})$", spec.value))
                    .map_err(|e| format!("matcher `{}`: bad regular expression: {e}", spec.name))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: spec.name.clone(),
            op: spec.op,
            value: spec.value.clone(),
            regex,
        })
    }

    /// A missing label reads as empty, as in Alertmanager.
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.name).map_or("", String::as_str);
        let regex_match = || self.regex.as_ref().is_some_and(|r| r.is_match(value));
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => regex_match(),
            MatchOp::NotRegex => !regex_match(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// The maintenance windows and silences not yet over, as one snapshot.
#[derive(Debug, Default)]
pub struct Suppressions {
    pub generation: i64,
    pub maintenance: Vec<Maintenance>,
    pub silences: Vec<Silence>,
}

impl Suppressions {
    /// What suppresses an alert on `ci` with these labels at `now`:
    /// `maintenance:<id>` or `silence:<id>`.
    pub fn held_by(
        &self,
        registry: &Registry,
        ci: Option<Node>,
        labels: &BTreeMap<String, String>,
        now: i64,
    ) -> Option<String> {
        let active = |from: i64, to: i64| from <= now && now < to;
        if let Some(node) = ci {
            let window = self.maintenance.iter().find(|w| {
                active(w.starts_at, w.ends_at)
                    && registry.find(&w.ci).is_some_and(|target| {
                        target == node
                            || (w.include_dependants
                                && registry.depends_on(node, target, Relations::ALL))
                    })
            });
            if let Some(window) = window {
                return Some(format!("maintenance:{}", window.id));
            }
        }
        self.silences
            .iter()
            .find(|s| {
                active(s.starts_at, s.ends_at) && s.matchers.iter().all(|m| m.matches(labels))
            })
            .map(|s| format!("silence:{}", s.id))
    }
}

/// What thresholds and flapping remember of an alert across its occurrences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marks {
    /// When it fired lately (as many as the threshold needs), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fired: Vec<i64>,
    /// When it changed state lately, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<i64>,
    /// The last incident one of its occurrences opened or joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

impl Marks {
    /// Records a firing; true once it fired `count` times within the window.
    pub fn fire(&mut self, threshold: Rate, now: i64) -> bool {
        let keep = threshold.count as usize;
        self.fired.push(now);
        if self.fired.len() > keep {
            self.fired.drain(..self.fired.len() - keep);
        }
        self.fired.len() >= keep
            && self
                .fired
                .first()
                .is_some_and(|&first| now - first <= threshold.within_ms())
    }

    /// Whether the recorded firings already reach the threshold at `now`.
    pub fn reached(&self, threshold: Rate, now: i64) -> bool {
        let count = threshold.count as usize;
        self.fired.len() >= count
            && self.fired[self.fired.len() - count..]
                .first()
                .is_some_and(|&first| now - first <= threshold.within_ms())
    }

    /// Records a change of state (firing again after a resolution, or resolving).
    pub fn change(&mut self, flapping: Rate, now: i64) {
        self.changes.push(now);
        self.forget_changes(flapping, now);
    }

    /// More than the allowed changes within the window.
    pub fn flapping(&mut self, flapping: Rate, now: i64) -> bool {
        self.forget_changes(flapping, now);
        self.changes.len() > flapping.count as usize
    }

    fn forget_changes(&mut self, flapping: Rate, now: i64) {
        let horizon = now - flapping.within_ms();
        self.changes.retain(|&at| at >= horizon);
        let keep = flapping.count as usize + 1;
        if self.changes.len() > keep {
            self.changes.drain(..self.changes.len() - keep);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fired.is_empty() && self.changes.is_empty() && self.incident.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_threshold_needs_its_count_within_the_window() {
        let rate = Rate {
            count: 3,
            within_secs: 300,
        };
        let mut marks = Marks::default();
        assert!(!marks.fire(rate, 0));
        assert!(!marks.fire(rate, 4 * MIN));
        // The first firing has left the window by now: only two within 5 minutes.
        assert!(!marks.fire(rate, 6 * MIN));
        assert!(marks.fire(rate, 7 * MIN));
        assert_eq!(marks.fired.len(), 3);
    }

    #[test]
    fn flapping_is_more_changes_than_allowed_and_settles_when_they_age() {
        let rate = Rate {
            count: 2,
            within_secs: 600,
        };
        let mut marks = Marks::default();
        for at in [0, MIN, 2 * MIN] {
            marks.change(rate, at);
        }
        assert!(marks.flapping(rate, 2 * MIN));
        assert!(!marks.flapping(rate, 11 * MIN));
    }

    #[test]
    fn matchers_follow_alertmanager() {
        let labels: BTreeMap<String, String> =
            [("alertname".to_owned(), "DiskFull".to_owned())].into();
        let m = |op, value: &str, name: &str| {
            Matcher::compile(&MatcherSpec {
                name: name.into(),
                op,
                value: value.into(),
            })
            .expect("valid")
            .matches(&labels)
        };
        assert!(m(MatchOp::Equal, "DiskFull", "alertname"));
        assert!(m(MatchOp::Regex, "Disk.*", "alertname"));
        assert!(!m(MatchOp::Regex, "Disk", "alertname"));
        assert!(m(MatchOp::NotRegex, "Host.*", "alertname"));
        assert!(m(MatchOp::NotEqual, "x", "missing"));
        assert!(m(MatchOp::Equal, "", "missing"));
        assert!(Matcher::compile(&MatcherSpec {
            name: "a".into(),
            op: MatchOp::Regex,
            value: "(".into()
        })
        .is_err());
    }
}
