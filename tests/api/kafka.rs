//! Kafka intake against librdkafka's mock cluster, started inside each test: messages
//! become events (read back through the HTTP API), bad ones go to the dead-letter topic
//! with headers saying why, a redelivery after a lost offset commit changes nothing,
//! and a database that cannot take alerts pauses consumption without loss.

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use vigia::config::Config;
use vigia::kafka::TopicConfig;

use crate::helpers::{fixture, spawn_app_with, Backend, TestApp};
use crate::on_both_stores;

const TOPIC: &str = "monitoring.uptime";
const DEAD_LETTERS: &str = "vigia.dead-letter";

/// A one-broker mock cluster with the alert topic and the dead-letter topic.
struct Kafka {
    cluster: &'static MockCluster<'static, DefaultProducerContext>,
    producer: FutureProducer,
}

impl Kafka {
    fn start() -> Self {
        // It outlives the test: the app's consumer closes (and needs its broker) after
        // the test body returns, also when an assertion failed.
        let cluster = Box::leak(Box::new(MockCluster::new(1).expect("mock cluster")));
        cluster.create_topic(TOPIC, 1, 1).expect("topic");
        cluster.create_topic(DEAD_LETTERS, 1, 1).expect("topic");
        let producer = client(&cluster.bootstrap_servers())
            .create()
            .expect("producer");
        Kafka { cluster, producer }
    }

    /// Vigía's configuration: the topic read by the `uptime` rules, offsets committed
    /// every 100 ms so tests see them soon, and a short session so a consumer that
    /// follows another into the group is not kept waiting (the mock coordinator waits
    /// most of a session for the members of the last generation).
    fn configure(&self, config: &mut Config) {
        config.kafka.topics = vec![TopicConfig {
            topic: TOPIC.into(),
            source: "uptime".into(),
        }];
        let settings = &mut config.kafka.settings;
        settings.insert("bootstrap.servers".into(), self.cluster.bootstrap_servers());
        settings.insert("auto.commit.interval.ms".into(), "100".into());
        settings.insert("session.timeout.ms".into(), "6000".into());
        settings.insert("heartbeat.interval.ms".into(), "500".into());
    }

    /// Produces a message and waits for the broker; its offset.
    async fn produce(
        &self,
        key: Option<&str>,
        payload: &[u8],
        headers: Option<OwnedHeaders>,
    ) -> i64 {
        let record = FutureRecord::<str, [u8]> {
            topic: TOPIC,
            partition: None,
            payload: Some(payload),
            key,
            timestamp: None,
            headers,
        };
        let delivery = self
            .producer
            .send(record, Duration::from_secs(5))
            .await
            .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
        delivery.offset
    }

    /// The first `n` messages of the dead-letter topic (10 s at most for each).
    async fn dead_letters(&self, n: usize) -> Vec<OwnedMessage> {
        let reader: StreamConsumer = client(&self.cluster.bootstrap_servers())
            .set("group.id", "test-reader")
            .create()
            .expect("reader");
        let mut partitions = TopicPartitionList::new();
        partitions
            .add_partition_offset(DEAD_LETTERS, 0, Offset::Beginning)
            .expect("partition");
        reader.assign(&partitions).expect("assign");
        let mut read = Vec::new();
        while read.len() < n {
            let message = tokio::time::timeout(Duration::from_secs(10), reader.recv())
                .await
                .unwrap_or_else(|_| panic!("only {} dead letters arrived", read.len()))
                .expect("dead letter");
            read.push(message.detach());
        }
        read
    }

    /// The offset Vigía's group committed on the alert topic (`None`: nothing yet).
    fn committed(&self) -> Option<i64> {
        let reader: StreamConsumer = client(&self.cluster.bootstrap_servers())
            .set("group.id", "vigia")
            .create()
            .expect("reader");
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition(TOPIC, 0);
        let committed = reader
            .committed_offsets(partitions, Duration::from_secs(5))
            .expect("committed offsets");
        match committed.find_partition(TOPIC, 0).map(|p| p.offset()) {
            Some(Offset::Offset(n)) => Some(n),
            _ => None,
        }
    }

