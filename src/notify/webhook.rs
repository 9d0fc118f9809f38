//! Outbound webhooks: a JSON POST per notice to the URL its unit configured, signed
//! with HMAC-SHA256 over `<timestamp>.<body>` so the receiver can check it came from
//! Vigía and is fresh.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Notice, NotifyError, WebhookConfig};
use crate::domain::from_millis;
use crate::store::outbox::Delivery;

pub const CHANNEL: &str = "webhook";

const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Webhooks {
    /// URL by unit code.
    urls: BTreeMap<String, String>,
    /// Secret by URL: outbox rows keep the URL, never the secret.
    secrets: HashMap<String, String>,
    client: reqwest::Client,
}

impl Webhooks {
    pub fn new(config: &BTreeMap<String, WebhookConfig>) -> Result<Self, NotifyError> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("vigia/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(NotifyError::HttpClient)?;
        Ok(Webhooks {
            urls: config
                .iter()
                .map(|(unit, hook)| (unit.clone(), hook.url.clone()))
                .collect(),
            secrets: config
                .values()
                .map(|hook| (hook.url.clone(), hook.secret.clone()))
                .collect(),
            client,
        })
    }

    pub fn url_for(&self, unit: &str) -> Option<&str> {
        self.urls.get(unit).map(String::as_str)
    }

    /// POSTs the stored body, signed now. Success is any 2xx answer.
    pub async fn send(&self, delivery: &Delivery, now_secs: i64) -> Result<(), NotifyError> {
        let url = &delivery.recipient;
        let secret = self
            .secrets
            .get(url)
            .ok_or_else(|| NotifyError::UnknownWebhook(url.clone()))?;
        let timestamp = now_secs.to_string();
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Vigia-Timestamp", &timestamp)
            .header(
                "X-Vigia-Signature",
                signature(secret, &timestamp, &delivery.body),
            )
            // The same delivery may arrive twice (at-least-once): receivers dedupe on it.
            .header("X-Vigia-Delivery", &delivery.id)
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(NotifyError::Http)?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(NotifyError::HttpStatus(status))
        }
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The JSON a webhook receives, rendered when the change commits so it tells the
/// ticket as it was then.
pub fn payload(notice: &Notice, now_ms: i64) -> String {
    serde_json::json!({
        "topic": notice.topic,
        "ticket": notice.ticket,
        "recipient": notice.recipient.login,
        "sent_at": from_millis(now_ms).to_string(),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Lang;
    use crate::notify::{Recipient, TicketFacts, Topic};

    #[test]
    fn the_signature_matches_an_independent_computation() {
        // printf '%s' '1715000000.{"topic":"resolved"}' \
        //   | openssl dgst -sha256 -hmac 'mh-secreto'
        assert_eq!(
            signature("mh-secreto", "1715000000", r#"{"topic":"resolved"}"#),
            "sha256=e8c986de9488941a79ac7e6a21aa6bee871723eb34ad23e510e2f99e02507d1b"
        );
    }

    #[test]
    fn the_payload_carries_topic_ticket_recipient_and_time() {
        let notice = Notice {
            topic: Topic::InfoRequested,
            recipient: Recipient {
                login: "mlopez".to_owned(),
                name: "María López".to_owned(),
                email: "mlopez@mh.gob.sv".to_owned(),
                language: Lang::Es,
            },
            ticket: TicketFacts {
                id: "req_01".to_owned(),
                kind: "service_request".to_owned(),
                summary: "Acceso al SAFI".to_owned(),
                unit: Some("DINAFI".to_owned()),
                state: "awaiting_user".to_owned(),
                priority: Some("P3".to_owned()),
                actor: "jperez".to_owned(),
                comment: Some("¿Desde qué equipo?".to_owned()),
                solution: None,
                resolution_code: None,
                resume_at: None,
                sla_metric: None,
                due_at: None,
            },
        };
        let body: serde_json::Value =
            serde_json::from_str(&payload(&notice, 1_715_000_000_000)).expect("JSON");
        assert_eq!(body["topic"], "info_requested");
        assert_eq!(body["recipient"], "mlopez");
        assert_eq!(body["sent_at"], "2024-05-06T12:53:20Z");
        assert_eq!(body["ticket"]["id"], "req_01");
        assert_eq!(body["ticket"]["comment"], "¿Desde qué equipo?");
        assert_eq!(body["ticket"]["unit"], "DINAFI");
        assert!(body.get("secret").is_none());
    }
}
