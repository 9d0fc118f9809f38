//! `[chat]` in the configuration: the Telegram bot and the other bots that may open
//! requests from a conversation.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::redact_url;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    pub telegram: TelegramConfig,
    /// Other bots (Teams, WhatsApp gateways…), each posting the generic JSON form.
    pub bots: Vec<BotConfig>,
    /// Seconds a reply to a platform may take before it is given up.
    pub reply_timeout_secs: u64,
    /// Messages one sender may send per minute (a burst of as many); over it the
    /// platform gets 429 with Retry-After and nothing is recorded.
    pub messages_per_minute_per_sender: u32,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    pub enabled: bool,
    /// The token BotFather gave the bot: replies go to `{api_base}/bot{bot_token}/…`.
    pub bot_token: String,
    /// The `secret_token` given to `setWebhook`; Telegram sends it back in
    /// `X-Telegram-Bot-Api-Secret-Token` with every update.
    pub secret_token: String,
    pub api_base: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// The bot's name: its endpoint `/api/v1/chat/bots/{name}` and the platform its
    /// senders are linked under.
    pub name: String,
    /// The bearer token the bot authenticates with.
    pub token: String,
    /// Where replies are also POSTed, besides the answer to the bot's request.
    #[serde(default)]
    pub reply_url: Option<String>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            telegram: TelegramConfig::default(),
            bots: Vec::new(),
            reply_timeout_secs: 10,
            messages_per_minute_per_sender: 20,
        }
    }
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            enabled: false,
            bot_token: String::new(),
            secret_token: String::new(),
            api_base: "https://api.telegram.org".to_owned(),
        }
    }
}

/// Tokens are secrets: never print them.
impl fmt::Debug for ChatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatConfig")
            .field("telegram", &self.telegram)
            .field("bots", &self.bots)
            .field("reply_timeout_secs", &self.reply_timeout_secs)
            .field(
                "messages_per_minute_per_sender",
                &self.messages_per_minute_per_sender,
            )
            .finish()
    }
}

impl fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("enabled", &self.enabled)
            .field("bot_token", &"***")
            .field("secret_token", &"***")
            .field("api_base", &redact_url(&self.api_base))
            .finish()
    }
}

impl fmt::Debug for BotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotConfig")
            .field("name", &self.name)
            .field("token", &"***")
            .field("reply_url", &self.reply_url.as_deref().map(redact_url))
            .finish()
    }
}

/// The platform name of the Telegram bot's senders.
pub const TELEGRAM: &str = "telegram";

/// Shortest bot token accepted: it is the bot's only credential.
const MIN_BOT_TOKEN: usize = 16;

impl ChatConfig {
    /// Checks every key; the error names the first one at fault (`chat.…`) and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let invalid = |key: &str, why: &str| Err((format!("chat.{key}"), why.to_owned()));
        if self.reply_timeout_secs == 0 {
            return invalid("reply_timeout_secs", "must be at least 1");
        }
        if self.messages_per_minute_per_sender == 0 {
            return invalid("messages_per_minute_per_sender", "must be at least 1");
        }
        let t = &self.telegram;
        if !is_http_url(&t.api_base) {
            return invalid("telegram.api_base", "must be an http:// or https:// URL");
        }
        if t.enabled {
            if t.bot_token.trim().is_empty() {
                return invalid(
                    "telegram.bot_token",
                    "is required when `chat.telegram.enabled` is true",
                );
            }
            // Telegram's own rule for `setWebhook`'s secret_token.
            let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if t.secret_token.is_empty()
                || t.secret_token.len() > 256
                || !t.secret_token.chars().all(allowed)
            {
                return invalid(
                    "telegram.secret_token",
                    "is required when `chat.telegram.enabled` is true: 1 to 256 characters A-Z, a-z, 0-9, `_` or `-`",
                );
            }
        }
        for (i, bot) in self.bots.iter().enumerate() {
            let key = |field: &str| format!("bots[{i}].{field}");
            if !is_platform_name(&bot.name) || bot.name == TELEGRAM {
                return invalid(
                    &key("name"),
                    "must be 1 to 32 characters a-z, 0-9, `_` or `-`, and not `telegram`",
                );
            }
            if self.bots[..i].iter().any(|b| b.name == bot.name) {
                return invalid(&key("name"), "names a bot already listed");
            }
            if bot.token.chars().count() < MIN_BOT_TOKEN {
                return invalid(
                    &key("token"),
                    &format!("must have at least {MIN_BOT_TOKEN} characters"),
                );
            }
            if let Some(url) = &bot.reply_url {
                if !is_http_url(url) {
                    return invalid(&key("reply_url"), "must be an http:// or https:// URL");
                }
            }
        }
        Ok(())
    }

    pub fn bot(&self, name: &str) -> Option<&BotConfig> {
        self.bots.iter().find(|b| b.name == name)
    }

    /// Whether senders may be linked under `platform`.
    pub fn knows_platform(&self, platform: &str) -> bool {
        platform == TELEGRAM || self.bot(platform).is_some()
    }
}

