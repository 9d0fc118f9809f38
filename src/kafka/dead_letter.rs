//! The dead-letter topic: a message that cannot become alerts is produced there as it
//! came (key, payload and headers), with headers saying why and where it came from.
//! Its offset is committed only once the broker acknowledged the copy.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaConfig;

/// Why a message went to the dead-letter topic: the `vigia-error` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not JSON.
    Malformed,
    /// No rule of the source's file matches it.
    NoRule,
    /// The matching rule could read none of its alerts (a field of the wrong type, …).
    Unreadable,
    /// Over `kafka.max_message_bytes`; not read.
    TooLarge,
    /// The topic's source has no rule file any more (removed by a reload).
    UnknownSource,
}

impl Reason {
    pub const ALL: [Reason; 5] = [
        Reason::Malformed,
        Reason::NoRule,
        Reason::Unreadable,
        Reason::TooLarge,
        Reason::UnknownSource,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::NoRule => "no_rule",
            Reason::Unreadable => "unreadable",
            Reason::TooLarge => "too_large",
            Reason::UnknownSource => "unknown_source",
        }
    }
}

/// What went wrong with one message.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: Reason,
    /// For people: the parser's or the rules' own words.
    pub detail: String,
    /// The source whose rules were to read it.
    pub source: String,
}

/// Longest `vigia-error-detail` header, in bytes: rule files can give long reasons.
const MAX_DETAIL_BYTES: usize = 2048;

/// How long a copy may wait for room in the producer's queue.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaError> {
        Ok(DeadLetters {
            producer: config.producer_config().create()?,
            topic: config.dead_letter_topic.clone(),
        })
    }

    /// Produces the copy and waits for the broker's acknowledgement. A copy too large
    /// for the producer is sent without its payload (`vigia-payload-omitted` says how
    /// large it was): the original stays in its topic.
    pub async fn send(&self, message: &OwnedMessage, failure: &Failure) -> Result<(), KafkaError> {
        let headers = headers(message, failure, &jiff::Timestamp::now().to_string());
        let payload = message.payload().unwrap_or_default();
        let record = |payload, headers| FutureRecord::<[u8], [u8]> {
            topic: &self.topic,
            partition: None,
            payload: Some(payload),
            key: message.key(),
            timestamp: None,
            headers: Some(headers),
        };
        let sent = self
            .producer
            .send(record(payload, headers.clone()), QUEUE_TIMEOUT)
            .await;
        let sent = match sent {
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {
                let size = payload.len().to_string();
                let headers = headers.insert(Header {
                    key: "vigia-payload-omitted",
                    value: Some(size.as_str()),
                });
                self.producer
                    .send(record(&[], headers), QUEUE_TIMEOUT)
                    .await
            }
            sent => sent,
        };
        sent.map(|_| ()).map_err(|(e, _)| e)
    }
}

/// The message's own headers, then Vigía's.
pub fn headers(message: &OwnedMessage, failure: &Failure, failed_at: &str) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(own) = message.headers() {
        for header in own.iter() {
            headers = headers.insert(header);
        }
    }
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    let detail = truncate(&failure.detail, MAX_DETAIL_BYTES);
    let ours: [(&str, &str); 7] = [
        ("vigia-error", failure.reason.as_str()),
        ("vigia-error-detail", detail),
        ("vigia-source-topic", message.topic()),
        ("vigia-source-partition", &partition),
        ("vigia-source-offset", &offset),
        ("vigia-source", &failure.source),
        ("vigia-failed-at", failed_at),
    ];
    for (key, value) in ours {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    headers
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;

    fn header_map(headers: &OwnedHeaders) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|h| {
                let value = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                (h.key.to_owned(), value.unwrap_or_default())
            })
            .collect()
    }

    #[test]
    fn the_copy_keeps_the_message_headers_and_says_why_and_where_from() {
        let own = OwnedHeaders::new().insert(Header {
            key: "trace",
            value: Some("abc"),
        });
        let message = OwnedMessage::new(
            Some(b"{".to_vec()),
            Some(b"k".to_vec()),
            "alerts".into(),
            Timestamp::NotAvailable,
            2,
            41,
            Some(own),
        );
        let failure = Failure {
            reason: Reason::Malformed,
            detail: "EOF while parsing an object at line 1 column 1".into(),
            source: "uptime".into(),
        };
        let headers = headers(&message, &failure, "2026-01-01T00:00:00Z");
        let expected: Vec<(String, String)> = [
            ("trace", "abc"),
            ("vigia-error", "malformed"),
            (
                "vigia-error-detail",
                "EOF while parsing an object at line 1 column 1",
            ),
            ("vigia-source-topic", "alerts"),
            ("vigia-source-partition", "2"),
            ("vigia-source-offset", "41"),
            ("vigia-source", "uptime"),
            ("vigia-failed-at", "2026-01-01T00:00:00Z"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(header_map(&headers), expected);
    }

    #[test]
    fn long_details_are_cut_at_a_character_boundary() {
        let text = "ñ".repeat(MAX_DETAIL_BYTES);
        let cut = truncate(&text, MAX_DETAIL_BYTES + 1);
        assert_eq!(cut.len(), MAX_DETAIL_BYTES);
        assert_eq!(truncate("short", 10), "short");
    }
}
