//! Each source's own credentials: a signed body (HMAC-SHA256 with a timestamp) or only
//! the tokens named for it; every refusal a 401 counted by source and reason.

use reqwest::Response;
use serde_json::Value;
use vigia::auth::{create_token, Role};
use vigia::ingest::credentials::{sign, AuthKind, SourceAuth};

use crate::helpers::{fixture, spawn_app_with, Backend, TestApp};
use crate::on_both_stores;

on_both_stores!(
    a_signing_source_takes_signed_bodies_and_refuses_bad_stale_or_missing_signatures,
    a_source_limited_to_its_own_tokens_refuses_the_others,
);

fn signing() -> SourceAuth {
    SourceAuth {
        auth: AuthKind::Hmac,
        secret: "clave-de-sondeo-de-prueba-0001".to_owned(),
        ..SourceAuth::default()
    }
}

async fn post_signed(app: &TestApp, body: &str, stamp: i64, signature: Option<String>) -> Response {
    let mut req = app
        .client
        .post(format!("{}/api/v1/ingest/uptime", app.base))
        .header("content-type", "application/json")
        .header("X-Vigia-Timestamp", stamp.to_string());
    if let Some(signature) = signature {
        req = req.header("X-Vigia-Signature", signature);
    }
    req.body(body.to_owned()).send().await.expect("sent")
}

async fn unauthorized(resp: Response) -> String {
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.expect("problem");
    assert_eq!(body["code"], "unauthorized");
    body["detail"].as_str().expect("detail").to_owned()
}

async fn refusals(app: &TestApp, source: &str, reason: &str) -> Option<f64> {
    app.metric(&format!(
        r#"vigia_ingest_unauthorized_total{{reason="{reason}",source="{source}"}}"#
    ))
    .await
}

async fn a_signing_source_takes_signed_bodies_and_refuses_bad_stale_or_missing_signatures(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |c| {
        c.intake.sources.insert("uptime".into(), signing());
    })
    .await;
    let body = fixture("uptime/uptime-probe.json");
    let now = jiff::Timestamp::now().as_second();
    let good = sign(&signing(), &now.to_string(), body.as_bytes());
    let resp = post_signed(&app, &body, now, Some(good.clone())).await;
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let stored = app.events("?source=uptime").await;
    assert_eq!(stored.len(), 1);

    let recovered = fixture("uptime/uptime-probe-recovered.json");
    // The signature of another body.
    let detail = unauthorized(post_signed(&app, &recovered, now, Some(good)).await).await;
    assert_eq!(
        detail,
        "source `uptime` signs its requests: the signature does not match the body"
    );
    // A replay from six minutes ago, correctly signed then.
    let old = now - 360;
    let replay = sign(&signing(), &old.to_string(), recovered.as_bytes());
    let detail = unauthorized(post_signed(&app, &recovered, old, Some(replay)).await).await;
    assert!(detail.ends_with("at most 300 s is accepted"), "{detail}");
    let detail = unauthorized(post_signed(&app, &recovered, now, None).await).await;
    assert!(detail.contains("`X-Vigia-Signature` header"), "{detail}");
    // A token is not what this source takes.
    let detail = unauthorized(app.post_alerts("uptime", &recovered).await).await;
    assert!(detail.contains("signature"), "{detail}");

    assert_eq!(refusals(&app, "uptime", "bad_signature").await, Some(1.0));
    assert_eq!(refusals(&app, "uptime", "stale_timestamp").await, Some(1.0));
    assert_eq!(
        refusals(&app, "uptime", "missing_signature").await,
        Some(2.0)
    );
    // Nothing refused was stored, and what was accepted is intact.
    assert_eq!(app.events("?source=uptime").await, stored);
    assert_eq!(stored[0]["status"], "open");
    assert_eq!(app.count("raw_alerts").await, 1);
}

async fn a_source_limited_to_its_own_tokens_refuses_the_others(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.intake.sources.insert(
            "alertmanager".into(),
            SourceAuth {
                tokens: vec!["am-prod".into()],
                ..SourceAuth::default()
            },
        );
    })
    .await;
    let own = create_token(&app.state.store, "am-prod", Role::Monitor)
        .await
        .expect("token");
    let body = fixture("alertmanager/instance-down-firing.json");
    let send = |token: Option<String>| {
        let mut req = app
            .client
            .post(format!("{}/api/v1/ingest/alertmanager", app.base))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    let resp = send(Some(own)).await.expect("sent");
    assert_eq!(resp.status().as_u16(), 200);

    let detail = unauthorized(send(Some(app.monitor_token.clone())).await.expect("sent")).await;
    assert_eq!(
        detail,
        "token `alertmanager-test` is not one of source `alertmanager`'s credentials"
    );
    // Another source still takes any monitor token.
    let resp = app
        .post_alerts("uptime", &fixture("uptime/uptime-probe.json"))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    // The admin may test the source by hand.
    let resp = send(Some(app.admin_token.clone())).await.expect("sent");
    assert_eq!(resp.status().as_u16(), 200);
    unauthorized(send(None).await.expect("sent")).await;
    unauthorized(send(Some("vga_not-a-token".into())).await.expect("sent")).await;

    assert_eq!(
        refusals(&app, "alertmanager", "wrong_token").await,
        Some(1.0)
    );
    assert_eq!(
        refusals(&app, "alertmanager", "missing_token").await,
        Some(1.0)
    );
    assert_eq!(
        refusals(&app, "alertmanager", "invalid_token").await,
        Some(1.0)
    );
    let events = app.events("?source=alertmanager").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["count"], 2, "the two accepted copies, no more");
}
