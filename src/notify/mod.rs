//! Notifications: email (SMTP, through lettre) and outbound webhooks (HMAC-signed JSON)
//! about ticket changes, in the recipient's language (Spanish by default, English).
//!
//! In: `Notice`s the desk builds inside a ticket change's transaction. `Notifier::enqueue`
//! renders them and writes one outbox row per delivery (an email per recipient, a
//! webhook per unit that configured one) in that same transaction. Out: the `Dispatcher`
//! sends due outbox rows afterwards, retrying failures with backoff; a failure never
//! blocks or undoes the ticket change. Delivery is at least once: a process that dies
//! between sending and recording it sends again once the claim's lease runs out.

mod config;
mod dispatch;
mod email;
mod templates;
mod webhook;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use tokio::sync::Notify;
use tracing::{error, info};

pub use config::{NotifyConfig, WebhookConfig};
pub use dispatch::{backoff, Dispatcher};
pub use templates::{Rendered, Templates};
pub use webhook::signature;

use crate::domain::{ids, Lang};
use crate::store::outbox::{self, NewDelivery};
use crate::store::StoreResult;

/// What happened, from the recipient's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// To the assignee: a ticket is now theirs.
    Assigned,
    /// To the assignee: a rescheduled ticket is back in progress.
    Resumed,
    /// To the unit head: an assignee asks for approval.
    ApprovalRequested,
    /// To the unit head: tier 2 cannot solve the ticket.
    Unsolvable,
    /// To the unit head: tier 3 asks for a problem to be raised.
    ProblemRequested,
    /// To the requester: the technician needs more information.
    InfoRequested,
    /// To the requester: the ticket is resolved, with the solution.
    Resolved,
    /// To the assignee: the unit head approved their request.
    ApprovalGranted,
    /// To the assignee: the unit head rejected their request, with why.
    ApprovalRejected,
    /// To the assignee: the requester rejected the solution, with why.
    Reopened,
    /// To the assignee: a target is near (a warning threshold passed).
    SlaWarning,
    /// To the unit head: a target was missed.
    SlaBreached,
    /// To the requester: a request they sent by email was registered; its reference,
    /// kept in the subject of a reply, adds the reply to it.
    Received,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Assigned => "assigned",
            Topic::Resumed => "resumed",
            Topic::ApprovalRequested => "approval_requested",
            Topic::Unsolvable => "unsolvable",
            Topic::ProblemRequested => "problem_requested",
            Topic::InfoRequested => "info_requested",
            Topic::Resolved => "resolved",
            Topic::ApprovalGranted => "approval_granted",
            Topic::ApprovalRejected => "approval_rejected",
            Topic::Reopened => "reopened",
            Topic::SlaWarning => "sla_warning",
            Topic::SlaBreached => "sla_breached",
            Topic::Received => "received",
        }
    }
}

/// Who receives a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    pub login: String,
    pub name: String,
    pub email: String,
    pub language: Lang,
}

/// The facts of the ticket a notice is about, as they are after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketFacts {
    pub id: String,
    /// `incident`, `service_request`, `event` or `problem`.
    pub kind: String,
    pub summary: String,
    pub unit: Option<String>,
    /// State after the change, e.g. `assigned` or `on_hold`.
    pub state: String,
    pub priority: Option<String>,
    /// Login of whoever made the change (`system` for the desk's timers).
    pub actor: String,
    /// The question, approval request or explanation that came with the change.
    pub comment: Option<String>,
    pub solution: Option<String>,
    pub resolution_code: Option<String>,
    /// When a rescheduled ticket resumes (milliseconds since the epoch).
    pub resume_at: Option<i64>,
    /// SLA warnings and breaches: which clock (`acknowledge` or `resolve`)…
    pub sla_metric: Option<String>,
    /// …and when it is (or was) due.
    pub due_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub topic: Topic,
    pub recipient: Recipient,
    pub ticket: TicketFacts,
}

/// Renders notices into outbox rows and holds what sending them needs: the SMTP
/// transport, the webhook client and secrets, and the retry policy.
pub struct Notifier {
    config: NotifyConfig,
    templates: Templates,
    /// None when `smtp_url` is empty: email is off.
    mailer: Option<email::Mailer>,
    webhooks: webhook::Webhooks,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Validates the configuration and compiles the templates, the SMTP transport and
    /// the webhook client. Connects to nothing yet, but must run (and the notifier be
    /// dropped) inside the Tokio runtime: the SMTP connection pool lives there.
    pub fn new(config: &NotifyConfig) -> Result<Notifier, NotifyError> {
        config.validate()?;
        let mailer = if config.smtp_url.is_empty() {
            info!("notify.smtp_url is empty: email notifications are off");
            None
        } else {
            Some(email::Mailer::new(&config.smtp_url, &config.from)?)
        };
        Ok(Notifier {
            config: config.clone(),
            templates: Templates::new()?,
            mailer,
            webhooks: webhook::Webhooks::new(&config.webhooks)?,
            wake: Arc::new(Notify::new()),
        })
    }

