//! The registry held in memory for the hot path: CIs by id and by identifier, and the
//! dependency graph in both directions. Built from the database; replaced as a whole
//! (behind an `Arc`) whenever the registry changes, so readers never see half a change.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};

use super::model::{identifier_key, ConfigItem, Criticality, Unit, SERVICE_KIND};

/// Position of a CI in the registry's tables.
pub type Node = u32;

/// A set of relation kinds, as a bit per kind interned by the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Relations(u64);

impl Relations {
    pub const ALL: Relations = Relations(u64::MAX);

    fn has(self, relation: u8) -> bool {
        // Kinds beyond the 64th share the last bit: they correlate when it is set.
        self.0 & (1 << relation.min(63)) != 0
    }
}

#[derive(Debug, Clone)]
pub struct CiNode {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub unit: String,
    pub criticality: Criticality,
}

impl CiNode {
    pub fn is_service(&self) -> bool {
        self.kind == SERVICE_KIND
    }
}

#[derive(Debug, Clone, Copy)]
struct Edge {
    to: Node,
    relation: u8,
}

/// A step of a walk: the CI reached and the CI it was reached from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub node: Node,
    pub from: Node,
}

#[derive(Debug, Default)]
pub struct Registry {
    generation: i64,
    units: HashMap<String, Unit>,
    nodes: Vec<CiNode>,
    by_id: HashMap<String, Node>,
    by_identifier: HashMap<String, Node>,
    needs: Vec<Vec<Edge>>,
    needed_by: Vec<Vec<Edge>>,
    relations: Vec<String>,
    /// Services each CI carries (itself included), counted up to `SERVICES_CAP` the first
    /// time they are asked for; `UNCOUNTED` until then.
    services: Vec<AtomicU8>,
}

const UNCOUNTED: u8 = u8::MAX;
const SERVICES_CAP: u8 = u8::MAX - 1;

impl Registry {
    /// Builds the index. Dependencies on unknown CIs are skipped: the store's foreign
    /// keys and the import's checks keep them from existing.
    pub fn build(generation: i64, units: Vec<Unit>, cis: Vec<ConfigItem>) -> Registry {
        let mut registry = Registry {
            generation,
            units: units.into_iter().map(|u| (u.code.clone(), u)).collect(),
            ..Registry::default()
        };
        registry.nodes.reserve(cis.len());
        for (index, ci) in cis.iter().enumerate() {
            let node = index as Node;
            registry.by_id.insert(ci.id.clone(), node);
            registry.by_identifier.insert(identifier_key(&ci.id), node);
            for identifier in &ci.identifiers {
                registry
                    .by_identifier
                    .insert(identifier_key(identifier), node);
            }
            registry.nodes.push(CiNode {
                id: ci.id.clone(),
                name: ci.name.clone(),
                kind: ci.kind.clone(),
                unit: ci.unit.clone(),
                criticality: ci.criticality,
            });
        }
        registry.needs = vec![Vec::new(); cis.len()];
        registry.needed_by = vec![Vec::new(); cis.len()];
        registry.services = (0..cis.len()).map(|_| AtomicU8::new(UNCOUNTED)).collect();
        for (index, ci) in cis.iter().enumerate() {
            for dep in &ci.depends_on {
                let Some(&to) = registry.by_id.get(&dep.ci) else {
                    continue;
                };
                let relation = registry.intern(&dep.relation);
                let from = index as Node;
                registry.needs[index].push(Edge { to, relation });
                registry.needed_by[to as usize].push(Edge { to: from, relation });
            }
        }
        registry
    }

    fn intern(&mut self, relation: &str) -> u8 {
        let found = self.relations.iter().position(|r| r == relation);
        let index = found.unwrap_or_else(|| {
            self.relations.push(relation.to_owned());
            self.relations.len() - 1
        });
        index.min(63) as u8
    }

    pub fn generation(&self) -> i64 {
        self.generation
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn unit(&self, code: &str) -> Option<&Unit> {
        self.units.get(code)
    }

    pub fn node(&self, node: Node) -> &CiNode {
        &self.nodes[node as usize]
    }

    pub fn find(&self, id: &str) -> Option<Node> {
        self.by_id.get(id).copied()
    }

    /// The first candidate that names a CI, by id or by any identifier, with the
    /// candidate that matched.
    pub fn bind<'a>(&self, candidates: &'a [String]) -> Option<(Node, &'a str)> {
        candidates.iter().find_map(|candidate| {
            self.by_id
                .get(candidate.as_str())
                .or_else(|| self.by_identifier.get(&identifier_key(candidate)))
                .map(|&node| (node, candidate.as_str()))
        })
    }

