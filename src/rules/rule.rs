//! A compiled rule and its evaluation: payload in, normalized signals out. Pure: no I/O.

use std::collections::BTreeMap;
use std::str::FromStr;

use jiff::Timestamp;
use serde_json::Value;

use super::field::{scalar_text, without_nul, Field, Path};
use super::fingerprint::FingerprintRule;
use super::spec::{
    CandidateSpec, ConditionSpec, CorrelationSpec, FieldSpec, IncidentSpec, MapSpec, MappedSpec,
    RuleSpec,
};
use super::time::parse_time;
use crate::domain::{AlertStatus, Correlation, IncidentPolicy, Rate, Severity, Signal};

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    when: Vec<Condition>,
    alerts: Path,
    summary: Field,
    description: Option<Field>,
    severity: Mapped<Severity>,
    status: Mapped<AlertStatus>,
    starts_at: Option<Field>,
    ends_at: Option<Field>,
    ci: Vec<Candidate>,
    labels: Option<MapRule>,
    annotations: Option<MapRule>,
    fingerprint: FingerprintRule,
    incident: Option<(Severity, IncidentPolicy)>,
}

/// A CI key candidate: a value, or the host part of one.
#[derive(Debug, Clone)]
enum Candidate {
    Value(Field),
    HostOf(Field),
}

#[derive(Debug, Clone)]
struct Condition {
    path: Path,
    /// Values that satisfy the condition; `None`: being present is enough.
    accepted: Option<Vec<Value>>,
}

#[derive(Debug, Clone)]
struct Mapped<T> {
    from: Option<Field>,
    map: BTreeMap<String, T>,
    default: Option<T>,
}

#[derive(Debug, Clone)]
struct MapRule {
    from: Option<Path>,
    keep: Option<Vec<String>>,
    set: BTreeMap<String, Field>,
}

/// What a rule made of a payload: the signals, and the alerts it could not read.
#[derive(Debug, Default)]
pub struct Readout {
    pub signals: Vec<Signal>,
    pub refused: Vec<AlertError>,
}

/// Why a rule could not turn one alert of a payload into a signal.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema, thiserror::Error)]
#[error("alert #{index}: {reason}")]
pub struct AlertError {
    /// Position of the alert in the payload, from 0.
    pub index: usize,
    pub reason: String,
}

impl Rule {
    /// `correlation` is the file's setting, which the rule's own overrides.
    pub fn compile(
        spec: &RuleSpec,
        file_correlation: Option<&CorrelationSpec>,
    ) -> Result<Self, String> {
        let ctx = |what: &str| {
            let name = spec.name.clone();
            let what = what.to_owned();
            move |e: String| format!("rule `{name}`, {what}: {e}")
        };
        let correlation =
            correlation(spec.correlation.as_ref(), file_correlation).map_err(ctx("correlation"))?;
        Ok(Rule {
            name: spec.name.clone(),
            when: spec
                .when
                .iter()
                .map(Condition::compile)
                .collect::<Result<_, _>>()
                .map_err(ctx("when"))?,
            alerts: Path::compile(&spec.alerts).map_err(ctx("alerts"))?,
            summary: Field::compile(&spec.summary).map_err(ctx("summary"))?,
            description: optional_field(&spec.description).map_err(ctx("description"))?,
            severity: Mapped::compile(&spec.severity).map_err(ctx("severity"))?,
            status: Mapped::compile(&spec.status).map_err(ctx("status"))?,
            starts_at: optional_field(&spec.starts_at).map_err(ctx("starts_at"))?,
            ends_at: optional_field(&spec.ends_at).map_err(ctx("ends_at"))?,
            ci: spec
                .ci
                .iter()
                .map(Candidate::compile)
                .collect::<Result<_, _>>()
                .map_err(ctx("ci"))?,
            labels: spec
                .labels
                .as_ref()
                .map(MapRule::compile)
                .transpose()
                .map_err(ctx("labels"))?,
            annotations: spec
                .annotations
                .as_ref()
                .map(MapRule::compile)
                .transpose()
                .map_err(ctx("annotations"))?,
            fingerprint: FingerprintRule::compile(&spec.fingerprint).map_err(ctx("fingerprint"))?,
            incident: spec
                .incident
                .as_ref()
                .map(|i| policy(i, correlation))
                .transpose()
                .map_err(ctx("incident"))?,
        })
    }

    /// Whether every `when` condition holds for this payload; `Err` says which does not.
    pub fn applies_to(&self, payload: &Value) -> Result<(), String> {
        self.when.iter().try_for_each(|c| c.check(payload))
    }

