//! PagerDuty Events API v2: the fixtures captured from real senders go in at
//! `/v2/enqueue` (and `/api/v1/ingest/pagerduty`) and come back out of the events and
//! incidents API.

use reqwest::Response;
use serde_json::{json, Value};
use vigia::config::Config;
use vigia::ingest::pagerduty::Integration;

use crate::helpers::{fixture, spawn_app_with, Backend, TestApp};
use crate::on_both_stores;

on_both_stores!(
    a_trigger_opens_an_incident_on_its_ci_the_ack_marks_it_and_the_resolve_ends_it,
    a_trigger_after_a_resolve_opens_a_new_occurrence,
    a_trigger_without_a_dedup_key_gets_one_that_resolves_it,
    acknowledge_and_resolve_for_an_unknown_key_are_accepted_and_change_nothing,
    an_alert_no_ci_owns_goes_to_its_integrations_unit,
    invalid_events_get_pagerduty_400s_and_lose_nothing_already_accepted,
    over_the_rate_limit_the_answer_is_a_429_in_pagerduty_shape,
);

const KEY: &str = "R015ZQ3AWDD0JQJSQ4QLGE3EHVUZCBZW";
const DEDUP: &str = "sidunea-db-replication-lag";

fn integrate(config: &mut Config) {
    config.intake.pagerduty.integrations.push(Integration {
        name: "zabbix-dga".into(),
        routing_key: KEY.into(),
        source: "pagerduty".into(),
        unit: Some("DGA".into()),
    });
}

async fn app_with_registry(backend: Backend) -> TestApp {
    let app = spawn_app_with(backend, integrate).await;
    app.import_ministry().await;
    app
}

/// Sends an event the way PagerDuty senders do: no token, only the routing key.
async fn enqueue(app: &TestApp, path: &str, body: &str) -> Response {
    app.client
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("sent")
}

/// Expects PagerDuty's 202 and returns the dedup key it gave.
async fn accepted(resp: Response) -> String {
    assert_eq!(resp.status().as_u16(), 202);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["message"], "Event processed");
    assert_eq!(body.as_object().map(|o| o.len()), Some(3), "{body}");
    body["dedup_key"].as_str().expect("dedup_key").to_owned()
}

async fn refused(resp: Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(
        resp.headers()["content-type"].to_str().expect("header"),
        "application/json"
    );
    resp.json().await.expect("JSON")
}

async fn pd_events(app: &TestApp) -> Vec<Value> {
    app.events("?source=pagerduty").await
}

async fn a_trigger_opens_an_incident_on_its_ci_the_ack_marks_it_and_the_resolve_ends_it(
    backend: Backend,
) {
    let app = app_with_registry(backend).await;
    let key =
        accepted(enqueue(&app, "/v2/enqueue", &fixture("pagerduty/trigger.json")).await).await;
    assert_eq!(key, DEDUP);

    let events = pd_events(&app).await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["fingerprint"], format!("zabbix-dga/{DEDUP}"));
    assert_eq!(event["status"], "open");
    assert_eq!(event["severity"], "major", "`error` is Vigía's major");
    assert_eq!(
        event["summary"],
        "Retraso de replicación de 412 s en db-sidunea"
    );
    assert_eq!(event["ci"], "db-sidunea");
    assert_eq!(event["unit"], "DGA");
    assert_eq!(event["labels"]["component"], "postgresql");
    assert_eq!(event["labels"]["lag_seconds"], "412");
    assert_eq!(event["labels"]["client"], "Zabbix");
    assert_eq!(event["annotations"]["timestamp"], "2026-11-29T14:03:11Z");
    assert_eq!(
        event["annotations"]["link"],
        "https://wiki.example/runbooks/replication"
    );
    let incident_id = event["incident_id"].as_str().expect("an incident");
    let incident = app.get(&format!("/api/v1/incidents/{incident_id}")).await;
    assert_eq!(incident["unit"], "DGA");
    assert_eq!(incident["ci"], "db-sidunea");
    // The payload is stored for audit.
    let (sender, payload): (String, String) =
        sqlx::query_as("SELECT received_by, payload FROM raw_alerts")
            .fetch_one(app.pool())
            .await
            .expect("raw payload");
    assert_eq!(sender, "pagerduty:zabbix-dga");
    assert_eq!(
        payload,
        fixture("pagerduty/trigger.json").replace(KEY, "[routing key of zabbix-dga]"),
        "stored as sent, but for the credential"
    );

    accepted(enqueue(&app, "/v2/enqueue", &fixture("pagerduty/acknowledge.json")).await).await;
    let acked = &pd_events(&app).await[0];
    assert_eq!(acked["acked_by"], "pagerduty:zabbix-dga");
    assert!(acked["acked_at"].is_string());
    assert_eq!(
        acked["status"], "open",
        "an acknowledgement resolves nothing"
    );

    accepted(enqueue(&app, "/v2/enqueue", &fixture("pagerduty/resolve.json")).await).await;
    let resolved = &pd_events(&app).await[0];
    assert_eq!(resolved["status"], "resolved");
    let incident = app.get(&format!("/api/v1/incidents/{incident_id}")).await;
    assert_eq!(incident["alerts_cleared"], true);
}