    /// The relation kinds named, as a set; names the registry has never seen match
    /// nothing.
    pub fn relations(&self, names: &[String]) -> Relations {
        if names.is_empty() {
            return Relations::ALL;
        }
        let bits = names
            .iter()
            .filter_map(|name| self.relations.iter().position(|r| r == name))
            .fold(0u64, |acc, index| acc | 1 << index.min(63));
        Relations(bits)
    }

    /// Walks what `start` depends on (upstream), breadth first so nearer CIs come
    /// first, calling `visit` for each CI reached until it returns true.
    pub fn walk_upstream(
        &self,
        start: Node,
        relations: Relations,
        visit: impl FnMut(Step) -> bool,
    ) -> Option<Step> {
        walk(&self.needs, start, relations, visit)
    }

    /// Walks what depends on `start` (downstream: what it impacts).
    pub fn walk_downstream(
        &self,
        start: Node,
        relations: Relations,
        visit: impl FnMut(Step) -> bool,
    ) -> Option<Step> {
        walk(&self.needed_by, start, relations, visit)
    }

    /// Whether `node` depends on `ancestor`, directly or through other CIs.
    pub fn depends_on(&self, node: Node, ancestor: Node, relations: Relations) -> bool {
        node != ancestor
            && self
                .walk_upstream(node, relations, |step| step.node == ancestor)
                .is_some()
    }

    /// The CIs between `from` and its dependency `to`, both included, shortest first.
    pub fn path(&self, from: Node, to: Node, relations: Relations) -> Vec<Node> {
        let mut steps = Vec::new();
        let reached = self.walk_upstream(from, relations, |step| {
            steps.push(step);
            step.node == to
        });
        match reached {
            Some(_) => path_back(&steps, from, to),
            None => vec![from],
        }
    }

    /// Every CI that depends on `node`, transitively, nearest first.
    pub fn impact(&self, node: Node) -> Vec<Node> {
        let mut out = Vec::new();
        self.walk_downstream(node, Relations::ALL, |step| {
            out.push(step.node);
            false
        });
        out
    }

    /// Every CI `node` depends on, transitively, nearest first.
    pub fn dependencies(&self, node: Node) -> Vec<Node> {
        let mut out = Vec::new();
        self.walk_upstream(node, Relations::ALL, |step| {
            out.push(step.node);
            false
        });
        out
    }

    /// How many services depend on `node` (itself included), counting no further than
    /// `cap` (at most 254). Remembered, so a busy CI costs one walk per registry.
    pub fn services_carried(&self, node: Node, cap: usize) -> usize {
        let cap = cap.min(usize::from(SERVICES_CAP));
        let Some(slot) = self.services.get(node as usize) else {
            return 0;
        };
        let known = slot.load(Ordering::Relaxed);
        if known != UNCOUNTED {
            return usize::from(known).min(cap);
        }
        let mut count = usize::from(self.node(node).is_service());
        let limit = usize::from(SERVICES_CAP);
        if count < limit {
            self.walk_downstream(node, Relations::ALL, |step| {
                count += usize::from(self.node(step.node).is_service());
                count >= limit
            });
        }
        let count = count.min(limit);
        slot.store(count as u8, Ordering::Relaxed);
        count.min(cap)
    }

    /// The services that depend on `node` (itself included, if it is one).
    pub fn impacted_services(&self, node: Node) -> Vec<Node> {
        let mut services: Vec<Node> = std::iter::once(node)
            .chain(self.impact(node))
            .filter(|&n| self.node(n).is_service())
            .collect();
        services.sort_by(|a, b| self.node(*a).id.cmp(&self.node(*b).id));
        services
    }
}

/// The path from `from` to `to` given the steps of a walk from `from` that reached `to`.
pub fn path_back(steps: &[Step], from: Node, to: Node) -> Vec<Node> {
    let came_from: HashMap<Node, Node> = steps.iter().map(|s| (s.node, s.from)).collect();
    let mut path = vec![to];
    let mut at = to;
    while at != from {
        match came_from.get(&at) {
            Some(&previous) => {
                path.push(previous);
                at = previous;
            }
            None => break,
        }
    }
    path.reverse();
    path
}

/// Breadth-first walk along `edges` from `start`. The visited set is a per-thread array
/// of stamps (reset by bumping the stamp), so a walk allocates nothing and costs only the
/// edges it follows; a walk started inside another's visitor gets a fresh set.
fn walk(
    edges: &[Vec<Edge>],
    start: Node,
    relations: Relations,
    visit: impl FnMut(Step) -> bool,
) -> Option<Step> {
    thread_local! {
        static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => scratch.walk(edges, start, relations, visit),
        Err(_) => Scratch::default().walk(edges, start, relations, visit),
    })
}

