//! Notifications end to end: notices written in a transaction through the app's
//! `Notifier`, sent by its dispatcher to a real SMTP listener and to a webhook receiver,
//! with retries and give-ups recorded in the outbox.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::Arc;
use vigia::config::Config;
use vigia::domain::Lang;

use vigia::metrics::Metrics;
use vigia::notify::{Dispatcher, Notice, Notifier, NotifyConfig, Recipient, TicketFacts, Topic};
use vigia::store::Store;

use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::on_both_stores;
use crate::smtp_sink::SmtpSink;
use crate::webhook_sink::HookServer;

const WEBHOOK_SECRET: &str = "s3cr3t-de-dinafi";

fn person(login: &str, name: &str, lang: Lang) -> Recipient {
    Recipient {
        login: login.to_owned(),
        name: name.to_owned(),
        email: format!("{login}@mh.gob.sv"),
        language: lang,
    }
}

fn notice(topic: Topic, recipient: Recipient, ticket: &str) -> Notice {
    Notice {
        topic,
        recipient,
        ticket: TicketFacts {
            id: ticket.to_owned(),
            kind: "incident".to_owned(),
            summary: "Caída del SIAFI en producción".to_owned(),
            unit: Some("DINAFI".to_owned()),
            state: "assigned".to_owned(),
            priority: Some("P1".to_owned()),
            actor: "system".to_owned(),
            comment: None,
            solution: None,
            resolution_code: None,
            resume_at: None,
            sla_metric: None,
            due_at: None,
        },
    }
}

/// Fast retries, quick polling; email to `smtp` when given.
fn fast(config: &mut Config, smtp: Option<&SmtpSink>) {
    config.notify.poll_interval_ms = 100;
    config.notify.retry_base_ms = 50;
    if let Some(sink) = smtp {
        config.notify.smtp_url = sink.url();
    }
}

/// What the desk does: enqueue inside the change's transaction, commit, wake.
async fn commit_notices(app: &TestApp, notices: &[Notice]) {
    let mut tx = app.state.store.begin_write().await.expect("transaction");
    let now = jiff::Timestamp::now().as_millisecond();
    app.state
        .notifier
        .enqueue(&mut tx, notices, now)
        .await
        .expect("enqueued");
    tx.commit().await.expect("committed");
    app.state.notifier.wake();
}

#[derive(Debug, sqlx::FromRow)]
struct OutboxRow {
    channel: String,
    recipient: String,
    attempts: i64,
    sent_at: Option<i64>,
    failed_at: Option<i64>,
    last_error: Option<String>,
}

async fn outbox(app: &TestApp, ticket: &str) -> Vec<OutboxRow> {
    sqlx::query_as(
        "SELECT channel, recipient, attempts, sent_at, failed_at, last_error \
         FROM outbox WHERE ticket_id = $1 ORDER BY channel",
    )
    .bind(ticket)
    .fetch_all(app.pool())
    .await
    .expect("outbox rows")
}

/// The ticket's outbox rows once `check` holds (10 s at most).
async fn outbox_until(
    app: &TestApp,
    ticket: &str,
    check: impl Fn(&[OutboxRow]) -> bool,
) -> Vec<OutboxRow> {
    for _ in 0..200 {
        let rows = outbox(app, ticket).await;
        if check(&rows) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "outbox of {ticket} never satisfied the check: {:#?}",
        outbox(app, ticket).await
    );
}

fn settled(rows: &[OutboxRow]) -> bool {
    !rows.is_empty()
        && rows
            .iter()
            .all(|r| r.sent_at.is_some() || r.failed_at.is_some())
}