    /// Waits (10 s at most) until the group committed `offset`.
    async fn wait_committed(&self, offset: i64) {
        for _ in 0..100 {
            if self.committed() == Some(offset) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the group never committed {offset}: {:?}", self.committed());
    }
}

fn client(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

/// An uptime probe result for check `id`: `DOWN` opens its alert, `UP` resolves it.
fn probe(id: u32, state: &str) -> String {
    fixture("uptime/uptime-probe.json")
        .replace("\"id\": 7714", &format!("\"id\": {id}"))
        .replace("\"state\": \"DOWN\"", &format!("\"state\": \"{state}\""))
}

/// The events of a check, read through the API.
async fn events_of(app: &TestApp, id: u32) -> Vec<Value> {
    let check_id = id.to_string();
    app.events("?source=uptime&limit=500")
        .await
        .into_iter()
        .filter(|e| e["labels"]["check_id"] == check_id.as_str())
        .collect()
}

/// Waits (10 s at most) until a series reaches `value`.
async fn metric_reaches(app: &TestApp, series: &str, value: f64) {
    for _ in 0..100 {
        if app.metric(series).await == Some(value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{series} never reached {value}: {:?}",
        app.metric(series).await
    );
}

async fn spawn_with_kafka(backend: Backend, kafka: &Kafka) -> TestApp {
    spawn_app_with(backend, |config| kafka.configure(config)).await
}

const STORED: &str = r#"vigia_kafka_messages_total{outcome="stored",topic="monitoring.uptime"}"#;

on_both_stores!(
    messages_on_a_topic_become_events_and_their_offsets_are_committed,
    bad_messages_go_to_the_dead_letter_topic_with_headers_saying_why_and_consumption_goes_on,
    a_message_delivered_again_after_its_offset_commit_was_lost_changes_nothing,
    while_the_intake_cannot_store_consumption_pauses_and_resumes_without_loss,
);

async fn messages_on_a_topic_become_events_and_their_offsets_are_committed(backend: Backend) {
    let kafka = Kafka::start();
    let app = spawn_with_kafka(backend, &kafka).await;
    kafka
        .produce(Some("7001"), probe(7001, "DOWN").as_bytes(), None)
        .await;
    kafka
        .produce(Some("7002"), probe(7002, "DOWN").as_bytes(), None)
        .await;
    kafka
        .produce(Some("7001"), probe(7001, "UP").as_bytes(), None)
        .await;
    metric_reaches(&app, STORED, 3.0).await;

    let first = events_of(&app, 7001).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["status"], "resolved", "the recovery resolved it");
    assert!(
        first[0]["incident_id"].is_string(),
        "a critical probe opens an incident"
    );
    let second = events_of(&app, 7002).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0]["status"], "open");
    assert_eq!(second[0]["severity"], "critical");
    kafka.wait_committed(3).await;
    assert_eq!(app.count("raw_alerts").await, 3);
}

/// The headers of a dead letter, as text.
fn header_pairs(message: &OwnedMessage) -> Vec<(String, String)> {
    let Some(headers) = message.headers() else {
        return Vec::new();
    };
    headers
        .iter()
        .map(|h| {
            let value = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
            (h.key.to_owned(), value.unwrap_or_default())
        })
        .collect()
}

/// Checks a dead letter: the original key and bytes, then exactly these headers, with
/// a failure time that is an RFC 3339 timestamp.
fn assert_dead_letter(
    letter: &OwnedMessage,
    key: Option<&str>,
    payload: &[u8],
    leading: &[(&str, &str)],
    reason: &str,
    detail: &str,
    offset: i64,
) {
    assert_eq!(letter.key(), key.map(str::as_bytes));
    assert_eq!(letter.payload(), Some(payload), "the original bytes");
    let mut headers = header_pairs(letter);
    let (name, failed_at) = headers.pop().expect("headers");
    assert_eq!(name, "vigia-failed-at");
    assert!(
        failed_at.parse::<jiff::Timestamp>().is_ok(),
        "failed at {failed_at}"
    );
    let offset = offset.to_string();
    let mut expected: Vec<(&str, &str)> = leading.to_vec();
    expected.extend([
        ("vigia-error", reason),
        ("vigia-error-detail", detail),
        ("vigia-source-topic", TOPIC),
        ("vigia-source-partition", "0"),
        ("vigia-source-offset", offset.as_str()),
        ("vigia-source", "uptime"),
    ]);
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(headers, expected);
}

