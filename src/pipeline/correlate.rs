//! Topology correlation: which open incident an alert on a CI belongs to (one on the same
//! CI, or on a CI it depends on), and which incidents an alert reveals to share its cause
//! (those on CIs that depend on it). Pure: works on a snapshot of the open incidents.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::cmdb::graph::{path_back, Node, Registry, Relations};
use crate::domain::{Correlation, Severity};
use crate::pipeline::priority::{Level, Priority};

/// An open incident as correlation sees it.
#[derive(Debug, Clone)]
pub struct ActiveIncident {
    pub id: String,
    /// The CI the incident is about (its most upstream cause).
    pub root: Option<Node>,
    /// Every CI one of its alerts concerns.
    pub members: Vec<Node>,
    pub opened_at: i64,
    pub last_seen: i64,
    pub severity: Severity,
    pub impact: Level,
    pub urgency: Level,
    pub priority: Priority,
}

/// Why an alert joined an incident, kept with the link and shown on the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The alert that opened the incident.
    Origin { ci: Option<String> },
    /// A new occurrence of an alert already in the incident.
    Repeat,
    /// Another alert on a CI already in the incident.
    SameCi { ci: String, incident: String },
    /// The alert's CI depends (through `path`) on a CI of the incident.
    DependsOn {
        ci: String,
        path: Vec<String>,
        incident: String,
    },
    /// The alert came from an incident merged into this one, whose CI depends (through
    /// `path`) on this incident's CI.
    Merged {
        from: String,
        ci: String,
        path: Vec<String>,
    },
}

/// The incident an alert joins, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub incident: String,
    pub reason: Reason,
}

/// The open incidents recent enough to correlate with, by id and by CI.
#[derive(Debug, Default)]
pub struct Active {
    incidents: HashMap<String, ActiveIncident>,
    by_ci: HashMap<Node, Vec<String>>,
    /// Every incident in the order it came, so indexes can catch up.
    order: Vec<String>,
    /// Per relation set: for each CI, the incidents whose root depends on it, and how
    /// much of `order` is indexed. Each root is walked once, so finding the incidents an
    /// alert's CI causes costs what it finds, not one walk per open incident.
    caused: HashMap<Relations, (HashMap<Node, Vec<String>>, usize)>,
    /// Incidents opened, or with a CI new to them, since loading.
    changed: std::collections::BTreeSet<String>,
}

impl Active {
    pub fn new(incidents: Vec<ActiveIncident>) -> Active {
        let mut active = Active::default();
        for incident in incidents {
            active.insert(incident);
        }
        active
    }

    pub fn insert(&mut self, incident: ActiveIncident) {
        for &ci in &incident.members {
            self.by_ci.entry(ci).or_default().push(incident.id.clone());
        }
        self.order.push(incident.id.clone());
        self.incidents.insert(incident.id.clone(), incident);
    }

    /// Records that an incident is new, to be stored with its CIs.
    pub fn opened(&mut self, incident: ActiveIncident) {
        self.changed.insert(incident.id.clone());
        self.insert(incident);
    }

    /// The CIs of every incident whose CIs changed: (incident, CI ids).
    pub fn changed_members(&self, registry: &Registry) -> Vec<(String, Vec<String>)> {
        self.changed
            .iter()
            .filter_map(|id| self.incidents.get(id))
            .map(|i| (i.id.clone(), ids(registry, &i.members)))
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<&ActiveIncident> {
        self.incidents.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut ActiveIncident> {
        self.incidents.get_mut(id)
    }

    /// Whether `ci` is one of the incident's CIs already.
    pub fn has_member(&self, incident: &str, ci: Node) -> bool {
        self.incidents
            .get(incident)
            .is_some_and(|i| i.members.contains(&ci))
    }

    /// Records that an alert on `ci` joined `incident` at `now`.
    pub fn touch(&mut self, incident: &str, ci: Option<Node>, now: i64) {
        let Some(entry) = self.incidents.get_mut(incident) else {
            return;
        };
        entry.last_seen = entry.last_seen.max(now);
        // An incident about no CI (triage) never correlates: it gathers no members.
        if entry.root.is_none() {
            return;
        }
        if let Some(ci) = ci.filter(|ci| !entry.members.contains(ci)) {
            entry.members.push(ci);
            self.by_ci.entry(ci).or_default().push(incident.to_owned());
            self.changed.insert(incident.to_owned());
        }
    }

    /// Folds `from` into `into`: its CIs now count as `into`'s.
    pub fn merge(&mut self, from: &str, into: &str) {
        let Some(merged) = self.incidents.remove(from) else {
            return;
        };
        for ci in &merged.members {
            if let Some(ids) = self.by_ci.get_mut(ci) {
                ids.retain(|id| id != from);
            }
        }
        for ci in merged.members {
            self.touch(into, Some(ci), merged.last_seen);
        }
    }

    /// The oldest recent-enough incident on this CI, if any.
    fn on_ci(&self, ci: Node, since: i64) -> Option<&ActiveIncident> {
        self.by_ci
            .get(&ci)?
            .iter()
            .filter_map(|id| self.incidents.get(id))
            .filter(|i| i.last_seen >= since)
            .min_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)))
    }

    /// The incident an alert on `ci` belongs to: one on the same CI, else one on the
    /// nearest CI it depends on, within the window.
    pub fn cause(
        &self,
        registry: &Registry,
        ci: Node,
        policy: &Correlation,
        relations: Relations,
        now: i64,
    ) -> Option<Join> {
        let since = now.saturating_sub(policy.window_ms());
        if let Some(incident) = self.on_ci(ci, since) {
            return Some(Join {
                incident: incident.id.clone(),
                reason: Reason::SameCi {
                    ci: registry.node(ci).id.clone(),
                    incident: incident.id.clone(),
                },
            });
        }
        if self.by_ci.is_empty() {
            return None;
        }
        let mut found = None;
        let mut steps = Vec::new();
        registry.walk_upstream(ci, relations, |step| {
            steps.push(step);
            found = self
                .on_ci(step.node, since)
                .map(|i| (i.id.clone(), step.node));
            found.is_some()
        });
        let (incident, dependency) = found?;
        Some(Join {
            reason: Reason::DependsOn {
                ci: registry.node(ci).id.clone(),
                path: ids(registry, &path_back(&steps, ci, dependency)),
                incident: incident.clone(),
            },
            incident,
        })
    }

    /// The other recent incidents whose root CI depends on `ci`: they share its cause and
    /// are merged into the incident the alert on `ci` is in.
    pub fn dependants(
        &mut self,
        registry: &Registry,
        ci: Node,
        into: &str,
        policy: &Correlation,
        relations: Relations,
        now: i64,
    ) -> Vec<(String, Reason)> {
        let since = now.saturating_sub(policy.window_ms());
        self.index_causes(registry, relations);
        let Some((caused, _)) = self.caused.get(&relations) else {
            return Vec::new();
        };
        let mut found: Vec<(&ActiveIncident, Node)> = caused
            .get(&ci)
            .into_iter()
            .flatten()
            .filter_map(|id| self.incidents.get(id))
            .filter(|i| i.id != into && i.last_seen >= since)
            .filter_map(|i| i.root.map(|root| (i, root)))
            .collect();
        found.sort_by(|(a, _), (b, _)| a.id.cmp(&b.id));
        found
            .into_iter()
            .map(|(incident, root)| {
                let reason = Reason::Merged {
                    from: incident.id.clone(),
                    ci: registry.node(root).id.clone(),
                    path: ids(registry, &registry.path(root, ci, relations)),
                };
                (incident.id.clone(), reason)
            })
            .collect()
    }
}

