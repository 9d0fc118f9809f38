//! The CI registry's records, as users write them in an import file or the API.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How much the ministry depends on a CI, from least to most.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    Low,
    Medium,
    High,
    Critical,
}

impl Criticality {
    pub const ALL: [Criticality; 4] = [
        Criticality::Low,
        Criticality::Medium,
        Criticality::High,
        Criticality::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
            Criticality::Critical => "critical",
        }
    }
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown criticality `{0}` (expected one of low, medium, high, critical)")]
pub struct UnknownCriticality(pub String);

impl FromStr for Criticality {
    type Err = UnknownCriticality;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Criticality::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCriticality(s.to_owned()))
    }
}

/// A department of the ministry that runs its own desk (a tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub code: String,
    pub name: String,
    /// Login of the unit head.
    #[serde(default)]
    pub head: Option<String>,
    /// The unit's desk mailbox.
    #[serde(default)]
    pub desk_email: Option<String>,
}

/// A member of staff as the registry file lists them (stored by the desk procedure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub login: String,
    pub name: String,
    pub email: String,
    pub unit: String,
    pub role: String,
    #[serde(default)]
    pub tier: Option<u8>,
}

/// The relation a plain `depends_on: [id]` entry has.
pub const DEFAULT_RELATION: &str = "depends_on";

/// One edge of the dependency graph: this CI needs `ci`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
pub struct Dependency {
    pub ci: String,
    /// The kind of need (`depends_on`, `runs_on`, `connects_through`…); rules choose
    /// which kinds correlate.
    pub relation: String,
}

/// Written either as a bare CI id or as `{ ci: id, relation: kind }`.
impl<'de> Deserialize<'de> for Dependency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Id(String),
            Typed {
                ci: String,
                #[serde(default)]
                relation: Option<String>,
            },
        }
        Ok(match Written::deserialize(d)? {
            Written::Id(ci) => Dependency {
                ci,
                relation: DEFAULT_RELATION.to_owned(),
            },
            Written::Typed { ci, relation } => Dependency {
                ci,
                relation: relation.unwrap_or_else(|| DEFAULT_RELATION.to_owned()),
            },
        })
    }
}

/// A configuration item: anything managed to deliver a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigItem {
    pub id: String,
    pub name: String,
    /// What it is: `service`, `server`, `database`, `network`… (`service` CIs are the
    /// services an incident impacts).
    #[serde(rename = "type")]
    pub kind: String,
    /// Code of the owning unit.
    pub unit: String,
    pub criticality: Criticality,
    /// What monitoring tools call it: host names, addresses, `host:port`, labels.
    #[serde(default)]
    pub identifiers: Vec<String>,
    /// Free attributes (location, vendor, contract…).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub depends_on: Vec<Dependency>,
}

/// CI type whose members are reported as the services an incident impacts.
pub const SERVICE_KIND: &str = "service";

/// Identifiers match whatever case a tool writes them in.
pub fn identifier_key(identifier: &str) -> String {
    identifier.trim().to_lowercase()
}

/// A CI of unit `U` that depends (plain relation) on `deps`, for tests.
#[cfg(test)]
pub(crate) fn test_ci(id: &str, deps: &[&str]) -> ConfigItem {
    ConfigItem {
        id: id.into(),
        name: id.into(),
        kind: "server".into(),
        unit: "U".into(),
        criticality: Criticality::High,
        identifiers: vec![],
        attributes: Default::default(),
        depends_on: deps
            .iter()
            .map(|d| Dependency {
                ci: (*d).into(),
                relation: DEFAULT_RELATION.into(),
            })
            .collect(),
    }
}