    /// Turns every alert the rule finds in the payload into a signal. Alerts that cannot
    /// be read are listed beside the signals; only when none can is the payload refused,
    /// so one broken alert does not cost its whole group.
    pub fn evaluate(&self, source: &str, payload: &Value) -> Result<Readout, Vec<AlertError>> {
        let alerts = self.alerts.select(payload);
        if alerts.is_empty() {
            return Err(vec![AlertError {
                index: 0,
                reason: format!("no alerts found at `{}`", self.alerts.source()),
            }]);
        }
        let mut readout = Readout::default();
        for (index, alert) in alerts.into_iter().enumerate() {
            match self.signal(source, alert) {
                Ok(signal) => readout.signals.push(signal),
                Err(reason) => readout.refused.push(AlertError { index, reason }),
            }
        }
        if readout.signals.is_empty() {
            Err(readout.refused)
        } else {
            Ok(readout)
        }
    }

    fn signal(&self, source: &str, alert: &Value) -> Result<Signal, String> {
        let severity = self.severity.resolve(alert, "severity")?;
        let summary = self
            .summary
            .eval(alert)
            .ok_or_else(|| "summary is missing".to_owned())?;
        let labels = self
            .labels
            .as_ref()
            .map(|m| m.eval(alert))
            .unwrap_or_default();
        let incident = self.policy_for(severity);
        Ok(Signal {
            source: source.to_owned(),
            rule: self.name.clone(),
            fingerprint: self.fingerprint.eval(alert)?,
            status: self.status.resolve(alert, "status")?,
            severity,
            summary,
            description: self.description.as_ref().and_then(|f| f.eval(alert)),
            ci_candidates: ci_candidates(&self.ci, alert),
            labels,
            annotations: self
                .annotations
                .as_ref()
                .map(|m| m.eval(alert))
                .unwrap_or_default(),
            starts_at: timestamp(self.starts_at.as_ref(), alert, "starts_at")?,
            ends_at: timestamp(self.ends_at.as_ref(), alert, "ends_at")?,
            incident,
            unit: None,
        })
    }
}

impl Rule {
    /// What a signal of this severity does about incidents.
    pub fn policy_for(&self, severity: Severity) -> IncidentPolicy {
        match &self.incident {
            Some((min, policy)) => IncidentPolicy {
                opens: severity >= *min,
                ..policy.clone()
            },
            None => IncidentPolicy::event_only(),
        }
    }
}

impl Candidate {
    fn compile(spec: &CandidateSpec) -> Result<Self, String> {
        Ok(match spec {
            CandidateSpec::Value(text) => {
                Candidate::Value(Field::compile(&FieldSpec::One(text.clone()))?)
            }
            CandidateSpec::HostOf(spec) => {
                Candidate::HostOf(Field::compile(&FieldSpec::One(spec.host_of.clone()))?)
            }
        })
    }

    fn eval(&self, alert: &Value) -> Option<String> {
        match self {
            Candidate::Value(field) => field.eval(alert),
            Candidate::HostOf(field) => field.eval(alert).and_then(|v| host_part(&v)),
        }
    }
}

/// The host of `scheme://host:port/path`, `host:port` or `[v6]:port`.
fn host_part(value: &str) -> Option<String> {
    let rest = value.split_once("://").map_or(value, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else if authority.matches(':').count() == 1 {
        authority.split(':').next().unwrap_or(authority)
    } else {
        authority
    };
    let host = host.trim();
    (!host.is_empty()).then(|| host.to_owned())
}

fn policy(
    spec: &IncidentSpec,
    correlation: Correlation,
) -> Result<(Severity, IncidentPolicy), String> {
    let threshold = spec
        .threshold
        .as_ref()
        .map(|t| rate(t.count, &t.within, "threshold"))
        .transpose()?;
    let flapping = spec
        .flapping
        .as_ref()
        .map(|f| rate(f.changes, &f.within, "flapping"))
        .transpose()?;
    Ok((
        spec.min_severity,
        IncidentPolicy {
            opens: true,
            auto_resolve: spec.auto_resolve,
            threshold,
            flapping,
            correlation,
        },
    ))
}

fn rate(count: u32, within: &str, what: &str) -> Result<Rate, String> {
    if count == 0 {
        return Err(format!("{what}: the count must be at least 1"));
    }
    Ok(Rate {
        count,
        within_secs: parse_duration(within).map_err(|e| format!("{what}: {e}"))?,
    })
}

/// A rule's own correlation settings over its file's, over the defaults.
fn correlation(
    rule: Option<&CorrelationSpec>,
    file: Option<&CorrelationSpec>,
) -> Result<Correlation, String> {
    let mut out = Correlation::default();
    for spec in [file, rule].into_iter().flatten() {
        if let Some(enabled) = spec.enabled {
            out.enabled = enabled;
        }
        if let Some(window) = &spec.window {
            out.window_secs = parse_duration(window)?;
        }
        if let Some(relations) = &spec.relations {
            out.relations = relations.clone();
        }
    }
    Ok(out)
}

/// `30m`, `4h`, `1h 30m` or ISO 8601 (`PT30M`), in whole seconds, more than zero.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let duration: jiff::SignedDuration = text
        .trim()
        .parse()
        .map_err(|e| format!("`{text}` is not a duration such as `30m` or `4h`: {e}"))?;
    u64::try_from(duration.as_secs())
        .ok()
        .filter(|&secs| secs > 0)
        .ok_or_else(|| format!("`{text}` must be longer than zero seconds"))
}

