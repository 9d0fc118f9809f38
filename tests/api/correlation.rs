//! Binding alerts to CIs and correlating them by topology, with the ministry's registry.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with_rules, Backend, TestApp};
use crate::on_both_stores;

/// One Alertmanager alert about `ci`.
pub fn am_alert(fingerprint: &str, ci: &str, severity: &str, status: &str) -> Value {
    let ends = if status == "resolved" {
        "2026-11-30T00:09:00Z"
    } else {
        "0001-01-01T00:00:00Z"
    };
    json!({
        "status": status,
        "labels": { "alertname": format!("Down {ci}"), "ci": ci, "severity": severity },
        "annotations": { "summary": format!("{ci} no responde") },
        "startsAt": "2026-11-30T00:00:00Z",
        "endsAt": ends,
        "fingerprint": fingerprint,
    })
}

/// An Alertmanager webhook (version 4) carrying `alerts`.
pub fn am_group(alerts: Vec<Value>) -> String {
    json!({
        "version": "4", "status": "firing", "receiver": "vigia",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://am", "groupKey": "{}", "truncatedAlerts": 0,
        "alerts": alerts,
    })
    .to_string()
}

pub async fn fire(app: &TestApp, fingerprint: &str, ci: &str, severity: &str) -> Value {
    let answer = app
        .ingest(
            "alertmanager",
            &am_group(vec![am_alert(fingerprint, ci, severity, "firing")]),
        )
        .await;
    answer["alerts"][0].clone()
}

/// A test source whose every alert opens an incident (`min_severity: info`).
pub const PROBE_RULES: &str = r#"
description: Test probe, one check per POST
rules:
  - name: probe
    summary: $.summary
    severity: { from: $.severity }
    status: { from: $.status }
    ci: [$.ci]
    labels: { from: $.labels }
    fingerprint: { from: [$.check] }
    incident: { min_severity: info, auto_resolve: true }
"#;

/// The probe source with correlation off (rule `isolated`): each alert stands alone.
fn isolated_rules() -> String {
    PROBE_RULES
        .replace("name: probe", "name: isolated")
        .replace("rules:", "correlation: { enabled: false }\nrules:")
}

pub fn probe(check: &str, ci: &str, severity: &str, status: &str) -> String {
    json!({
        "check": check, "ci": ci, "severity": severity, "status": status,
        "summary": format!("{check} on {ci}"),
        "labels": { "check": check, "team": "infra" },
    })
    .to_string()
}

const STORM: [(&str, &str, &str); 5] = [
    ("f-vm", "vm-cluster01", "critical"),
    ("f-db", "db-safi-pg01", "critical"),
    ("f-app1", "srv-safi-app01", "critical"),
    ("f-app2", "srv-safi-app02", "major"),
    ("f-web", "svc-safi-web", "major"),
];

const SAFI_IMPACT: [&str; 5] = [
    "svc-correo",
    "svc-declaraciones",
    "svc-pagos",
    "svc-safi-web",
    "svc-sidunea",
];

/// The one incident left open after a storm, checked as users see it.
async fn assert_one_incident_for_the_storm(app: &TestApp) -> Value {
    let open = app.incidents("?status=new").await;
    assert_eq!(open.len(), 1, "one open incident: {open:?}");
    let id = open[0]["id"].as_str().expect("id");
    let detail = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(detail["ci"], "vm-cluster01");
    assert_eq!(detail["root_ci"]["name"], "Clúster de virtualización");
    assert_eq!(detail["unit"], "DINAFI");
    assert_eq!(detail["priority"], "P1");
    let mut fingerprints: Vec<&str> = detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["fingerprint"].as_str().expect("fp"))
        .collect();
    fingerprints.sort_unstable();
    assert_eq!(fingerprints, ["f-app1", "f-app2", "f-db", "f-vm", "f-web"]);
    let services: Vec<&str> = detail["impacted_services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(services, SAFI_IMPACT);
    assert_eq!(detail["event_count"], 5);
    detail
}

