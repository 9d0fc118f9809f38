//! `[notify]` in the configuration: where mail goes, which units get webhooks, and how
//! failed deliveries are retried.

use std::collections::BTreeMap;
use std::fmt;

use lettre::{AsyncSmtpTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::NotifyError;
use crate::config::redact_url;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// lettre's SMTP URL (`smtp://host:25`, `smtps://user:pass@host`,
    /// `smtp://host:587?tls=required`); empty turns email off.
    pub smtp_url: String,
    /// The sender of every email, `Name <address>`.
    pub from: String,
    /// Milliseconds between two looks for due deliveries (the desk also wakes the
    /// dispatcher right after a commit).
    pub poll_interval_ms: u64,
    /// Delay before the first retry, in milliseconds; it doubles with every failure.
    pub retry_base_ms: u64,
    /// The longest delay between two retries, in seconds.
    pub retry_max_secs: u64,
    /// Tries before a delivery is given up (marked failed).
    pub max_attempts: u32,
    /// Outbound webhooks, by unit code.
    pub webhooks: BTreeMap<String, WebhookConfig>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// The HMAC-SHA256 key the receiver verifies `X-Vigia-Signature` with.
    pub secret: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            smtp_url: String::new(),
            from: "Mesa de Servicio <mesa.servicio@mh.gob.sv>".to_owned(),
            poll_interval_ms: 1000,
            retry_base_ms: 10_000,
            retry_max_secs: 3600,
            max_attempts: 10,
            webhooks: BTreeMap::new(),
        }
    }
}

/// The SMTP URL may carry a password and webhooks a secret: never print them.
impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("smtp_url", &redact_url(&self.smtp_url))
            .field("from", &self.from)
            .field("poll_interval_ms", &self.poll_interval_ms)
            .field("retry_base_ms", &self.retry_base_ms)
            .field("retry_max_secs", &self.retry_max_secs)
            .field("max_attempts", &self.max_attempts)
            .field("webhooks", &self.webhooks)
            .finish()
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &redact_url(&self.url))
            .field("secret", &"***")
            .finish()
    }
}

impl NotifyConfig {
    /// Checks every key; the error names the first one at fault (`notify.…`).
    pub fn validate(&self) -> Result<(), NotifyError> {
        let invalid = |key: &str, why: &str| {
            Err(NotifyError::Config {
                key: format!("notify.{key}"),
                reason: why.to_owned(),
            })
        };
        let url = &self.smtp_url;
        if !url.is_empty() {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return invalid(
                    "smtp_url",
                    "must start with `smtp://` or `smtps://`, or be empty",
                );
            }
            if AsyncSmtpTransport::<Tokio1Executor>::from_url(url).is_err() {
                return invalid(
                    "smtp_url",
                    "is not a usable SMTP URL (`smtp://HOST:PORT`, `smtp://HOST:587?tls=required`, \
                     `smtps://USER:PASSWORD@HOST`; `tls` may be `required` or `opportunistic`)",
                );
            }
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return invalid("from", "must be an address, e.g. `Name <user@example.org>`");
        }
        if self.poll_interval_ms == 0 {
            return invalid("poll_interval_ms", "must be at least 1");
        }
        if self.retry_base_ms == 0 {
            return invalid("retry_base_ms", "must be at least 1");
        }
        if self.retry_max_secs == 0 {
            return invalid("retry_max_secs", "must be at least 1");
        }
        if self.max_attempts == 0 {
            return invalid("max_attempts", "must be at least 1");
        }
        // Deliveries find their secret by URL at send time (outbox rows keep no
        // secret), so one URL must not be signed with two keys.
        let mut secrets: BTreeMap<&str, &str> = BTreeMap::new();
        for (unit, hook) in &self.webhooks {
            let key = |field: &str| format!("webhooks.{unit}.{field}");
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                return invalid(&key("url"), "must start with `http://` or `https://`");
            }
            if hook.secret.is_empty() {
                return invalid(&key("secret"), "must not be empty");
            }
            if let Some(other) = secrets.insert(&hook.url, &hook.secret) {
                if other != hook.secret {
                    return invalid(
                        &key("secret"),
                        "differs from the secret of another unit with the same URL",
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(url: &str, secret: &str) -> WebhookConfig {
        WebhookConfig {
            url: url.to_owned(),
            secret: secret.to_owned(),
        }
    }

    #[test]
    fn the_defaults_are_valid_and_send_no_email() {
        let config = NotifyConfig::default();
        assert!(config.validate().is_ok());
        assert!(config.smtp_url.is_empty());
    }

    #[test]
    fn errors_name_the_key_at_fault() {
        let mut config = NotifyConfig {
            max_attempts: 0,
            ..NotifyConfig::default()
        };
        let err = config.validate().expect_err("refused").to_string();
        assert!(err.contains("notify.max_attempts"), "{err}");

        config.max_attempts = 3;
        config
            .webhooks
            .insert("DINAFI".to_owned(), hook("ftp://x", "k"));
        let err = config.validate().expect_err("refused").to_string();
        assert!(err.contains("notify.webhooks.DINAFI.url"), "{err}");

        config
            .webhooks
            .insert("DINAFI".to_owned(), hook("https://x", "k"));
        config
            .webhooks
            .insert("DGT".to_owned(), hook("https://x", "other"));
        let err = config.validate().expect_err("refused").to_string();
        assert!(err.contains("notify.webhooks.DINAFI.secret"), "{err}");

        config.webhooks.clear();
        for url in ["mail.example:25", "smtp://mail.example?tls=sometimes"] {
            config.smtp_url = url.to_owned();
            let err = config.validate().expect_err("refused").to_string();
            assert!(err.contains("notify.smtp_url"), "{url}: {err}");
        }
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example:587?tls=required",
            "smtps://mesa:p%40ss@mail.example",
        ] {
            config.smtp_url = url.to_owned();
            assert!(config.validate().is_ok(), "{url}");
        }
    }

    #[test]
    fn debug_hides_the_smtp_password_and_webhook_secrets() {
        let mut config = NotifyConfig {
            smtp_url: "smtps://mesa:hunter2@smtp.example".to_owned(),
            ..NotifyConfig::default()
        };
        config.webhooks.insert(
            "DINAFI".to_owned(),
            hook("https://hooks.example/x", "s3cr3t"),
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("smtps://mesa:***@smtp.example"), "{shown}");
        assert!(shown.contains("https://hooks.example/x"), "{shown}");
    }
}
