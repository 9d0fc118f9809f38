//! Noise controls: maintenance windows, silences, thresholds, flapping and timeouts.

use reqwest::Method;
use serde_json::{json, Value};

use crate::correlation::{fire, probe, PROBE_RULES};
use crate::helpers::{spawn_app, spawn_app_with_rules, Backend, TestApp};
use crate::on_both_stores;

fn in_minutes(minutes: i64) -> String {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(minutes * 60);
    at.to_string()
}

fn in_seconds(seconds: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds)).to_string()
}

async fn maintenance(app: &TestApp, body: Value) -> Value {
    let (status, window) = app
        .admin_json(Method::POST, "/api/v1/maintenance", &body)
        .await;
    assert_eq!(status, 201, "{window}");
    window
}

async fn event(app: &TestApp, answer: &Value) -> Value {
    let id = answer["event_id"].as_str().expect("event id");
    app.get(&format!("/api/v1/events/{id}")).await
}

async fn maintenance_suppresses_dependants_and_replays_what_still_fires_when_it_ends(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.import_ministry().await;
    let window = maintenance(
        &app,
        json!({ "ci": "db-safi-pg01", "include_dependants": true, "ends_at": in_minutes(60),
                "reason": "Actualización de PostgreSQL" }),
    )
    .await;
    assert_eq!(window["active"], true);
    assert_eq!(window["author"], "admin.mesa");
    let id = window["id"].as_str().expect("id").to_owned();
    let held = fire(&app, "app1", "srv-safi-app01", "critical").await;
    assert_eq!(
        held["incident_id"],
        Value::Null,
        "nothing opens in maintenance"
    );
    assert_eq!(held["held_by"], format!("maintenance:{id}"));
    let stored = event(&app, &held).await;
    assert_eq!(stored["suppressed"], true);
    assert_eq!(stored["status"], "open");
    // Outside the window's reach, alerts open incidents as usual.
    let other = fire(&app, "dgii", "db-dgii", "critical").await;
    assert_eq!(other["incident_action"], "opened");
    let series = r#"vigia_alerts_held_total{reason="maintenance",source="alertmanager"}"#;
    assert_eq!(app.metric(series).await, Some(1.0));
    // A resolved alert inside the window stays resolved and is not replayed.
    fire(&app, "gone", "srv-safi-app02", "critical").await;
    app.ingest(
        "alertmanager",
        &crate::correlation::am_group(vec![crate::correlation::am_alert(
            "gone",
            "srv-safi-app02",
            "critical",
            "resolved",
        )]),
    )
    .await;
    let resp = app
        .as_admin(Method::DELETE, &format!("/api/v1/maintenance/{id}"))
        .await;
    assert_eq!(resp.status(), 200);
    // The sweeper evaluates the still-firing alert again: its incident opens.
    let replayed = app
        .eventually(
            &format!("/api/v1/events/{}", held["event_id"].as_str().expect("id")),
            |e| e["incident_id"].is_string(),
        )
        .await;
    assert_eq!(replayed["held_by"], Value::Null);
    assert_eq!(
        replayed["count"], 1,
        "a replay is not a new alert from the tool"
    );
    let window = app
        .eventually(&format!("/api/v1/maintenance/{id}"), |w| {
            w["replayed_at"].is_string()
        })
        .await;
    assert_eq!(window["active"], false);
    let gone = app.events("?status=resolved").await;
    assert_eq!(gone.len(), 1);
    assert_eq!(
        gone[0]["incident_id"],
        Value::Null,
        "an ended alert opens nothing later"
    );
}

async fn a_window_that_runs_out_replays_on_its_own(backend: Backend) {
    let app = spawn_app(backend).await;
    app.import_ministry().await;
    maintenance(
        &app,
        json!({ "ci": "srv-dgii-web01", "ends_at": in_seconds(2), "reason": "Reinicio" }),
    )
    .await;
    let held = fire(&app, "web", "srv-dgii-web01", "critical").await;
    assert!(held["held_by"]
        .as_str()
        .expect("held")
        .starts_with("maintenance:"));
    app.eventually(
        &format!("/api/v1/events/{}", held["event_id"].as_str().expect("id")),
        |e| e["incident_id"].is_string(),
    )
    .await;
}

