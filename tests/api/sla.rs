//! SLA clocks through the API: what a ticket shows, pauses, warnings and breaches told
//! once (also with two replicas), and re-targeting when the priority changes.

use serde_json::{json, Value};

use crate::desk::{id, mail_to, Desk};
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::on_both_stores;
use crate::smtp_sink::SmtpSink;
use vigia::config::Config;
use vigia::sla::config::Policy;

on_both_stores!(
    a_ticket_shows_its_clocks_and_acknowledging_stops_the_first,
    a_reschedule_pauses_the_resolution_clock_and_moves_its_due_time,
    warnings_and_breaches_are_told_once_and_flag_the_ticket,
    two_replicas_tell_each_breach_once,
    a_priority_change_re_selects_the_target_from_the_ticket_creation,
    the_unit_head_reviews_open_stale_and_rescheduled_tickets,
    a_breach_due_while_the_service_was_down_is_told_after_a_restart,
    with_escalation_on_breach_a_missed_tier_one_ticket_moves_to_tier_two,
);

fn policy(name: &str, priority: Option<&str>, ack: &str, resolve: &str) -> Policy {
    Policy {
        name: name.into(),
        kind: None,
        priority: priority.map(String::from),
        unit: None,
        ci_type: None,
        acknowledge: ack.into(),
        resolve: resolve.into(),
        calendar: Some("24x7".into()),
    }
}

/// Around-the-clock targets so the figures do not depend on the hour the test runs.
fn targets(c: &mut Config, ack: &str, resolve: &str) {
    c.sla.policies = vec![policy("fast", None, ack, resolve)];
}

async fn app_with(backend: Backend, sink: &SmtpSink, ack: &str, resolve: &str) -> TestApp {
    let url = sink.url();
    let (ack, resolve) = (ack.to_owned(), resolve.to_owned());
    spawn_app_with(backend, move |c| {
        targets(c, &ack, &resolve);
        c.sla.warn_at = vec![0.5];
        c.notify.smtp_url = url;
        c.notify.poll_interval_ms = 100;
    })
    .await
}

fn clock<'a>(ticket: &'a Value, metric: &str) -> &'a Value {
    ticket["sla"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} clock: {ticket}"))
}

async fn a_ticket_shows_its_clocks_and_acknowledging_stops_the_first(backend: Backend) {
    let sink = SmtpSink::start().await;
    let desk = Desk::open(app_with(backend, &sink, "30m", "4h").await).await;
    let t = desk.request("usuario.dgt", "Instalar impresora").await;
    let resolve = clock(&t, "resolve");
    assert_eq!(resolve["policy"], "fast");
    assert_eq!(resolve["calendar"], "24x7");
    assert_eq!(resolve["target_seconds"], 4 * 3600);
    assert_eq!(resolve["state"], "running");
    assert!(resolve["remaining_seconds"].as_i64().expect("remaining") <= 4 * 3600);
    let opened: jiff::Timestamp = t["opened_at"]
        .as_str()
        .expect("opened")
        .parse()
        .expect("time");
    let due: jiff::Timestamp = resolve["original_due_at"]
        .as_str()
        .expect("due")
        .parse()
        .expect("time");
    assert_eq!(
        due.duration_since(opened),
        jiff::SignedDuration::from_hours(4)
    );

    let t = desk.ok("lucia.mendez", &id(&t), "accept", json!({})).await;
    let ack = clock(&t, "acknowledge");
    assert_eq!(
        (ack["state"].clone(), ack["met"].clone()),
        (json!("stopped"), json!(true))
    );
    assert_eq!(clock(&t, "resolve")["state"], "running");

    let solve = json!({ "solution": "Instalada", "resolution_code": "solved" });
    let t = desk.ok("lucia.mendez", &id(&t), "resolve", solve).await;
    let resolve = clock(&t, "resolve");
    assert_eq!(
        (resolve["state"].clone(), resolve["met"].clone()),
        (json!("stopped"), json!(true))
    );
    assert_eq!(t["sla_breached"], false);
}

