//! Sending the monthly reports. On the first business day of a month (by each unit's
//! calendar), from `[sla] report_hour` local time, every unit whose head the registry
//! names gets the previous month's report: the JSON is stored in `report_snapshots` with
//! its SHA-256, and in the same transaction an email is queued in the outbox for the
//! head and a copy for each administrator, in their languages. A replica that was down
//! that morning sends it when it comes back, within the month.
//!
//! Once only: `report_snapshots` holds one row per unit and month, and only the pass
//! (of whichever replica) whose insert stored it queues the emails. A month in which the
//! unit attended nothing is stored too (it proves there was nothing to report) but not
//! emailed. With email off the snapshot is stored and `sent_at` stays empty.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::email::{compose, Addressee, Proof};
use super::period::Month;
use super::text::Text;
use super::{ReportError, Reports};
use crate::domain::{ids, Lang};
use crate::notify::{error_chain, Notifier, Recipient};
use crate::store::reports::{self, Reader, Snapshot};
use crate::store::Store;

/// How often the scheduler looks whether a report is due.
const CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// Prefix of snapshot ids.
pub const SNAPSHOT_PREFIX: &str = "rps";
/// The outbox topic of report emails.
pub const TOPIC: &str = "monthly_report";

#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    notifier: Arc<Notifier>,
    reports: Reports,
}

/// A report this pass stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub unit: String,
    pub month: String,
    pub snapshot: String,
    /// The addresses its emails were queued for (none when email is off or the month
    /// was empty).
    pub recipients: Vec<String>,
}

impl Scheduler {
    pub fn new(store: Store, notifier: Arc<Notifier>, reports: Reports) -> Scheduler {
        Scheduler {
            store,
            notifier,
            reports,
        }
    }

    pub fn from_state(state: &crate::api::AppState) -> Scheduler {
        Scheduler::new(
            state.store.clone(),
            state.notifier.clone(),
            state.reports.clone(),
        )
    }

    /// Looks every minute until `stop`; does nothing when `[sla] reports_enabled` is off.
    pub async fn supervise(self, stop: CancellationToken) {
        if !self.reports.enabled() {
            info!("sla.reports_enabled is false: monthly reports are made on demand only");
            return;
        }
        crate::periodic::every(
            "monthly reports",
            CHECK_INTERVAL,
            stop,
            self,
            |s| async move { s.run_once(Timestamp::now()).await.map(|_| ()) },
        )
        .await;
    }

    /// One look, as if it were `now`: stores (and emails) every report due then and not
    /// stored yet. `now` decides what is due; what is written carries the wall-clock
    /// time, so the emails are due at once. One unit's failure is logged and leaves the
    /// others' reports to go.
    pub async fn run_once(&self, now: Timestamp) -> Result<Vec<Stored>, ReportError> {
        let mut conn = self.store.pool().acquire().await?;
        let heads = reports::unit_heads(&mut conn).await?;
        let admins = reports::admins(&mut conn).await?;
        drop(conn);
        let mut stored = Vec::new();
        for head in &heads {
            match self.due(head, now).await {
                Ok(Some(month)) => match self.send(head, &admins, month).await {
                    Ok(Some(done)) => stored.push(done),
                    Ok(None) => {}
                    Err(e) => warn!(
                        unit = head.unit, month = %month, error = %error_chain(&e),
                        "monthly report not sent; trying again at the next pass"
                    ),
                },
                Ok(None) => {}
                Err(e) => warn!(
                    unit = head.unit, error = %error_chain(&e),
                    "cannot tell whether a monthly report is due"
                ),
            }
        }
        Ok(stored)
    }

    /// The month whose report is due for the unit at `now` and not stored yet.
    async fn due(&self, head: &Reader, now: Timestamp) -> Result<Option<Month>, ReportError> {
        let calendar = self.reports.calendar(&head.unit)?;
        let local = now.to_zoned(calendar.zone.clone());
        let today = local.date();
        let Some(first) = calendar.first_business_day(Month::of(today)) else {
            return Ok(None);
        };
        if today < first || (today == first && local.hour() < self.reports.hour()) {
            return Ok(None);
        }
        let month = Month::of(today).previous();
        let mut conn = self.store.pool().acquire().await?;
        let exists = reports::snapshot_exists(&mut conn, &head.unit, &month.to_string()).await?;
        Ok((!exists).then_some(month))
    }

    async fn send(
        &self,
        head: &Reader,
        admins: &[Reader],
        month: Month,
    ) -> Result<Option<Stored>, ReportError> {
        let lang = Lang::from_code(&head.language);
        let now = crate::domain::to_millis(Timestamp::now());
        let report = self
            .reports
            .monthly(&self.store, &head.unit, month, lang, now)
            .await?;
        let body = serde_json::to_string(&report).map_err(ReportError::Json)?;
        let snapshot = Snapshot {
            id: ids::new(SNAPSHOT_PREFIX),
            unit: head.unit.clone(),
            month: month.to_string(),
            generated_at: now,
            hash: hex::encode(Sha256::digest(body.as_bytes())),
            body,
            sent_at: None,
            recipients: None,
        };
        let mut tx = self.store.begin_write().await?;
        if !reports::insert_snapshot(&mut tx, &snapshot).await? {
            // Another replica stored it first, and sends it.
            tx.rollback().await?;
            return Ok(None);
        }
        let proof = Proof {
            id: &snapshot.id,
            hash: &snapshot.hash,
        };
        let mut recipients = Vec::new();
        let copies = admins.iter().filter(|a| a.email != head.email);
        let readers = std::iter::once((head, false)).chain(copies.map(|a| (a, true)));
        for (reader, copy) in readers.filter(|_| !report.annex.is_empty()) {
            let text = Text::of(Lang::from_code(&reader.language))?;
            let to = Addressee {
                name: &reader.name,
                copy,
            };
            let (subject, body) = compose(&report, &text, &to, &proof);
            let recipient = Recipient {
                login: reader.login.clone(),
                name: reader.name.clone(),
                email: reader.email.clone(),
                language: Lang::from_code(&reader.language),
            };
            let queued = self
                .notifier
                .enqueue_email(&mut tx, TOPIC, &recipient, &subject, &body, now)
                .await?;
            if queued {
                recipients.push(reader.email.clone());
            }
        }
        if !recipients.is_empty() {
            let list = serde_json::to_string(&recipients).map_err(ReportError::Json)?;
            reports::mark_sent(&mut tx, &snapshot.id, &list, now).await?;
        }
        tx.commit().await?;
        self.notifier.wake();
        info!(
            unit = head.unit, month = %month, snapshot = snapshot.id, hash = snapshot.hash,
            attended = report.annex.len(), emails = recipients.len(),
            "monthly report stored"
        );
        Ok(Some(Stored {
            unit: snapshot.unit,
            month: snapshot.month,
            snapshot: snapshot.id,
            recipients,
        }))
    }
}
