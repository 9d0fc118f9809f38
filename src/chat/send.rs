//! Replies to the platforms: Telegram's `sendMessage`, a bot's `reply_url`. Sent after
//! the message's transaction committed, off the request; a reply that fails is logged
//! and counted, and the ticket stays (it is the durable part, and `/estado` finds it).

use std::sync::Arc;
use std::time::Duration;

use super::bots::BotReply;
use super::telegram::{self, ApiAnswer, Target};
use super::{BotConfig, ChatConfig, TELEGRAM};
use crate::metrics::Metrics;

/// Telegram refuses longer messages.
const TELEGRAM_MAX_CHARS: usize = 4096;

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("the request failed")]
    Http(#[source] reqwest::Error),
    #[error("the platform answered {0}")]
    Status(reqwest::StatusCode),
    #[error("Telegram refused the message: {0}")]
    Refused(String),
}

/// Telegram's URLs carry the bot's token: errors never keep the URL.
impl From<reqwest::Error> for SendError {
    fn from(e: reqwest::Error) -> Self {
        SendError::Http(e.without_url())
    }
}

pub struct Sender {
    client: reqwest::Client,
    /// `{api_base}/bot{token}/sendMessage`.
    telegram_url: String,
    metrics: Arc<Metrics>,
}

impl Sender {
    pub fn new(config: &ChatConfig, metrics: Arc<Metrics>) -> Result<Sender, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.reply_timeout_secs))
            .user_agent(concat!("vigia/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let t = &config.telegram;
        Ok(Sender {
            client,
            telegram_url: format!(
                "{}/bot{}/sendMessage",
                t.api_base.trim_end_matches('/'),
                t.bot_token
            ),
            metrics,
        })
    }

    /// Sends a reply to a Telegram message in the background.
    pub fn telegram(self: &Arc<Self>, target: Target, text: &str) {
        let text: String = text.chars().take(TELEGRAM_MAX_CHARS).collect();
        let sender = self.clone();
        tokio::spawn(async move {
            let sent = sender.send_telegram(target, &text).await;
            // The chat is the sender's; the token in the URL is never logged.
            sender.count(TELEGRAM, sent, &target.chat_id.to_string());
        });
    }

    async fn send_telegram(&self, target: Target, text: &str) -> Result<(), SendError> {
        let response = self
            .client
            .post(&self.telegram_url)
            .json(&telegram::send_message(target, text))
            .send()
            .await?;
        let status = response.status();
        // Telegram explains a refusal in `description`, with a 4xx status.
        let answer: Option<ApiAnswer> = response.json().await.ok();
        match answer {
            Some(a) if status.is_success() && a.ok => Ok(()),
            Some(ApiAnswer {
                description: Some(why),
                ..
            }) => Err(SendError::Refused(format!("{status}: {why}"))),
            _ => Err(SendError::Status(status)),
        }
    }

    /// POSTs a reply to the bot's `reply_url`, if it has one, in the background. The
    /// bot's own token authenticates Vigía to it.
    pub fn bot(self: &Arc<Self>, bot: &BotConfig, reply: &BotReply) {
        let Some(url) = bot.reply_url.clone() else {
            return;
        };
        let (sender, token, reply) = (self.clone(), bot.token.clone(), reply.clone());
        tokio::spawn(async move {
            let sent = sender.send_bot(&url, &token, &reply).await;
            let conversation = reply.conversation.as_deref().unwrap_or("");
            sender.count(&reply.bot, sent, conversation);
        });
    }

    async fn send_bot(&self, url: &str, token: &str, reply: &BotReply) -> Result<(), SendError> {
        let response = self
            .client
            .post(url)
            .bearer_auth(token)
            .json(reply)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(SendError::Status(status))
        }
    }

    fn count(&self, platform: &str, sent: Result<(), SendError>, conversation: &str) {
        let outcome = match sent {
            Ok(()) => "sent",
            Err(e) => {
                tracing::warn!(
                    platform,
                    conversation,
                    error = %e,
                    source = ?std::error::Error::source(&e),
                    "chat reply not delivered; the message's ticket stays registered"
                );
                "failed"
            }
        };
        self.metrics
            .chat_replies
            .with_label_values(&[platform, outcome])
            .inc();
    }
}
