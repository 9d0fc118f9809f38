//! Every Prometheus metric Vigía exports: names, labels and help texts in one place.
//! Label sets stay bounded: sources come from rule files, outcomes and actions are fixed
//! words; no ids.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// A family the desk's figures are read from the database into (`sla::metrics`), rather
/// than counted by this process.
#[derive(Debug, Clone, Copy)]
pub struct DbFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: &'static [&'static str],
}

pub const TICKETS_OPENED: DbFamily = DbFamily {
    name: "vigia_tickets_opened_total",
    help: "Tickets registered, by unit, kind and priority (seen from the database since this replica started).",
    labels: &["unit", "kind", "priority"],
};
pub const TICKETS_RESOLVED: DbFamily = DbFamily {
    name: "vigia_tickets_resolved_total",
    help: "Tickets resolved (again after a reopen), by unit, kind, priority and tier.",
    labels: &["unit", "kind", "priority", "tier"],
};
pub const TICKETS_BREACHED: DbFamily = DbFamily {
    name: "vigia_tickets_breached_total",
    help: "SLA clocks that breached their target, by unit, kind, priority and metric (acknowledge, resolve).",
    labels: &["unit", "kind", "priority", "metric"],
};
pub const TICKETS_OPEN: DbFamily = DbFamily {
    name: "vigia_tickets_open",
    help: "Tickets not resolved, closed or canceled, by unit, kind, state, hold reason and tier.",
    labels: &["unit", "kind", "state", "hold_reason", "tier"],
};
pub const TICKETS_BACKLOG_AGE: DbFamily = DbFamily {
    name: "vigia_tickets_backlog_age",
    help: "Open tickets by unit and time since registration (lt_1d, 1d_3d, 3d_7d, gt_7d).",
    labels: &["unit", "age"],
};
pub const TICKETS_AT_RISK: DbFamily = DbFamily {
    name: "vigia_tickets_at_risk",
    help: "Open tickets with a running SLA clock past a warning threshold and not breached.",
    labels: &["unit", "kind", "priority"],
};
pub const ACKNOWLEDGE_SECONDS: DbFamily = DbFamily {
    name: "vigia_ticket_acknowledge_seconds",
    help: "Business seconds from registration to acceptance, of stopped acknowledge clocks.",
    labels: &["unit", "kind", "priority"],
};
pub const RESOLVE_SECONDS: DbFamily = DbFamily {
    name: "vigia_ticket_resolve_seconds",
    help: "Business seconds from registration to resolution (pauses excluded), of stopped resolve clocks.",
    labels: &["unit", "kind", "priority"],
};
pub const SLA_COMPLIANCE: DbFamily = DbFamily {
    name: "vigia_sla_compliance_ratio",
    help: "Share of resolve clocks stopped in the compliance window that met their target.",
    labels: &["unit", "kind", "priority"],
};