async fn bad_messages_go_to_the_dead_letter_topic_with_headers_saying_why_and_consumption_goes_on(
    backend: Backend,
) {
    let kafka = Kafka::start();
    let app = spawn_app_with(backend, |config| {
        kafka.configure(config);
        config.kafka.max_message_bytes = 2048;
    })
    .await;
    kafka
        .produce(None, probe(7101, "DOWN").as_bytes(), None)
        .await;
    metric_reaches(&app, STORED, 1.0).await;

    let whole = probe(7102, "DOWN");
    let truncated = &whole.as_bytes()[..40];
    let traced = OwnedHeaders::new().insert(Header {
        key: "traceparent",
        value: Some("00-abc-def-01"),
    });
    let truncated_at = kafka.produce(Some("7102"), truncated, Some(traced)).await;
    let wrong_type = probe(7103, "DOWN").replace("\"DOWN\"", "42");
    let wrong_type_at = kafka.produce(None, wrong_type.as_bytes(), None).await;
    let huge = format!(
        r#"{{"check": {{"id": 7104, "name": "{}"}}, "state": "DOWN"}}"#,
        "x".repeat(4096)
    );
    let huge_at = kafka.produce(Some("7104"), huge.as_bytes(), None).await;
    let foreign = br#"{"hello": "world"}"#;
    let foreign_at = kafka.produce(None, foreign, None).await;
    kafka
        .produce(None, probe(7105, "DOWN").as_bytes(), None)
        .await;
    metric_reaches(&app, STORED, 2.0).await;

    let letters = kafka.dead_letters(4).await;
    assert_dead_letter(
        &letters[0],
        Some("7102"),
        truncated,
        &[("traceparent", "00-abc-def-01")],
        "malformed",
        "malformed JSON: EOF while parsing a string at line 2 column 38",
        truncated_at,
    );
    assert_dead_letter(
        &letters[1],
        None,
        wrong_type.as_bytes(),
        &[],
        "unreadable",
        "rule `uptime-check` of source `uptime` could not read the payload: alert #0: status `42` is not mapped and the rule has no default",
        wrong_type_at,
    );
    assert_dead_letter(
        &letters[2],
        Some("7104"),
        huge.as_bytes(),
        &[],
        "too_large",
        &format!(
            "the message has {} bytes, more than kafka.max_message_bytes (2048)",
            huge.len()
        ),
        huge_at,
    );
    assert_dead_letter(
        &letters[3],
        None,
        foreign,
        &[],
        "no_rule",
        "no rule of source `uptime` matches: rule `uptime-check`: `$.check.id` is missing",
        foreign_at,
    );

    // Nothing accepted before or after the bad messages was lost.
    assert_eq!(events_of(&app, 7101).await.len(), 1);
    assert_eq!(events_of(&app, 7105).await.len(), 1);
    for id in [7102, 7103, 7104] {
        assert!(events_of(&app, id).await.is_empty(), "check {id} stored");
    }
    kafka.wait_committed(6).await;
    for (reason, count) in [
        ("malformed", 1.0),
        ("unreadable", 1.0),
        ("too_large", 1.0),
        ("no_rule", 1.0),
    ] {
        let series = format!(
            r#"vigia_kafka_dead_letters_total{{reason="{reason}",topic="monitoring.uptime"}}"#
        );
        assert_eq!(app.metric(&series).await, Some(count), "{series}");
    }
}

