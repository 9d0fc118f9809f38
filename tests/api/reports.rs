//! The monthly report per unit: every figure of a generated month checked against an
//! independent count, its formats and languages, who may read it, and the scheduler
//! that emails it on the first business day with a snapshot whose hash proves it.

mod check;
mod expected;
mod month;
mod write;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::Backend;
use crate::on_both_stores;
use crate::smtp_sink::SmtpSink;
use check::{assert_same, figures, millis, text_of, vigia_report};
use write::app_with_month;

const REPORT: &str = "/api/v1/reports/monthly?unit=DINAFI&month=2026-11";

on_both_stores!(
    every_figure_of_a_generated_month_matches_an_independent_count,
    the_csv_annex_and_the_printable_page_show_every_ticket_attended,
    bad_months_and_other_units_heads_are_refused,
    with_email_off_the_report_is_stored_but_not_sent,
    the_first_business_day_emails_each_head_once_with_a_provable_snapshot,
);

async fn every_figure_of_a_generated_month_matches_an_independent_count(backend: Backend) {
    let (app, generated) = app_with_month(backend, None).await;
    let report = app.get(REPORT).await;
    let attended = expected::attended(&generated);
    assert!(
        (40..=80).contains(&attended.len()),
        "{} attended",
        attended.len()
    );

    assert_eq!(report["unit"], "DINAFI");
    assert_eq!(report["month"], "2026-11");
    assert_eq!(report["time_zone"], "America/El_Salvador");
    let (start, end) = month::november();
    assert_eq!(millis(&report["from"]), Some(start));
    assert_eq!(millis(&report["to"]), Some(end));
    assert_same(&figures(&report), &expected::figures(&generated), "report");

    // The annex: every ticket attended, oldest first, with its state.
    let annex = report["annex"].as_array().expect("annex");
    assert_eq!(annex.len(), attended.len());
    let (_, end) = month::november();
    for (row, t) in annex.iter().zip(&attended) {
        assert_eq!(row["id"], t.id.as_str());
        assert_eq!(row["state"], t.status, "{}", t.id);
        assert_eq!(row["kind"], t.kind);
        assert_eq!(row["summary"], t.summary.as_str());
        assert_eq!(row["channel"], t.channel.unwrap_or("monitoring"));
        assert_eq!(row["priority"], json!(t.priority));
        assert_eq!(row["category"], json!(t.category));
        assert_eq!(row["tier"], json!(t.tier));
        assert_eq!(row["reassignments"], t.reassignments);
        assert_eq!(row["reopens"], t.reopens);
        assert_eq!(row["problem_id"], json!(t.problem_id));
        assert_eq!(row["sla_breached"], t.sla_breached);
        assert_eq!(row["open_at_end"], expected::open_at(t, end), "{}", t.id);
        assert_eq!(millis(&row["opened_at"]), Some(t.opened_at));
        assert_eq!(millis(&row["resolved_at"]), t.resolved_at);
        assert_eq!(millis(&row["closed_at"]), t.closed_at);
        let hold = if t.status == "on_hold" {
            t.hold_reason
        } else {
            None
        };
        assert_eq!(row["hold_reason"], json!(hold));
    }
    let keys: Vec<&str> = report["definitions"]
        .as_array()
        .expect("definitions")
        .iter()
        .filter_map(|d| d["key"].as_str())
        .collect();
    for key in [
        "attended",
        "open",
        "backlog",
        "sla",
        "breaches",
        "mtta_mttr",
        "quality",
    ] {
        assert!(keys.contains(&key), "definition of {key}: {keys:?}");
    }

    // The command line gives the same report.
    let out = vigia_report(&app, &["--format", "json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_same(&figures(&printed), &figures(&report), "printed");
    assert_eq!(printed["annex"], report["annex"]);
}

async fn the_csv_annex_and_the_printable_page_show_every_ticket_attended(backend: Backend) {
    let (app, generated) = app_with_month(backend, None).await;
    let attended = expected::attended(&generated);

    let (content_type, csv) = text_of(&app, &format!("{REPORT}&format=csv"), &[]).await;
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().expect("header row").clone();
    let column = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), attended.len(), "one row per ticket attended");
    for (row, t) in rows.iter().zip(&attended) {
        assert_eq!(&row[column("id")], t.id.as_str());
        assert_eq!(&row[column("state")], t.status);
        assert_eq!(
            &row[column("summary")],
            t.summary.as_str(),
            "commas and quotes survive"
        );
    }

    let (content_type, page) = text_of(&app, &format!("{REPORT}&format=html"), &[]).await;
    assert!(content_type.starts_with("text/html"), "{content_type}");
    for heading in [
        "Informe mensual de la Mesa de Servicio",
        "noviembre de 2026",
        "Cumplimiento de SLA",
        "Anexo: casos atendidos y su estado",
        "Definiciones",
        "Resolución en el primer contacto",
        "@media print",
    ] {
        assert!(page.contains(heading), "missing {heading:?}");
    }
    let report = app.get(REPORT).await;
    for definition in report["definitions"].as_array().expect("definitions") {
        let text = definition["text"].as_str().expect("text");
        // The page escapes what it prints (`/` too).
        assert!(
            page.contains(&text.replace('/', "&#x2f;")),
            "definition missing: {text}"
        );
    }
    for t in &attended {
        assert!(page.contains(&t.id), "{} missing from the page", t.id);
    }
    assert!(!page.contains("<b>«DINAFI»</b>"), "summaries are escaped");
    assert!(
        page.contains("&lt;b&gt;«DINAFI»&lt;&#x2f;b&gt;")
            || page.contains("&lt;b&gt;«DINAFI»&lt;/b&gt;")
    );

    let (_, english) = text_of(&app, &format!("{REPORT}&format=html&lang=en"), &[]).await;
    let (_, by_header) = text_of(
        &app,
        &format!("{REPORT}&format=html"),
        &[("accept-language", "en-US,en;q=0.8")],
    )
    .await;
    for page in [&english, &by_header] {
        assert!(page.contains("Service Desk monthly report"), "English page");
        assert!(page.contains("November 2026") && page.contains("Definitions"));
        assert!(!page.contains("Definiciones"));
    }
    let english_json = app.get(&format!("{REPORT}&lang=en")).await;
    assert_eq!(english_json["lang"], "en");
    assert_same(&figures(&english_json), &figures(&report), "english");

    let out = vigia_report(&app, &["--format", "html", "--lang", "en"]).await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Service Desk monthly report"));
}

