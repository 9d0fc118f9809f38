//! Health, readiness, metrics and graceful shutdown.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{fixture, spawn_app, Backend};
use crate::on_both_stores;

on_both_stores!(
    metrics_report_intake_after_traffic,
    shutdown_answers_every_accepted_request
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_report_the_database_and_rules() {
    let app = spawn_app(Backend::Sqlite).await;
    let health: Value = app
        .send(Method::GET, "/healthz", None, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    let ready = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["database"], true);
    assert_eq!(ready["intake"], true);
    assert_eq!(
        ready["sources"],
        serde_json::json!(["alertmanager", "uptime"])
    );

    // With the database gone, readiness says so.
    app.state.store.close().await;
    let ready = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["database"], false);
}

async fn metrics_report_intake_after_traffic(backend: Backend) {
    let app = spawn_app(backend).await;
    app.ingest("alertmanager", &fixture("alertmanager/group-firing.json"))
        .await;
    app.ingest(
        "alertmanager",
        &fixture("alertmanager/group-one-resolved.json"),
    )
    .await;
    app.send(
        Method::POST,
        "/api/v1/ingest/alertmanager",
        Some("{"),
        Some(&app.monitor_token),
    )
    .await;
    let text = app
        .send(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .expect("text");
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
    };
    assert_eq!(
        value(r#"vigia_alerts_received_total{outcome="created",source="alertmanager"}"#),
        3.0
    );
    assert_eq!(
        value(r#"vigia_alerts_received_total{outcome="updated",source="alertmanager"}"#),
        2.0
    );
    assert_eq!(
        value(r#"vigia_alerts_received_total{outcome="resolved",source="alertmanager"}"#),
        1.0
    );
    assert_eq!(
        value(r#"vigia_events_total{action="opened",source="alertmanager"}"#),
        3.0
    );
    assert_eq!(
        value(r#"vigia_events_total{action="resolved",source="alertmanager"}"#),
        1.0
    );
    assert_eq!(
        value(r#"vigia_incidents_total{action="opened",source="alertmanager"}"#),
        2.0
    );
    assert_eq!(
        value(r#"vigia_incidents_total{action="updated",source="alertmanager"}"#),
        2.0
    );
    assert_eq!(
        value(r#"vigia_payloads_rejected_total{reason="malformed",source="alertmanager"}"#),
        1.0
    );
    assert_eq!(value("vigia_open_events"), 2.0);
    assert_eq!(value("vigia_open_incidents"), 2.0);
    assert_eq!(
        value(r#"vigia_intake_duration_seconds_count{source="alertmanager"}"#),
        2.0
    );
    assert_eq!(value("vigia_intake_batch_alerts_sum"), 6.0);
    assert!(value("vigia_intake_batch_duration_seconds_count") >= 1.0);
    assert_eq!(
        value("vigia_intake_batch_fallbacks_total"),
        0.0,
        "batches were written set-based"
    );
}

async fn shutdown_answers_every_accepted_request(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let group = fixture("alertmanager/group-firing.json");
    // Distinct fingerprints per request: each accepted request adds exactly 3 events.
    let distinct = |i: u32| {
        ["c6bb01695b119d16", "a9a2e51bcbe19e32", "00d321cee7ffb445"]
            .iter()
            .enumerate()
            .fold(group.clone(), |body, (n, fp)| {
                body.replace(fp, &format!("{i:08x}{n:08x}"))
            })
    };
    app.ingest("alertmanager", &distinct(0)).await;
    let posts: Vec<_> = (1..=40)
        .map(|i| {
            let request = app
                .client
                .post(format!("{}/api/v1/ingest/alertmanager", app.base))
                .bearer_auth(&app.monitor_token)
                .header("content-type", "application/json")
                .body(distinct(i));
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::task::yield_now().await;
    let stopped = app.stop().await;
    assert!(stopped.is_ok(), "graceful stop: {stopped:?}");

    let mut accepted = 1;
    for post in posts {
        match post.await.expect("task") {
            Ok(200) => accepted += 1,
            Ok(status) => assert_eq!(status, 503, "only 'shutting down' may refuse"),
            Err(_) => {} // the listener had already closed
        }
    }
    let store = vigia::store::Store::connect(&app.database_url, 1)
        .await
        .expect("reopen");
    let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events")
        .fetch_one(store.pool())
        .await
        .expect("count");
    store.close().await;
    assert_eq!(
        events,
        3 * accepted,
        "every 200 was committed, nothing else was"
    );
}