async fn maintenance_requests_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    app.import_ministry().await;
    let bad = [
        json!({ "ci": "nope", "ends_at": in_minutes(5), "reason": "x" }),
        json!({ "ci": "db-dgii", "ends_at": "yesterday", "reason": "x" }),
        json!({ "ci": "db-dgii", "ends_at": in_minutes(-5), "reason": "x" }),
        json!({ "ci": "db-dgii", "ends_at": in_minutes(5), "reason": " " }),
    ];
    for body in bad {
        let (status, problem) = app
            .admin_json(Method::POST, "/api/v1/maintenance", &body)
            .await;
        assert_eq!(status, 422, "{body} → {problem}");
        assert_eq!(problem["code"], "invalid");
    }
    let resp = app
        .send(
            Method::POST,
            "/api/v1/maintenance",
            Some(&json!({ "ci": "db-dgii", "ends_at": in_minutes(5), "reason": "x" }).to_string()),
            Some(&app.monitor_token),
        )
        .await;
    assert_eq!(resp.status(), 403, "a monitoring token cannot open windows");
}

async fn silences_match_labels_like_alertmanager_and_expire(backend: Backend) {
    let app = spawn_app(backend).await;
    app.import_ministry().await;
    let (status, silence) = app
        .admin_json(
            Method::POST,
            "/api/v1/silences",
            &json!({ "matchers": [
                        { "name": "alertname", "op": "=~", "value": "Down db-.*" },
                        { "name": "severity", "op": "!=", "value": "critical" } ],
                     "ends_at": in_minutes(30), "comment": "Migración de bases" }),
        )
        .await;
    assert_eq!(status, 201, "{silence}");
    let id = silence["id"].as_str().expect("id").to_owned();
    let silenced = fire(&app, "s1", "db-dgii", "major").await;
    assert_eq!(silenced["held_by"], format!("silence:{id}"));
    assert_eq!(silenced["incident_id"], Value::Null);
    let critical = fire(&app, "s2", "db-sidunea", "critical").await;
    assert_eq!(
        critical["incident_action"], "opened",
        "negated matcher lets it through"
    );
    let (status, problem) = app
        .admin_json(
            Method::POST,
            "/api/v1/silences",
            &json!({ "matchers": [{ "name": "a", "op": "=~", "value": "(" }],
                     "ends_at": in_minutes(5), "comment": "x" }),
        )
        .await;
    assert_eq!(status, 422);
    assert!(problem["errors"][0]
        .as_str()
        .expect("error")
        .contains("regular expression"));
    let listed = app.get("/api/v1/silences?current=true").await;
    assert_eq!(listed.as_array().expect("list").len(), 1);
    let resp = app
        .as_admin(Method::DELETE, &format!("/api/v1/silences/{id}"))
        .await;
    assert_eq!(resp.status(), 200);
    app.eventually(
        &format!(
            "/api/v1/events/{}",
            silenced["event_id"].as_str().expect("id")
        ),
        |e| e["incident_id"].is_string(),
    )
    .await;
    let again = app
        .as_admin(Method::DELETE, &format!("/api/v1/silences/{id}"))
        .await;
    assert_eq!(again.status(), 409);
}

