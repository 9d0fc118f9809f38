//! The figures the collector exports and how each reading of the database moves them:
//! gauges as read, counters and histogram buckets by the rises of their counts (see
//! `sla::metrics`), and their Prometheus families.

use std::collections::BTreeMap;

use prometheus::proto::{self, MetricFamily, MetricType};

use crate::metrics::{self as names, DbFamily, TICKET_SECONDS_BUCKETS};
use crate::store::desk_metrics::{ClockCount, Compliance, StoppedClocks, TicketCount, TicketGroup};

/// Label values, in the order of their family's `labels`.
type Labels = Vec<String>;

/// One reading of the database.
#[derive(Debug, Default)]
pub struct Reading {
    pub tickets: Vec<TicketGroup>,
    pub stopped: Vec<StoppedClocks>,
    pub breached: Vec<ClockCount>,
    pub at_risk: Vec<TicketCount>,
    pub compliance: Vec<Compliance>,
}

/// What the collector exports, updated by each reading.
#[derive(Debug, Default)]
pub struct Figures {
    started: bool,
    opened: Counters,
    resolved: Counters,
    breached: Counters,
    acknowledge: Histograms,
    resolve: Histograms,
    open: Gauges,
    backlog_age: Gauges,
    at_risk: Gauges,
    compliance: BTreeMap<Labels, f64>,
}

impl Figures {
    pub fn apply(&mut self, reading: Reading) {
        let first = !self.started;
        self.started = true;
        let mut opened = Totals::default();
        let mut resolved = Totals::default();
        let mut open = Totals::default();
        let mut backlog_age = Totals::default();
        for g in &reading.tickets {
            let tier = g.tier.map(|t| t.to_string()).unwrap_or_default();
            add(&mut opened, [&g.unit, &g.kind, &g.priority], g.tickets);
            if g.resolved == 1 {
                add(
                    &mut resolved,
                    [&g.unit, &g.kind, &g.priority, &tier],
                    g.tickets,
                );
            }
            // The store leaves `age` empty exactly for resolved, closed and canceled ones.
            if !g.age.is_empty() {
                let labels = [&g.unit, &g.kind, &g.status, &g.hold_reason, &tier];
                add(&mut open, labels, g.tickets);
                add(&mut backlog_age, [&g.unit, &g.age], g.tickets);
            }
        }
        let mut breached = Totals::default();
        for c in &reading.breached {
            add(
                &mut breached,
                [&c.unit, &c.kind, &c.priority, &c.metric],
                c.clocks,
            );
        }
        self.opened.update(opened, first);
        self.resolved.update(resolved, first);
        self.breached.update(breached, first);
        for (metric, histograms) in [
            ("acknowledge", &mut self.acknowledge),
            ("resolve", &mut self.resolve),
        ] {
            let stopped = reading.stopped.iter().filter(|s| s.metric == metric);
            histograms.update(stopped, first);
        }
        self.open.update(open);
        self.backlog_age.update(backlog_age);
        let mut at_risk = Totals::default();
        for t in &reading.at_risk {
            add(&mut at_risk, [&t.unit, &t.kind, &t.priority], t.tickets);
        }
        self.at_risk.update(at_risk);
        self.compliance = reading
            .compliance
            .iter()
            .filter(|c| c.clocks > 0)
            .map(|c| {
                let labels = vec![c.unit.clone(), c.kind.clone(), c.priority.clone()];
                (labels, c.met as f64 / c.clocks as f64)
            })
            .collect();
    }

