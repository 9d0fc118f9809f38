//! The dispatcher: sends due outbox rows, every poll interval and whenever the desk
//! wakes it after a commit. Each failure is retried later with exponential backoff
//! until `max_attempts`, then given up (`failed_at`) and logged as an error.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::{email, error_chain, webhook, Notifier, NotifyError};
use crate::domain::to_millis;
use crate::metrics::Metrics;
use crate::store::outbox::{self, Delivery};
use crate::store::{Store, StoreResult};

/// Deliveries claimed at once.
const BATCH: i64 = 50;
/// Deliveries of a batch in flight at once. With the 10 s timeouts of both channels a
/// full batch ends well within its lease.
const IN_FLIGHT: usize = 8;
/// How long a claim keeps other replicas off a delivery.
const LEASE: Duration = Duration::from_secs(120);
/// `last_error` keeps this many characters.
const ERROR_CHARS: usize = 1000;

#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    notifier: Arc<Notifier>,
    metrics: Arc<Metrics>,
}

enum Outcome {
    Sent,
    Retry,
    Failed,
}

impl Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Retry => "retry",
            Outcome::Failed => "failed",
        }
    }
}

impl Dispatcher {
    pub fn new(store: Store, notifier: Arc<Notifier>, metrics: Arc<Metrics>) -> Self {
        Dispatcher {
            store,
            notifier,
            metrics,
        }
    }

    /// Runs until `stop`; a dispatcher that panics is logged and started again.
    pub async fn supervise(self, stop: CancellationToken) {
        loop {
            let running = tokio::spawn(self.clone().run(stop.clone()));
            match running.await {
                Ok(()) => return,
                Err(e) => {
                    error!(error = %e, "the notification dispatcher failed; restarting it");
                    tokio::time::sleep(self.poll_interval()).await;
                }
            }
        }
    }

    async fn run(self, stop: CancellationToken) {
        let wake = self.notifier.waker();
        loop {
            if let Err(e) = self.dispatch_due().await {
                warn!(error = %error_chain(&e), "notification dispatch failed; trying again at the next poll");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.poll_interval()) => {}
            }
        }
    }

    /// Sends every delivery due now, a batch at a time; returns how many were tried.
    pub async fn dispatch_due(&self) -> StoreResult<usize> {
        let channels = self.notifier.channels();
        let mut tried = 0;
        loop {
            let now = to_millis(jiff::Timestamp::now());
            let lease_until = now + i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX / 2);
            let claimed = outbox::claim(&self.store, &channels, now, lease_until, BATCH).await?;
            let count = claimed.len();
            futures::stream::iter(claimed)
                .map(|delivery| self.deliver(delivery))
                .buffer_unordered(IN_FLIGHT)
                .collect::<Vec<()>>()
                .await;
            tried += count;
            if i64::try_from(count).unwrap_or(0) < BATCH {
                break;
            }
        }
        self.metrics
            .notifications_pending
            .set(outbox::pending(&self.store).await?);
        Ok(tried)
    }

    async fn deliver(&self, delivery: Delivery) {
        let sent = self.send(&delivery).await;
        let now = to_millis(jiff::Timestamp::now());
        let attempts = delivery.attempts + 1;
        let max_attempts = i64::from(self.notifier.config.max_attempts);
        let (outcome, recorded) = match sent {
            Ok(()) => (
                Outcome::Sent,
                outbox::mark_sent(&self.store, &delivery.id, now).await,
            ),
            Err(e) if e.is_permanent() || attempts >= max_attempts => {
                let reason = truncated(&error_chain(&e));
                error!(
                    delivery = delivery.id,
                    channel = delivery.channel,
                    topic = delivery.topic,
                    ticket = delivery.ticket_id,
                    attempts,
                    error = reason,
                    "notification given up"
                );
                (
                    Outcome::Failed,
                    outbox::mark_failed(&self.store, &delivery.id, &reason, now).await,
                )
            }
            Err(e) => {
                let reason = truncated(&error_chain(&e));
                let delay = jittered(backoff(
                    attempts,
                    self.notifier.config.retry_base_ms,
                    self.notifier.config.retry_max_secs,
                ));
                let next = now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                warn!(
                    delivery = delivery.id, channel = delivery.channel, topic = delivery.topic,
                    ticket = delivery.ticket_id, attempts, retry_in = ?delay, error = reason,
                    "notification not delivered; will retry"
                );
                (
                    Outcome::Retry,
                    outbox::mark_retry(&self.store, &delivery.id, &reason, next).await,
                )
            }
        };
        // Unrecorded, the delivery is tried again once its lease ends.
        if let Err(e) = recorded {
            error!(delivery = delivery.id, error = %error_chain(&e), "the outcome of a notification was not recorded");
        }
        self.metrics
            .notifications
            .with_label_values(&[delivery.channel.as_str(), outcome.as_str()])
            .inc();
    }

    async fn send(&self, delivery: &Delivery) -> Result<(), NotifyError> {
        match (delivery.channel.as_str(), &self.notifier.mailer) {
            (email::CHANNEL, Some(mailer)) => mailer.send(delivery).await,
            (webhook::CHANNEL, _) => {
                let now_secs = jiff::Timestamp::now().as_second();
                self.notifier.webhooks.send(delivery, now_secs).await
            }
            (channel, _) => Err(NotifyError::Channel(channel.to_owned())),
        }
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.notifier.config.poll_interval_ms)
    }
}

/// The wait after the `attempts`-th failed try: the base, doubled for every try before
/// it, never more than the maximum.
pub fn backoff(attempts: i64, base_ms: u64, max_secs: u64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
    let factor = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
    let delay = base_ms.saturating_mul(factor);
    Duration::from_millis(delay.min(max_secs.saturating_mul(1000)))
}

/// Up to 10% more, so deliveries that failed together (a mail server down) do not all
/// come back at the same moment.
fn jittered(delay: Duration) -> Duration {
    let extra = rand::rng().random_range(0.0..=0.1);
    delay.mul_f64(1.0 + extra)
}

fn truncated(text: &str) -> String {
    match text.char_indices().nth(ERROR_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_the_base_up_to_the_maximum() {
        let secs = |attempts| backoff(attempts, 10_000, 3600).as_secs();
        let schedule: Vec<u64> = (1..=11).map(secs).collect();
        assert_eq!(
            schedule,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(secs(1000), 3600, "no overflow after many tries");
    }

    #[test]
    fn jitter_adds_at_most_a_tenth() {
        for _ in 0..100 {
            let delay = jittered(Duration::from_secs(100));
            assert!(delay >= Duration::from_secs(100), "{delay:?}");
            assert!(delay <= Duration::from_secs(110), "{delay:?}");
        }
    }

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let text = "é".repeat(ERROR_CHARS + 5);
        let cut = truncated(&text);
        assert_eq!(cut.chars().count(), ERROR_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(truncated("short"), "short");
    }
}