/// Waits (10 s at most) until a series on `/metrics` has `value`.
async fn metric_reaches(app: &TestApp, series: &str, value: f64) {
    for _ in 0..200 {
        if app.metric(series).await == Some(value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{series} is {:?}, not {value}", app.metric(series).await);
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

async fn notices_are_emailed_to_each_recipient_in_their_language(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(backend, |c| fast(c, Some(&sink))).await;
    let assigned = notice(
        Topic::Assigned,
        person("jperez", "José Pérez", Lang::Es),
        "inc_01notify",
    );
    let mut resolved = notice(
        Topic::Resolved,
        person("asmith", "Anne Smith", Lang::En),
        "req_01notify",
    );
    resolved.ticket.kind = "service_request".to_owned();
    resolved.ticket.summary = "Impresora sin tóner".to_owned();
    resolved.ticket.actor = "mlopez".to_owned();
    resolved.ticket.solution = Some("Se cambió el cartucho de tóner.".to_owned());
    resolved.ticket.resolution_code = Some("solved".to_owned());
    commit_notices(&app, &[assigned, resolved]).await;

    let es = sink.wait_for(|m| m.to == ["jperez@mh.gob.sv"]).await;
    assert_eq!(
        es.subject(),
        "Se le asignó el incidente inc_01notify «Caída del SIAFI en producción»"
    );
    let body = es.body();
    assert!(body.starts_with("Estimado(a) José Pérez:\n"), "{body}");
    assert!(body.contains("Prioridad: P1\n"), "{body}");
    assert!(
        body.contains("Asignación realizada por: la Mesa de Servicio (automática)"),
        "{body}"
    );
    assert_eq!(
        es.header_to(),
        (
            Some("José Pérez".to_owned()),
            Some("jperez@mh.gob.sv".to_owned())
        )
    );
    assert_eq!(
        es.header_from(),
        (
            Some("Mesa de Servicio".to_owned()),
            Some("mesa.servicio@mh.gob.sv".to_owned())
        )
    );
    assert_eq!(es.from, "mesa.servicio@mh.gob.sv");
    assert_eq!(es.header("X-Vigia-Ticket").as_deref(), Some("inc_01notify"));

    let en = sink.wait_for(|m| m.to == ["asmith@mh.gob.sv"]).await;
    assert_eq!(
        en.subject(),
        "Your service request req_01notify was resolved: “Impresora sin tóner”"
    );
    let body = en.body();
    assert!(body.starts_with("Dear Anne Smith,\n"), "{body}");
    assert!(
        body.contains("Solution:\nSe cambió el cartucho de tóner.\n"),
        "{body}"
    );
    assert!(body.contains("Resolution code: Solved\n"), "{body}");

    for ticket in ["inc_01notify", "req_01notify"] {
        let rows = outbox_until(&app, ticket, settled).await;
        assert_eq!(rows.len(), 1, "one email, no webhook: {rows:?}");
        assert_eq!(rows[0].channel, "email");
        assert_eq!(rows[0].attempts, 1, "{rows:?}");
        assert!(rows[0].sent_at.is_some(), "{rows:?}");
    }
    metric_reaches(
        &app,
        r#"vigia_notifications_total{channel="email",outcome="sent"}"#,
        2.0,
    )
    .await;
    metric_reaches(&app, "vigia_notifications_pending", 0.0).await;
    assert_eq!(sink.messages().len(), 2, "each email sent once");
}

async fn a_rolled_back_change_notifies_nobody(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(backend, |c| fast(c, Some(&sink))).await;
    let mut tx = app.state.store.begin_write().await.expect("transaction");
    let undone = notice(
        Topic::Assigned,
        person("jperez", "José Pérez", Lang::Es),
        "inc_undone",
    );
    let now = jiff::Timestamp::now().as_millisecond();
    app.state
        .notifier
        .enqueue(&mut tx, &[undone], now)
        .await
        .expect("enqueued");
    tx.rollback().await.expect("rolled back");

    let kept = notice(
        Topic::Assigned,
        person("mlopez", "María López", Lang::Es),
        "inc_kept",
    );
    commit_notices(&app, &[kept]).await;
    sink.wait_for(|m| m.to == ["mlopez@mh.gob.sv"]).await;
    assert!(outbox(&app, "inc_undone").await.is_empty());
    let sent: Vec<Vec<String>> = sink.messages().into_iter().map(|m| m.to).collect();
    assert_eq!(sent, [["mlopez@mh.gob.sv"]]);
}

async fn webhooks_are_signed_and_go_only_to_units_that_configured_one(backend: Backend) {
    let hook = HookServer::start(StatusCode::NO_CONTENT).await;
    // No SMTP URL: email is off, so only webhook rows are written.
    let app = spawn_app_with(backend, |c| {
        fast(c, None);
        c.notify
            .webhooks
            .insert("DINAFI".to_owned(), hook.config(WEBHOOK_SECRET));
    })
    .await;
    let mut hooked = notice(
        Topic::InfoRequested,
        person("jperez", "José Pérez", Lang::Es),
        "inc_hooked",
    );
    hooked.ticket.comment = Some("¿Desde qué equipo se conecta?".to_owned());
    let mut other_unit = notice(
        Topic::Assigned,
        person("mlopez", "María López", Lang::Es),
        "inc_other_unit",
    );
    other_unit.ticket.unit = Some("DGII".to_owned());
    let before = jiff::Timestamp::now().as_second();
    commit_notices(&app, &[hooked, other_unit]).await;

    let rows = outbox_until(&app, "inc_hooked", settled).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].channel, "webhook");
    assert_eq!(rows[0].recipient, hook.url);
    assert!(rows[0].sent_at.is_some(), "{rows:?}");
    assert!(outbox(&app, "inc_other_unit").await.is_empty());

    let calls = hook.calls();
    assert_eq!(calls.len(), 1, "one call, for DINAFI only");
    let (headers, body) = &calls[0];
    assert_eq!(header(headers, "content-type"), "application/json");
    let timestamp = header(headers, "x-vigia-timestamp");
    let sent_at: i64 = timestamp.parse().expect("unix seconds");
    assert!(
        (before..=before + 30).contains(&sent_at),
        "{sent_at} vs {before}"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header(headers, "x-vigia-signature"), expected);

    let json: Value = serde_json::from_str(body).expect("JSON body");
    assert_eq!(json["topic"], "info_requested");
    assert_eq!(json["recipient"], "jperez");
    assert_eq!(json["ticket"]["id"], "inc_hooked");
    assert_eq!(json["ticket"]["unit"], "DINAFI");
    assert_eq!(json["ticket"]["comment"], "¿Desde qué equipo se conecta?");
    let stamped: jiff::Timestamp = json["sent_at"]
        .as_str()
        .expect("sent_at")
        .parse()
        .expect("RFC 3339");
    assert!((stamped.as_second() - before).abs() <= 30, "{stamped}");
    assert!(!body.contains(WEBHOOK_SECRET));
}

async fn a_refused_email_is_retried_until_the_server_takes_it(backend: Backend) {
    let sink = SmtpSink::refusing(1).await;
    let app = spawn_app_with(backend, |c| fast(c, Some(&sink))).await;
    let assigned = notice(
        Topic::Assigned,
        person("jperez", "José Pérez", Lang::Es),
        "inc_retried",
    );
    commit_notices(&app, &[assigned]).await;

    let mail = sink.wait_for(|m| m.to == ["jperez@mh.gob.sv"]).await;
    assert!(mail.subject().contains("inc_retried"), "{}", mail.subject());
    assert_eq!(sink.refused(), 1);
    let rows = outbox_until(&app, "inc_retried", settled).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].attempts, 2, "refused once, then sent: {rows:?}");
    assert!(
        rows[0].sent_at.is_some() && rows[0].failed_at.is_none(),
        "{rows:?}"
    );
    let error = rows[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("451"), "the refusal is recorded: {error}");
    metric_reaches(
        &app,
        r#"vigia_notifications_total{channel="email",outcome="retry"}"#,
        1.0,
    )
    .await;
    assert_eq!(sink.messages().len(), 1, "sent once");
}