    pub fn families(&self) -> Vec<MetricFamily> {
        vec![
            scalar_family(
                names::TICKETS_OPENED,
                MetricType::COUNTER,
                self.opened.values(),
            ),
            scalar_family(
                names::TICKETS_RESOLVED,
                MetricType::COUNTER,
                self.resolved.values(),
            ),
            scalar_family(
                names::TICKETS_BREACHED,
                MetricType::COUNTER,
                self.breached.values(),
            ),
            scalar_family(names::TICKETS_OPEN, MetricType::GAUGE, self.open.values()),
            scalar_family(
                names::TICKETS_BACKLOG_AGE,
                MetricType::GAUGE,
                self.backlog_age.values(),
            ),
            scalar_family(
                names::TICKETS_AT_RISK,
                MetricType::GAUGE,
                self.at_risk.values(),
            ),
            histogram_family(names::ACKNOWLEDGE_SECONDS, &self.acknowledge),
            histogram_family(names::RESOLVE_SECONDS, &self.resolve),
            scalar_family(
                names::SLA_COMPLIANCE,
                MetricType::GAUGE,
                self.compliance.iter().map(|(l, v)| (l, *v)).collect(),
            ),
        ]
    }
}

type Totals = BTreeMap<Labels, i64>;

fn add<const N: usize>(totals: &mut Totals, labels: [&String; N], n: i64) {
    *totals
        .entry(labels.map(String::clone).to_vec())
        .or_default() += n;
}

/// A counter fed by a database count: what it exports only grows.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// The database's count at the last reading.
    seen: i64,
    exported: i64,
}

impl Tally {
    /// Takes the database's new count; the rise, if any, is exported and returned.
    fn advance(&mut self, count: i64) -> i64 {
        let rise = (count - self.seen).max(0);
        self.seen = count;
        self.exported += rise;
        rise
    }
}

#[derive(Debug, Default)]
struct Counters(BTreeMap<Labels, Tally>);

impl Counters {
    /// On the first reading every count is the baseline: counters start at 0.
    fn update(&mut self, mut counts: Totals, first: bool) {
        for (labels, tally) in &mut self.0 {
            tally.advance(counts.remove(labels).unwrap_or(0));
        }
        for (labels, count) in counts {
            let seen = if first { count } else { 0 };
            let mut tally = Tally { seen, exported: 0 };
            tally.advance(count);
            self.0.insert(labels, tally);
        }
    }

    fn values(&self) -> Vec<(&Labels, f64)> {
        self.0.iter().map(|(l, t)| (l, t.exported as f64)).collect()
    }
}

/// One histogram's buckets, each (not cumulative) a counter of its own, so a clock that
/// restarts and stops again in another bucket adds there without taking from the first.
#[derive(Debug, Clone)]
struct Histogram {
    buckets: Vec<Tally>,
    /// Per bucket, the database's sum of elapsed milliseconds at the last reading.
    seen_ms: Vec<i64>,
    sum_ms: i64,
}

impl Histogram {
    fn new() -> Self {
        let n = TICKET_SECONDS_BUCKETS.len() + 1;
        Histogram {
            buckets: vec![Tally::default(); n],
            seen_ms: vec![0; n],
            sum_ms: 0,
        }
    }

    /// A histogram whose baseline is `counts`: it exports nothing of them.
    fn starting_at(counts: &[(i64, i64)]) -> Self {
        let mut histogram = Histogram::new();
        for (i, (clocks, ms)) in counts.iter().enumerate().take(histogram.buckets.len()) {
            histogram.buckets[i].seen = *clocks;
            histogram.seen_ms[i] = *ms;
        }
        histogram
    }

    /// `counts`: per bucket, the database's clocks and their elapsed milliseconds.
    fn advance(&mut self, counts: &[(i64, i64)]) {
        for (i, (tally, seen_ms)) in self.buckets.iter_mut().zip(&mut self.seen_ms).enumerate() {
            let (clocks, ms) = counts.get(i).copied().unwrap_or_default();
            // The sum grows with the clocks that came in; a bucket that only lost some
            // adds nothing.
            if tally.advance(clocks) > 0 {
                self.sum_ms += (ms - *seen_ms).max(0);
            }
            *seen_ms = ms;
        }
    }
}

#[derive(Debug, Default)]
struct Histograms(BTreeMap<Labels, Histogram>);