async fn a_trigger_after_a_resolve_opens_a_new_occurrence(backend: Backend) {
    let app = app_with_registry(backend).await;
    let trigger = fixture("pagerduty/trigger.json");
    accepted(enqueue(&app, "/v2/enqueue", &trigger).await).await;
    // A repeat while open is the same alert.
    accepted(enqueue(&app, "/v2/enqueue", &trigger).await).await;
    let events = pd_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["count"], 2);
    let first = events[0]["id"].clone();

    accepted(enqueue(&app, "/v2/enqueue", &fixture("pagerduty/resolve.json")).await).await;
    // The same trigger again, same timestamp and all: PagerDuty opens a new alert.
    accepted(enqueue(&app, "/v2/enqueue", &trigger).await).await;
    let events = pd_events(&app).await;
    assert_eq!(events.len(), 2);
    let newest = &events[0];
    assert_eq!(newest["status"], "open");
    assert_eq!(newest["previous_event_id"], first);
    // The incident is the desk's until it resolves it: the new occurrence joins it.
    let incident = app
        .get(&format!(
            "/api/v1/incidents/{}",
            newest["incident_id"].as_str().expect("incident")
        ))
        .await;
    assert_eq!(incident["event_count"], 2);
    assert_eq!(incident["alerts_cleared"], false);
}

async fn a_trigger_without_a_dedup_key_gets_one_that_resolves_it(backend: Backend) {
    let app = app_with_registry(backend).await;
    let body = fixture("pagerduty/trigger-no-dedup-key.json");
    let key = accepted(enqueue(&app, "/api/v1/ingest/pagerduty", &body).await).await;
    let again = accepted(enqueue(&app, "/api/v1/ingest/pagerduty", &body).await).await;
    assert_ne!(key, again, "each keyless trigger is a new alert");
    let events = pd_events(&app).await;
    assert_eq!(events.len(), 2);
    let event = events
        .iter()
        .find(|e| e["fingerprint"] == format!("zabbix-dga/{key}"))
        .expect("the event of the returned key");
    assert_eq!(event["ci"], "svc-declaraciones");
    assert_eq!(event["unit"], "DGII", "a bound CI's unit wins");
    assert_eq!(event["severity"], "warning");

    let resolve = json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": key});
    accepted(enqueue(&app, "/v2/enqueue", &resolve.to_string()).await).await;
    let events = pd_events(&app).await;
    let statuses: Vec<_> = events
        .iter()
        .map(|e| (e["fingerprint"].clone(), e["status"].clone()))
        .collect();
    assert!(statuses.contains(&(json!(format!("zabbix-dga/{key}")), json!("resolved"))));
    assert!(statuses.contains(&(json!(format!("zabbix-dga/{again}")), json!("open"))));
}

async fn acknowledge_and_resolve_for_an_unknown_key_are_accepted_and_change_nothing(
    backend: Backend,
) {
    let app = app_with_registry(backend).await;
    accepted(enqueue(&app, "/v2/enqueue", &fixture("pagerduty/trigger.json")).await).await;
    let before = pd_events(&app).await;
    for action in ["acknowledge", "resolve"] {
        let body =
            json!({"routing_key": KEY, "event_action": action, "dedup_key": "no-such-alert"});
        let key = accepted(enqueue(&app, "/v2/enqueue", &body.to_string()).await).await;
        assert_eq!(key, "no-such-alert");
    }
    let after = pd_events(&app).await;
    assert_eq!(after, before);
    assert_eq!(app.incidents("").await.len(), 1);
}