async fn a_failing_webhook_is_given_up_after_max_attempts_and_email_still_goes(backend: Backend) {
    let sink = SmtpSink::start().await;
    let hook = HookServer::start(StatusCode::INTERNAL_SERVER_ERROR).await;
    let app = spawn_app_with(backend, |c| {
        fast(c, Some(&sink));
        c.notify.max_attempts = 3;
        c.notify
            .webhooks
            .insert("DINAFI".to_owned(), hook.config(WEBHOOK_SECRET));
    })
    .await;
    let assigned = notice(
        Topic::Assigned,
        person("jperez", "José Pérez", Lang::Es),
        "inc_hook_down",
    );
    commit_notices(&app, &[assigned]).await;

    let rows = outbox_until(&app, "inc_hook_down", |rows| {
        rows.len() == 2 && settled(rows)
    })
    .await;
    let (email, webhook) = (&rows[0], &rows[1]);
    assert_eq!(email.channel, "email");
    assert!(email.sent_at.is_some(), "{rows:?}");
    assert_eq!(email.attempts, 1, "{rows:?}");
    assert_eq!(webhook.channel, "webhook");
    assert!(
        webhook.failed_at.is_some() && webhook.sent_at.is_none(),
        "{rows:?}"
    );
    assert_eq!(webhook.attempts, 3, "{rows:?}");
    let error = webhook.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("500"), "{error}");
    assert_eq!(hook.calls().len(), 3, "one call per attempt, then none");
    sink.wait_for(|m| m.to == ["jperez@mh.gob.sv"]).await;
    metric_reaches(
        &app,
        r#"vigia_notifications_total{channel="webhook",outcome="failed"}"#,
        1.0,
    )
    .await;
    metric_reaches(
        &app,
        r#"vigia_notifications_total{channel="webhook",outcome="retry"}"#,
        2.0,
    )
    .await;
    metric_reaches(&app, "vigia_notifications_pending", 0.0).await;
}

