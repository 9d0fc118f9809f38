//! The consumer task: one message at a time, in order within each partition. Each ends
//! stored, recognised as already stored, or copied to the dead-letter topic, and only
//! then is its offset stored for commit. While the intake cannot store it, the
//! assignment is paused (polling goes on, so the group keeps the member) and the same
//! message is retried with backoff.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::types::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::dead_letter::{DeadLetters, Failure, Reason};
use super::KafkaConfig;
use crate::ingest::accept::{accept, AcceptError, Payload};
use crate::ingest::{Answer, Intake, IntakeError};
use crate::metrics::Metrics;
use crate::rules::{Rejection, RuleSet};

/// First wait before a message the intake could not store is tried again; doubles up
/// to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Wait before the consumer is built again after it failed.
const RESTART_DELAY: Duration = Duration::from_secs(5);

/// What the consumer needs from the rest of the service.
pub struct Consumer {
    config: KafkaConfig,
    intake: Intake,
    metrics: Arc<Metrics>,
    rules: Arc<RwLock<Arc<RuleSet>>>,
}

impl Consumer {
    pub fn new(
        config: KafkaConfig,
        intake: Intake,
        metrics: Arc<Metrics>,
        rules: Arc<RwLock<Arc<RuleSet>>>,
    ) -> Self {
        Consumer {
            config,
            intake,
            metrics,
            rules,
        }
    }

    /// Refuses settings librdkafka would refuse (unknown properties, bad values),
    /// without connecting to anything.
    pub fn check(config: &KafkaConfig) -> Result<(), KafkaError> {
        config.consumer_config().create_native_config()?;
        config.producer_config().create_native_config()?;
        Ok(())
    }

    /// Consumes until `stop`; if the clients cannot be built or the task fails, logs it
    /// and starts again after a delay, so a broker outage never stops the service.
    pub async fn supervise(self, stop: CancellationToken) {
        let consumer = Arc::new(self);
        loop {
            match tokio::spawn(consumer.clone().run(stop.clone())).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => error!(error = %e, "the Kafka consumer failed; starting it again"),
                Err(e) => error!(error = %e, "the Kafka consumer panicked; starting it again"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(RESTART_DELAY) => {}
            }
        }
    }

    /// Subscribes, consumes until `stop`, then commits the stored offsets.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) -> Result<(), KafkaError> {
        let client: StreamConsumer = self.config.consumer_config().create()?;
        let dead_letters = DeadLetters::new(&self.config)?;
        let topics: Vec<&str> = self
            .config
            .topics
            .iter()
            .map(|t| t.topic.as_str())
            .collect();
        client.subscribe(&topics)?;
        info!(?topics, group = %self.config.group_id, "consuming Kafka topics");
        let mut session = Session {
            deps: &self,
            client,
            dead_letters,
            backlog: VecDeque::new(),
            paused: false,
        };
        session.consume(&stop).await;
        session.finish().await;
        Ok(())
    }
}

/// How a message was settled; its offset may be stored.
enum Settled {
    Stored,
    Redelivered,
    DeadLettered(Reason),
}

impl Settled {
    fn as_str(&self) -> &'static str {
        match self {
            Settled::Stored => "stored",
            Settled::Redelivered => "redelivered",
            Settled::DeadLettered(_) => "dead_lettered",
        }
    }
}

/// Why a message must be tried again (its offset is not stored).
#[derive(Debug, thiserror::Error)]
enum Retry {
    #[error("the intake could not store it")]
    Store(#[source] IntakeError),
    #[error("the dead-letter topic did not take it")]
    DeadLetter(#[source] KafkaError),
}

impl Retry {
    fn cause(&self) -> &'static str {
        match self {
            Retry::Store(_) => "store",
            Retry::DeadLetter(_) => "dead_letter",
        }
    }
}

struct Session<'a> {
    deps: &'a Consumer,
    client: StreamConsumer,
    dead_letters: DeadLetters,
    /// Messages received while paused, to settle in order before polling for more.
    backlog: VecDeque<OwnedMessage>,
    paused: bool,
}

