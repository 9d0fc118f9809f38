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
use crate::rules::{RuleSet, SourceRules};
use crate::store::events::{self, EventRow};
use crate::store::{noise, Store, StoreError};

/// Events timed out per source, or replayed per round, in one submission.
const BATCH: i64 = 500;
/// Rounds of replay per window and sweep; what is left waits for the next sweep.
const REPLAY_ROUNDS: usize = 20;
/// How long after a window or silence ends its held events are replayed.
const REPLAY_GRACE_MS: i64 = 2_000;

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
        let interval = self.interval;
        crate::periodic::every("sweeper", interval, stop, self, |s: Sweeper| async move {
            s.sweep().await
        })
        .await;
    }

    /// One pass: timeouts, then replays. A source or a window that fails is logged and
    /// left for the next pass; the others go on.
    pub async fn sweep(&self) -> Result<(), SweepError> {
        let rules = self.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
        self.timeouts(&rules).await;
        self.replays(&rules).await
    }

    async fn timeouts(&self, rules: &RuleSet) {
        for source in rules.sources() {
            if let Err(e) = self.time_out(source, rules).await {
                warn!(source = %source.source, error = %e, "timeouts failed; next sweep retries");
            }
        }
    }

    async fn time_out(&self, source: &SourceRules, rules: &RuleSet) -> Result<(), SweepError> {
        let now = to_millis(jiff::Timestamp::now());
        let before = source.resolve_timeout.map(|secs| {
            now.saturating_sub(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
        });
        let mut conn = self.store.pool().acquire().await?;
        let rows = events::expired(&mut conn, &source.source, before, now, BATCH).await?;
        drop(conn);
        let count = self
            .submit(&source.source, rows, SubmissionKind::Timeout, rules)
            .await?;
        if count > 0 {
            info!(source = %source.source, count, "events resolved by timeout");
        }
        Ok(())
    }

    async fn replays(&self, rules: &RuleSet) -> Result<(), SweepError> {
        // A batch planned just before the end may commit just after it: its held events
        // are seen once the grace has passed.
        let now = to_millis(jiff::Timestamp::now());
        let mut conn = self.store.pool().acquire().await?;
        let tags = noise::over_not_replayed(&mut conn, now - REPLAY_GRACE_MS).await?;
        drop(conn);
        for tag in tags {
            if let Err(e) = self.replay(&tag, rules).await {
                warn!(%tag, error = %e, "replay failed; next sweep retries");
            }
        }
        Ok(())
    }

    /// Replays what `tag` holds, a batch at a time; marks it replayed once it holds
    /// nothing (or only events no rule can read any more).
    async fn replay(&self, tag: &str, rules: &RuleSet) -> Result<(), SweepError> {
        for _ in 0..REPLAY_ROUNDS {
            let mut conn = self.store.pool().acquire().await?;
            let rows = events::held_by(&mut conn, tag, BATCH).await?;
            drop(conn);
            let mut by_source: std::collections::BTreeMap<String, Vec<EventRow>> =
                Default::default();
            for row in rows {
                by_source.entry(row.source.clone()).or_default().push(row);
            }
            let mut replayed = 0;
            for (source, rows) in by_source {
                let count = self
                    .submit(&source, rows, SubmissionKind::Replay, rules)
                    .await?;
                info!(%tag, %source, count, "held events evaluated again");
                replayed += count;
            }
            if replayed == 0 {
                let mut conn = self.store.pool().acquire().await?;
                noise::mark_replayed(&mut conn, tag, to_millis(jiff::Timestamp::now())).await?;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Submits the events as signals, each tied to its event so the writer acts only if
    /// it is still the open one; the number submitted.
    async fn submit(
        &self,
        source: &str,
        rows: Vec<EventRow>,
        kind: SubmissionKind,
        rules: &RuleSet,
    ) -> Result<usize, SweepError> {
        let received_at = jiff::Timestamp::now();
        let (why, status) = match kind {
            SubmissionKind::Timeout => ("timeout", AlertStatus::Resolved),
            _ => ("replay", AlertStatus::Firing),
        };
        let (signals, expected): (Vec<Signal>, Vec<String>) = rows
            .iter()
            .filter_map(|row| {
                let signal = signal_of(row, status, received_at, rules);
                if signal.is_none() {
                    warn!(event = %row.id, "a stored event no rule can read any more; left as it is");
                }
                signal.map(|s| (s, row.id.clone()))
            })
            .unzip();
        if signals.is_empty() {
            return Ok(0);
        }
        let payload = serde_json::json!({ "vigia": why, "events": &expected }).to_string();
        let count = signals.len();
        self.intake
            .submit(Submission {
                source: source.to_owned(),
                sender: format!("vigia:{why}"),
                rule: why.to_owned(),
                payload,
                signals,
                received_at,
                kind,
                expected,
                delivery_id: None,
            })
            .await?;
        Ok(count)
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
        // Unbound events keep the unit their sender gave them; bound ones re-bind.
        unit: row.ci_id.is_none().then(|| row.unit.clone()).flatten(),
    })
}