/// Upper bounds of the acknowledge and resolve histograms, in business seconds: a
/// minute to a week.
pub const TICKET_SECONDS_BUCKETS: [i64; 11] = [
    60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800,
];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Alerts received, by source and outcome (created, updated, resolved, stale, ignored).
    pub alerts_received: IntCounterVec,
    /// Payloads refused, by source and reason (malformed, unknown_source, no_rule, …).
    pub payloads_rejected: IntCounterVec,
    /// Ingest requests refused by a rate limit, by source and limit (source, token,
    /// global).
    pub ingest_limited: IntCounterVec,
    /// Ingest requests refused for their credentials (401), by source and reason.
    pub ingest_unauthorized: IntCounterVec,
    /// Event changes by source and action (opened, updated, resolved).
    pub events: IntCounterVec,
    /// Incident changes by source and action (opened, updated, alerts_cleared, resolved).
    pub incidents: IntCounterVec,
    /// Firing alerts kept from incidents, by source and what held them (maintenance,
    /// silence, threshold, flapping).
    pub alerts_held: IntCounterVec,
    /// Alerts that named no CI of the registry, by source.
    pub alerts_unbound: IntCounterVec,
    pub open_events: IntGauge,
    pub open_incidents: IntGauge,
    /// Submissions accepted into the intake queue and not yet answered.
    pub intake_pending: IntGauge,
    /// From request received to commit, by source.
    pub intake_seconds: HistogramVec,
    /// Alerts written per group-commit transaction.
    pub batch_alerts: Histogram,
    /// Time one group-commit transaction takes.
    pub batch_seconds: Histogram,
    /// Batches whose set-based write failed and were written one payload at a time.
    pub batch_fallbacks: IntCounter,
    /// Notification delivery tries, by channel (email, webhook) and outcome (sent,
    /// retry, failed).
    pub notifications: IntCounterVec,
    /// Notifications neither sent nor given up yet.
    pub notifications_pending: IntGauge,
    /// Desk-mailbox messages handled, by unit and outcome (registered, commented,
    /// duplicate, rejected, failed).
    pub mailbox_messages: IntCounterVec,
    /// Desk-mailbox polls that could not read the mailbox, by unit.
    pub mailbox_poll_failures: IntCounterVec,
    /// Chat messages handled, by platform and outcome (opened, status, help, refused,
    /// duplicate, not_registered, ignored).
    pub chat_messages: IntCounterVec,
    /// Chat requests answered with an error, by platform and reason (the problem code:
    /// unauthorized, malformed_json, invalid, payload_too_large, unavailable…).
    pub chat_rejected: IntCounterVec,
    /// Replies sent to chat platforms, by platform and outcome (sent, failed).
    pub chat_replies: IntCounterVec,
    /// Kafka messages settled, by topic and outcome (stored, redelivered, dead_lettered).
    pub kafka_messages: IntCounterVec,
    /// Kafka messages copied to the dead-letter topic, by topic and reason (malformed,
    /// no_rule, unreadable, too_large, unknown_source).
    pub kafka_dead_letters: IntCounterVec,
    /// Kafka messages tried again, by topic and cause (store, dead_letter).
    pub kafka_retries: IntCounterVec,
    /// Errors librdkafka reported to the consumer (brokers, transport).
    pub kafka_consumer_errors: IntCounter,
    /// 1 while consumption is paused because a message cannot be settled yet.
    pub kafka_paused: IntGauge,
}