impl Session<'_> {
    async fn consume(&mut self, stop: &CancellationToken) {
        loop {
            let message = match self.backlog.pop_front() {
                Some(message) => message,
                None => tokio::select! {
                    _ = stop.cancelled() => return,
                    received = self.client.recv() => match received {
                        Ok(message) => message.detach(),
                        Err(e) => {
                            self.client_error(e);
                            continue;
                        }
                    },
                },
            };
            if !self.settle(&message, stop).await {
                return;
            }
        }
    }

    /// Tries `message` until it is settled (true) or the consumer stops (false: its
    /// offset stays unstored and the message comes again).
    async fn settle(&mut self, message: &OwnedMessage, stop: &CancellationToken) -> bool {
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        loop {
            let tried = tokio::select! {
                _ = stop.cancelled() => return false,
                tried = self.try_once(message) => tried,
            };
            match tried {
                Ok(settled) => {
                    self.done(message, &settled);
                    if self.paused {
                        self.resume(attempts);
                    }
                    return true;
                }
                Err(retry) => {
                    attempts += 1;
                    warn!(error = ?retry, topic = message.topic(), partition = message.partition(),
                        offset = message.offset(), attempts, retry_in = ?backoff,
                        "Kafka message not settled; consumption paused, retrying it");
                    self.deps
                        .metrics
                        .kafka_retries
                        .with_label_values(&[message.topic(), retry.cause()])
                        .inc();
                    self.pause();
                    if !self.wait(backoff, stop).await {
                        return false;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn try_once(&self, message: &OwnedMessage) -> Result<Settled, Retry> {
        let failure = match self.store(message).await {
            Ok(Answer::Stored(_)) => return Ok(Settled::Stored),
            Ok(Answer::AlreadyStored) => return Ok(Settled::Redelivered),
            Err(Refusal::Retry(retry)) => return Err(retry),
            Err(Refusal::DeadLetter(failure)) => failure,
        };
        self.dead_letters
            .send(message, &failure)
            .await
            .map_err(Retry::DeadLetter)?;
        warn!(topic = message.topic(), partition = message.partition(), offset = message.offset(),
            reason = failure.reason.as_str(), detail = %failure.detail,
            "Kafka message copied to the dead-letter topic");
        Ok(Settled::DeadLettered(failure.reason))
    }

    /// Reads the message with its topic's source rules and submits it.
    async fn store(&self, message: &OwnedMessage) -> Result<Answer, Refusal> {
        let topic = message.topic();
        let source = self.deps.config.source_of(topic).unwrap_or_default();
        let failure = |reason, detail: String| {
            Refusal::DeadLetter(Failure {
                reason,
                detail,
                source: source.to_owned(),
            })
        };
        let rules = self
            .deps
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(source_rules) = rules.get(source) else {
            let detail = format!("no source `{source}`: there is no rules/{source}.yaml");
            return Err(failure(Reason::UnknownSource, detail));
        };
        let body = message.payload().unwrap_or_default();
        let limit = self.deps.config.max_message_bytes;
        if body.len() > limit {
            let detail = format!(
                "the message has {} bytes, more than kafka.max_message_bytes ({limit})",
                body.len()
            );
            return Err(failure(Reason::TooLarge, detail));
        }
        let payload = Payload {
            sender: format!("kafka:{topic}"),
            body,
            received_at: jiff::Timestamp::now(),
            delivery_id: Some(delivery_id(message)),
            document: None,
            unit: None,
        };
        match accept(&self.deps.intake, &self.deps.metrics, source_rules, payload).await {
            Ok(accepted) => Ok(accepted.answer),
            Err(AcceptError::Intake(e)) => Err(Refusal::Retry(Retry::Store(e))),
            Err(AcceptError::Malformed(e)) => {
                Err(failure(Reason::Malformed, format!("malformed JSON: {e}")))
            }
            Err(AcceptError::Rejected(r)) => {
                let reason = match r {
                    Rejection::NoRuleMatches { .. } => Reason::NoRule,
                    Rejection::BadAlerts { .. } => Reason::Unreadable,
                };
                Err(failure(reason, r.to_string()))
            }
        }
    }

    /// Stores the offset of a settled message for the next commit.
    fn done(&self, message: &OwnedMessage, settled: &Settled) {
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        // librdkafka stores `offset + 1`: the next message to read.
        if let Err(e) = self.client.store_offset(topic, partition, offset) {
            // The partition went to another member meanwhile: it reads the message
            // again, and its copy changes nothing.
            warn!(error = %e, topic, partition, offset, "offset not stored; the message may come again");
        }
        let metrics = &self.deps.metrics;
        metrics
            .kafka_messages
            .with_label_values(&[topic, settled.as_str()])
            .inc();
        if let Settled::DeadLettered(reason) = settled {
            metrics
                .kafka_dead_letters
                .with_label_values(&[topic, reason.as_str()])
                .inc();
        }
    }

    /// Waits `backoff`, still polling so the group keeps this member; what arrives
    /// meanwhile (fetched before the pause, or from partitions assigned since) waits
    /// in the backlog. False if the consumer stops first.
    async fn wait(&mut self, backoff: Duration, stop: &CancellationToken) -> bool {
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => return false,
                _ = &mut sleep => return true,
                received = self.client.recv() => received.map(|m| m.detach()),
            };
            match received {
                Ok(message) => {
                    self.backlog.push_back(message);
                    self.pause();
                }
                Err(e) => self.client_error(e),
            }
        }
    }

    fn pause(&mut self) {
        match self.client.assignment() {
            Ok(assignment) => {
                if let Err(e) = self.client.pause(&assignment) {
                    warn!(error = %e, "could not pause the Kafka assignment");
                }
            }
            Err(e) => warn!(error = %e, "could not read the Kafka assignment to pause it"),
        }
        self.paused = true;
        self.deps.metrics.kafka_paused.set(1);
    }

    fn resume(&mut self, attempts: u32) {
        match self.client.assignment() {
            Ok(assignment) => {
                if let Err(e) = self.client.resume(&assignment) {
                    warn!(error = %e, "could not resume the Kafka assignment");
                }
            }
            Err(e) => warn!(error = %e, "could not read the Kafka assignment to resume it"),
        }
        self.paused = false;
        self.deps.metrics.kafka_paused.set(0);
        info!(attempts, "Kafka message settled; consumption resumed");
    }

    /// librdkafka reports broker and transport trouble here and recovers by itself.
    fn client_error(&self, e: KafkaError) {
        warn!(error = %e, "Kafka consumer error");
        self.deps.metrics.kafka_consumer_errors.inc();
    }

    /// Commits what was stored since the last auto-commit, then closes the clients.
    /// Both block (closing waits for the group to let the member go): off the runtime's
    /// workers.
    async fn finish(self) {
        let Session {
            client,
            dead_letters,
            ..
        } = self;
        let closing = tokio::task::spawn_blocking(move || {
            match client.commit_consumer_state(CommitMode::Sync) {
                Ok(()) => info!("Kafka offsets committed; consumer stopped"),
                Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {
                    info!("Kafka consumer stopped; no offsets to commit")
                }
                // Those messages come again to whoever reads next; their copies change
                // nothing.
                Err(e) => warn!(error = %e, "Kafka offsets not committed on stop"),
            }
            drop(client);
            drop(dead_letters);
        });
        if let Err(e) = closing.await {
            error!(error = %e, "closing the Kafka consumer failed");
        }
    }
}

/// A message that cannot be settled now.
enum Refusal {
    /// It cannot become alerts: it goes to the dead-letter topic.
    DeadLetter(Failure),
    Retry(Retry),
}

/// The message's place in its topic: the same for every delivery of it.
pub fn delivery_id(message: &OwnedMessage) -> String {
    format!(
        "kafka:{}:{}:{}",
        message.topic(),
        message.partition(),
        message.offset()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_librdkafka_does_not_know_are_refused_before_connecting() {
        let mut config = KafkaConfig::default();
        config
            .settings
            .insert("bootstrap.servers".into(), "127.0.0.1:9".into());
        assert!(Consumer::check(&config).is_ok());
        config
            .settings
            .insert("securty.protocol".into(), "ssl".into());
        let err = Consumer::check(&config).expect_err("refused");
        assert!(err.to_string().contains("securty.protocol"), "{err}");
    }

    #[test]
    fn a_delivery_is_named_by_its_place_in_the_topic() {
        let message = OwnedMessage::new(
            None,
            None,
            "alerts".into(),
            rdkafka::Timestamp::NotAvailable,
            3,
            1207,
            None,
        );
        assert_eq!(delivery_id(&message), "kafka:alerts:3:1207");
    }
}