async fn a_reschedule_pauses_the_resolution_clock_and_moves_its_due_time(backend: Backend) {
    let sink = SmtpSink::start().await;
    let desk = Desk::open(app_with(backend, &sink, "30m", "4h").await).await;
    let req = id(&desk.request("usuario.dgt", "Configurar VPN").await);
    desk.ok("lucia.mendez", &req, "accept", json!({})).await;
    let resume_at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let body = json!({ "resume_at": resume_at.to_string(), "reason": "Usuario de viaje" });
    let t = desk.ok("lucia.mendez", &req, "reschedule", body).await;
    let resolve = clock(&t, "resolve");
    assert_eq!(resolve["state"], "paused");
    assert_eq!(resolve["due_at"], Value::Null);

    let path = format!("/api/v1/tickets/{req}");
    let t = desk
        .app
        .eventually(&path, |t| t["state"] == "in_progress")
        .await;
    let resolve = clock(&t, "resolve");
    assert_eq!(resolve["state"], "running");
    let at =
        |key: &str| -> jiff::Timestamp { resolve[key].as_str().expect(key).parse().expect("time") };
    let moved = at("due_at").duration_since(at("original_due_at"));
    assert!(
        moved >= jiff::SignedDuration::from_secs(2),
        "paused time added: {moved:?}"
    );
    assert!(moved < jiff::SignedDuration::from_secs(10), "{moved:?}");
}

/// Emails to `email` whose subject contains `subject`.
fn count(sink: &SmtpSink, email: &str, subject: &str) -> usize {
    sink.messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == email) && m.subject().contains(subject))
        .count()
}

async fn warnings_and_breaches_are_told_once_and_flag_the_ticket(backend: Backend) {
    let sink = SmtpSink::start().await;
    let desk = Desk::open(app_with(backend, &sink, "2s", "1h").await).await;
    let req = id(&desk.request("usuario.dgt", "Sin acceso al correo").await);
    // Nobody accepts it: at half the target the assignee is warned, at the target the
    // unit head is told.
    let warned = mail_to(&sink, "lucia.mendez@mh.gob.sv", "Plazo por vencer").await;
    assert!(
        warned.body().contains("la atención (primera respuesta)"),
        "{}",
        warned.body()
    );
    let breached = mail_to(&sink, "pedro.guzman@mh.gob.sv", "Plazo vencido").await;
    assert!(breached.subject().contains(&req), "{}", breached.subject());
    let path = format!("/api/v1/tickets/{req}");
    let t = desk
        .app
        .eventually(&path, |t| t["sla_breached"] == true)
        .await;
    assert!(clock(&t, "acknowledge")["breached_at"].is_string());
    let history = desk.history(&req).await;
    let actions: Vec<&str> = history
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "sla_warning").count(),
        1,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "sla_breached").count(),
        1,
        "{actions:?}"
    );
    // Later passes of the timers tell nobody again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        count(&sink, "lucia.mendez@mh.gob.sv", "Plazo por vencer"),
        1
    );
    assert_eq!(count(&sink, "pedro.guzman@mh.gob.sv", "Plazo vencido"), 1);
}

async fn two_replicas_tell_each_breach_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let first = app_with(backend, &sink, "2s", "1h").await;
    let (url, smtp) = (first.database_url.clone(), sink.url());
    let second = spawn_app_with(backend, move |c| {
        c.database.url = url;
        targets(c, "2s", "1h");
        c.sla.warn_at = vec![0.5];
        c.notify.smtp_url = smtp;
        c.notify.poll_interval_ms = 100;
    })
    .await;
    let desk = Desk::open(first).await;
    let mut tickets = Vec::new();
    for n in 0..5 {
        tickets.push(id(&desk
            .request("usuario.dgt", &format!("Solicitud {n}"))
            .await));
    }
    for req in &tickets {
        let path = format!("/api/v1/tickets/{req}");
        desk.app
            .eventually(&path, |t| t["sla_breached"] == true)
            .await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(count(&sink, "pedro.guzman@mh.gob.sv", "Plazo vencido"), 5);
    assert_eq!(
        count(&sink, "lucia.mendez@mh.gob.sv", "Plazo por vencer"),
        5
    );
    drop(second);
}

async fn a_priority_change_re_selects_the_target_from_the_ticket_creation(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(backend, move |c| {
        c.sla.policies = vec![
            policy("urgent", Some("P1"), "15m", "2h"),
            policy("normal", None, "1h", "10h"),
        ];
        c.notify.smtp_url = url;
    })
    .await;
    let desk = Desk::open(app).await;
    let t = desk.request("usuario.dgt", "Pagos detenidos").await;
    let req = id(&t);
    assert_eq!(clock(&t, "resolve")["policy"], "normal");
    let started = clock(&t, "resolve")["started_at"].clone();
    // Monitoring (or a person) raises the priority.
    sqlx::query("UPDATE incidents SET priority = 'P1' WHERE id = $1")
        .bind(&req)
        .execute(desk.app.pool())
        .await
        .expect("priority raised");
    let path = format!("/api/v1/tickets/{req}");
    let t = desk
        .app
        .eventually(&path, |t| clock(t, "resolve")["policy"] == "urgent")
        .await;
    let resolve = clock(&t, "resolve");
    assert_eq!(resolve["target_seconds"], 2 * 3600);
    assert_eq!(
        resolve["started_at"], started,
        "counted from the ticket's creation"
    );
}