fn optional_field(spec: &Option<super::spec::FieldSpec>) -> Result<Option<Field>, String> {
    spec.as_ref().map(Field::compile).transpose()
}

fn ci_candidates(candidates: &[Candidate], alert: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in candidates.iter().filter_map(|c| c.eval(alert)) {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

/// Go's zero time (`0001-01-01T00:00:00Z`, Alertmanager's "no end") means "not set";
/// so does anything before 1970.
fn timestamp(
    field: Option<&Field>,
    alert: &Value,
    what: &str,
) -> Result<Option<Timestamp>, String> {
    let Some(text) = field.and_then(|f| f.eval(alert)) else {
        return Ok(None);
    };
    let ts = parse_time(&text)
        .ok_or_else(|| format!("{what} `{text}` is neither an RFC 3339 time nor a Unix time"))?;
    // Stored times have millisecond precision; truncating here keeps comparisons between
    // a payload and what was stored from an earlier copy of it exact.
    let ts = Timestamp::from_millisecond(ts.as_millisecond()).unwrap_or(ts);
    Ok((ts > Timestamp::UNIX_EPOCH).then_some(ts))
}

impl Condition {
    fn compile(spec: &ConditionSpec) -> Result<Self, String> {
        let accepted = match (&spec.equals, &spec.one_of) {
            (Some(_), Some(_)) => return Err("set `equals` or `one_of`, not both".to_owned()),
            (Some(one), None) => Some(vec![one.clone()]),
            (None, Some(many)) if many.is_empty() => return Err("`one_of` is empty".to_owned()),
            (None, many) => many.clone(),
        };
        Ok(Condition {
            path: Path::compile(&spec.path)?,
            accepted,
        })
    }

    fn check(&self, payload: &Value) -> Result<(), String> {
        let Some(found) = self.path.first(payload) else {
            return Err(format!("`{}` is missing", self.path.source()));
        };
        match &self.accepted {
            None => Ok(()),
            Some(accepted) if accepted.iter().any(|want| loosely_equal(found, want)) => Ok(()),
            Some(accepted) => {
                let wanted: Vec<String> = accepted.iter().map(Value::to_string).collect();
                Err(format!(
                    "`{}` is {found}, expected {}",
                    self.path.source(),
                    wanted.join(" or ")
                ))
            }
        }
    }
}

/// `"4"` in a payload equals `4` in a rule file: YAML authors should not have to quote.
fn loosely_equal(found: &Value, want: &Value) -> bool {
    found == want || matches!((scalar_text(found), scalar_text(want)), (Some(a), Some(b)) if a == b)
}

impl<T: Copy + FromStr> Mapped<T> {
    fn compile(spec: &MappedSpec<T>) -> Result<Self, String>
    where
        T: Clone,
    {
        if spec.from.is_none() && spec.default.is_none() {
            return Err("needs `from`, `default`, or both".to_owned());
        }
        Ok(Mapped {
            from: spec.from.as_ref().map(Field::compile).transpose()?,
            map: spec
                .map
                .iter()
                .map(|(k, v)| (k.to_lowercase(), *v))
                .collect(),
            default: spec.default,
        })
    }

    /// The tool's word through the map, else as one of Vigía's words, else the default.
    fn resolve(&self, alert: &Value, what: &str) -> Result<T, String> {
        let word = self.from.as_ref().and_then(|f| f.eval(alert));
        let mapped = word.as_deref().and_then(|w| {
            let lower = w.to_lowercase();
            self.map.get(&lower).copied().or_else(|| lower.parse().ok())
        });
        mapped.or(self.default).ok_or_else(|| match word {
            Some(w) => format!("{what} `{w}` is not mapped and the rule has no default"),
            None => format!("{what} is missing and the rule has no default"),
        })
    }
}

impl MapRule {
    fn compile(spec: &MapSpec) -> Result<Self, String> {
        Ok(MapRule {
            from: spec.from.as_deref().map(Path::compile).transpose()?,
            keep: spec.keep.clone(),
            set: spec
                .set
                .iter()
                .map(|(k, f)| Ok((k.clone(), Field::compile(f)?)))
                .collect::<Result<_, String>>()?,
        })
    }

    fn eval(&self, alert: &Value) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(Value::Object(obj)) = self.from.as_ref().and_then(|p| p.first(alert)) {
            for (key, value) in obj {
                let kept = self.keep.as_ref().is_none_or(|keep| keep.contains(key));
                if let (true, Some(text)) = (kept, scalar_text(value)) {
                    out.insert(without_nul(key), text);
                }
            }
        }
        for (key, field) in &self.set {
            if let Some(text) = field.eval(alert) {
                out.insert(key.clone(), text);
            }
        }
        out
    }
}
