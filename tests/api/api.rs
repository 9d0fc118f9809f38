//! Listing, reading and acknowledging events and incidents; the OpenAPI document.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{fixture, items, spawn_app, Backend};
use crate::on_both_stores;

on_both_stores!(
    listings_are_newest_first_with_filters_and_cursor_pages,
    an_incident_shows_its_events,
    acknowledging_records_who_and_when_and_repeating_it_is_harmless,
);

async fn listings_are_newest_first_with_filters_and_cursor_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    app.ingest("alertmanager", &fixture("alertmanager/group-firing.json"))
        .await;
    app.ingest(
        "alertmanager",
        &fixture("alertmanager/group-one-resolved.json"),
    )
    .await;
    app.ingest("uptime", &fixture("uptime/uptime-probe.json"))
        .await;

    let all = app.events("").await;
    assert_eq!(all.len(), 4);
    let ids: Vec<&str> = all.iter().map(|e| e["id"].as_str().expect("id")).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");
    assert_eq!(
        all[0]["source"], "uptime",
        "the last alert received is first"
    );

    // Pages of 3 then 1, following the cursor; together they are the whole listing.
    let first = app.get("/api/v1/events?limit=3").await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = app
        .get(&format!("/api/v1/events?limit=3&cursor={cursor}"))
        .await;
    assert_eq!(second["next_cursor"], Value::Null);
    let paged: Vec<Value> = items(first).into_iter().chain(items(second)).collect();
    assert_eq!(paged, all);

    assert_eq!(app.events("?status=resolved").await.len(), 1);
    assert_eq!(
        app.events("?status=open&source=alertmanager").await.len(),
        2
    );
    let critical = app.events("?severity=critical").await;
    assert_eq!(critical.len(), 2);
    assert!(critical.iter().all(|e| e["severity"] == "critical"));
    assert_eq!(app.events("?source=uptime").await.len(), 1);
    assert_eq!(app.events("?since=2000-01-01T00:00:00Z").await.len(), 4);
    assert!(app.events("?since=2999-01-01T00:00:00Z").await.is_empty());

    assert_eq!(app.incidents("?severity=major").await.len(), 1);
    assert_eq!(app.incidents("?source=uptime").await.len(), 1);
    let page = app.get("/api/v1/incidents?limit=2").await;
    assert_eq!(items(page.clone()).len(), 2);
    assert!(page["next_cursor"].is_string());
}

async fn an_incident_shows_its_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let answer = app
        .ingest(
            "alertmanager",
            &fixture("alertmanager/instance-down-firing.json"),
        )
        .await;
    let incident_id = answer["alerts"][0]["incident_id"]
        .as_str()
        .expect("incident");
    let incident = app.get(&format!("/api/v1/incidents/{incident_id}")).await;
    assert_eq!(incident["id"], incident_id);
    assert_eq!(incident["summary"], "Instance 127.0.0.1:19555 down");
    assert_eq!(incident["severity"], "critical");
    let events = incident["events"].as_array().expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], answer["alerts"][0]["event_id"]);
    assert_eq!(events[0]["incident_id"], incident_id);
}