pub fn is_platform_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telegram() -> ChatConfig {
        let mut c = ChatConfig::default();
        c.telegram.enabled = true;
        c.telegram.bot_token = "123:abc".to_owned();
        c.telegram.secret_token = "s3cr3t-token_1".to_owned();
        c
    }

    #[test]
    fn the_defaults_are_valid_and_everything_is_off() {
        let c = ChatConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert!(!c.telegram.enabled);
        assert!(c.bots.is_empty());
    }

    #[test]
    fn an_enabled_telegram_bot_needs_its_token_and_a_well_formed_secret() {
        assert_eq!(telegram().validate(), Ok(()));
        let mut c = telegram();
        c.telegram.bot_token.clear();
        assert_eq!(
            c.validate().expect_err("refused").0,
            "chat.telegram.bot_token"
        );
        for secret in ["", "with space", &"x".repeat(257)] {
            let mut c = telegram();
            c.telegram.secret_token = secret.to_owned();
            assert_eq!(
                c.validate().expect_err("refused").0,
                "chat.telegram.secret_token"
            );
        }
        let mut c = telegram();
        c.telegram.api_base = "ftp://x".to_owned();
        assert_eq!(
            c.validate().expect_err("refused").0,
            "chat.telegram.api_base"
        );
    }

    #[test]
    fn bots_need_a_plain_unique_name_a_long_token_and_an_http_reply_url() {
        let bot = |name: &str, token: &str, url: Option<&str>| BotConfig {
            name: name.to_owned(),
            token: token.to_owned(),
            reply_url: url.map(str::to_owned),
        };
        let good = bot(
            "teams",
            "0123456789abcdef",
            Some("https://bot.example/reply"),
        );
        let cases = [
            (
                vec![bot("Teams", "0123456789abcdef", None)],
                "chat.bots[0].name",
            ),
            (
                vec![bot("telegram", "0123456789abcdef", None)],
                "chat.bots[0].name",
            ),
            (vec![good.clone(), good.clone()], "chat.bots[1].name"),
            (vec![bot("teams", "short", None)], "chat.bots[0].token"),
            (
                vec![bot("teams", "0123456789abcdef", Some("nope"))],
                "chat.bots[0].reply_url",
            ),
        ];
        for (bots, key) in cases {
            let c = ChatConfig {
                bots,
                ..ChatConfig::default()
            };
            assert_eq!(c.validate().expect_err("refused").0, key);
        }
        let c = ChatConfig {
            bots: vec![good],
            ..ChatConfig::default()
        };
        assert_eq!(c.validate(), Ok(()));
        assert!(c.knows_platform("teams") && c.knows_platform("telegram"));
        assert!(!c.knows_platform("slack"));
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let mut c = telegram();
        c.bots.push(BotConfig {
            name: "teams".to_owned(),
            token: "bot-token-0123456789".to_owned(),
            reply_url: None,
        });
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("123:abc") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        assert!(!shown.contains("bot-token-0123456789"), "{shown}");
    }
}