#[derive(Default)]
struct Scratch {
    stamps: Vec<u32>,
    stamp: u32,
    queue: VecDeque<Node>,
}

impl Scratch {
    fn walk(
        &mut self,
        edges: &[Vec<Edge>],
        start: Node,
        relations: Relations,
        mut visit: impl FnMut(Step) -> bool,
    ) -> Option<Step> {
        if self.stamps.len() < edges.len() {
            self.stamps.resize(edges.len(), 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.stamps.fill(0);
            self.stamp = 1;
        }
        let stamp = self.stamp;
        self.queue.clear();
        self.queue.push_back(start);
        if let Some(seen) = self.stamps.get_mut(start as usize) {
            *seen = stamp;
        }
        while let Some(at) = self.queue.pop_front() {
            let Some(out) = edges.get(at as usize) else {
                continue;
            };
            for edge in out.iter().filter(|e| relations.has(e.relation)) {
                let Some(seen) = self.stamps.get_mut(edge.to as usize) else {
                    continue;
                };
                if *seen == stamp {
                    continue;
                }
                *seen = stamp;
                let step = Step {
                    node: edge.to,
                    from: at,
                };
                if visit(step) {
                    return Some(step);
                }
                self.queue.push_back(edge.to);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdb::model::{Dependency, DEFAULT_RELATION};

    fn ci(id: &str, kind: &str, deps: &[&str]) -> ConfigItem {
        ConfigItem {
            id: id.into(),
            name: id.into(),
            kind: kind.into(),
            unit: "U".into(),
            criticality: Criticality::High,
            identifiers: vec![format!("{id}.example"), "10.0.0.1:9100".into()]
                .into_iter()
                .filter(|_| id == "app")
                .collect(),
            attributes: Default::default(),
            depends_on: deps
                .iter()
                .map(|d| {
                    let (relation, ci) = d.split_once(':').unwrap_or((DEFAULT_RELATION, d));
                    Dependency {
                        ci: ci.into(),
                        relation: relation.into(),
                    }
                })
                .collect(),
        }
    }

    fn registry() -> Registry {
        Registry::build(
            1,
            vec![],
            vec![
                ci("power", "facility", &[]),
                ci("switch", "network", &["powered_by:power"]),
                ci("cluster", "hardware", &["switch", "powered_by:power"]),
                ci("db", "database", &["cluster"]),
                ci("app", "server", &["cluster", "db"]),
                ci("web", "service", &["app"]),
                ci("pay", "service", &["web"]),
            ],
        )
    }

    fn ids(registry: &Registry, nodes: &[Node]) -> Vec<String> {
        nodes.iter().map(|&n| registry.node(n).id.clone()).collect()
    }

    #[test]
    fn binds_by_id_then_identifier_in_candidate_order() {
        let r = registry();
        let candidates = vec!["nope".to_owned(), "APP.example".to_owned(), "db".to_owned()];
        let (node, matched) = r.bind(&candidates).expect("bound");
        assert_eq!(r.node(node).id, "app");
        assert_eq!(matched, "APP.example");
        assert!(r.bind(&["10.0.0.1".to_owned()]).is_none());
    }

    #[test]
    fn impact_and_dependencies_are_transitive_and_nearest_first() {
        let r = registry();
        let cluster = r.find("cluster").expect("cluster");
        assert_eq!(ids(&r, &r.impact(cluster)), ["db", "app", "web", "pay"]);
        let app = r.find("app").expect("app");
        assert_eq!(
            ids(&r, &r.dependencies(app)),
            ["cluster", "db", "switch", "power"]
        );
        assert_eq!(ids(&r, &r.impacted_services(cluster)), ["pay", "web"]);
    }

    #[test]
    fn relation_kinds_filter_the_walk() {
        let r = registry();
        let (app, power) = (r.find("app").expect("app"), r.find("power").expect("p"));
        assert!(r.depends_on(app, power, Relations::ALL));
        let plain = r.relations(&[DEFAULT_RELATION.to_owned()]);
        assert!(!r.depends_on(app, power, plain));
        assert!(r.depends_on(app, r.find("switch").expect("s"), plain));
        assert!(!r.depends_on(app, app, Relations::ALL));
    }

    #[test]
    fn path_names_every_ci_between() {
        let r = registry();
        let pay = r.find("pay").expect("pay");
        let cluster = r.find("cluster").expect("cluster");
        assert_eq!(
            ids(&r, &r.path(pay, cluster, Relations::ALL)),
            ["pay", "web", "app", "cluster"]
        );
    }
}
