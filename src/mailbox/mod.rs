//! The desk mailboxes (PROCEDURE.md: "Cuenta de Mesa de Servicio"): every
//! `poll_interval_secs`, each unit's mailbox is read over IMAP and each new message
//! becomes a request of that unit (an incident by the account's rules), registered to
//! the sender and auto-assigned like any other, or a comment on the ticket a reply
//! names.
//!
//! In: `[[mailbox.accounts]]`, messages on IMAP servers. Out: tickets, comments and
//! attachments through the desk; `\Seen` + `VigiaProcessed` on handled messages (set
//! only after the commit); unreadable messages moved to `rejected_folder`, never
//! deleted; `vigia_mailbox_messages_total{unit,outcome}`.

pub mod config;
mod deliver;
pub mod imap;
pub mod message;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use config::{AccountConfig, MailboxConfig};
pub use deliver::{deliver, Account, DeliverError, Delivered};

use crate::desk::Desk;
use crate::metrics::Metrics;

/// Longest one mailbox's read may take before it is cut and tried at the next tick: a
/// server that stops answering must not stall the others. A message cut between its
/// commit and its mark is recognised by its key and marked at the next read.
const ACCOUNT_PASS_LIMIT: Duration = Duration::from_secs(300);

/// Reads a message that fails while the database works may take before it is moved
/// aside.
const MAX_ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct Poller {
    /// Failures of messages that failed while the database worked, by unit and UID.
    failures: Arc<std::sync::Mutex<std::collections::HashMap<(String, u32), u32>>>,
    desk: Desk,
    metrics: Arc<Metrics>,
    accounts: Arc<Vec<Account>>,
    attachment_max_bytes: u64,
    max_message_bytes: u64,
    max_messages: usize,
}

impl Poller {
    /// None when no mailbox is configured.
    pub fn new(config: &MailboxConfig, desk: Desk, metrics: Arc<Metrics>) -> Option<Poller> {
        if config.accounts.is_empty() {
            return None;
        }
        Some(Poller {
            failures: Arc::default(),
            desk,
            metrics,
            accounts: Arc::new(config.accounts.iter().cloned().map(Account::new).collect()),
            attachment_max_bytes: config.attachment_max_bytes,
            max_message_bytes: config.max_message_bytes,
            max_messages: config.max_messages_per_poll,
        })
    }

    /// Reads every mailbox each `interval` until `stop`.
    pub async fn supervise(self, interval: Duration, stop: CancellationToken) {
        crate::periodic::every(
            "desk mailboxes",
            interval,
            stop,
            self,
            |p: Poller| async move {
                p.pass().await;
                Ok::<(), std::convert::Infallible>(())
            },
        )
        .await;
    }

