//! The on-disk format of a rule file (`rules/{source}.yaml`), exactly as users write it.
//! `rules/README.md` documents every key; unknown keys are refused.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::{AlertStatus, Severity};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFileSpec {
    #[serde(default)]
    pub description: Option<String>,
    /// An open event of this source with no update for this long resolves itself
    /// (`4h`, `30m`); absent: only the tool (or an `endsAt` lease) resolves events.
    #[serde(default)]
    pub resolve_timeout: Option<String>,
    /// Correlation settings for every rule of the file (a rule may override them).
    #[serde(default)]
    pub correlation: Option<CorrelationSpec>,
    pub rules: Vec<RuleSpec>,
    #[serde(default)]
    pub tests: Vec<TestSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    /// Conditions on the whole payload; all must hold for this rule to apply.
    #[serde(default)]
    pub when: Vec<ConditionSpec>,
    /// JSONPath to the alerts inside the payload; `$` when the payload is one alert.
    #[serde(default = "root_path")]
    pub alerts: String,
    pub summary: FieldSpec,
    #[serde(default)]
    pub description: Option<FieldSpec>,
    pub severity: MappedSpec<Severity>,
    pub status: MappedSpec<AlertStatus>,
    #[serde(default)]
    pub starts_at: Option<FieldSpec>,
    #[serde(default)]
    pub ends_at: Option<FieldSpec>,
    /// CI key candidates, tried in order.
    #[serde(default)]
    pub ci: Vec<CandidateSpec>,
    #[serde(default)]
    pub correlation: Option<CorrelationSpec>,
    #[serde(default)]
    pub labels: Option<MapSpec>,
    #[serde(default)]
    pub annotations: Option<MapSpec>,
    pub fingerprint: FingerprintSpec,
    /// Absent: the alert becomes an event only.
    #[serde(default)]
    pub incident: Option<IncidentSpec>,
}

fn root_path() -> String {
    "$".to_owned()
}

/// A CI key candidate: a value (JSONPath, template or literal), or the host part of one
/// (`10.1.2.11:9100` and `http://host:8080/x` give `10.1.2.11` and `host`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CandidateSpec {
    Value(String),
    HostOf(HostOfSpec),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostOfSpec {
    pub host_of: String,
}

/// Whether and how alerts of a rule join incidents of the CIs they depend on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrelationSpec {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// How recent the other incident's last alert must be (`30m`).
    #[serde(default)]
    pub window: Option<String>,
    /// Which dependency relations correlate; absent: every relation.
    #[serde(default)]
    pub relations: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    pub path: String,
    /// Required value; absent (with `one_of` absent too) means the path only has to exist.
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
    /// Accepted values, any of them.
    #[serde(default)]
    pub one_of: Option<Vec<serde_json::Value>>,
}

/// A value: a JSONPath (`$.a.b`), a template (`Down: {{ $.name }}`) or a literal.
/// A list means "the first of these that is present and not empty".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FieldSpec {
    One(String),
    FirstOf(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "T: Deserialize<'de>"))]
pub struct MappedSpec<T> {
    #[serde(default)]
    pub from: Option<FieldSpec>,
    /// The tool's words (matched case-insensitively) to Vigía's.
    #[serde(default)]
    pub map: BTreeMap<String, T>,
    #[serde(default)]
    pub default: Option<T>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapSpec {
    /// JSONPath to an object whose entries are copied.
    #[serde(default)]
    pub from: Option<String>,
    /// Keep only these keys of `from` (all when absent).
    #[serde(default)]
    pub keep: Option<Vec<String>>,
    /// Extra entries computed from the alert.
    #[serde(default)]
    pub set: BTreeMap<String, FieldSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingerprintSpec {
    /// A ready-made fingerprint in the payload.
    #[serde(default)]
    pub field: Option<FieldSpec>,
    /// Values hashed together into a fingerprint.
    #[serde(default)]
    pub from: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentSpec {
    /// Alerts at or above this severity open an incident.
    pub min_severity: Severity,
    #[serde(default)]
    pub auto_resolve: bool,
    /// Open the incident only once the alert fired `count` times within `within`.
    #[serde(default)]
    pub threshold: Option<ThresholdSpec>,
    /// More than `changes` state changes within `within` mark the alert flapping: it then
    /// opens at most one incident until it settles.
    #[serde(default)]
    pub flapping: Option<FlappingSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    pub count: u32,
    pub within: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlappingSpec {
    pub changes: u32,
    pub within: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    pub name: String,
    /// Payload file, relative to the rules directory.
    #[serde(default)]
    pub payload: Option<String>,
    /// Inline payload, instead of a file.
    #[serde(default)]
    pub input: Option<serde_json::Value>,
    /// Expected signals, in order; each lists only the fields it checks.
    #[serde(default)]
    pub expect: Option<Vec<serde_json::Value>>,
    /// Expected rejection: a fragment of the reason.
    #[serde(default)]
    pub expect_error: Option<String>,
}
