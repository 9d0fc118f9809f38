//! Priority = impact × urgency, through a matrix (ITIL's 3×3 by default). Impact comes
//! from the CI's criticality, raised when it carries many services; urgency from the
//! alert's severity.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::cmdb::graph::{Node, Registry};
use crate::cmdb::model::Criticality;
use crate::domain::Severity;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low,
    Medium,
    High,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<Level> {
        [Level::Low, Level::Medium, Level::High]
            .into_iter()
            .find(|l| l.as_str() == text)
    }

    fn raised(self) -> Level {
        match self {
            Level::Low => Level::Medium,
            _ => Level::High,
        }
    }

    fn index(self) -> usize {
        match self {
            Level::High => 0,
            Level::Medium => 1,
            Level::Low => 2,
        }
    }
}

/// P1 (most urgent) to P5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
    P5,
}

impl Priority {
    pub const ALL: [Priority; 5] = [
        Priority::P1,
        Priority::P2,
        Priority::P3,
        Priority::P4,
        Priority::P5,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
            Priority::P5 => "P5",
        }
    }

    pub fn parse(text: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// The `[priority]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriorityConfig {
    /// Impact of a CI by its criticality.
    pub impact: ImpactConfig,
    /// An impact is raised one level when the CI carries at least this many services
    /// (itself included); 0 turns the raise off.
    pub raise_impact_at_services: usize,
    /// Impact of an alert bound to no CI.
    pub unbound_impact: Level,
    /// Urgency by severity.
    pub urgency: UrgencyConfig,
    /// Rows are impact high, medium, low; columns urgency high, medium, low.
    pub matrix: [[Priority; 3]; 3],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpactConfig {
    pub critical: Level,
    pub high: Level,
    pub medium: Level,
    pub low: Level,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrgencyConfig {
    pub critical: Level,
    pub major: Level,
    pub minor: Level,
    pub warning: Level,
    pub info: Level,
}

impl Default for PriorityConfig {
    fn default() -> Self {
        use Priority::*;
        PriorityConfig {
            impact: ImpactConfig {
                critical: Level::High,
                high: Level::Medium,
                medium: Level::Low,
                low: Level::Low,
            },
            raise_impact_at_services: 2,
            unbound_impact: Level::Medium,
            urgency: UrgencyConfig {
                critical: Level::High,
                major: Level::High,
                minor: Level::Medium,
                warning: Level::Low,
                info: Level::Low,
            },
            matrix: [[P1, P2, P3], [P2, P3, P4], [P3, P4, P5]],
        }
    }
}

impl PriorityConfig {
    pub fn urgency(&self, severity: Severity) -> Level {
        let u = &self.urgency;
        match severity {
            Severity::Critical => u.critical,
            Severity::Major => u.major,
            Severity::Minor => u.minor,
            Severity::Warning => u.warning,
            Severity::Info => u.info,
        }
    }

    /// The CI's impact; the services are counted only as far as the raise needs.
    pub fn impact(&self, registry: &Registry, node: Option<Node>) -> Level {
        let Some(node) = node else {
            return self.unbound_impact;
        };
        let ci = registry.node(node);
        let i = &self.impact;
        let base = match ci.criticality {
            Criticality::Critical => i.critical,
            Criticality::High => i.high,
            Criticality::Medium => i.medium,
            Criticality::Low => i.low,
        };
        let wanted = self.raise_impact_at_services;
        if wanted == 0 || base == Level::High {
            return base;
        }
        if registry.services_carried(node, wanted) >= wanted {
            base.raised()
        } else {
            base
        }
    }

    pub fn priority(&self, impact: Level, urgency: Level) -> Priority {
        self.matrix[impact.index()][urgency.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_matrix_is_itils() {
        let config = PriorityConfig::default();
        let p = |i, u| config.priority(i, u).as_str();
        assert_eq!(p(Level::High, Level::High), "P1");
        assert_eq!(p(Level::High, Level::Low), "P3");
        assert_eq!(p(Level::Medium, Level::Medium), "P3");
        assert_eq!(p(Level::Low, Level::Medium), "P4");
        assert_eq!(p(Level::Low, Level::Low), "P5");
        assert_eq!(config.urgency(Severity::Major), Level::High);
        assert_eq!(config.urgency(Severity::Warning), Level::Low);
    }
}
