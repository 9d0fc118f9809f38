//! The Alertmanager receiver with the real captured payloads.

use serde_json::Value;

use crate::helpers::{by_fingerprint, fixture, spawn_app, spawn_app_with, Backend, TestApp};
use crate::on_both_stores;

const HOST_DOWN: &str = "c6bb01695b119d16";
const DISK_FULL: &str = "a9a2e51bcbe19e32";
const LATENCY: &str = "00d321cee7ffb445";
const INSTANCE_DOWN: &str = "32bfaca93336fb79";

on_both_stores!(
    a_firing_group_opens_one_event_per_alert_and_incidents_for_severe_ones,
    a_group_resent_three_times_yields_one_event_with_count_three,
    the_resolve_payload_resolves_only_its_alert,
    a_resolved_alert_clears_its_incident_but_leaves_it_for_a_technician,
    a_duplicated_resolution_changes_nothing_twice,
    a_late_copy_of_a_firing_alert_after_its_resolution_is_stale,
    firing_again_after_resolution_opens_a_new_occurrence_in_the_same_incident,
    unknown_extra_fields_are_ignored,
    a_grafana_webhook_is_read_like_alertmanagers,
    a_group_larger_than_one_statement_is_stored_whole,
    two_replicas_sharing_a_database_keep_one_open_event,
    fifty_concurrent_posts_of_the_same_alert_yield_exactly_one_open_event,
    the_raw_payload_is_kept_byte_for_byte,
);

async fn a_firing_group_opens_one_event_per_alert_and_incidents_for_severe_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let answer = app
        .ingest("alertmanager", &fixture("alertmanager/group-firing.json"))
        .await;
    let outcomes: Vec<&str> = answer["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| a["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(outcomes, ["created", "created", "created"]);
    assert_eq!(answer["rule"], "alertmanager-v4");

    let events = app.events("").await;
    assert_eq!(events.len(), 3);
    let host = by_fingerprint(&events, HOST_DOWN);
    assert_eq!(host["status"], "open");
    assert_eq!(host["severity"], "critical");
    assert_eq!(host["summary"], "Servidor srv-safi-app01 no responde");
    assert_eq!(host["count"], 1);
    assert_eq!(host["labels"]["alertname"], "HostDown");
    assert_eq!(
        host["ci_candidates"],
        serde_json::json!(["srv-safi-app01", "10.1.2.11:9100", "10.1.2.11"])
    );
    assert_eq!(host["starts_at"], "2026-11-30T00:01:29.813Z");
    assert_eq!(host["source"], "alertmanager");
    assert!(host["incident_id"]
        .as_str()
        .expect("incident")
        .starts_with("inc_"));
    assert_eq!(by_fingerprint(&events, DISK_FULL)["severity"], "major");
    // A warning stays an event: the rule opens incidents at major and above.
    assert_eq!(by_fingerprint(&events, LATENCY)["incident_id"], Value::Null);

    let incidents = app.incidents("").await;
    assert_eq!(incidents.len(), 2);
    assert!(incidents
        .iter()
        .all(|i| i["status"] == "new" && i["alerts_cleared"] == false));
}

async fn a_group_resent_three_times_yields_one_event_with_count_three(backend: Backend) {
    let app = spawn_app(backend).await;
    let group = fixture("alertmanager/group-firing.json");
    for _ in 0..3 {
        app.ingest("alertmanager", &group).await;
    }
    let events = app.events("").await;
    assert_eq!(events.len(), 3, "no new events for repeats");
    for fp in [HOST_DOWN, DISK_FULL, LATENCY] {
        let event = by_fingerprint(&events, fp);
        assert_eq!(event["count"], 3, "{fp}");
        assert!(event["last_seen"].as_str() >= event["first_seen"].as_str());
    }
    let incidents = app.incidents("").await;
    assert_eq!(
        incidents.len(),
        2,
        "repeats update incidents, never open more"
    );
    assert!(incidents
        .iter()
        .all(|i| i["alert_count"] == 3 && i["event_count"] == 1));
}

async fn the_resolve_payload_resolves_only_its_alert(backend: Backend) {
    let app = spawn_app(backend).await;
    app.ingest("alertmanager", &fixture("alertmanager/group-firing.json"))
        .await;
    let answer = app
        .ingest(
            "alertmanager",
            &fixture("alertmanager/group-one-resolved.json"),
        )
        .await;
    assert_eq!(answer["alerts"][2]["outcome"], "resolved");

    let events = app.events("").await;
    let latency = by_fingerprint(&events, LATENCY);
    assert_eq!(latency["status"], "resolved");
    assert_eq!(latency["ends_at"], "2026-11-30T00:01:33.000Z");
    assert!(latency["resolved_at"].is_string());
    for fp in [HOST_DOWN, DISK_FULL] {
        let event = by_fingerprint(&events, fp);
        assert_eq!(event["status"], "open", "{fp} still firing");
        assert_eq!(event["count"], 2);
    }
}