impl Histograms {
    fn update<'a>(&mut self, stopped: impl Iterator<Item = &'a StoppedClocks>, first: bool) {
        let slots = TICKET_SECONDS_BUCKETS.len() + 1;
        let mut counts: BTreeMap<Labels, Vec<(i64, i64)>> = BTreeMap::new();
        for s in stopped {
            let labels = vec![s.unit.clone(), s.kind.clone(), s.priority.clone()];
            let per_bucket = counts.entry(labels).or_insert_with(|| vec![(0, 0); slots]);
            let slot = usize::try_from(s.bucket).map_or(slots - 1, |b| b.min(slots - 1));
            per_bucket[slot].0 += s.clocks;
            per_bucket[slot].1 += s.elapsed_ms;
        }
        for (labels, histogram) in &mut self.0 {
            histogram.advance(&counts.remove(labels).unwrap_or_default());
        }
        for (labels, per_bucket) in counts {
            let histogram = if first {
                Histogram::starting_at(&per_bucket)
            } else {
                let mut histogram = Histogram::new();
                histogram.advance(&per_bucket);
                histogram
            };
            self.0.insert(labels, histogram);
        }
    }
}

/// Gauges keep the label sets they have shown, at 0 once empty, so a backlog that
/// clears reads 0 rather than vanishing.
#[derive(Debug, Default)]
struct Gauges(BTreeMap<Labels, i64>);

impl Gauges {
    fn update(&mut self, values: Totals) {
        for value in self.0.values_mut() {
            *value = 0;
        }
        self.0.extend(values);
    }

    fn values(&self) -> Vec<(&Labels, f64)> {
        self.0.iter().map(|(l, v)| (l, *v as f64)).collect()
    }
}

fn labelled(family: DbFamily, values: &Labels) -> proto::Metric {
    let mut pairs: Vec<proto::LabelPair> = family
        .labels
        .iter()
        .zip(values)
        .map(|(name, value)| {
            let mut pair = proto::LabelPair::default();
            pair.set_name(name.to_string());
            pair.set_value(value.clone());
            pair
        })
        .collect();
    // As the library's own vectors print them.
    pairs.sort_by(|a, b| a.name().cmp(b.name()));
    let mut metric = proto::Metric::default();
    metric.set_label(pairs);
    metric
}

fn family(family: DbFamily, kind: MetricType, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut out = MetricFamily::default();
    out.set_name(family.name.to_owned());
    out.set_help(family.help.to_owned());
    out.set_field_type(kind);
    out.set_metric(metrics);
    out
}

fn scalar_family(f: DbFamily, kind: MetricType, values: Vec<(&Labels, f64)>) -> MetricFamily {
    let metrics = values
        .into_iter()
        .map(|(labels, value)| {
            let mut metric = labelled(f, labels);
            if kind == MetricType::COUNTER {
                let mut counter = proto::Counter::default();
                counter.set_value(value);
                metric.set_counter(counter);
            } else {
                let mut gauge = proto::Gauge::default();
                gauge.set_value(value);
                metric.set_gauge(gauge);
            }
            metric
        })
        .collect();
    family(f, kind, metrics)
}

fn histogram_family(f: DbFamily, histograms: &Histograms) -> MetricFamily {
    let metrics = histograms
        .0
        .iter()
        .map(|(labels, h)| {
            let mut cumulative = 0;
            let mut buckets = Vec::new();
            for (bound, tally) in TICKET_SECONDS_BUCKETS.iter().zip(&h.buckets) {
                cumulative += tally.exported;
                let mut bucket = proto::Bucket::default();
                bucket.set_upper_bound(*bound as f64);
                bucket.set_cumulative_count(u64::try_from(cumulative).unwrap_or(0));
                buckets.push(bucket);
            }
            let count: i64 = h.buckets.iter().map(|t| t.exported).sum();
            let mut histogram = proto::Histogram::default();
            histogram.set_bucket(buckets);
            histogram.set_sample_count(u64::try_from(count).unwrap_or(0));
            histogram.set_sample_sum(h.sum_ms as f64 / 1000.0);
            let mut metric = labelled(f, labels);
            metric.set_histogram(histogram);
            metric
        })
        .collect();
    family(f, MetricType::HISTOGRAM, metrics)
}