async fn acknowledging_records_who_and_when_and_repeating_it_is_harmless(backend: Backend) {
    let app = spawn_app(backend).await;
    let answer = app
        .ingest(
            "alertmanager",
            &fixture("alertmanager/instance-down-firing.json"),
        )
        .await;
    let event_id = answer["alerts"][0]["event_id"].as_str().expect("event");
    let incident_id = answer["alerts"][0]["incident_id"]
        .as_str()
        .expect("incident");
    for path in [
        format!("/api/v1/events/{event_id}/ack"),
        format!("/api/v1/incidents/{incident_id}/ack"),
    ] {
        let first: Value = app
            .as_admin(Method::POST, &path)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(first["acked_by"], "admin.mesa");
        let acked_at = first["acked_at"].as_str().expect("acked_at").to_owned();
        let second = app.as_admin(Method::POST, &path).await;
        assert_eq!(second.status(), 200);
        let second: Value = second.json().await.expect("json");
        assert_eq!(
            second["acked_at"],
            acked_at.as_str(),
            "the first acknowledgement is kept"
        );
    }
    assert_eq!(
        app.get(&format!("/api/v1/events/{event_id}")).await["acked_by"],
        "admin.mesa"
    );
    let resp = app
        .as_admin(Method::POST, "/api/v1/incidents/inc_nope/ack")
        .await;
    assert_eq!(resp.status(), 404);
    let resp = app
        .send(
            Method::POST,
            &format!("/api/v1/events/{event_id}/ack"),
            None,
            Some(&app.monitor_token),
        )
        .await;
    assert_eq!(resp.status(), 403, "sources cannot acknowledge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_exactly_the_served_routes() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc: Value = app
        .send(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    let mut documented = BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let expected: BTreeSet<String> = [
        "POST /api/v1/ingest/{source}",
        "POST /api/v1/ingest/pagerduty",
        "POST /v2/enqueue",
        "GET /api/v1/events",
        "GET /api/v1/events/{id}",
        "POST /api/v1/events/{id}/ack",
        "GET /api/v1/incidents",
        "GET /api/v1/incidents/{id}",
        "POST /api/v1/incidents/{id}/ack",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /api/v1/units",
        "GET /api/v1/units/{code}",
        "PUT /api/v1/units/{code}",
        "DELETE /api/v1/units/{code}",
        "GET /api/v1/cis",
        "POST /api/v1/cis",
        "GET /api/v1/cis/{id}",
        "PUT /api/v1/cis/{id}",
        "DELETE /api/v1/cis/{id}",
        "GET /api/v1/cis/{id}/impact",
        "GET /api/v1/cis/{id}/dependencies",
        "POST /api/v1/cis:import",
        "GET /api/v1/people",
        "PATCH /api/v1/people/{login}",
        "POST /api/v1/people/{login}/tokens",
        "GET /api/v1/tokens",
        "DELETE /api/v1/tokens/{id}",
        "GET /api/v1/groups",
        "GET /api/v1/units/{code}/review",
        "GET /api/v1/tickets",
        "POST /api/v1/tickets",
        "GET /api/v1/tickets/{id}",
        "GET /api/v1/tickets/{id}/attachments",
        "GET /api/v1/tickets/{id}/attachments/{attachment_id}",
        "GET /api/v1/tickets/{id}/history",
        "POST /api/v1/tickets/{id}/{action}",
        "GET /api/v1/maintenance",
        "POST /api/v1/maintenance",
        "GET /api/v1/maintenance/{id}",
        "DELETE /api/v1/maintenance/{id}",
        "GET /api/v1/silences",
        "POST /api/v1/silences",
        "GET /api/v1/silences/{id}",
        "DELETE /api/v1/silences/{id}",
        "GET /api/v1/reports/monthly",
        "GET /api/v1/reports/snapshots",
        "GET /api/v1/reports/snapshots/{id}",
        "POST /api/v1/chat/telegram",
        "POST /api/v1/chat/bots/{bot}",
        "GET /api/v1/chat/refusals",
        "GET /api/v1/people/{login}/chat",
        "PUT /api/v1/people/{login}/chat/{platform}",
        "DELETE /api/v1/people/{login}/chat/{platform}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(documented, expected);

    // Every documented operation is really routed: the router's own "no such endpoint"
    // and "method not allowed" answers never come back.
    for operation in &documented {
        let (method, path) = operation.split_once(' ').expect("method and path");
        let path = path
            .replace("{source}", "alertmanager")
            .replace("{id}", "x_unknown");
        let method: Method = method.parse().expect("method");
        let body = (method == Method::POST).then_some("{}");
        let resp = app.send(method, &path, body, Some(&app.admin_token)).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        assert_ne!(status, 405, "{operation}");
        assert!(
            !text.contains("no such endpoint"),
            "{operation} is documented but not routed"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_are_utc_with_three_decimals_so_they_sort_as_text() {
    let app = spawn_app(Backend::Sqlite).await;
    app.ingest("alertmanager", &fixture("alertmanager/group-firing.json"))
        .await;
    app.ingest(
        "alertmanager",
        &fixture("alertmanager/group-one-resolved.json"),
    )
    .await;
    let events = app.events("").await;
    for event in &events {
        for field in ["first_seen", "last_seen", "starts_at"] {
            let text = event[field].as_str().expect("time");
            assert_eq!(
                text.len(),
                "2026-11-30T00:01:33.000Z".len(),
                "{field}: {text}"
            );
            assert!(text.ends_with('Z'));
        }
    }
    assert_eq!(
        events
            .iter()
            .find(|e| e["status"] == "resolved")
            .expect("resolved")["ends_at"],
        "2026-11-30T00:01:33.000Z"
    );
}