async fn a_resolved_alert_clears_its_incident_but_leaves_it_for_a_technician(backend: Backend) {
    let app = spawn_app(backend).await;
    app.ingest(
        "alertmanager",
        &fixture("alertmanager/instance-down-firing.json"),
    )
    .await;
    let answer = app
        .ingest(
            "alertmanager",
            &fixture("alertmanager/instance-down-resolved.json"),
        )
        .await;
    assert_eq!(answer["alerts"][0]["incident_action"], "alerts_cleared");

    let event = by_fingerprint(&app.events("").await, INSTANCE_DOWN).clone();
    assert_eq!(event["status"], "resolved");
    let incident = app
        .get(&format!(
            "/api/v1/incidents/{}",
            event["incident_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(incident["alerts_cleared"], true);
    assert!(incident["alerts_cleared_at"].is_string());
    assert_eq!(
        incident["status"], "new",
        "the procedure wants a technician to document the solution"
    );
    assert_eq!(incident["resolved_at"], Value::Null);
}

async fn a_duplicated_resolution_changes_nothing_twice(backend: Backend) {
    let app = spawn_app(backend).await;
    app.ingest(
        "alertmanager",
        &fixture("alertmanager/instance-down-firing.json"),
    )
    .await;
    let resolved = fixture("alertmanager/instance-down-resolved.json");
    app.ingest("alertmanager", &resolved).await;
    let before = by_fingerprint(&app.events("").await, INSTANCE_DOWN).clone();
    let again = app.ingest("alertmanager", &resolved).await;
    assert_eq!(again["alerts"][0]["outcome"], "ignored");
    let events = app.events("").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0], before, "the second copy changed nothing");
}

async fn a_late_copy_of_a_firing_alert_after_its_resolution_is_stale(backend: Backend) {
    let app = spawn_app(backend).await;
    let firing = fixture("alertmanager/instance-down-firing.json");
    app.ingest("alertmanager", &firing).await;
    app.ingest(
        "alertmanager",
        &fixture("alertmanager/instance-down-resolved.json"),
    )
    .await;
    // Alertmanager retried the firing notification; it arrives after the resolution.
    let late = app.ingest("alertmanager", &firing).await;
    assert_eq!(late["alerts"][0]["outcome"], "stale");
    let events = app.events("").await;
    assert_eq!(events.len(), 1, "no new occurrence from a retry");
    assert_eq!(events[0]["status"], "resolved");
}

async fn firing_again_after_resolution_opens_a_new_occurrence_in_the_same_incident(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.ingest(
        "alertmanager",
        &fixture("alertmanager/instance-down-firing.json"),
    )
    .await;
    app.ingest(
        "alertmanager",
        &fixture("alertmanager/instance-down-resolved.json"),
    )
    .await;
    let refire = fixture("alertmanager/instance-down-firing.json")
        .replace("2026-11-30T00:00:03.922Z", "2026-11-30T00:10:00Z");
    let answer = app.ingest("alertmanager", &refire).await;
    assert_eq!(answer["alerts"][0]["outcome"], "created");

    let events = app.events("").await;
    assert_eq!(events.len(), 2);
    let (newest, first) = (&events[0], &events[1]);
    assert_eq!(newest["status"], "open");
    assert_eq!(newest["previous_event_id"], first["id"]);
    assert_eq!(
        newest["incident_id"], first["incident_id"],
        "the incident was not closed, so it takes the new occurrence"
    );
    let incident = app
        .get(&format!(
            "/api/v1/incidents/{}",
            newest["incident_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(incident["event_count"], 2);
    assert_eq!(incident["alerts_cleared"], false);
    assert_eq!(incident["events"].as_array().expect("events").len(), 2);
    app.assert_no_fallback().await;
}

async fn unknown_extra_fields_are_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut payload: Value =
        serde_json::from_str(&fixture("alertmanager/instance-down-firing.json")).expect("json");
    // Grafana's Alertmanager-compatible webhook adds these.
    payload["orgId"] = 1.into();
    payload["title"] = "[FIRING:1] InstanceDown".into();
    payload["state"] = "alerting".into();
    payload["alerts"][0]["silenceURL"] = "http://grafana/alerting/silence/new".into();
    payload["alerts"][0]["values"] = serde_json::json!({"A": 0});
    let answer = app.ingest("alertmanager", &payload.to_string()).await;
    assert_eq!(answer["alerts"][0]["outcome"], "created");
    assert_eq!(app.events("").await.len(), 1);
}

async fn fifty_concurrent_posts_of_the_same_alert_yield_exactly_one_open_event(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = fixture("alertmanager/instance-down-firing.json");
    let posts = (0..50).map(|_| app.post_alerts("alertmanager", &body));
    let statuses: Vec<u16> = futures::future::join_all(posts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let (open,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events WHERE status = 'open'")
        .fetch_one(app.pool())
        .await
        .expect("count");
    assert_eq!(open, 1);
    let events = app.events("").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["count"], 50);
    assert_eq!(app.incidents("").await.len(), 1);
    app.assert_no_fallback().await;
}

async fn the_raw_payload_is_kept_byte_for_byte(backend: Backend) {
    let app: TestApp = spawn_app(backend).await;
    let body = fixture("alertmanager/group-firing.json");
    app.ingest("alertmanager", &body).await;
    let event = &app.events("").await[0];
    let (payload, by, count): (String, String, i64) =
        sqlx::query_as("SELECT payload, received_by, alert_count FROM raw_alerts WHERE id = $1")
            .bind(event["raw_alert_id"].as_str().expect("raw id"))
            .fetch_one(app.pool())
            .await
            .expect("raw alert stored");
    assert_eq!(payload, body);
    assert_eq!(by, "alertmanager-test");
    assert_eq!(count, 3);
}

async fn a_grafana_webhook_is_read_like_alertmanagers(backend: Backend) {
    let app = spawn_app(backend).await;
    let answer = app
        .ingest("alertmanager", &fixture("alertmanager/grafana-firing.json"))
        .await;
    assert_eq!(answer["alerts"][0]["outcome"], "created");
    assert_eq!(answer["alerts"][0]["incident_action"], "opened");
    let event = &app.events("").await[0];
    assert_eq!(event["fingerprint"], "7f2a1c9e4b3d6a80");
    assert_eq!(event["labels"]["grafana_folder"], "SAFI");
}

/// 2 000 alerts in one payload: the event insert spans several statements (the
/// per-statement parameter limit), and all of them land in one commit.
async fn a_group_larger_than_one_statement_is_stored_whole(backend: Backend) {
    let app = spawn_app(backend).await;
    let alerts: Vec<Value> = (0..2000)
        .map(|i| {
            serde_json::json!({
                "status": "firing",
                "labels": {"alertname": "Probe", "ci": format!("host-{i}"), "severity": "critical"},
                "annotations": {"summary": format!("host-{i} down")},
                "startsAt": "2026-11-30T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": format!("{i:016x}"),
            })
        })
        .collect();
    let payload = serde_json::json!({"version": "4", "status": "firing", "alerts": alerts});
    let answer = app.ingest("alertmanager", &payload.to_string()).await;
    let results = answer["alerts"].as_array().expect("alerts");
    assert_eq!(results.len(), 2000);
    assert!(results
        .iter()
        .all(|a| a["outcome"] == "created" && a["incident_action"] == "opened"));
    assert_eq!(app.count("events").await, 2000);
    assert_eq!(app.count("incidents").await, 2000);
    assert_eq!(app.count("incident_events").await, 2000);
    app.assert_no_fallback().await;
}

/// Two replicas on one database, both receiving the same alert (as an HA Alertmanager
/// pair sends it to both): one open event, every copy counted once.
async fn two_replicas_sharing_a_database_keep_one_open_event(backend: Backend) {
    let first = spawn_app(backend).await;
    let url = first.database_url.clone();
    let second = spawn_app_with(backend, |c| c.database.url = url).await;
    let body = fixture("alertmanager/instance-down-firing.json");
    let mut sends = Vec::new();
    for app in [&first, &second] {
        for _ in 0..20 {
            let request = app.ingest_request("alertmanager", body.clone());
            sends.push(async move {
                // A sender retries a 503, as Alertmanager does.
                for _ in 0..20 {
                    let resp = request
                        .try_clone()
                        .expect("clonable")
                        .send()
                        .await
                        .expect("sent");
                    if resp.status() == 200 {
                        return true;
                    }
                    assert_eq!(resp.status(), 503);
                }
                false
            });
        }
    }
    let delivered = futures::future::join_all(sends).await;
    assert!(
        delivered.iter().all(|d| *d),
        "every copy was accepted in the end"
    );
    let events = first.events("").await;
    assert_eq!(events.len(), 1, "one event for one alert");
    assert_eq!(events[0]["count"], 40);
    assert_eq!(first.incidents("").await.len(), 1);
}