async fn replicas_sharing_a_database_send_each_notification_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(backend, |c| fast(c, Some(&sink))).await;
    let notices: Vec<Notice> = (0..40)
        .map(|i| {
            let login = format!("tecnico{i:02}");
            let name = format!("Técnico {i}");
            notice(
                Topic::Assigned,
                person(&login, &name, Lang::Es),
                &format!("inc_replica{i:02}"),
            )
        })
        .collect();
    // Two more dispatchers, as other replicas would run them, on their own pools.
    let config = NotifyConfig {
        smtp_url: sink.url(),
        ..NotifyConfig::default()
    };
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let store = Store::connect(&app.database_url, 2).await.expect("store");
        let notifier = Arc::new(Notifier::new(&config).expect("notifier"));
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        replicas.push(Dispatcher::new(store, notifier, metrics));
    }
    commit_notices(&app, &notices).await;
    let (a, b) = tokio::join!(replicas[0].dispatch_due(), replicas[1].dispatch_due());
    a.expect("replica a");
    b.expect("replica b");

    for i in 0..40 {
        let ticket = format!("inc_replica{i:02}");
        let rows = outbox_until(&app, &ticket, settled).await;
        assert_eq!(rows[0].attempts, 1, "{rows:?}");
    }
    let mut to: Vec<String> = sink.messages().into_iter().flat_map(|m| m.to).collect();
    to.sort();
    let expected: Vec<String> = (0..40)
        .map(|i| format!("tecnico{i:02}@mh.gob.sv"))
        .collect();
    assert_eq!(to, expected, "each email sent exactly once");
}

on_both_stores!(
    notices_are_emailed_to_each_recipient_in_their_language,
    a_rolled_back_change_notifies_nobody,
    webhooks_are_signed_and_go_only_to_units_that_configured_one,
    a_refused_email_is_retried_until_the_server_takes_it,
    a_failing_webhook_is_given_up_after_max_attempts_and_email_still_goes,
    replicas_sharing_a_database_send_each_notification_once,
);
