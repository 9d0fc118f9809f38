//! Health, readiness, metrics and graceful shutdown.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{fixture, spawn_app, spawn_app_with, Backend};
use crate::on_both_stores;

on_both_stores!(
    metrics_report_intake_after_traffic,
    shutdown_answers_every_accepted_request,
    a_full_queue_refuses_with_503_and_stores_nothing_of_the_refused,
    requests_waiting_together_share_one_commit,
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
        serde_json::json!(["alertmanager", "pagerduty", "uptime"])
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
    app.post_alerts("alertmanager", "{").await;
    let expected: &[(&str, f64)] = &[
        (
            r#"vigia_alerts_received_total{outcome="created",source="alertmanager"}"#,
            3.0,
        ),
        (
            r#"vigia_alerts_received_total{outcome="updated",source="alertmanager"}"#,
            2.0,
        ),
        (
            r#"vigia_alerts_received_total{outcome="resolved",source="alertmanager"}"#,
            1.0,
        ),
        (
            r#"vigia_events_total{action="opened",source="alertmanager"}"#,
            3.0,
        ),
        (
            r#"vigia_events_total{action="resolved",source="alertmanager"}"#,
            1.0,
        ),
        (
            r#"vigia_incidents_total{action="opened",source="alertmanager"}"#,
            2.0,
        ),
        (
            r#"vigia_incidents_total{action="updated",source="alertmanager"}"#,
            2.0,
        ),
        (
            r#"vigia_payloads_rejected_total{reason="malformed",source="alertmanager"}"#,
            1.0,
        ),
        ("vigia_open_events", 2.0),
        ("vigia_open_incidents", 2.0),
        (
            r#"vigia_intake_duration_seconds_count{source="alertmanager"}"#,
            2.0,
        ),
        ("vigia_intake_batch_alerts_sum", 6.0),
        // Every batch was written set-based.
        ("vigia_intake_batch_fallbacks_total", 0.0),
    ];
    for (series, value) in expected {
        assert_eq!(app.metric(series).await, Some(*value), "{series}");
    }
    let commits = app
        .metric("vigia_intake_batch_duration_seconds_count")
        .await;
    assert!(commits >= Some(1.0), "{commits:?}");
}

async fn shutdown_answers_every_accepted_request(backend: Backend) {
    let app = spawn_app(backend).await;
    app.ingest("alertmanager", &app.distinct_group(0)).await;
    // Hold the writer, so the next requests are certainly in flight at the stop.
    let lock = app.hold_writer(backend).await;
    let posts: Vec<_> = (1..=10)
        .map(|n| {
            let request = app.ingest_request("alertmanager", app.distinct_group(n));
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    app.wait_for_pending(10.0).await;
    let stopping = tokio::spawn(async move {
        let mut app = app;
        let stopped = app.stop().await;
        (app, stopped)
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        !stopping.is_finished(),
        "the stop waits for the requests in flight"
    );
    let mut lock = lock;
    sqlx::query("ROLLBACK")
        .execute(&mut *lock)
        .await
        .expect("release");
    drop(lock);
    let (app, stopped) = stopping.await.expect("stop task");
    assert!(stopped.is_ok(), "graceful stop: {stopped:?}");

    for post in posts {
        assert_eq!(
            post.await.expect("task").expect("answered"),
            200,
            "in-flight requests finish"
        );
    }
    assert_eq!(app.count("events").await, 3 * 11, "every 200 was committed");
}

async fn a_full_queue_refuses_with_503_and_stores_nothing_of_the_refused(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.intake.queue_depth = 1).await;
    let mut lock = app.hold_writer(backend).await;
    let post = |n: u32| {
        let request = app.ingest_request("alertmanager", app.distinct_group(n));
        tokio::spawn(async move {
            let resp = request.send().await.expect("answered");
            let retry = resp.headers().get("retry-after").is_some();
            (
                resp.status().as_u16(),
                retry,
                resp.text().await.expect("body"),
            )
        })
    };
    // The writer holds the first request (waiting for the lock), the queue the second.
    let first = post(1);
    app.wait_for_pending(1.0).await;
    let second = post(2);
    app.wait_for_pending(2.0).await;
    for n in 3..=5 {
        let (status, retry, body) = post(n).await.expect("task");
        assert_eq!(status, 503, "{body}");
        assert!(retry && body.contains("queue is full"), "{body}");
    }
    sqlx::query("ROLLBACK")
        .execute(&mut *lock)
        .await
        .expect("release");
    drop(lock);
    for waiting in [first, second] {
        let (status, _, body) = waiting.await.expect("task");
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        app.count("events").await,
        3 * 2,
        "refused requests stored nothing"
    );
    assert_eq!(app.metric("vigia_intake_pending").await, Some(0.0));
}

/// Group commit: requests that arrive while a commit is under way are written together,
/// in one transaction, and each is answered after it.
async fn requests_waiting_together_share_one_commit(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut lock = app.hold_writer(backend).await;
    let posts: Vec<_> = (1..=10)
        .map(|n| {
            let request = app.ingest_request("alertmanager", app.distinct_group(n));
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    app.wait_for_pending(10.0).await;
    let commits_before = app
        .metric("vigia_intake_batch_alerts_count")
        .await
        .unwrap_or(0.0);
    sqlx::query("ROLLBACK")
        .execute(&mut *lock)
        .await
        .expect("release");
    drop(lock);
    for post in posts {
        assert_eq!(post.await.expect("task").expect("answered"), 200);
    }
    // The writer held the first request (or the first few) while it waited; the others
    // queued behind and went in the next transaction together: 10 requests, ≤ 2 commits.
    let commits = app
        .metric("vigia_intake_batch_alerts_count")
        .await
        .expect("exported")
        - commits_before;
    assert!(
        (1.0..=2.0).contains(&commits),
        "{commits} commits for 10 requests"
    );
    assert_eq!(
        app.metric("vigia_intake_batch_alerts_sum").await,
        Some(30.0)
    );
    assert_eq!(app.count("events").await, 30);
}
