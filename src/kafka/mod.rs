//! Kafka intake: consumes the configured topics as one consumer group; each message is
//! a payload read by its topic's source rules, exactly like an HTTP ingest request.
//!
//! In: messages of `kafka.topics`. Out: alerts committed through the intake writer;
//! messages that cannot become alerts copied to `kafka.dead_letter_topic`.
//! At-least-once: a message's offset is stored (for librdkafka's auto-commit of stored
//! offsets, and a final commit on stop) only after its alerts are committed or its
//! dead-letter copy acknowledged. Each payload is stored with its delivery id
//! (`kafka:<topic>:<partition>:<offset>`), so a message delivered again after a crash
//! or a rebalance is recognised and changes nothing twice. While the intake cannot
//! store (queue full, database down), the assignment is paused and the same message is
//! retried with backoff until it is stored.

pub mod config;
pub mod consumer;
pub mod dead_letter;

pub use config::{KafkaConfig, TopicConfig};
pub use consumer::Consumer;