async fn a_message_delivered_again_after_its_offset_commit_was_lost_changes_nothing(
    backend: Backend,
) {
    let kafka = Kafka::start();
    // Every offset commit is refused, as if Vigía had died right after storing the alert.
    kafka.cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE; 500],
    );
    let mut first = spawn_with_kafka(backend, &kafka).await;
    kafka
        .produce(Some("7201"), probe(7201, "DOWN").as_bytes(), None)
        .await;
    metric_reaches(&first, STORED, 1.0).await;
    let before = events_of(&first, 7201).await;
    assert_eq!(before.len(), 1);
    let incidents_before = alert_side(first.incidents("?source=uptime").await);
    assert_eq!(incidents_before.len(), 1);
    first.stop().await.expect("stops");
    assert_eq!(kafka.committed(), None, "the offset commit was lost");

    kafka
        .cluster
        .clear_request_errors(RDKafkaApiKey::OffsetCommit);
    let database = first.database_url.clone();
    let second = spawn_app_with(backend, |config| {
        kafka.configure(config);
        config.database.url = database;
    })
    .await;
    metric_reaches(
        &second,
        r#"vigia_kafka_messages_total{outcome="redelivered",topic="monitoring.uptime"}"#,
        1.0,
    )
    .await;
    kafka.wait_committed(1).await;

    let after = events_of(&second, 7201).await;
    assert_eq!(
        after, before,
        "the event is exactly as it was: no repeat counted"
    );
    assert_eq!(after[0]["count"], 1);
    // (The desk assigns the new incident meanwhile: its procedure fields move on.)
    let incidents_after = alert_side(second.incidents("?source=uptime").await);
    assert_eq!(
        incidents_after, incidents_before,
        "no second incident, no repeat"
    );
    assert_eq!(
        second.count("raw_alerts").await,
        1,
        "the payload is stored once"
    );
    assert_eq!(
        second.metric(STORED).await,
        None,
        "the copy was not stored again"
    );
}

/// What alerts change on incidents: which, how many alerts and events, when last seen.
fn alert_side(incidents: Vec<Value>) -> Vec<Value> {
    incidents
        .iter()
        .map(|i| {
            serde_json::json!([
                i["id"],
                i["alert_count"],
                i["event_count"],
                i["last_seen"],
                i["opened_at"],
                i["priority"],
                i["alerts_cleared"]
            ])
        })
        .collect()
}

async fn while_the_intake_cannot_store_consumption_pauses_and_resumes_without_loss(
    backend: Backend,
) {
    let kafka = Kafka::start();
    let app = spawn_with_kafka(backend, &kafka).await;
    kafka
        .produce(None, probe(7301, "DOWN").as_bytes(), None)
        .await;
    kafka.wait_committed(1).await;

    // The database refuses every payload: its table is gone.
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    sqlx::query(&rename("raw_alerts", "raw_alerts_away"))
        .execute(app.pool())
        .await
        .expect("table moved away");
    kafka
        .produce(None, probe(7302, "DOWN").as_bytes(), None)
        .await;
    kafka
        .produce(None, probe(7303, "DOWN").as_bytes(), None)
        .await;
    let retried = r#"vigia_kafka_retries_total{cause="store",topic="monitoring.uptime"}"#;
    for _ in 0..100 {
        if app.metric(retried).await >= Some(3.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        app.metric(retried).await >= Some(3.0),
        "the message was retried"
    );
    assert_eq!(app.metric("vigia_kafka_paused").await, Some(1.0));
    assert_eq!(
        kafka.committed(),
        Some(1),
        "nothing committed past the stored alert"
    );
    assert_eq!(app.metric(STORED).await, Some(1.0));

    sqlx::query(&rename("raw_alerts_away", "raw_alerts"))
        .execute(app.pool())
        .await
        .expect("table back");
    metric_reaches(&app, STORED, 3.0).await;
    kafka.wait_committed(3).await;
    assert_eq!(app.metric("vigia_kafka_paused").await, Some(0.0));
    for id in [7301, 7302, 7303] {
        assert_eq!(events_of(&app, id).await.len(), 1, "check {id}");
    }
    assert_eq!(app.count("raw_alerts").await, 3, "each message stored once");
}

#[tokio::test]
async fn a_topic_whose_source_has_no_rule_file_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.rules.dir = crate::helpers::repo_path("rules");
    config.database.url = format!("sqlite://{}", dir.path().join("v.db").display());
    config.kafka.topics = vec![TopicConfig {
        topic: TOPIC.into(),
        source: "nagios".into(),
    }];
    config
        .kafka
        .settings
        .insert("bootstrap.servers".into(), "127.0.0.1:9".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let err = match vigia::app::App::build(&config, listener).await {
        Ok(_) => panic!("a topic without rules was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("`kafka.topics[0].source` names `nagios`"),
        "{err}"
    );
}