async fn bad_months_and_other_units_heads_are_refused(backend: Backend) {
    let (app, _) = app_with_month(backend, None).await;
    for month in ["2026-13", "2026-1", "noviembre", "2026-11-01"] {
        let path = format!("/api/v1/reports/monthly?unit=DINAFI&month={month}");
        let (status, body) = app.call(&app.admin_token, Method::GET, &path, None).await;
        assert_eq!(status, 400, "{month}: {body}");
        assert_eq!(body["code"], "bad_request");
        assert!(
            body["detail"].as_str().expect("detail").contains("YYYY-MM"),
            "{body}"
        );
    }
    let (status, body) = app
        .call(
            &app.admin_token,
            Method::GET,
            "/api/v1/reports/monthly?month=2026-11",
            None,
        )
        .await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (400, Some("`unit` is required"))
    );
    let (status, _) = app
        .call(
            &app.admin_token,
            Method::GET,
            &format!("{REPORT}&format=pdf"),
            None,
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .call(
            &app.admin_token,
            Method::GET,
            "/api/v1/reports/monthly?unit=NOPE&month=2026-11",
            None,
        )
        .await;
    assert_eq!(status, 404);

    let other_head = app.person_token("jefe.dga").await;
    let (status, body) = app.call(&other_head, Method::GET, REPORT, None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["permission"], "reports.read");
    let technician = app.person_token("ana.lopez").await;
    let (status, _) = app.call(&technician, Method::GET, REPORT, None).await;
    assert_eq!(status, 403);
    let head = app.person_token("jefe.dinafi").await;
    let (status, body) = app.call(&head, Method::GET, REPORT, None).await;
    assert_eq!((status, body["unit"].as_str()), (200, Some("DINAFI")));

    let out = vigia_report(&app, &[]).await;
    assert!(out.status.success());
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigia"))
        .args([
            "report", "monthly", "--unit", "DINAFI", "--month", "2026-13",
        ])
        .output()
        .await
        .expect("vigia runs");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--month") && err.contains("YYYY-MM"), "{err}");
}

fn local(text: &str) -> jiff::Timestamp {
    text.parse().expect("time")
}

