//! Every error answer is an RFC 9457 problem, and nothing accepted earlier is lost.

use reqwest::{Method, Response};
use serde_json::Value;

use crate::helpers::{fixture, spawn_app, spawn_app_with, Backend};
use crate::on_both_stores;

on_both_stores!(
    a_source_over_its_rate_limit_gets_429_with_retry_after_and_keeps_what_was_accepted,
    malformed_json_is_a_400_with_the_parsers_position,
    a_wrong_content_type_is_a_415,
    an_unknown_source_is_a_404,
    a_payload_that_matches_no_rule_is_a_422_naming_the_source_and_why,
    a_group_with_one_unreadable_alert_stores_the_others_and_says_which,
    missing_or_invalid_tokens_are_401_and_wrong_roles_403,
    a_body_over_the_limit_is_a_413,
    a_bad_request_loses_nothing_already_accepted,
    a_database_failure_is_a_503_and_the_alert_is_not_half_stored,
    unknown_endpoints_and_methods_are_problems_too,
    bad_listing_parameters_are_400,
    nul_characters_in_alert_text_are_dropped_and_the_alert_stored,
);

/// Asserts a problem-details answer and returns its body.
async fn problem(resp: Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let content_type = resp.headers()["content-type"]
        .to_str()
        .expect("header")
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = resp.json().await.expect("problem body");
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code);
    assert_eq!(body["type"], format!("urn:vigia:problem:{code}"));
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

async fn malformed_json_is_a_400_with_the_parsers_position(backend: Backend) {
    let app = spawn_app(backend).await;
    let resp = app
        .post_alerts(
            "alertmanager",
            "{\n  \"version\": \"4\",\n  \"alerts\": [tru",
        )
        .await;
    let body = problem(resp, 400, "malformed_json").await;
    let detail = body["detail"].as_str().expect("detail");
    assert!(detail.contains("line 3 column"), "{detail}");
}

async fn a_wrong_content_type_is_a_415(backend: Backend) {
    let app = spawn_app(backend).await;
    let resp = app
        .client
        .post(format!("{}/api/v1/ingest/alertmanager", app.base))
        .bearer_auth(&app.monitor_token)
        .header("content-type", "text/plain")
        .body(fixture("alertmanager/group-firing.json"))
        .send()
        .await
        .expect("sent");
    let body = problem(resp, 415, "unsupported_media_type").await;
    assert!(body["detail"]
        .as_str()
        .expect("detail")
        .contains("text/plain"));
}

async fn an_unknown_source_is_a_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let resp = app.post_alerts("zabbix", "{}").await;
    let body = problem(resp, 404, "not_found").await;
    assert!(body["detail"].as_str().expect("detail").contains("zabbix"));
}

async fn a_payload_that_matches_no_rule_is_a_422_naming_the_source_and_why(backend: Backend) {
    let app = spawn_app(backend).await;
    let resp = app
        .post_alerts("alertmanager", r#"{"version":"3","alerts":[]}"#)
        .await;
    let body = problem(resp, 422, "unprocessable_payload").await;
    let detail = body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("`alertmanager`") && detail.contains("$.version"),
        "{detail}"
    );
    assert_eq!(body["errors"].as_array().expect("errors").len(), 1);

    // A group where no alert can be read is refused whole, saying why for each.
    let unreadable =
        r#"{"version":"4","alerts":[{"labels":{"alertname":"A"}},{"labels":{"alertname":"B"}}]}"#;
    let resp = app.post_alerts("alertmanager", unreadable).await;
    let body = problem(resp, 422, "unprocessable_payload").await;
    assert_eq!(
        body["errors"],
        serde_json::json!([
            "alert #0: fingerprint field is missing",
            "alert #1: fingerprint field is missing"
        ])
    );
    assert!(
        app.events("").await.is_empty(),
        "nothing of a refused payload is stored"
    );
}