impl Active {
    /// Walks up from the root of every incident not yet indexed for `relations`.
    fn index_causes(&mut self, registry: &Registry, relations: Relations) {
        let (caused, done) = self.caused.entry(relations).or_default();
        for id in &self.order[*done..] {
            let Some(root) = self.incidents.get(id).and_then(|i| i.root) else {
                continue;
            };
            registry.walk_upstream(root, relations, |step| {
                caused.entry(step.node).or_default().push(id.clone());
                false
            });
        }
        *done = self.order.len();
    }
}

fn ids(registry: &Registry, nodes: &[Node]) -> Vec<String> {
    nodes.iter().map(|&n| registry.node(n).id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdb::model::test_ci;

    fn registry() -> Registry {
        let ci = test_ci;
        Registry::build(
            1,
            vec![],
            vec![
                ci("cluster", &[]),
                ci("db", &["cluster"]),
                ci("app", &["db"]),
                ci("other", &[]),
            ],
        )
    }

    fn incident(id: &str, root: Node, last_seen: i64) -> ActiveIncident {
        ActiveIncident {
            id: id.into(),
            root: Some(root),
            members: vec![root],
            opened_at: last_seen,
            last_seen,
            severity: Severity::Critical,
            impact: Level::High,
            urgency: Level::High,
            priority: Priority::P1,
        }
    }

    const WINDOW: i64 = 30 * 60_000;

    #[test]
    fn an_alert_joins_the_incident_of_what_it_depends_on_within_the_window() {
        let r = registry();
        let node = |id| r.find(id).expect("ci");
        let policy = Correlation::default();
        let active = Active::new(vec![incident("inc_c", node("cluster"), 0)]);
        let join = active
            .cause(&r, node("app"), &policy, Relations::ALL, WINDOW)
            .expect("joins");
        assert_eq!(join.incident, "inc_c");
        assert_eq!(
            join.reason,
            Reason::DependsOn {
                ci: "app".into(),
                path: vec!["app".into(), "db".into(), "cluster".into()],
                incident: "inc_c".into()
            }
        );
        assert!(active
            .cause(&r, node("app"), &policy, Relations::ALL, WINDOW + 1)
            .is_none());
        assert!(active
            .cause(&r, node("other"), &policy, Relations::ALL, 0)
            .is_none());
    }

    #[test]
    fn incidents_downstream_of_a_new_root_are_found_for_merging() {
        let r = registry();
        let node = |id| r.find(id).expect("ci");
        let policy = Correlation::default();
        let mut active = Active::new(vec![
            incident("inc_app", node("app"), 0),
            incident("inc_other", node("other"), 0),
        ]);
        active.insert(incident("inc_db", node("db"), 0));
        let merges = active.dependants(&r, node("db"), "inc_db", &policy, Relations::ALL, 10);
        assert_eq!(merges.len(), 1);
        assert_eq!(merges[0].0, "inc_app");
        active.merge("inc_app", "inc_db");
        let join = active
            .cause(&r, node("app"), &policy, Relations::ALL, 10)
            .expect("joins");
        assert_eq!(join.incident, "inc_db");
        assert!(matches!(join.reason, Reason::SameCi { .. }));
    }
}