#[derive(Debug, thiserror::Error)]
#[error("metric registration failed")]
pub struct MetricsError(#[from] prometheus::Error);

impl Metrics {
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, MetricsError> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let gauge = |name: &str, help: &str| -> Result<IntGauge, MetricsError> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let intake_seconds = HistogramVec::new(
            HistogramOpts::new(
                "vigia_intake_duration_seconds",
                "Time from receiving an ingest request to its durable commit.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["source"],
        )?;
        registry.register(Box::new(intake_seconds.clone()))?;
        let batch_alerts = Histogram::with_opts(
            HistogramOpts::new(
                "vigia_intake_batch_alerts",
                "Alerts written per group-commit transaction.",
            )
            .buckets(vec![
                1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0,
            ]),
        )?;
        registry.register(Box::new(batch_alerts.clone()))?;
        let batch_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "vigia_intake_batch_duration_seconds",
                "Time one group-commit transaction takes, commit included.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ]),
        )?;
        registry.register(Box::new(batch_seconds.clone()))?;
        let batch_fallbacks = IntCounter::new(
            "vigia_intake_batch_fallbacks_total",
            "Batches written one payload at a time after their set-based write failed.",
        )?;
        registry.register(Box::new(batch_fallbacks.clone()))?;
        let notifications = counter(
            "vigia_notifications_total",
            "Notification delivery tries, by channel and outcome (sent, retry, failed).",
            &["channel", "outcome"],
        )?;
        // Every series from the start, so an alert on `failed` sees 0 rather than nothing.
        for channel in ["email", "webhook"] {
            for outcome in ["sent", "retry", "failed"] {
                notifications.with_label_values(&[channel, outcome]);
            }
        }
        let kafka_consumer_errors = IntCounter::new(
            "vigia_kafka_consumer_errors_total",
            "Errors librdkafka reported to the Kafka consumer (brokers, transport); it recovers by itself.",
        )?;
        registry.register(Box::new(kafka_consumer_errors.clone()))?;
        Ok(Metrics {
            alerts_received: counter(
                "vigia_alerts_received_total",
                "Alerts received and committed, by source and outcome.",
                &["source", "outcome"],
            )?,
            payloads_rejected: counter(
                "vigia_payloads_rejected_total",
                "Ingest payloads refused, by source and reason.",
                &["source", "reason"],
            )?,
            ingest_limited: counter(
                "vigia_ingest_limited_total",
                "Ingest requests refused by a rate limit, by source and limit (source, token, global).",
                &["source", "limit"],
            )?,
            ingest_unauthorized: counter(
                "vigia_ingest_unauthorized_total",
                "Ingest requests refused for their credentials (401), by source and reason.",
                &["source", "reason"],
            )?,
            events: counter(
                "vigia_events_total",
                "Event changes, by source and action (opened, updated, resolved).",
                &["source", "action"],
            )?,
            incidents: counter(
                "vigia_incidents_total",
                "Incident changes, by source and action (opened, updated, alerts_cleared, resolved).",
                &["source", "action"],
            )?,
            alerts_held: counter(
                "vigia_alerts_held_total",
                "Firing alerts kept from opening or joining an incident, by source and reason.",
                &["source", "reason"],
            )?,
            alerts_unbound: counter(
                "vigia_alerts_unbound_total",
                "Alerts whose CI candidates name no CI of the registry, by source.",
                &["source"],
            )?,
            open_events: gauge("vigia_open_events", "Events currently open.")?,
            open_incidents: gauge("vigia_open_incidents", "Incidents not yet resolved, closed or canceled.")?,
            intake_pending: gauge(
                "vigia_intake_pending",
                "Ingest requests waiting for their alerts to be committed.",
            )?,
            intake_seconds,
            batch_alerts,
            batch_seconds,
            batch_fallbacks,
            notifications,
            notifications_pending: gauge(
                "vigia_notifications_pending",
                "Notifications neither sent nor given up yet.",
            )?,
            mailbox_messages: counter(
                "vigia_mailbox_messages_total",
                "Desk-mailbox messages handled, by unit and outcome (registered, commented, duplicate, rejected, failed).",
                &["unit", "outcome"],
            )?,
            mailbox_poll_failures: counter(
                "vigia_mailbox_poll_failures_total",
                "Desk-mailbox polls that could not read the mailbox (connection, login, unknown unit), by unit.",
                &["unit"],
            )?,
            chat_messages: counter(
                "vigia_chat_messages_total",
                "Chat messages handled, by platform and outcome (opened, status, help, refused, duplicate, not_registered, ignored).",
                &["platform", "outcome"],
            )?,
            chat_rejected: counter(
                "vigia_chat_rejected_total",
                "Chat requests answered with an error, by platform and reason (the problem code).",
                &["platform", "reason"],
            )?,
            chat_replies: counter(
                "vigia_chat_replies_total",
                "Replies sent to chat platforms, by platform and outcome (sent, failed).",
                &["platform", "outcome"],
            )?,
            kafka_messages: counter(
                "vigia_kafka_messages_total",
                "Kafka messages settled, by topic and outcome (stored, redelivered, dead_lettered).",
                &["topic", "outcome"],
            )?,
            kafka_dead_letters: counter(
                "vigia_kafka_dead_letters_total",
                "Kafka messages copied to the dead-letter topic, by topic and reason.",
                &["topic", "reason"],
            )?,
            kafka_retries: counter(
                "vigia_kafka_retries_total",
                "Kafka messages tried again, by topic and cause (store, dead_letter).",
                &["topic", "cause"],
            )?,
            kafka_consumer_errors,
            kafka_paused: gauge(
                "vigia_kafka_paused",
                "1 while Kafka consumption is paused until a message can be stored.",
            )?,
            registry,
        })
    }

    /// Adds a collector of figures computed elsewhere (the desk's, from the database).
    pub fn register(&self, collector: Box<dyn Collector>) -> Result<(), MetricsError> {
        Ok(self.registry.register(collector)?)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let families = self.registry.gather();
        if TextEncoder::new().encode(&families, &mut buffer).is_err() {
            return String::new();
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