    /// Renders each notice and writes its deliveries in the caller's transaction: an
    /// email to the recipient (when email is on) and a webhook call when the ticket's
    /// unit has one. A notice that cannot be rendered is logged and left out: a
    /// notification must never undo the change it tells about.
    #[tracing::instrument(skip_all, fields(notices = notices.len()))]
    pub async fn enqueue(
        &self,
        conn: &mut AnyConnection,
        notices: &[Notice],
        now_ms: i64,
    ) -> StoreResult<()> {
        for notice in notices {
            let topic = notice.topic.as_str();
            let ticket = Some(notice.ticket.id.as_str());
            if self.mailer.is_some() {
                match self.templates.render(notice) {
                    Ok(Rendered { subject, body }) => {
                        let recipient = email::mailbox_text(&notice.recipient);
                        let row = NewDelivery {
                            id: &ids::new(ids::NOTIFICATION),
                            channel: email::CHANNEL,
                            topic,
                            ticket_id: ticket,
                            recipient: &recipient,
                            subject: Some(&subject),
                            body: &body,
                        };
                        outbox::insert(conn, &row, now_ms).await?;
                    }
                    Err(e) => error!(
                        error = %error_chain(&e), topic, ticket = notice.ticket.id,
                        "notification not rendered; no email for it"
                    ),
                }
            }
            let unit = notice.ticket.unit.as_deref();
            if let Some(url) = unit.and_then(|u| self.webhooks.url_for(u)) {
                let body = webhook::payload(notice, now_ms);
                let row = NewDelivery {
                    id: &ids::new(ids::NOTIFICATION),
                    channel: webhook::CHANNEL,
                    topic,
                    ticket_id: ticket,
                    recipient: url,
                    subject: None,
                    body: &body,
                };
                outbox::insert(conn, &row, now_ms).await?;
            }
        }
        Ok(())
    }

    /// Writes an email about no one ticket (a monthly report) to the outbox, in the
    /// caller's transaction, due at once. False when email is off: nothing is written.
    pub async fn enqueue_email(
        &self,
        conn: &mut AnyConnection,
        topic: &str,
        recipient: &Recipient,
        subject: &str,
        body: &str,
        now_ms: i64,
    ) -> StoreResult<bool> {
        if self.mailer.is_none() {
            return Ok(false);
        }
        let mailbox = email::mailbox_text(recipient);
        let row = NewDelivery {
            id: &ids::new(ids::NOTIFICATION),
            channel: email::CHANNEL,
            topic,
            ticket_id: None,
            recipient: &mailbox,
            // A header must stay on one line.
            subject: Some(&subject.split_whitespace().collect::<Vec<_>>().join(" ")),
            body,
        };
        outbox::insert(conn, &row, now_ms).await?;
        Ok(true)
    }

    /// Tells the dispatcher that deliveries are due now; call it after the commit.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The handle `wake` signals, for the dispatcher to wait on.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn config(&self) -> &NotifyConfig {
        &self.config
    }

    /// The channels this process can send.
    fn channels(&self) -> Vec<&'static str> {
        let mut channels = vec![webhook::CHANNEL];
        if self.mailer.is_some() {
            channels.push(email::CHANNEL);
        }
        channels
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("invalid configuration: `{key}` {reason}")]
    Config { key: String, reason: String },
    #[error("a notification template failed")]
    Template(#[source] minijinja::Error),
    #[error("notify.smtp_url is not a usable SMTP URL")]
    SmtpUrl(#[source] lettre::transport::smtp::Error),
    #[error("invalid email address {address:?}")]
    Address {
        address: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("the email cannot be built")]
    Message(#[source] lettre::error::Error),
    #[error("the mail server did not take the email")]
    Smtp(#[source] lettre::transport::smtp::Error),
    #[error("this process sends no {0:?} notifications")]
    Channel(String),
    #[error("no webhook is configured for {0} any more")]
    UnknownWebhook(String),
    #[error("the HTTP client cannot be built")]
    HttpClient(#[source] reqwest::Error),
    #[error("the webhook request failed")]
    Http(#[source] reqwest::Error),
    #[error("the webhook answered {0}")]
    HttpStatus(reqwest::StatusCode),
}

impl NotifyError {
    /// Failures no retry can mend: the delivery is given up at once.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            NotifyError::Address { .. }
                | NotifyError::Message(_)
                | NotifyError::Channel(_)
                | NotifyError::UnknownWebhook(_)
        )
    }
}

/// An error and its sources, `outer: inner: …`, for logs and `last_error`. A source
/// its parent already quotes (lettre's do) is not repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let cause = e.to_string();
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("inner cause")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("outer: inner cause")]
    struct Quoting(#[source] Inner);

    #[test]
    fn error_chains_name_every_cause_once() {
        assert_eq!(error_chain(&Outer(Inner)), "outer: inner cause");
        assert_eq!(error_chain(&Quoting(Inner)), "outer: inner cause");
    }
}