async fn a_storm_from_the_cluster_down_opens_exactly_one_incident(backend: Backend) {
    let app = spawn_app(backend).await;
    app.import_ministry().await;
    for (fp, ci, severity) in STORM {
        fire(&app, fp, ci, severity).await;
    }
    let detail = assert_one_incident_for_the_storm(&app).await;
    assert_eq!(app.incidents("").await.len(), 1, "no other incident at all");
    let events = detail["events"].as_array().expect("events");
    let event = |fp: &str| {
        events
            .iter()
            .find(|e| e["fingerprint"] == fp)
            .expect("event")
            .clone()
    };
    assert_eq!(event("f-vm")["relation"], "origin");
    let db = event("f-db");
    assert_eq!(db["relation"], "related");
    assert_eq!(db["ci"], "db-safi-pg01");
    assert_eq!(
        db["reason"]["path"],
        json!(["db-safi-pg01", "vm-cluster01"])
    );
    let id = detail["id"].as_str().expect("id");
    assert_eq!(
        db["explanation"],
        format!("se unió porque db-safi-pg01 depende de vm-cluster01, que tiene el incidente {id}")
    );
    // The service joins through the nearest failing CI it needs: its application server.
    let web = event("f-web");
    assert_eq!(web["relation"], "related");
    assert_eq!(
        web["reason"]["path"],
        json!(["svc-safi-web", "srv-safi-app01"])
    );
    let english = app
        .client
        .get(format!("{}/api/v1/incidents/{id}", app.base))
        .bearer_auth(&app.admin_token)
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .expect("sent")
        .json::<Value>()
        .await
        .expect("json");
    let db_en = english["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["fingerprint"] == "f-db")
        .expect("event")["explanation"]
        .clone();
    assert_eq!(
        db_en,
        format!("joined because db-safi-pg01 depends on vm-cluster01, which has incident {id}")
    );
}

async fn the_same_storm_in_reverse_order_ends_merged_the_same_way(backend: Backend) {
    let app = spawn_app(backend).await;
    app.import_ministry().await;
    for (fp, ci, severity) in STORM.iter().rev() {
        fire(&app, fp, ci, severity).await;
    }
    let detail = assert_one_incident_for_the_storm(&app).await;
    let root = detail["id"].as_str().expect("id").to_owned();
    let closed = app.incidents("?status=closed").await;
    assert_eq!(closed.len(), 4, "each earlier incident merged: {closed:?}");
    for incident in &closed {
        assert_eq!(incident["resolution"], "merged");
        let into = incident["merged_into"].as_str().expect("merged into");
        assert!(into.starts_with("inc_"));
        // Nothing is deleted: a merged incident still lists its own alerts.
        let merged = app
            .get(&format!(
                "/api/v1/incidents/{}",
                incident["id"].as_str().expect("id")
            ))
            .await;
        assert!(!merged["events"].as_array().expect("events").is_empty());
    }
    let direct = detail["merged"].as_array().expect("merged");
    assert_eq!(
        direct.len(),
        1,
        "the database's incident merged into the cluster's"
    );
    let web = detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["fingerprint"] == "f-web")
        .expect("web event")
        .clone();
    assert_eq!(web["relation"], "merged");
    assert_eq!(
        web["incident_id"], root,
        "the event now belongs to the root incident"
    );
    let history: Vec<&str> = detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["kind"].as_str().expect("kind"))
        .collect();
    assert!(history.contains(&"merged"), "{history:?}");
}

async fn alerts_on_the_same_ci_join_one_incident_and_repeats_stay_in_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.import_ministry().await;
    let first = fire(&app, "disk", "db-dgii", "major").await;
    let second = fire(&app, "cpu", "db-dgii", "critical").await;
    assert_eq!(first["ci"], "db-dgii");
    assert_eq!(second["incident_id"], first["incident_id"]);
    assert_eq!(second["incident_action"], "updated");
    let id = first["incident_id"].as_str().expect("id");
    let detail = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(detail["unit"], "DGII", "the owning unit's desk has it");
    let cpu = detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["fingerprint"] == "cpu")
        .expect("cpu")
        .clone();
    assert_eq!(cpu["relation"], "same_ci");
    assert_eq!(cpu["unit"], "DGII");
    // Listings filter by unit, CI and priority.
    fire(&app, "other", "srv-dgt-app01", "major").await;
    let dgii = app.incidents("?unit=DGII").await;
    assert_eq!(dgii.len(), 1);
    assert_eq!(dgii[0]["id"], id);
    assert_eq!(
        app.incidents("?priority=P1").await.len(),
        1,
        "db-dgii: critical, critical"
    );
    assert_eq!(
        app.incidents("?priority=P2").await.len(),
        1,
        "srv-dgt-app01: medium, major"
    );
    assert_eq!(app.events("?ci=db-dgii").await.len(), 2);
    let resp = app
        .as_admin(Method::GET, "/api/v1/events?priority=P1")
        .await;
    assert_eq!(resp.status(), 400);
    let resp = app
        .as_admin(Method::GET, "/api/v1/incidents?priority=P9")
        .await;
    assert_eq!(resp.status(), 400);
}