async fn a_group_with_one_unreadable_alert_stores_the_others_and_says_which(backend: Backend) {
    let app = spawn_app(backend).await;
    // Alertmanager does not retry a 4xx: refusing the group would lose its good alerts.
    let broken = fixture("alertmanager/group-firing.json")
        .replace(",\"fingerprint\":\"a9a2e51bcbe19e32\"", "");
    let answer = app.ingest("alertmanager", &broken).await;
    assert_eq!(answer["alerts"].as_array().expect("alerts").len(), 2);
    assert_eq!(
        answer["refused"],
        serde_json::json!([{"index": 1, "reason": "fingerprint field is missing"}])
    );
    assert_eq!(app.events("").await.len(), 2);
    let metrics = app
        .send(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .contains(r#"vigia_alerts_received_total{outcome="refused",source="alertmanager"} 1"#),
        "{metrics}"
    );
}

async fn missing_or_invalid_tokens_are_401_and_wrong_roles_403(backend: Backend) {
    let app = spawn_app(backend).await;
    let group = fixture("alertmanager/group-firing.json");
    let resp = app
        .send(
            Method::POST,
            "/api/v1/ingest/alertmanager",
            Some(&group),
            None,
        )
        .await;
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    problem(resp, 401, "unauthorized").await;
    let resp = app
        .send(
            Method::POST,
            "/api/v1/ingest/alertmanager",
            Some(&group),
            Some("vga_forged"),
        )
        .await;
    problem(resp, 401, "unauthorized").await;
    let resp = app.send(Method::GET, "/api/v1/events", None, None).await;
    problem(resp, 401, "unauthorized").await;

    // A source's token may send alerts but not read the desk's data.
    let resp = app
        .send(
            Method::GET,
            "/api/v1/incidents",
            None,
            Some(&app.monitor_token),
        )
        .await;
    let body = problem(resp, 403, "forbidden").await;
    assert!(body["detail"].as_str().expect("detail").contains("person"));
    // The admin may send alerts by hand.
    let resp = app
        .send(
            Method::POST,
            "/api/v1/ingest/alertmanager",
            Some(&group),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(resp.status(), 200);
}

async fn a_body_over_the_limit_is_a_413(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.server.body_limit = 2048).await;
    let mut payload: Value =
        serde_json::from_str(&fixture("alertmanager/instance-down-firing.json")).expect("json");
    payload["padding"] = "x".repeat(4096).into();
    let resp = app.post_alerts("alertmanager", &payload.to_string()).await;
    let body = problem(resp, 413, "payload_too_large").await;
    assert!(body["detail"].as_str().expect("detail").contains("2048"));
    // Under the limit, the same alert is accepted.
    app.ingest(
        "alertmanager",
        &fixture("alertmanager/instance-down-firing.json"),
    )
    .await;
}

async fn a_bad_request_loses_nothing_already_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    app.ingest("alertmanager", &fixture("alertmanager/group-firing.json"))
        .await;
    let before = app.events("").await;
    for bad in [
        "{",
        r#"{"version":"4","alerts":[{"status":"firing"}]}"#,
        "[]",
    ] {
        let resp = app.post_alerts("alertmanager", bad).await;
        assert!(resp.status().is_client_error(), "{bad}");
    }
    assert_eq!(app.events("").await, before);
    assert_eq!(app.incidents("").await.len(), 2);
}

