//! `[kafka]`: the topics to consume, each read by a source's rules, where messages no
//! rule can read go, and librdkafka's own settings, passed through verbatim.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// librdkafka settings Vigía sets itself: offsets are stored only after the alert is
/// committed, and auto-commit writes only those (at-least-once).
const OWNED_SETTINGS: [&str; 3] = ["group.id", "enable.auto.commit", "enable.auto.offset.store"];

/// Consumer properties librdkafka warns about when a producer is given them.
const CONSUMER_ONLY: [&str; 9] = [
    "auto.offset.reset",
    "auto.commit.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "group.instance.id",
    "isolation.level",
    "fetch.wait.max.ms",
];

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// The consumer group Vigía's replicas share.
    pub group_id: String,
    /// Where messages that cannot become alerts go, with headers saying why.
    pub dead_letter_topic: String,
    /// Larger messages go to the dead-letter topic unread.
    pub max_message_bytes: usize,
    /// Each topic and the source (rule file) that reads its messages. None: no consumer.
    pub topics: Vec<TopicConfig>,
    /// librdkafka properties for the consumer and the dead-letter producer
    /// (`bootstrap.servers`, `security.protocol`, `sasl.*`, `ssl.*`, …).
    pub settings: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    pub topic: String,
    /// The rule file `rules/{source}.yaml` that reads this topic's messages.
    pub source: String,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            group_id: "vigia".to_owned(),
            dead_letter_topic: "vigia.dead-letter".to_owned(),
            max_message_bytes: 1024 * 1024,
            topics: Vec::new(),
            settings: BTreeMap::new(),
        }
    }
}

/// Passwords and keys in settings are never printed.
impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings: BTreeMap<&str, &str> = self
            .settings
            .iter()
            .map(|(k, v)| {
                let secret = ["password", "secret", "key", "token"]
                    .iter()
                    .any(|s| k.contains(s));
                (k.as_str(), if secret { "***" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("group_id", &self.group_id)
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("topics", &self.topics)
            .field("settings", &settings)
            .finish()
    }
}

/// A configuration problem: the key at fault and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: String,
    pub reason: String,
}

impl KafkaConfig {
    /// Whether a consumer runs at all.
    pub fn enabled(&self) -> bool {
        !self.topics.is_empty()
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |key: &str, reason: &str| {
            Err(Invalid {
                key: key.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.group_id.trim().is_empty() {
            return invalid("kafka.group_id", "must not be empty");
        }
        if self.dead_letter_topic.trim().is_empty() {
            return invalid("kafka.dead_letter_topic", "must not be empty");
        }
        if self.max_message_bytes == 0 {
            return invalid("kafka.max_message_bytes", "must be at least 1");
        }
        if let Some(owned) = OWNED_SETTINGS
            .iter()
            .find(|k| self.settings.contains_key(**k))
        {
            return invalid(
                &format!("kafka.settings.\"{owned}\""),
                "is set by Vigía (use `kafka.group_id` for the group); remove it",
            );
        }
        if self.enabled() && !self.settings.contains_key("bootstrap.servers") {
            return invalid(
                "kafka.settings.\"bootstrap.servers\"",
                "must name the brokers when `kafka.topics` lists topics",
            );
        }
        let mut seen = HashSet::new();
        for (i, t) in self.topics.iter().enumerate() {
            if t.topic.trim().is_empty() {
                return invalid(&format!("kafka.topics[{i}].topic"), "must not be empty");
            }
            if !crate::rules::valid_source_name(&t.source) {
                return invalid(
                    &format!("kafka.topics[{i}].source"),
                    "must name a rule file (letters, digits, `-`, `_`)",
                );
            }
            if !seen.insert(t.topic.as_str()) {
                return invalid(
                    &format!("kafka.topics[{i}].topic"),
                    &format!("lists `{}` twice", t.topic),
                );
            }
            if t.topic == self.dead_letter_topic {
                return invalid(
                    &format!("kafka.topics[{i}].topic"),
                    "is the dead-letter topic; consuming it would loop",
                );
            }
        }
        Ok(())
    }

    /// The source reading `topic`, if configured.
    pub fn source_of(&self, topic: &str) -> Option<&str> {
        self.topics
            .iter()
            .find(|t| t.topic == topic)
            .map(|t| t.source.as_str())
    }

    /// The user's settings plus the consumer's own: offsets stored by Vigía after each
    /// commit, then committed in the background (`auto.commit.interval.ms`) and on stop.
    pub(crate) fn consumer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false");
        if !self.settings.contains_key("auto.offset.reset") {
            // A new group starts at the oldest message kept: alerts sent before Vigía
            // first joined are still alerts.
            config.set("auto.offset.reset", "earliest");
        }
        config
    }

    pub(crate) fn producer_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        // Properties meant for the consumer only would be warned about on every start.
        for key in CONSUMER_ONLY {
            config.remove(key);
        }
        config
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in &self.settings {
            config.set(key, value);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_topic() -> KafkaConfig {
        let mut config = KafkaConfig::default();
        config.topics.push(TopicConfig {
            topic: "alerts".into(),
            source: "uptime".into(),
        });
        config
            .settings
            .insert("bootstrap.servers".into(), "kafka:9092".into());
        config
    }

    #[test]
    fn no_topics_means_no_consumer_and_no_brokers_needed() {
        let config = KafkaConfig::default();
        assert!(!config.enabled());
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn settings_vigia_owns_are_refused_by_name() {
        let mut config = with_topic();
        config
            .settings
            .insert("enable.auto.commit".into(), "false".into());
        let err = config.validate().expect_err("refused");
        assert_eq!(err.key, "kafka.settings.\"enable.auto.commit\"");
    }

    #[test]
    fn topics_need_brokers_a_source_name_and_no_loop_through_the_dead_letters() {
        let mut config = with_topic();
        config.settings.clear();
        assert_eq!(
            config.validate().expect_err("refused").key,
            "kafka.settings.\"bootstrap.servers\""
        );
        let mut config = with_topic();
        config.topics[0].source = "../etc".into();
        assert_eq!(
            config.validate().expect_err("refused").key,
            "kafka.topics[0].source"
        );
        let mut config = with_topic();
        config.topics[0].topic = config.dead_letter_topic.clone();
        assert_eq!(
            config.validate().expect_err("refused").key,
            "kafka.topics[0].topic"
        );
    }

    #[test]
    fn the_consumer_stores_offsets_itself_and_the_producer_gets_no_consumer_settings() {
        let mut config = with_topic();
        config
            .settings
            .insert("auto.commit.interval.ms".into(), "100".into());
        let consumer = config.consumer_config();
        assert_eq!(consumer.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(consumer.get("group.id"), Some("vigia"));
        assert_eq!(consumer.get("auto.commit.interval.ms"), Some("100"));
        let producer = config.producer_config();
        assert_eq!(producer.get("bootstrap.servers"), Some("kafka:9092"));
        assert_eq!(producer.get("auto.commit.interval.ms"), None);
        assert_eq!(producer.get("group.id"), None);
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let mut config = with_topic();
        config
            .settings
            .insert("sasl.password".into(), "hunter2".into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("kafka:9092"), "{shown}");
    }
}