async fn an_unbound_alert_goes_to_the_central_desk_for_triage(backend: Backend) {
    let app = spawn_app(backend).await;
    app.import_ministry().await;
    let answer = fire(&app, "ghost", "printer-3rd-floor", "critical").await;
    assert_eq!(answer["ci"], Value::Null);
    let unbound = r#"vigia_alerts_unbound_total{source="alertmanager"}"#;
    assert_eq!(app.metric(unbound).await, Some(1.0));
    let event = app
        .get(&format!(
            "/api/v1/events/{}",
            answer["event_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(event["unbound"], true);
    assert_eq!(event["ci"], Value::Null);
    let incident = app
        .get(&format!(
            "/api/v1/incidents/{}",
            answer["incident_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(incident["unit"], "DINAFI");
    assert_eq!(incident["triage"], true);
    assert_eq!(incident["ci"], Value::Null);
    let why = incident["events"][0]["explanation"].as_str().expect("text");
    assert!(why.contains("mesa central"), "{why}");
}

async fn an_alert_binds_by_the_host_part_of_its_instance(backend: Backend) {
    let app = spawn_app(backend).await;
    app.import_ministry().await;
    let mut alert = am_alert("node", "x", "major", "firing");
    alert["labels"] = json!({ "alertname": "NodeDown", "severity": "major",
        "instance": "10.1.2.12:9999" });
    let answer = app.ingest("alertmanager", &am_group(vec![alert])).await;
    assert_eq!(answer["alerts"][0]["ci"], "srv-safi-app02");
}

async fn priority_follows_the_matrix_and_rises_when_a_more_severe_alert_joins(backend: Backend) {
    let isolated = isolated_rules();
    let app = spawn_app_with_rules(
        backend,
        &[("probe.yaml", PROBE_RULES), ("isolated.yaml", &isolated)],
        |_| {},
    )
    .await;
    app.import_ministry().await;
    let low = app
        .ingest("probe", &probe("g", "doc-sla-pagos", "info", "firing"))
        .await;
    let id = low["alerts"][0]["incident_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let high = app
        .ingest("probe", &probe("h", "doc-sla-pagos", "critical", "firing"))
        .await;
    assert_eq!(
        high["alerts"][0]["incident_id"],
        id.as_str(),
        "same CI: same incident"
    );
    let incident = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(incident["priority"], "P3", "low impact, now high urgency");
    assert_eq!(incident["urgency"], "high");
    let change = incident["history"]
        .as_array()
        .expect("history")
        .iter()
        .find(|h| h["kind"] == "priority_changed")
        .expect("the change is recorded")
        .clone();
    assert_eq!(change["detail"]["from"], "P5");
    assert_eq!(change["detail"]["to"], "P3");
    // Uncorrelated, each alert opens its own incident, rated alone: impact from the
    // CI's criticality (raised at two services), urgency from severity, through ITIL's
    // matrix.
    let cases = [
        ("a", "vm-cluster01", "critical", "P1"),
        ("b", "srv-safi-app01", "major", "P1"),
        ("c", "srv-dgt-app01", "major", "P2"),
        ("d", "db-sidunea", "warning", "P3"),
        ("e", "srv-dinafi-db01", "minor", "P4"),
        ("f", "doc-sla-pagos", "warning", "P5"),
    ];
    for (check, ci, severity, want) in cases {
        let answer = app
            .ingest("isolated", &probe(check, ci, severity, "firing"))
            .await;
        assert_eq!(answer["alerts"][0]["incident_action"], "opened");
        let id = answer["alerts"][0]["incident_id"]
            .as_str()
            .expect("incident");
        let incident = app.get(&format!("/api/v1/incidents/{id}")).await;
        assert_eq!(incident["priority"], want, "{ci} {severity}: {incident}");
    }
}

async fn correlation_is_declared_per_rule_with_its_window(backend: Backend) {
    let short = PROBE_RULES.replace("rules:", "correlation: { window: 1s }\nrules:");
    let off = isolated_rules();
    let app = spawn_app_with_rules(
        backend,
        &[("probe.yaml", &short), ("isolated.yaml", &off)],
        |_| {},
    )
    .await;
    app.import_ministry().await;
    let root = app
        .ingest("probe", &probe("a", "vm-cluster01", "critical", "firing"))
        .await;
    let joined = app
        .ingest("probe", &probe("b", "db-safi-pg01", "critical", "firing"))
        .await;
    assert_eq!(
        joined["alerts"][0]["incident_id"],
        root["alerts"][0]["incident_id"]
    );
    let alone = app
        .ingest("isolated", &probe("c", "db-dgii", "critical", "firing"))
        .await;
    assert_eq!(
        alone["alerts"][0]["incident_action"], "opened",
        "correlation off for this rule"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let late = app
        .ingest("probe", &probe("d", "srv-dgt-app01", "critical", "firing"))
        .await;
    assert_eq!(
        late["alerts"][0]["incident_action"], "opened",
        "the cluster's incident had no alert within the window"
    );
}

async fn only_the_relations_a_rule_names_correlate(backend: Backend) {
    let strict = PROBE_RULES.replace("rules:", "correlation: { relations: [depends_on] }\nrules:");
    let any = PROBE_RULES.replace("name: probe", "name: any");
    let app = spawn_app_with_rules(
        backend,
        &[("probe.yaml", &strict), ("any.yaml", &any)],
        |_| {},
    )
    .await;
    app.import_ministry().await;
    for id in ["srv-backup", "srv-backup2"] {
        let ci = json!({ "id": id, "name": "Respaldo", "type": "server", "unit": "DINAFI",
            "criticality": "low",
            "depends_on": [{ "ci": "vm-cluster01", "relation": "backs_up" }] });
        let (status, body) = app
            .admin_json(reqwest::Method::POST, "/api/v1/cis", &ci)
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let root = app
        .ingest("probe", &probe("a", "vm-cluster01", "critical", "firing"))
        .await;
    let root = root["alerts"][0]["incident_id"].clone();
    let strict = app
        .ingest("probe", &probe("b", "srv-backup", "critical", "firing"))
        .await;
    assert_eq!(
        strict["alerts"][0]["incident_action"], "opened",
        "`backs_up` is not named"
    );
    assert_ne!(strict["alerts"][0]["incident_id"], root);
    let loose = app
        .ingest("any", &probe("c", "srv-backup2", "critical", "firing"))
        .await;
    assert_eq!(
        loose["alerts"][0]["incident_id"], root,
        "every relation correlates"
    );
}

async fn an_alert_whose_incident_was_merged_returns_to_the_surviving_one(backend: Backend) {
    let isolated = isolated_rules();
    let app = spawn_app_with_rules(
        backend,
        &[("probe.yaml", PROBE_RULES), ("isolated.yaml", &isolated)],
        |_| {},
    )
    .await;
    app.import_ministry().await;
    let own = app
        .ingest(
            "isolated",
            &probe("a", "srv-safi-app01", "critical", "firing"),
        )
        .await;
    let own = own["alerts"][0]["incident_id"].clone();
    let cause = app
        .ingest("probe", &probe("b", "db-safi-pg01", "critical", "firing"))
        .await;
    let survivor = cause["alerts"][0]["incident_id"].clone();
    let merged = app
        .get(&format!("/api/v1/incidents/{}", own.as_str().expect("id")))
        .await;
    assert_eq!(merged["merged_into"], survivor);
    // The alert does not correlate by itself, yet its next occurrence goes where its
    // last one went, not to a new incident.
    app.ingest(
        "isolated",
        &probe("a", "srv-safi-app01", "critical", "resolved"),
    )
    .await;
    let again = app
        .ingest(
            "isolated",
            &probe("a", "srv-safi-app01", "critical", "firing"),
        )
        .await;
    assert_eq!(again["alerts"][0]["outcome"], "created");
    assert_eq!(again["alerts"][0]["incident_id"], survivor);
    assert_eq!(app.incidents("?status=new").await.len(), 1);
}

on_both_stores!(
    an_alert_whose_incident_was_merged_returns_to_the_surviving_one,
    only_the_relations_a_rule_names_correlate,
    a_storm_from_the_cluster_down_opens_exactly_one_incident,
    the_same_storm_in_reverse_order_ends_merged_the_same_way,
    alerts_on_the_same_ci_join_one_incident_and_repeats_stay_in_it,
    an_unbound_alert_goes_to_the_central_desk_for_triage,
    an_alert_binds_by_the_host_part_of_its_instance,
    priority_follows_the_matrix_and_rises_when_a_more_severe_alert_joins,
    correlation_is_declared_per_rule_with_its_window,
);
