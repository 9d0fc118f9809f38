//! The sweeper: Vigía speaking for the tools. Open events nobody updated within their
//! source's `resolve_timeout` (or past their `endsAt` lease) are resolved, recorded as
//! resolved by timeout; events a maintenance window or silence held are evaluated again
//! once it is over, so an alert still firing then opens its incident. Both go through
//! the intake like any payload, so the one writer decides and records them.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Intake, IntakeError, Submission, SubmissionKind};
use crate::domain::{from_millis, to_millis, AlertStatus, Fingerprint, IncidentPolicy, Signal};
use crate::rules::RuleSet;
use crate::store::events::{self, EventRow};
use crate::store::{noise, Store, StoreError};

/// Events resolved by timeout per source and sweep, so one sweep stays one batch.
const TIMEOUT_BATCH: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
}

impl From<sqlx::Error> for SweepError {
    fn from(e: sqlx::Error) -> Self {
        SweepError::Store(e.into())
    }
}

#[derive(Clone)]
pub struct Sweeper {
    pub store: Store,
    pub intake: Intake,
    pub rules: Arc<RwLock<Arc<RuleSet>>>,
    pub interval: Duration,
}

impl Sweeper {
    /// Runs until `stop`; a sweep that panics is logged and the sweeper starts again.
    pub async fn supervise(self, stop: CancellationToken) {
        loop {
            let running = tokio::spawn(self.clone().run(stop.clone()));
            match running.await {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(error = %e, "the sweeper failed; restarting it");
                    tokio::time::sleep(self.interval).await;
                }
            }
        }
    }

    async fn run(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(e) = self.sweep().await {
                warn!(error = %e, "sweep failed; trying again at the next one");
            }
        }
    }

    /// One pass: timeouts, then replays.
    pub async fn sweep(&self) -> Result<(), SweepError> {
        let rules = self.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
        self.timeouts(&rules).await?;
        self.replays(&rules).await
    }

    async fn timeouts(&self, rules: &RuleSet) -> Result<(), SweepError> {
        let now = jiff::Timestamp::now();
        for source in rules.sources() {
            let before = source
                .resolve_timeout
                .map(|secs| to_millis(now) - i64::try_from(secs * 1000).unwrap_or(i64::MAX));
            let mut conn = self.store.pool().acquire().await?;
            let rows = events::expired(
                &mut conn,
                &source.source,
                before,
                to_millis(now),
                TIMEOUT_BATCH,
            )
            .await?;
            drop(conn);
            if rows.is_empty() {
                continue;
            }
            let count = rows.len();
            self.submit(&source.source, rows, SubmissionKind::Timeout, rules)
                .await?;
            info!(source = %source.source, count, "events resolved by timeout");
        }
        Ok(())
    }

    async fn replays(&self, rules: &RuleSet) -> Result<(), SweepError> {
        let now = to_millis(jiff::Timestamp::now());
        let mut conn = self.store.pool().acquire().await?;
        let tags = noise::over_not_replayed(&mut conn, now).await?;
        for tag in tags {
            let rows = events::held_by(&mut conn, &tag).await?;
            let mut by_source: std::collections::BTreeMap<String, Vec<EventRow>> =
                Default::default();
            for row in rows {
                by_source.entry(row.source.clone()).or_default().push(row);
            }
            for (source, rows) in by_source {
                let count = rows.len();
                self.submit(&source, rows, SubmissionKind::Replay, rules)
                    .await?;
                info!(%tag, %source, count, "held events evaluated again");
            }
            noise::mark_replayed(&mut conn, &tag, now).await?;
        }
        Ok(())
    }

    async fn submit(
        &self,
        source: &str,
        rows: Vec<EventRow>,
        kind: SubmissionKind,
        rules: &RuleSet,
    ) -> Result<(), SweepError> {
        let received_at = jiff::Timestamp::now();
        let (why, status) = match kind {
            SubmissionKind::Timeout => ("timeout", AlertStatus::Resolved),
            _ => ("replay", AlertStatus::Firing),
        };
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let payload = serde_json::json!({ "vigia": why, "events": ids }).to_string();
        let signals = rows
            .iter()
            .filter_map(|row| signal_of(row, status, received_at, rules))
            .collect();
        self.intake
            .submit(Submission {
                source: source.to_owned(),
                sender: format!("vigia:{why}"),
                rule: why.to_owned(),
                payload,
                signals,
                received_at,
                kind,
            })
            .await?;
        Ok(())
    }
}

/// The alert a stored event stands for, as its rule would read it now.
fn signal_of(
    row: &EventRow,
    status: AlertStatus,
    now: jiff::Timestamp,
    rules: &RuleSet,
) -> Option<Signal> {
    let severity = row.severity.parse().ok()?;
    let incident = rules
        .policy_for(&row.source, &row.rule, severity)
        .unwrap_or_else(IncidentPolicy::event_only);
    Some(Signal {
        source: row.source.clone(),
        rule: row.rule.clone(),
        fingerprint: Fingerprint::new(&row.fingerprint)?,
        status,
        severity,
        summary: row.summary.clone(),
        description: row.description.clone(),
        ci_candidates: row.ci_candidates().ok()?,
        labels: row.labels().ok()?,
        annotations: row.annotations().ok()?,
        starts_at: row.starts_at.map(from_millis),
        ends_at: (status == AlertStatus::Resolved).then_some(now),
        incident,
    })
}