async fn the_unit_head_reviews_open_stale_and_rescheduled_tickets(backend: Backend) {
    let sink = SmtpSink::start().await;
    let desk = Desk::open(app_with(backend, &sink, "1h", "4h").await).await;
    let mut ids = Vec::new();
    for summary in ["Impresora", "VPN", "Correo", "Cerrado"] {
        ids.push(id(&desk.request("usuario.dgt", summary).await));
    }
    desk.ok("lucia.mendez", &ids[1], "accept", json!({})).await;
    let resume_at = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let body = json!({ "resume_at": resume_at.to_string(), "reason": "Usuario de viaje" });
    desk.ok("lucia.mendez", &ids[1], "reschedule", body).await;
    desk.ok(
        "usuario.dgt",
        &ids[3],
        "cancel",
        json!({ "reason": "withdrawn" }),
    )
    .await;
    // Nobody touched the first one for ten days.
    let ten_days_ago = vigia::domain::to_millis(jiff::Timestamp::now()) - 10 * 86_400_000;
    sqlx::query("UPDATE incidents SET updated_at = $1 WHERE id = $2")
        .bind(ten_days_ago)
        .bind(&ids[0])
        .execute(desk.app.pool())
        .await
        .expect("aged");

    let (status, review) = desk.get("jefe.dgt", "/api/v1/units/DGT/review").await;
    assert_eq!(status, 200, "{review}");
    assert_eq!(
        (review["open"].clone(), review["stale"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(
        (review["rescheduled"].clone(), review["breached"].clone()),
        (json!(1), json!(0))
    );
    let listed: Vec<&str> = review["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(
        listed,
        [ids[0].as_str(), ids[1].as_str(), ids[2].as_str()],
        "oldest first, canceled out"
    );
    let first = &review["tickets"][0];
    assert_eq!(
        (first["stale"].clone(), first["assignee"].clone()),
        (json!(true), json!("lucia.mendez"))
    );
    let remaining = first["sla_remaining_seconds"].as_i64().expect("remaining");
    assert!(
        remaining > 4 * 3600 - 120 && remaining <= 4 * 3600,
        "{remaining}"
    );
    let second = &review["tickets"][1];
    assert_eq!(second["hold_reason"], "rescheduled");
    let resumes: jiff::Timestamp = second["resume_at"]
        .as_str()
        .expect("resume")
        .parse()
        .expect("time");
    assert_eq!(resumes.as_second(), resume_at.as_second());

    for (who, expected) in [
        ("jefe.dga", 403),
        ("lucia.mendez", 403),
        ("admin.mesa", 200),
    ] {
        let (status, body) = desk.get(who, "/api/v1/units/DGT/review").await;
        assert_eq!(status, expected, "{who}: {body}");
    }
    let (status, _) = desk.get("admin.mesa", "/api/v1/units/NOPE/review").await;
    assert_eq!(status, 404);
}

async fn a_breach_due_while_the_service_was_down_is_told_after_a_restart(backend: Backend) {
    let sink = SmtpSink::start().await;
    let mut desk = Desk::open(app_with(backend, &sink, "2s", "1h").await).await;
    let req = id(&desk.request("usuario.dgt", "Sin acceso").await);
    desk.app.stop().await.expect("stopped cleanly");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(count(&sink, "pedro.guzman@mh.gob.sv", "Plazo vencido"), 0);

    let (url, smtp) = (desk.app.database_url.clone(), sink.url());
    let _second = spawn_app_with(backend, move |c| {
        c.database.url = url;
        targets(c, "2s", "1h");
        c.notify.smtp_url = smtp;
        c.notify.poll_interval_ms = 100;
    })
    .await;
    let told = mail_to(&sink, "pedro.guzman@mh.gob.sv", "Plazo vencido").await;
    assert!(told.subject().contains(&req), "{}", told.subject());
}

async fn with_escalation_on_breach_a_missed_tier_one_ticket_moves_to_tier_two(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        targets(c, "1s", "1h");
        c.sla.escalate_on_breach = true;
    })
    .await;
    let desk = Desk::open(app).await;
    let t = desk.request("jefe.dinafi", "Reinstalar cliente SAFI").await;
    assert_eq!(t["tier"], 1);
    let path = format!("/api/v1/tickets/{}", id(&t));
    let t = desk.app.eventually(&path, |t| t["tier"] == 2).await;
    assert_eq!(
        (t["assignee"].clone(), t["reassignments"].clone()),
        (json!("rosa.hernandez"), json!(1))
    );
    let history = desk.history(&id(&t)).await;
    let actions: Vec<&str> = history
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert!(actions.contains(&"escalated_on_breach"), "{actions:?}");
}
