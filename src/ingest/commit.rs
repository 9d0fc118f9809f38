//! Group commit: one writer task takes every submission waiting in the queue, writes
//! them in one transaction, and answers each caller after the commit. Throughput then
//! grows with concurrency instead of paying one fsync per alert.

use std::sync::Arc;
use std::time::Instant;

use prometheus::IntGauge;
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::write::{write_batch, Setting};
use super::{AlertResult, Answer, Submission};
use crate::cmdb::Live;
use crate::metrics::Metrics;
use crate::pipeline::priority::PriorityConfig;
use crate::store::{Store, StoreError, StoreResult};

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the intake queue is full")]
    Overloaded,
    #[error("the intake is shutting down")]
    Stopped,
    #[error("the alert could not be stored")]
    Store(#[source] Arc<StoreError>),
}

type Reply = oneshot::Sender<Result<Answer, IntakeError>>;

struct Job {
    submission: Submission,
    reply: Reply,
}

/// The handle ingest endpoints submit through. Cloning is cheap; the writer stops once
/// every handle is dropped and the queue is drained.
#[derive(Clone)]
pub struct Intake {
    queue: mpsc::Sender<Job>,
    pending: IntGauge,
}

impl Intake {
    /// Starts the writer. Cancelling `stop` closes the queue; what is already queued is
    /// still written before the writer ends.
    pub fn start(
        store: Store,
        metrics: Arc<Metrics>,
        setting: WriterSetting,
        stop: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(setting.queue_depth);
        let pending = metrics.intake_pending.clone();
        let writer = Writer {
            store,
            metrics,
            setting,
        };
        let handle = tokio::spawn(writer.run(rx, stop));
        (Intake { queue, pending }, handle)
    }

    /// Whether the writer is still taking submissions.
    pub fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    /// Resolves once the submission is committed (or has failed).
    pub async fn submit(&self, submission: Submission) -> Result<Vec<AlertResult>, IntakeError> {
        match self.deliver(submission).await? {
            Answer::Stored(alerts) => Ok(alerts),
            Answer::AlreadyStored => Ok(Vec::new()),
        }
    }

    /// Like [`Intake::submit`], and says whether the submission's delivery had been
    /// stored before (then nothing is written again).
    pub async fn deliver(&self, submission: Submission) -> Result<Answer, IntakeError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Job { submission, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => IntakeError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => IntakeError::Stopped,
            })?;
        let _waiting = Pending::count(&self.pending);
        answer.await.map_err(|_| IntakeError::Stopped)?
    }
}

/// Counts a submission as waiting for its commit until dropped, also when the caller
/// goes away first.
struct Pending<'a>(&'a IntGauge);

impl<'a> Pending<'a> {
    fn count(gauge: &'a IntGauge) -> Self {
        gauge.inc();
        Pending(gauge)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What the writer needs besides the store.
pub struct WriterSetting {
    pub max_batch_alerts: usize,
    pub queue_depth: usize,
    pub live: Arc<Live>,
    pub priority: PriorityConfig,
    pub admin_unit: String,
}

struct Writer {
    store: Store,
    metrics: Arc<Metrics>,
    setting: WriterSetting,
}

impl Writer {
    fn write_setting(&self) -> Setting<'_> {
        Setting {
            live: &self.setting.live,
            priority: &self.setting.priority,
            admin_unit: &self.setting.admin_unit,
        }
    }
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Job>, stop: CancellationToken) {
        let mut closed = false;
        loop {
            let next = tokio::select! {
                job = rx.recv() => job,
                _ = stop.cancelled(), if !closed => {
                    rx.close();
                    closed = true;
                    continue;
                }
            };
            let Some(first) = next else { break };
            let mut alerts = first.submission.signals.len();
            let mut batch = vec![first];
            while alerts < self.setting.max_batch_alerts {
                match rx.try_recv() {
                    Ok(job) => {
                        alerts += job.submission.signals.len();
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.write(batch, alerts).await;
        }
    }

    #[tracing::instrument(skip_all, fields(jobs = batch.len(), alerts = alerts))]
    async fn write(&self, batch: Vec<Job>, alerts: usize) {
        let started = Instant::now();
        let (jobs, replies): (Vec<Submission>, Vec<Reply>) =
            batch.into_iter().map(|j| (j.submission, j.reply)).unzip();
        let outcome = self.transaction(&jobs).await;
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.batch_alerts.observe(alerts as f64);
        match outcome {
            Ok(results) => {
                for ((job, reply), result) in jobs.iter().zip(replies).zip(results) {
                    if let Ok(Answer::Stored(alerts)) = &result {
                        self.record(job, alerts);
                    }
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                error!(error = ?e, jobs = jobs.len(), "group commit failed");
                let shared = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(IntakeError::Store(shared.clone())));
                }
            }
        }
    }

    /// The whole batch in one transaction, written set-based. If that fails (a bad
    /// payload, or another replica racing on the same alerts), the batch is written
    /// again one payload at a time, so only the payload at fault is refused.
    async fn transaction(
        &self,
        jobs: &[Submission],
    ) -> StoreResult<Vec<Result<Answer, IntakeError>>> {
        let mut tx = self.store.begin_write().await?;
        match write_batch(&mut tx, jobs, &self.write_setting()).await {
            Ok(results) => {
                tx.commit().await?;
                Ok(results.into_iter().map(Ok).collect())
            }
            Err(e) => {
                warn!(error = ?e, jobs = jobs.len(), "batched write failed; writing its payloads one by one");
                tx.rollback().await?;
                self.metrics.batch_fallbacks.inc();
                self.one_by_one(jobs).await
            }
        }
    }

    /// One transaction, each payload in its own savepoint so one bad payload fails alone.
    async fn one_by_one(
        &self,
        jobs: &[Submission],
    ) -> StoreResult<Vec<Result<Answer, IntakeError>>> {
        let mut tx = self.store.begin_write().await?;
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let mut savepoint = tx.begin().await?;
            let setting = self.write_setting();
            match write_batch(&mut savepoint, std::slice::from_ref(job), &setting).await {
                Ok(mut answers) => {
                    savepoint.commit().await?;
                    results.push(Ok(answers.pop().unwrap_or(Answer::Stored(Vec::new()))));
                }
                Err(e) => {
                    warn!(error = ?e, source = %job.source, "submission failed; the rest of the batch goes on");
                    savepoint.rollback().await?;
                    results.push(Err(IntakeError::Store(Arc::new(e))));
                }
            }
        }
        tx.commit().await?;
        Ok(results)
    }

    fn record(&self, job: &Submission, alerts: &[AlertResult]) {
        let m = &self.metrics;
        let elapsed = (jiff::Timestamp::now() - job.received_at)
            .total(jiff::Unit::Second)
            .unwrap_or(0.0);
        m.intake_seconds
            .with_label_values(&[&job.source])
            .observe(elapsed.max(0.0));
        for alert in alerts {
            let source = job.source.as_str();
            m.alerts_received
                .with_label_values(&[source, alert.outcome.as_str()])
                .inc();
            if let Some(action) = alert.outcome.event_action() {
                m.events.with_label_values(&[source, action]).inc();
            }
            if let Some(action) = alert.incident_action {
                m.incidents
                    .with_label_values(&[source, action.as_str()])
                    .inc();
            }
            if let Some(held) = &alert.held_by {
                let reason = held.split(':').next().unwrap_or(held);
                m.alerts_held.with_label_values(&[source, reason]).inc();
            }
            if alert.ci.is_none() && alert.event_id.is_some() {
                m.alerts_unbound.with_label_values(&[source]).inc();
            }
        }
    }
}