async fn an_alert_no_ci_owns_goes_to_its_integrations_unit(backend: Backend) {
    let app = app_with_registry(backend).await;
    let body = json!({
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": "frontera-lenta",
        "payload": {"summary": "Enlace lento en puesto fronterizo", "source": "router-puesto-7",
                    "severity": "critical"}
    });
    accepted(enqueue(&app, "/v2/enqueue", &body.to_string()).await).await;
    let event = &pd_events(&app).await[0];
    assert_eq!(event["unbound"], true);
    assert_eq!(event["unit"], "DGA");
    let incident = app
        .get(&format!(
            "/api/v1/incidents/{}",
            event["incident_id"].as_str().expect("incident")
        ))
        .await;
    assert_eq!(incident["unit"], "DGA", "not the central desk's DINAFI");
    assert_eq!(incident["triage"], true);
    assert_eq!(
        incident["priority"], "P2",
        "critical, on a CI of unknown (medium) impact"
    );
}

async fn invalid_events_get_pagerduty_400s_and_lose_nothing_already_accepted(backend: Backend) {
    let app = app_with_registry(backend).await;
    accepted(enqueue(&app, "/v2/enqueue", &fixture("pagerduty/trigger.json")).await).await;
    let before = pd_events(&app).await;

    let body = refused(
        enqueue(
            &app,
            "/v2/enqueue",
            &fixture("pagerduty/invalid-missing-summary.json"),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(
        body,
        json!({
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": [
                "'payload.summary' is missing or blank",
                "'payload.severity' is invalid (must be one of critical, error, warning, info)"
            ]
        })
    );

    let truncated = &fixture("pagerduty/trigger.json")[..80];
    let body = refused(enqueue(&app, "/v2/enqueue", truncated).await, 400).await;
    let error = body["errors"][0].as_str().expect("error");
    assert!(
        error.starts_with("Malformed JSON: EOF while parsing"),
        "{error}"
    );

    let wrong_types = json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": 7,
        "payload": {"summary": "s", "source": "h", "severity": 5}});
    let body = refused(
        enqueue(&app, "/v2/enqueue", &wrong_types.to_string()).await,
        400,
    )
    .await;
    assert_eq!(
        body["errors"],
        json!([
            "'dedup_key' must be a string",
            "'payload.severity' is invalid (must be one of critical, error, warning, info)"
        ])
    );

    let huge = json!({"routing_key": KEY, "event_action": "trigger",
        "payload": {"summary": "s", "source": "h", "severity": "info",
                    "custom_details": {"dump": "x".repeat(600 * 1024)}}})
    .to_string();
    let body = refused(enqueue(&app, "/v2/enqueue", &huge).await, 400).await;
    assert_eq!(
        body["errors"],
        json!([format!(
            "Event is {} bytes; events are limited to 512 KB",
            huge.len()
        )])
    );

    let stranger =
        fixture("pagerduty/trigger.json").replace(KEY, "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
    let body = refused(enqueue(&app, "/v2/enqueue", &stranger).await, 400).await;
    assert_eq!(body["errors"], json!(["Invalid routing key"]));
    assert_eq!(
        app.metric(
            r#"vigia_ingest_unauthorized_total{reason="unknown_routing_key",source="pagerduty"}"#
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        app.metric(r#"vigia_payloads_rejected_total{reason="invalid_event",source="pagerduty"}"#)
            .await,
        Some(4.0)
    );
    assert_eq!(pd_events(&app).await, before, "nothing accepted was lost");
    assert_eq!(
        app.count("raw_alerts").await,
        1,
        "nothing refused was stored"
    );
}

async fn over_the_rate_limit_the_answer_is_a_429_in_pagerduty_shape(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        integrate(c);
        c.intake.rate_limit.sources.insert("pagerduty".into(), 1);
    })
    .await;
    let trigger = fixture("pagerduty/trigger.json");
    accepted(enqueue(&app, "/v2/enqueue", &trigger).await).await;
    let resp = enqueue(&app, "/v2/enqueue", &trigger).await;
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after));
    let body = refused(resp, 429).await;
    assert_eq!(body["status"], "throttle event");
    assert_eq!(
        pd_events(&app).await[0]["count"],
        1,
        "the refused copy was not stored"
    );
    assert_eq!(
        app.metric(r#"vigia_ingest_limited_total{limit="source",source="pagerduty"}"#)
            .await,
        Some(1.0)
    );
}