    /// One read of each mailbox; a mailbox that fails is logged and counted, and the
    /// others are read all the same.
    pub async fn pass(&self) {
        for account in self.accounts.iter() {
            let unit = account.unit();
            let outcome = tokio::time::timeout(ACCOUNT_PASS_LIMIT, self.read(account)).await;
            let failure = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(_) => format!("not finished after {ACCOUNT_PASS_LIMIT:?}; cut"),
            };
            self.metrics
                .mailbox_poll_failures
                .with_label_values(&[unit])
                .inc();
            error!(unit, host = %account.config.host, error = %failure,
                "desk mailbox not read; trying again at the next poll");
        }
    }

    /// Handles the unprocessed messages of one mailbox.
    async fn read(&self, account: &Account) -> Result<(), String> {
        let unit = account.unit();
        let registry = self.desk.registry().await.map_err(|e| e.to_string())?;
        if registry.unit(unit).is_none() {
            return Err(format!(
                "`mailbox.accounts` names unit `{unit}`, which the registry does not have; \
                 its messages stay on the server until the unit is imported"
            ));
        }
        let cfg = &account.config;
        let mut session = imap::open(cfg).await.map_err(|e| e.to_string())?;
        imap::ensure_folder(&mut session, &cfg.rejected_folder)
            .await
            .map_err(|e| e.to_string())?;
        let uids = imap::unprocessed(&mut session, &cfg.folder, self.max_messages)
            .await
            .map_err(|e| e.to_string())?;
        for uid in uids {
            // Mail is read whole into memory: a message over the limit is not fetched.
            let size = imap::size(&mut session, uid)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(size) = size.filter(|s| u64::from(*s) > self.max_message_bytes) {
                let folder = &account.config.rejected_folder;
                imap::set_aside(&mut session, uid, folder)
                    .await
                    .map_err(|e| e.to_string())?;
                self.count(unit, "rejected");
                warn!(unit, uid, size, limit = self.max_message_bytes, %folder,
                    "desk mailbox message over mailbox.max_message_bytes; moved aside unread");
                continue;
            }
            let Some(raw) = imap::fetch(&mut session, uid)
                .await
                .map_err(|e| e.to_string())?
            else {
                continue;
            };
            if let Err(e) = self.handle(&mut session, account, uid, &raw).await {
                self.count(unit, "failed");
                // With the database down every message fails alike: stop, and take them
                // all again at the next poll.
                if !self.desk.store().ping().await {
                    let _ = session.logout().await;
                    return Err(format!("message uid {uid}: {e}"));
                }
                // The database is fine: this message is at fault. It stays for the
                // next polls, then is moved aside so it cannot hold the others back.
                self.failed_again(&mut session, account, uid, &e).await?;
            }
        }
        let _ = session.logout().await;
        Ok(())
    }

    /// One message: delivered then marked, or set aside. An error leaves it for later.
    async fn handle(
        &self,
        session: &mut imap::Session,
        account: &Account,
        uid: u32,
        raw: &[u8],
    ) -> Result<(), String> {
        let (unit, rejected) = (account.unit(), &account.config.rejected_folder);
        let mail = match message::parse(raw) {
            Ok(mail) => mail,
            Err(why) => {
                imap::set_aside(session, uid, rejected)
                    .await
                    .map_err(|e| e.to_string())?;
                self.count(unit, "rejected");
                warn!(unit, uid, folder = %rejected, reason = %why,
                    "desk mailbox message cannot become a request; moved aside");
                return Ok(());
            }
        };
        match deliver(&self.desk, account, &mail, self.attachment_max_bytes).await {
            Ok(delivered) => {
                imap::mark_processed(session, uid)
                    .await
                    .map_err(|e| e.to_string())?;
                let (outcome, ticket) = (delivered.outcome(), delivered.ticket());
                self.count(unit, outcome);
                info!(unit, uid, ticket = %ticket, outcome, from = %mail.from_address,
                    "desk mailbox message handled");
                Ok(())
            }
            Err(e) if e.is_transient() => Err(e.to_string()),
            Err(e) => {
                imap::set_aside(session, uid, rejected)
                    .await
                    .map_err(|e| e.to_string())?;
                self.count(unit, "rejected");
                warn!(unit, uid, folder = %rejected, reason = %e, from = %mail.from_address,
                    "the desk refused a mailbox message; moved aside");
                Ok(())
            }
        }
    }

    /// Counts one more failure of a message; at the last attempt, moves it aside.
    async fn failed_again(
        &self,
        session: &mut imap::Session,
        account: &Account,
        uid: u32,
        error: &str,
    ) -> Result<(), String> {
        let unit = account.unit();
        let key = (unit.to_owned(), uid);
        let attempts = {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            let n = failures.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        if attempts < MAX_ATTEMPTS {
            warn!(
                unit,
                uid, attempts, error, "desk mailbox message failed; it will be tried again"
            );
            return Ok(());
        }
        let rejected = &account.config.rejected_folder;
        imap::set_aside(session, uid, rejected)
            .await
            .map_err(|e| e.to_string())?;
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        self.count(unit, "rejected");
        warn!(unit, uid, attempts, error, folder = %rejected,
            "desk mailbox message failed every attempt; moved aside");
        Ok(())
    }

    fn count(&self, unit: &str, outcome: &str) {
        self.metrics
            .mailbox_messages
            .with_label_values(&[unit, outcome])
            .inc();
    }
}
