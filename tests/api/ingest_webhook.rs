//! Generic webhooks mapped by rule files: the shipped `uptime` source and a custom one.

use serde_json::{json, Value};

use crate::helpers::{fixture, repo_path, spawn_app, spawn_app_with, Backend};
use crate::on_both_stores;

on_both_stores!(
    an_uptime_probe_opens_an_incident_and_its_recovery_clears_it,
    a_rule_with_auto_resolve_resolves_the_incident_when_alerts_clear,
    a_payload_with_several_alerts_of_a_custom_source_becomes_several_events,
);

async fn an_uptime_probe_opens_an_incident_and_its_recovery_clears_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let down = app
        .ingest("uptime", &fixture("uptime/uptime-probe.json"))
        .await;
    assert_eq!(down["alerts"][0]["outcome"], "created");
    assert_eq!(down["alerts"][0]["incident_action"], "opened");
    let up = app
        .ingest("uptime", &fixture("uptime/uptime-probe-recovered.json"))
        .await;
    assert_eq!(up["alerts"][0]["outcome"], "resolved");
    assert_eq!(
        up["alerts"][0]["event_id"], down["alerts"][0]["event_id"],
        "same check, same event"
    );

    let events = app.events("?source=uptime").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["status"], "resolved");
    assert_eq!(
        events[0]["summary"],
        "Portal Declaraciones: Connection timed out after 10000 ms"
    );
    assert_eq!(events[0]["labels"]["host"], "srv-dgii-web01");
    let incident = app
        .get(&format!(
            "/api/v1/incidents/{}",
            down["alerts"][0]["incident_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["alerts_cleared"], true);
}

/// A rules directory with the shipped files plus one written by the test.
fn rules_with(extra_name: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in ["alertmanager.yaml", "uptime.yaml"] {
        std::fs::copy(repo_path("rules").join(file), dir.path().join(file)).expect("copy rules");
    }
    std::fs::write(dir.path().join(extra_name), extra).expect("write rule");
    dir
}

const BATCH_RULE: &str = r#"
rules:
  - name: batch
    when: [{ path: $.items }]
    alerts: $.items[*]
    summary: "{{ $.host }}: {{ $.problem }}"
    severity: { from: $.level, map: { p1: critical, p3: minor } }
    status: { from: $.ok, map: { "false": firing, "true": resolved } }
    ci: [$.host]
    fingerprint: { from: [$.host, $.problem] }
    incident: { min_severity: critical, auto_resolve: true }
"#;

async fn a_rule_with_auto_resolve_resolves_the_incident_when_alerts_clear(backend: Backend) {
    let rules = rules_with("batch.yaml", BATCH_RULE);
    let app = spawn_app_with(backend, |c| c.rules.dir = rules.path().to_owned()).await;
    let firing =
        json!({"items": [{"host": "db01", "problem": "down", "level": "P1", "ok": false}]});
    let opened = app.ingest("batch", &firing.to_string()).await;
    let incident_id = opened["alerts"][0]["incident_id"]
        .as_str()
        .expect("incident")
        .to_owned();
    let cleared =
        json!({"items": [{"host": "db01", "problem": "down", "level": "P1", "ok": true}]});
    let resolved = app.ingest("batch", &cleared.to_string()).await;
    assert_eq!(resolved["alerts"][0]["incident_action"], "resolved");

    let incident = app.get(&format!("/api/v1/incidents/{incident_id}")).await;
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["resolution"], "alerts cleared");
    assert!(incident["resolved_at"].is_string());

    // The next failure opens a fresh incident: the resolved one is closed to new alerts.
    let again = app.ingest("batch", &firing.to_string()).await;
    assert_eq!(again["alerts"][0]["incident_action"], "opened");
    assert_ne!(
        again["alerts"][0]["incident_id"],
        Value::String(incident_id)
    );
}

async fn a_payload_with_several_alerts_of_a_custom_source_becomes_several_events(backend: Backend) {
    let rules = rules_with("batch.yaml", BATCH_RULE);
    let app = spawn_app_with(backend, |c| c.rules.dir = rules.path().to_owned()).await;
    let payload = json!({"items": [
        {"host": "db01", "problem": "down", "level": "P1", "ok": false},
        {"host": "web01", "problem": "slow", "level": "P3", "ok": false},
    ]});
    let answer = app.ingest("batch", &payload.to_string()).await;
    assert_eq!(answer["alerts"].as_array().expect("alerts").len(), 2);
    let events = app.events("?source=batch").await;
    assert_eq!(events.len(), 2);
    let minor = events
        .iter()
        .find(|e| e["ci_candidates"][0] == "web01")
        .expect("web01 event");
    assert_eq!(minor["severity"], "minor");
    assert_eq!(minor["incident_id"], Value::Null);
    assert_eq!(app.incidents("?source=batch").await.len(), 1);
}