#[cfg(test)]
mod tests {
    use prometheus::{Encoder, TextEncoder};

    use super::*;

    fn text(figures: &Figures) -> String {
        let mut out = Vec::new();
        let families: Vec<_> = figures
            .families()
            .into_iter()
            .filter(|f| !f.get_metric().is_empty())
            .collect();
        TextEncoder::new()
            .encode(&families, &mut out)
            .expect("encoded");
        String::from_utf8(out).expect("UTF-8")
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    fn tickets(priority: &str, status: &str, resolved: bool, n: i64) -> TicketGroup {
        TicketGroup {
            unit: "DGT".into(),
            kind: "service_request".into(),
            priority: priority.into(),
            tier: Some(1),
            status: status.into(),
            hold_reason: String::new(),
            resolved: i64::from(resolved),
            age: if resolved { "" } else { "lt_1d" }.into(),
            tickets: n,
        }
    }

    fn reading(tickets: Vec<TicketGroup>) -> Reading {
        Reading {
            tickets,
            ..Reading::default()
        }
    }

    fn stopped(metric: &str, bucket: i64, clocks: i64, elapsed_ms: i64) -> StoppedClocks {
        StoppedClocks {
            unit: "DGT".into(),
            kind: "incident".into(),
            priority: "P2".into(),
            metric: metric.into(),
            bucket,
            clocks,
            elapsed_ms,
        }
    }

    const P3: &str =
        r#"vigia_tickets_opened_total{kind="service_request",priority="P3",unit="DGT"}"#;
    const P2: &str =
        r#"vigia_tickets_opened_total{kind="service_request",priority="P2",unit="DGT"}"#;
    const RESOLVED: &str =
        r#"vigia_tickets_resolved_total{kind="service_request",priority="P3",tier="1",unit="DGT"}"#;

    #[test]
    fn counters_start_at_zero_and_only_grow_with_the_database() {
        let mut figures = Figures::default();
        figures.apply(reading(vec![tickets("P3", "assigned", false, 5)]));
        assert_eq!(value(&text(&figures), P3), Some(0.0), "the baseline");
        figures.apply(reading(vec![tickets("P3", "assigned", false, 7)]));
        assert_eq!(value(&text(&figures), P3), Some(2.0));
        // One of them is raised to P2: P2 counts it, P3 does not go down.
        figures.apply(reading(vec![
            tickets("P3", "assigned", false, 6),
            tickets("P2", "assigned", false, 1),
        ]));
        let shown = text(&figures);
        assert_eq!(
            (value(&shown, P3), value(&shown, P2)),
            (Some(2.0), Some(1.0))
        );
        figures.apply(reading(vec![
            tickets("P3", "assigned", false, 7),
            tickets("P2", "assigned", false, 1),
        ]));
        assert_eq!(value(&text(&figures), P3), Some(3.0));
    }

    #[test]
    fn a_ticket_resolved_again_after_a_reopen_counts_again() {
        let mut figures = Figures::default();
        figures.apply(reading(Vec::new()));
        figures.apply(reading(vec![tickets("P3", "resolved", true, 1)]));
        assert_eq!(value(&text(&figures), RESOLVED), Some(1.0));
        figures.apply(reading(vec![tickets("P3", "in_progress", false, 1)]));
        assert_eq!(value(&text(&figures), RESOLVED), Some(1.0), "a reopen");
        figures.apply(reading(vec![tickets("P3", "closed", true, 1)]));
        assert_eq!(value(&text(&figures), RESOLVED), Some(2.0));
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_the_sum_is_in_seconds() {
        let series = |s: &str| format!(r#"vigia_ticket_acknowledge_seconds_{s}"#);
        let bucket = |le: &str| {
            series(&format!(
                r#"bucket{{kind="incident",priority="P2",unit="DGT",le="{le}"}}"#
            ))
        };
        let labels = r#"{kind="incident",priority="P2",unit="DGT"}"#;
        let mut figures = Figures::default();
        figures.apply(Reading {
            stopped: vec![stopped("acknowledge", 0, 4, 100_000)],
            ..Reading::default()
        });
        // Two within 5 min, one past a week, beside the four of the baseline.
        let now = vec![
            stopped("acknowledge", 0, 4, 100_000),
            stopped("acknowledge", 1, 2, 400_000),
            stopped("acknowledge", 11, 1, 700_000_000),
            stopped("resolve", 3, 1, 1_000_000),
        ];
        figures.apply(Reading {
            stopped: now.clone(),
            ..Reading::default()
        });
        let shown = text(&figures);
        let expected = [
            ("60", 0.0),
            ("300", 2.0),
            ("3600", 2.0),
            ("604800", 2.0),
            ("+Inf", 3.0),
        ];
        for (le, n) in expected {
            assert_eq!(value(&shown, &bucket(le)), Some(n), "le={le}\n{shown}");
        }
        assert_eq!(
            value(&shown, &series(&format!("sum{labels}"))),
            Some(700_400.0)
        );
        assert_eq!(value(&shown, &series(&format!("count{labels}"))), Some(3.0));
        let resolve = format!(r#"vigia_ticket_resolve_seconds_count{labels}"#);
        assert_eq!(value(&shown, &resolve), Some(1.0));

        // A clock of the 5-minute bucket restarts, then stops again within the hour.
        let mut restarted = now.clone();
        restarted[1] = stopped("acknowledge", 1, 1, 100_000);
        figures.apply(Reading {
            stopped: restarted.clone(),
            ..Reading::default()
        });
        assert_eq!(value(&text(&figures), &bucket("+Inf")), Some(3.0));
        restarted.push(stopped("acknowledge", 4, 1, 3_000_000));
        figures.apply(Reading {
            stopped: restarted,
            ..Reading::default()
        });
        let shown = text(&figures);
        assert_eq!(value(&shown, &bucket("300")), Some(2.0));
        assert_eq!(value(&shown, &bucket("3600")), Some(3.0));
        assert_eq!(value(&shown, &bucket("+Inf")), Some(4.0));
        assert_eq!(
            value(&shown, &series(&format!("sum{labels}"))),
            Some(703_400.0)
        );
    }

    #[test]
    fn gauges_read_zero_once_empty_and_compliance_needs_a_stopped_clock() {
        let open = r#"vigia_tickets_open{hold_reason="",kind="service_request",state="assigned",tier="1",unit="DGT"}"#;
        let age = r#"vigia_tickets_backlog_age{age="lt_1d",unit="DGT"}"#;
        let ratio = r#"vigia_sla_compliance_ratio{kind="incident",priority="P2",unit="DGT"}"#;
        let mut figures = Figures::default();
        figures.apply(Reading {
            tickets: vec![tickets("P3", "assigned", false, 3)],
            compliance: vec![Compliance {
                unit: "DGT".into(),
                kind: "incident".into(),
                priority: "P2".into(),
                clocks: 4,
                met: 3,
            }],
            ..Reading::default()
        });
        let shown = text(&figures);
        assert_eq!(
            (value(&shown, open), value(&shown, age)),
            (Some(3.0), Some(3.0))
        );
        assert_eq!(value(&shown, ratio), Some(0.75));
        figures.apply(reading(vec![tickets("P3", "resolved", true, 3)]));
        let shown = text(&figures);
        assert_eq!(
            (value(&shown, open), value(&shown, age)),
            (Some(0.0), Some(0.0))
        );
        assert!(!shown.contains("vigia_sla_compliance_ratio"), "{shown}");
    }
}
