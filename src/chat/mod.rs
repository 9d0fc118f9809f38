//! The chat channel: official chat bots open formal requests from a conversation
//! (PROCEDURE.md: "canales de mensajería instantánea oficiales").
//!
//! In: a message from Telegram's webhook (`telegram`) or another bot's JSON form
//! (`bots`), already authenticated by the API. Out: a reply, sent to the platform in the
//! background (`send`) and returned to the caller. Stored: each message handled, once
//! (`chat_messages`, keyed by the platform's id, in the transaction of the ticket it
//! opens, so a retried webhook opens nothing twice), and the senders refused
//! (`chat_refusals`). Only people linked to their chat account (`chat_identities`, by
//! the admin) are served; plain text registers a service request through the desk
//! (channel `chat`, assigned like any other), `/estado` answers about their tickets.

pub mod bots;
pub mod commands;
pub mod config;
mod conversation;
mod replies;
mod send;
pub mod telegram;

use std::sync::Arc;

pub use config::{BotConfig, ChatConfig, TelegramConfig, TELEGRAM};

use crate::desk::Desk;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// A message a person wrote to a bot, whatever the platform.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// `telegram` or the bot's name.
    pub platform: String,
    /// What makes it unique on the platform (Telegram's `update_id`, a bot's
    /// `message_id`).
    pub key: String,
    pub sender_id: String,
    pub sender_name: Option<String>,
    pub conversation: Option<String>,
    pub message_id: String,
    /// `None` for photos, stickers and the like.
    pub text: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// A well-formed message whose content is refused.
    #[error("{0}")]
    Invalid(String),
    #[error("the chat channel could not read or write the database")]
    Store(#[from] StoreError),
    #[error("the chat replies cannot be sent")]
    HttpClient(#[source] reqwest::Error),
}

impl From<sqlx::Error> for ChatError {
    fn from(e: sqlx::Error) -> Self {
        ChatError::Store(e.into())
    }
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A ticket was registered.
    Opened,
    /// A status question was answered.
    Status,
    /// Help (also for unknown commands and messages without text).
    Help,
    /// From a sender linked to nobody: refused and recorded.
    Refused,
    /// Handled before (a retry): answered with the reply it got then.
    Duplicate,
    /// The desk refused the registration (e.g. the person's unit is gone).
    NotRegistered,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Opened => "opened",
            Outcome::Status => "status",
            Outcome::Help => "help",
            Outcome::Refused => "refused",
            Outcome::Duplicate => "duplicate",
            Outcome::NotRegistered => "not_registered",
        }
    }

    pub const ALL: [Outcome; 6] = [
        Outcome::Opened,
        Outcome::Status,
        Outcome::Help,
        Outcome::Refused,
        Outcome::Duplicate,
        Outcome::NotRegistered,
    ];
}

#[derive(Debug, Clone)]
pub struct Handled {
    pub outcome: Outcome,
    /// The ticket opened, or asked about.
    pub ticket: Option<String>,
    pub reply: String,
}

#[derive(Clone)]
pub struct Chat {
    /// Each sender's allowance, by platform and sender id.
    senders: Arc<governor::DefaultKeyedRateLimiter<(String, String)>>,
    desk: Desk,
    store: Store,
    config: Arc<ChatConfig>,
    sender: Arc<send::Sender>,
    metrics: Arc<Metrics>,
}

impl Chat {
    pub fn new(
        desk: Desk,
        store: Store,
        config: &ChatConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Chat, ChatError> {
        let sender = send::Sender::new(config, metrics.clone()).map_err(ChatError::HttpClient)?;
        for outcome in ["sent", "failed"] {
            metrics.chat_replies.with_label_values(&[TELEGRAM, outcome]);
        }
        let per_minute = std::num::NonZeroU32::new(config.messages_per_minute_per_sender)
            .unwrap_or(std::num::NonZeroU32::MIN);
        Ok(Chat {
            senders: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                per_minute,
            ))),
            desk,
            store,
            config: Arc::new(config.clone()),
            sender: Arc::new(sender),
            metrics,
        })
    }

    pub fn config(&self) -> &ChatConfig {
        &self.config
    }

    /// Takes one message from its sender's allowance, or says how long to wait: a
    /// stranger (or a loop) cannot fill the records nor the platform with replies.
    pub fn admit(&self, m: &Incoming) -> Result<(), std::time::Duration> {
        use governor::clock::{Clock, DefaultClock};
        self.senders
            .check_key(&(m.platform.clone(), m.sender_id.clone()))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Counts a request refused before it reached the desk, by reason (its problem code).
    pub fn rejected(&self, platform: &str, reason: &str) {
        self.metrics
            .chat_rejected
            .with_label_values(&[platform, reason])
            .inc();
    }

    /// Counts an update that is not a person's message (acknowledged, not handled).
    pub fn ignored(&self, platform: &str) {
        self.metrics
            .chat_messages
            .with_label_values(&[platform, "ignored"])
            .inc();
    }

    /// Sends the reply to a Telegram message (in the background).
    pub fn reply_on_telegram(&self, target: telegram::Target, text: &str) {
        self.sender.telegram(target, text);
    }

    /// POSTs the reply to the bot's `reply_url`, if any (in the background).
    pub fn reply_to_bot(&self, bot: &BotConfig, reply: &bots::BotReply) {
        self.sender.bot(bot, reply);
    }
}