async fn a_database_failure_is_a_503_and_the_alert_is_not_half_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    app.ingest(
        "alertmanager",
        &fixture("alertmanager/instance-down-firing.json"),
    )
    .await;
    // Fault: linking an event to its incident fails, after the raw payload and the
    // event rows were written in the same transaction.
    let (inject, repair): (&[&str], &str) = match backend {
        Backend::Sqlite => (
            &[
                "CREATE TRIGGER fail_links BEFORE INSERT ON incident_events \
               BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            ],
            "DROP TRIGGER fail_links",
        ),
        Backend::Postgres => (
            &[
                "CREATE FUNCTION fail_links() RETURNS trigger LANGUAGE plpgsql \
                 AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$",
                "CREATE TRIGGER fail_links BEFORE INSERT ON incident_events \
                 FOR EACH ROW EXECUTE FUNCTION fail_links()",
            ],
            "DROP TRIGGER fail_links ON incident_events",
        ),
    };
    for sql in inject {
        sqlx::query(sql)
            .execute(app.pool())
            .await
            .expect("inject fault");
    }
    let resp = app
        .post_alerts("alertmanager", &fixture("alertmanager/group-firing.json"))
        .await;
    assert_eq!(resp.headers()["retry-after"], "1");
    problem(resp, 503, "unavailable").await;
    let metrics = app
        .send(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("vigia_intake_batch_fallbacks_total 1"),
        "{metrics}"
    );
    sqlx::query(repair)
        .execute(app.pool())
        .await
        .expect("repair");
    let (raw,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM raw_alerts")
        .fetch_one(app.pool())
        .await
        .expect("count");
    assert_eq!(raw, 1, "the failed payload left no raw copy");
    assert_eq!(app.events("").await.len(), 1, "and no events");
    // Alertmanager retries a 5xx: once the store is healthy the retry goes through.
    app.ingest("alertmanager", &fixture("alertmanager/group-firing.json"))
        .await;
    assert_eq!(app.events("").await.len(), 4);
}

async fn unknown_endpoints_and_methods_are_problems_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let resp = app.as_admin(Method::GET, "/api/v1/nothing-here").await;
    problem(resp, 404, "not_found").await;
    let resp = app.as_admin(Method::DELETE, "/api/v1/events").await;
    problem(resp, 405, "method_not_allowed").await;
    let resp = app
        .as_admin(Method::GET, "/api/v1/events/evt_missing")
        .await;
    let body = problem(resp, 404, "not_found").await;
    assert!(body["detail"]
        .as_str()
        .expect("detail")
        .contains("evt_missing"));
}

async fn bad_listing_parameters_are_400(backend: Backend) {
    let app = spawn_app(backend).await;
    for query in [
        "?severity=urgent",
        "?status=sleeping",
        "?since=yesterday",
        "?limit=0",
        "?limit=501",
        "?limit=abc",
    ] {
        let resp = app
            .as_admin(Method::GET, &format!("/api/v1/events{query}"))
            .await;
        problem(resp, 400, "bad_request").await;
    }
}

async fn a_source_over_its_rate_limit_gets_429_with_retry_after_and_keeps_what_was_accepted(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |c| {
        c.intake.rate_limit.sources.insert("alertmanager".into(), 2);
    })
    .await;
    let body = fixture("alertmanager/instance-down-firing.json");
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..3 {
        let resp = app.post_alerts("alertmanager", &body).await;
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            limited = Some(resp);
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    let resp = limited.expect("a refused request");
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&wait), "{wait}");
    let problem: Value = resp.json().await.expect("problem");
    assert_eq!(problem["code"], "rate_limited");
    assert_eq!(problem["status"], 429);
    assert!(problem["detail"]
        .as_str()
        .expect("detail")
        .contains("nothing of this request was stored"));
    // The two accepted copies of the alert are one event seen twice.
    let events = app.events("?source=alertmanager").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["count"], 2);
    let series = "vigia_ingest_limited_total{limit=\"source\",source=\"alertmanager\"}";
    assert_eq!(app.metric(series).await, Some(1.0));
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    assert_eq!(app.post_alerts("alertmanager", &body).await.status(), 200);
}

async fn nul_characters_in_alert_text_are_dropped_and_the_alert_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = fixture("alertmanager/instance-down-firing.json").replacen(
        "\"summary\":\"",
        "\"summary\":\"\\u0000",
        1,
    );
    assert!(body.contains("\\u0000"), "the fixture has a summary");
    let answer = app.ingest("alertmanager", &body).await;
    assert_eq!(answer["alerts"][0]["outcome"], "created", "{answer}");
    let events = app.events("").await;
    let summary = events[0]["summary"].as_str().expect("summary");
    assert!(
        !summary.contains('\0') && !summary.is_empty(),
        "{summary:?}"
    );
}