async fn the_first_business_day_emails_each_head_once_with_a_provable_snapshot(backend: Backend) {
    let sink = SmtpSink::start().await;
    let (app, _) = app_with_month(backend, Some(&sink)).await;
    let scheduler = vigia::report::schedule::Scheduler::from_state(&app.state);

    // 1 December 2026 is a Tuesday and a working day; reports go out from 08:00.
    // 2 November is a holiday and 3 November the month's first business day: October's
    // reports are not due on the 2nd.
    let holiday = scheduler
        .run_once(local("2026-11-02T10:00:00-06:00"))
        .await
        .expect("pass");
    assert!(holiday.is_empty(), "{holiday:?}");
    let early = scheduler
        .run_once(local("2026-12-01T07:59:00-06:00"))
        .await
        .expect("pass");
    assert!(early.is_empty(), "{early:?}");
    assert_eq!(app.count("report_snapshots").await, 0);

    // Two replicas looking at the same moment store and send each report once.
    let due = local("2026-12-01T08:30:00-06:00");
    let (a, b) = tokio::join!(scheduler.run_once(due), scheduler.run_once(due));
    let mut stored = a.expect("pass");
    stored.extend(b.expect("pass"));
    stored.sort_by(|x, y| x.unit.cmp(&y.unit));
    let units: Vec<&str> = stored.iter().map(|s| s.unit.as_str()).collect();
    assert_eq!(units, ["DGA", "DGII", "DGT", "DINAFI"]);
    let admin = "admin.mesa@mh.gob.sv";
    let recipients = |unit: &str| {
        stored
            .iter()
            .find(|s| s.unit == unit)
            .expect(unit)
            .recipients
            .clone()
    };
    assert_eq!(recipients("DINAFI"), ["marta.alvarado@mh.gob.sv", admin]);
    assert_eq!(recipients("DGA"), ["luis.ramirez@mh.gob.sv", admin]);
    assert!(
        recipients("DGII").is_empty(),
        "nothing attended: stored, not emailed"
    );

    for _ in 0..100 {
        if sink.messages().len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mail = sink
        .wait_for(|m| m.to == ["marta.alvarado@mh.gob.sv"])
        .await;
    assert!(mail.subject().contains("DINAFI") && mail.subject().contains("noviembre de 2026"));

    // Again the same morning, and the next day: nothing more.
    for again in ["2026-12-01T09:00:00-06:00", "2026-12-02T10:00:00-06:00"] {
        let more = scheduler.run_once(local(again)).await.expect("pass");
        assert!(more.is_empty(), "{more:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut to: Vec<String> = sink.messages().into_iter().flat_map(|m| m.to).collect();
    to.sort();
    assert_eq!(
        to,
        [
            admin,
            admin,
            "luis.ramirez@mh.gob.sv",
            "marta.alvarado@mh.gob.sv"
        ],
        "one email per head with activity, and the admin's copies"
    );
    assert_eq!(app.count("report_snapshots").await, 4);

    // The head reads the snapshot sent, and its hash proves the body.
    let head = app.person_token("jefe.dinafi").await;
    let (status, list) = app
        .call(&head, Method::GET, "/api/v1/reports/snapshots", None)
        .await;
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().expect("list").clone();
    assert_eq!(list.len(), 1, "only the head's unit: {list:?}");
    assert_eq!(
        (list[0]["unit"].as_str(), list[0]["month"].as_str()),
        (Some("DINAFI"), Some("2026-11"))
    );
    let id = list[0]["id"].as_str().expect("id");
    let (status, snapshot) = app
        .call(
            &head,
            Method::GET,
            &format!("/api/v1/reports/snapshots/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let body = snapshot["body"].as_str().expect("body");
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    assert_eq!(snapshot["hash"], hash.as_str());
    assert!(
        mail.body().contains(&hash),
        "the email names the hash:\n{}",
        mail.body()
    );
    assert!(mail.body().contains(id));
    let sent: Value = serde_json::from_str(body).expect("JSON body");
    assert_same(&figures(&sent), &figures(&app.get(REPORT).await), "sent");
    assert_eq!(
        snapshot["recipients"],
        json!(["marta.alvarado@mh.gob.sv", admin])
    );
    assert!(snapshot["sent_at"].is_string());

    let other = app.person_token("jefe.dga").await;
    let (status, _) = app
        .call(
            &other,
            Method::GET,
            &format!("/api/v1/reports/snapshots/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(
            &other,
            Method::GET,
            "/api/v1/reports/snapshots?unit=DINAFI",
            None,
        )
        .await;
    assert_eq!(status, 403);
    let all = app.get("/api/v1/reports/snapshots").await;
    assert_eq!(all.as_array().map(Vec::len), Some(4));
}

async fn with_email_off_the_report_is_stored_but_not_sent(backend: Backend) {
    let (app, _) = app_with_month(backend, None).await;
    let scheduler = vigia::report::schedule::Scheduler::from_state(&app.state);
    let stored = scheduler
        .run_once(local("2026-12-01T08:00:00-06:00"))
        .await
        .expect("pass");
    assert_eq!(stored.len(), 4);
    assert!(stored.iter().all(|s| s.recipients.is_empty()), "{stored:?}");
    let list = app.get("/api/v1/reports/snapshots?unit=DINAFI").await;
    assert_eq!(list[0]["sent_at"], Value::Null);
    assert_eq!(list[0]["recipients"], json!([]));
    assert_eq!(app.count("outbox").await, 0);
}