async fn a_threshold_opens_the_incident_only_at_the_nth_firing_within_its_window(backend: Backend) {
    let rules = PROBE_RULES.replace(
        "auto_resolve: true }",
        "auto_resolve: true, threshold: { count: 3, within: 10m } }",
    );
    let app = spawn_app_with_rules(backend, &[("probe.yaml", &rules)], |_| {}).await;
    app.import_ministry().await;
    let body = probe("latency", "svc-correo", "major", "firing");
    for _ in 0..2 {
        let answer = app.ingest("probe", &body).await;
        assert_eq!(answer["alerts"][0]["held_by"], "threshold");
        assert_eq!(answer["alerts"][0]["incident_id"], Value::Null);
    }
    let third = app.ingest("probe", &body).await;
    assert_eq!(third["alerts"][0]["incident_action"], "opened");
    let stored = event(&app, &third["alerts"][0]).await;
    assert_eq!(stored["held_by"], Value::Null);
    assert_eq!(stored["count"], 3);
}

async fn a_flapping_alert_opens_at_most_one_incident_until_it_settles(backend: Backend) {
    let rules = PROBE_RULES.replace(
        "auto_resolve: true }",
        "auto_resolve: true, flapping: { changes: 1, within: 10m } }",
    );
    let app = spawn_app_with_rules(backend, &[("probe.yaml", &rules)], |_| {}).await;
    app.import_ministry().await;
    let firing = probe("ping", "srv-dgt-app01", "critical", "firing");
    let resolved = probe("ping", "srv-dgt-app01", "critical", "resolved");
    let mut last = Value::Null;
    for _ in 0..4 {
        app.ingest("probe", &firing).await;
        app.ingest("probe", &resolved).await;
        last = app.ingest("probe", &firing).await;
    }
    assert_eq!(
        app.incidents("").await.len(),
        1,
        "one incident for the flapping alert"
    );
    assert_eq!(last["alerts"][0]["held_by"], "flapping");
    let stored = event(&app, &last["alerts"][0]).await;
    assert_eq!(stored["flapping"], true);
}

async fn an_event_nobody_updates_within_its_timeout_resolves_itself(backend: Backend) {
    let rules = PROBE_RULES.replace("rules:", "resolve_timeout: 1s\nrules:");
    let app = spawn_app_with_rules(backend, &[("probe.yaml", &rules)], |_| {}).await;
    app.import_ministry().await;
    let answer = app
        .ingest(
            "probe",
            &probe("job", "srv-dgii-web01", "critical", "firing"),
        )
        .await;
    let alert = &answer["alerts"][0];
    let stored = app
        .eventually(
            &format!("/api/v1/events/{}", alert["event_id"].as_str().expect("id")),
            |e| e["status"] == "resolved",
        )
        .await;
    assert_eq!(stored["resolved_by"], "timeout");
    let incident = app
        .get(&format!(
            "/api/v1/incidents/{}",
            alert["incident_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(
        incident["status"], "resolved",
        "its rule resolves cleared incidents"
    );
    // Alertmanager's events time out after hours, but a lease (`endsAt` in the future on
    // a firing alert) that runs out resolves its event.
    let am = fire(&app, "am", "db-dgii", "critical").await;
    let mut leased = crate::correlation::am_alert("lease", "db-sidunea", "critical", "firing");
    leased["endsAt"] = json!(in_seconds(2));
    let leased = app
        .ingest("alertmanager", &crate::correlation::am_group(vec![leased]))
        .await;
    let expired = app
        .eventually(
            &format!(
                "/api/v1/events/{}",
                leased["alerts"][0]["event_id"].as_str().expect("id")
            ),
            |e| e["status"] == "resolved",
        )
        .await;
    assert_eq!(expired["resolved_by"], "timeout");
    assert_eq!(
        event(&app, &am).await["status"],
        "open",
        "no lease, within the timeout"
    );
}

on_both_stores!(
    maintenance_suppresses_dependants_and_replays_what_still_fires_when_it_ends,
    a_window_that_runs_out_replays_on_its_own,
    maintenance_requests_are_checked,
    silences_match_labels_like_alertmanager_and_expire,
    a_threshold_opens_the_incident_only_at_the_nth_firing_within_its_window,
    a_flapping_alert_opens_at_most_one_incident_until_it_settles,
    an_event_nobody_updates_within_its_timeout_resolves_itself,
);
