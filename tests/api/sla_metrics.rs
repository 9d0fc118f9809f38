//! The desk's figures on `/metrics`, read from the database, and the dashboards and
//! alerting rules that query them: every metric they name must be exported.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::correlation::fire;
use crate::desk::Desk;
use crate::helpers::{fixture, repo_path, spawn_app_with, Backend, TestApp};
use crate::on_both_stores;

on_both_stores!(
    the_desks_figures_follow_its_tickets_and_their_clocks,
    every_metric_the_dashboards_and_alerting_rules_query_is_exported,
);

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// The app reading the desk's figures every second, with the ministry's people.
async fn desk(backend: Backend) -> Desk {
    let app = spawn_app_with(backend, |c| c.sla.metrics_refresh_secs = 1).await;
    Desk::open(app).await
}

fn id(ticket: &Value) -> String {
    ticket["id"].as_str().expect("ticket id").to_owned()
}

async fn scrape(app: &TestApp) -> String {
    let resp = app.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(resp.status(), 200);
    resp.text().await.expect("metrics text")
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Waits (10 s at most) until every series shows its value; the figures are read from
/// the database every second and by a scrape when older than 2 s.
async fn expect_figures(app: &TestApp, expected: &[(&str, f64)]) {
    let mut text = String::new();
    for _ in 0..50 {
        text = scrape(app).await;
        if expected.iter().all(|(s, v)| value(&text, s) == Some(*v)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(s, v)| value(&text, s) != Some(*v))
        .map(|(s, v)| format!("{s}: expected {v}, shown {:?}", value(&text, s)))
        .collect();
    panic!("{}\n--- /metrics ---\n{text}", wrong.join("\n"));
}

/// A clock as the SLA engine would leave it (replacing the engine's own, if any).
struct Clock<'a> {
    ticket: &'a str,
    metric: &'a str,
    target_ms: i64,
    elapsed_ms: i64,
    /// Stopped at this time; running when `None`.
    stopped_at: Option<i64>,
    warned: i64,
    breached_at: Option<i64>,
}

impl<'a> Clock<'a> {
    fn stopped(ticket: &'a str, metric: &'a str, target_ms: i64, elapsed_ms: i64, at: i64) -> Self {
        Clock {
            ticket,
            metric,
            target_ms,
            elapsed_ms,
            stopped_at: Some(at),
            warned: 0,
            breached_at: None,
        }
    }

    fn running(ticket: &'a str, metric: &'a str, target_ms: i64, elapsed_ms: i64) -> Self {
        Clock {
            stopped_at: None,
            ..Clock::stopped(ticket, metric, target_ms, elapsed_ms, 0)
        }
    }

    fn warned(self, warned: i64) -> Self {
        Clock { warned, ..self }
    }

    fn breached(self, at: i64) -> Self {
        Clock {
            breached_at: Some(at),
            ..self
        }
    }
}

/// Sets a clock's state. The SLA engine creates both clocks of a ticket when it is
/// registered, and its rows are updated; without the engine the row is inserted.
async fn put_clock(app: &TestApp, c: Clock<'_>) {
    let now = jiff::Timestamp::now().as_millisecond();
    let started_at = now - c.elapsed_ms;
    let bind = |sql| {
        sqlx::query(sql)
            .bind(c.ticket)
            .bind(c.metric)
            .bind(c.target_ms)
            .bind(started_at)
            .bind(i64::from(c.stopped_at.is_none()))
            .bind(c.elapsed_ms)
            .bind(c.stopped_at.unwrap_or(now))
            .bind(started_at + c.target_ms)
            .bind(c.stopped_at)
            .bind(c.warned)
            .bind(c.breached_at)
    };
    let updated = bind(
        "UPDATE sla_clocks SET target_ms = $3, started_at = $4, running = $5, \
           elapsed_ms = $6, counted_to = $7, original_due_at = $8, due_at = $8, \
           stopped_at = $9, warned = $10, breached_at = $11, next_check_at = NULL \
         WHERE ticket_id = $1 AND metric = $2",
    )
    .execute(app.pool())
    .await
    .expect("clock written");
    if updated.rows_affected() == 0 {
        bind(
            "INSERT INTO sla_clocks (ticket_id, metric, policy, target_ms, started_at, \
               running, elapsed_ms, counted_to, original_due_at, due_at, stopped_at, warned, \
               breached_at) \
             VALUES ($1, $2, '{}', $3, $4, $5, $6, $7, $8, $8, $9, $10, $11)",
        )
        .execute(app.pool())
        .await
        .expect("clock written");
    }
}

async fn run_sql(app: &TestApp, sql: &str, ticket: &str) {
    sqlx::query(sql)
        .bind(ticket)
        .execute(app.pool())
        .await
        .expect("ticket changed");
}

const SOLVE: &str = "Cuenta desbloqueada";

async fn resolve(desk: &Desk, ticket: &str) {
    let solve = json!({ "solution": SOLVE, "resolution_code": "solved" });
    desk.ok("lucia.mendez", ticket, "resolve", solve).await;
}

async fn the_desks_figures_follow_its_tickets_and_their_clocks(backend: Backend) {
    let desk = desk(backend).await;
    let app = &desk.app;
    let first = id(&desk.request("usuario.dgt", "Desbloquear cuenta").await);
    let second = id(&desk.request("usuario.dgt", "Instalar certificado").await);
    desk.ok("lucia.mendez", &first, "accept", json!({})).await;
    resolve(&desk, &first).await;
    let opened_p3 =
        r#"vigia_tickets_opened_total{kind="service_request",priority="P3",unit="DGT"}"#;
    let resolved =
        r#"vigia_tickets_resolved_total{kind="service_request",priority="P3",tier="1",unit="DGT"}"#;
    let open = |state: &str| {
        format!(
            r#"vigia_tickets_open{{hold_reason="",kind="service_request",state="{state}",tier="1",unit="DGT"}}"#
        )
    };
    let age = |bucket: &str| format!(r#"vigia_tickets_backlog_age{{age="{bucket}",unit="DGT"}}"#);
    expect_figures(
        app,
        &[
            (opened_p3, 2.0),
            (resolved, 1.0),
            (&open("assigned"), 1.0),
            (&age("lt_1d"), 1.0),
        ],
    )
    .await;

    // The requester rejects the solution: the ticket is open again, and resolved
    // counters never go down; resolved once more, it counts again.
    let why = json!({ "comment": "Sigue bloqueada" });
    desk.ok("usuario.dgt", &first, "reopen", why).await;
    expect_figures(
        app,
        &[
            (resolved, 1.0),
            (&open("in_progress"), 1.0),
            (&age("lt_1d"), 2.0),
        ],
    )
    .await;
    resolve(&desk, &first).await;
    expect_figures(
        app,
        &[
            (resolved, 2.0),
            (&open("in_progress"), 0.0),
            (&age("lt_1d"), 1.0),
        ],
    )
    .await;

    // The second waits four days, and its priority is raised: it counts as opened at
    // P2 as well, and P3 keeps its two.
    let four_days_earlier = format!(
        "UPDATE incidents SET opened_at = opened_at - {} WHERE id = $1",
        4 * DAY_MS
    );
    run_sql(app, &four_days_earlier, &second).await;
    run_sql(
        app,
        "UPDATE incidents SET priority = 'P2' WHERE id = $1",
        &second,
    )
    .await;
    let opened_p2 =
        r#"vigia_tickets_opened_total{kind="service_request",priority="P2",unit="DGT"}"#;
    expect_figures(
        app,
        &[
            (opened_p3, 2.0),
            (opened_p2, 1.0),
            (&age("lt_1d"), 0.0),
            (&age("3d_7d"), 1.0),
        ],
    )
    .await;

    // Clocks as the SLA engine keeps them, on P2 tickets no move of this test stops a
    // clock of (the engine, when it runs, keeps those of the P3 ones above).
    let mut p2 = vec![second.clone()];
    for summary in ["Restablecer VPN", "Impresora", "Acceso a carpeta"] {
        let body = json!({ "kind": "service_request", "summary": summary,
                           "category": "software", "urgency": "high" });
        let (status, ticket) = desk.register("usuario.dgt", body).await;
        assert_eq!(
            (status, &ticket["priority"]),
            (201, &json!("P2")),
            "{ticket}"
        );
        p2.push(id(&ticket));
    }
    let now = jiff::Timestamp::now().as_millisecond();
    let (ack_target, resolve_target) = (120 * MINUTE_MS, 2 * DAY_MS);
    for clock in [
        // Accepted after exactly 5 minutes (the bucket's bound is inclusive), resolved
        // in 2 hours: within target.
        Clock::stopped(&p2[1], "acknowledge", ack_target, 5 * MINUTE_MS, now),
        Clock::stopped(&p2[1], "resolve", resolve_target, 120 * MINUTE_MS, now).warned(1),
        // Resolved past its target, breached.
        Clock::stopped(&p2[2], "resolve", resolve_target, 5000 * MINUTE_MS, now)
            .warned(2)
            .breached(now - DAY_MS),
        // Resolved 40 days ago: outside the 30-day compliance window.
        Clock::stopped(
            &p2[3],
            "resolve",
            resolve_target,
            1000 * 1000,
            now - 40 * DAY_MS,
        ),
        // Still open: acknowledge past its first warning, resolve already breached.
        Clock::running(&p2[0], "acknowledge", ack_target, 100 * MINUTE_MS).warned(1),
        Clock::running(&p2[0], "resolve", resolve_target, 3 * DAY_MS)
            .warned(2)
            .breached(now - MINUTE_MS),
    ] {
        put_clock(app, clock).await;
    }
    let p2 = r#"kind="service_request",priority="P2",unit="DGT""#;
    let ack = |s: &str| format!("vigia_ticket_acknowledge_seconds_{s}");
    let res = |s: &str| format!("vigia_ticket_resolve_seconds_{s}");
    let bucket = |name: String, le: &str| format!(r#"{name}{{{p2},le="{le}"}}"#);
    // Labels print sorted by name.
    let breached = |metric: &str| {
        format!(
            r#"vigia_tickets_breached_total{{kind="service_request",metric="{metric}",priority="P2",unit="DGT"}}"#
        )
    };
    expect_figures(
        app,
        &[
            (&bucket(ack("bucket"), "60"), 0.0),
            (&bucket(ack("bucket"), "300"), 1.0),
            (&bucket(ack("bucket"), "+Inf"), 1.0),
            (&format!("{}{{{p2}}}", ack("sum")), 300.0),
            (&format!("{}{{{p2}}}", ack("count")), 1.0),
            (&bucket(res("bucket"), "900"), 0.0),
            (&bucket(res("bucket"), "1800"), 1.0),
            (&bucket(res("bucket"), "7200"), 2.0),
            (&bucket(res("bucket"), "259200"), 2.0),
            (&bucket(res("bucket"), "604800"), 3.0),
            (&bucket(res("bucket"), "+Inf"), 3.0),
            (
                &format!("{}{{{p2}}}", res("sum")),
                1000.0 + 7200.0 + 300_000.0,
            ),
            (&format!("{}{{{p2}}}", res("count")), 3.0),
            // Of the two stopped within 30 days, one met its target.
            (&format!("vigia_sla_compliance_ratio{{{p2}}}"), 0.5),
            // One stopped, one still running.
            (&breached("resolve"), 2.0),
            // The open one: its breached resolve clock does not count, its warned
            // acknowledge clock does; stopped clocks do not.
            (&format!("vigia_tickets_at_risk{{{p2}}}"), 1.0),
        ],
    )
    .await;
    let text = scrape(app).await;
    assert!(
        !text.contains(&breached("acknowledge")),
        "no acknowledge clock breached:\n{text}"
    );
}

/// The metric names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let name = regex::Regex::new(r"vigia_[a-z0-9_]+").expect("regex");
    name.find_iter(expr)
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// Every query of a dashboard: the `expr` of each target, however deep its panel sits
/// in rows, and the query of each templating variable.
fn dashboard_queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    ("query", Value::String(q)) if q.contains("vigia_") => out.push(q.clone()),
                    _ => dashboard_queries(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

fn dashboards() -> Vec<(String, Value)> {
    let dir = repo_path("dashboards");
    let mut found: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("dashboard readable");
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()));
            (
                format!(
                    "dashboards/{}",
                    p.file_name().expect("name").to_string_lossy()
                ),
                json,
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// (file, metric) for every metric a dashboard or alerting rule queries.
fn queried_metrics() -> BTreeSet<(String, String)> {
    let mut wanted = BTreeSet::new();
    for (file, dashboard) in dashboards() {
        let mut queries = Vec::new();
        dashboard_queries(&dashboard, &mut queries);
        assert!(!queries.is_empty(), "{file} queries nothing");
        for name in queries.iter().flat_map(|q| metric_names(q)) {
            wanted.insert((file.clone(), name));
        }
    }
    let file = "dashboards/vigia-alerts.yaml";
    let text = std::fs::read_to_string(repo_path(file)).expect("alerting rules readable");
    let rules: Value = serde_norway::from_str(&text).expect("alerting rules are YAML");
    let groups = rules["groups"].as_array().expect("`groups`");
    let mut alerts = 0;
    for rule in groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("`rules`"))
    {
        let expr = rule["expr"].as_str().expect("every rule has an `expr`");
        let alert = rule["alert"].as_str().expect("every rule is an alert");
        assert!(rule["for"].is_string(), "{file}: {alert} has no `for`");
        assert!(
            rule["labels"]["severity"].is_string(),
            "{file}: {alert} has no severity"
        );
        assert!(
            rule["annotations"]["summary"].is_string(),
            "{file}: {alert} has no summary"
        );
        alerts += 1;
        for name in metric_names(expr) {
            wanted.insert((file.to_owned(), name));
        }
    }
    assert!(alerts > 0, "{file} has no rules");
    wanted
}

/// Whether `/metrics` shows the metric: its `# TYPE` line or a series (a histogram's
/// `_bucket`, `_sum` and `_count` belong to its base name).
fn exported(text: &str, name: &str) -> bool {
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    text.lines().any(|l| {
        l.strip_prefix("# TYPE ")
            .is_some_and(|t| t.split(' ').next() == Some(base))
            || [name, base].iter().any(|n| {
                l.strip_prefix(n)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
    })
}

async fn every_metric_the_dashboards_and_alerting_rules_query_is_exported(backend: Backend) {
    let wanted = queried_metrics();
    let app = spawn_app_with(backend, |c| {
        c.sla.metrics_refresh_secs = 1;
        c.intake.rate_limit.sources.insert("uptime".into(), 1);
    })
    .await;
    let desk = Desk::open(app).await;
    let app = &desk.app;
    // Ingest refusals: a request without credentials, and one over its source's limit.
    let anonymous = app
        .client
        .post(format!("{}/api/v1/ingest/alertmanager", app.base))
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), 401);
    let probe = fixture("uptime/uptime-probe.json");
    assert_eq!(app.post_alerts("uptime", &probe).await.status(), 200);
    assert_eq!(app.post_alerts("uptime", &probe).await.status(), 429);
    // Alerts: accepted, refused, naming no CI, and held by a maintenance window.
    app.ingest("alertmanager", &fixture("alertmanager/group-firing.json"))
        .await;
    let refused = app.post_alerts("alertmanager", "{ not json").await;
    assert_eq!(refused.status(), 400);
    fire(app, "ghost", "printer-3rd-floor", "critical").await;
    let ends_at = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(60);
    let window = json!({ "ci": "srv-safi-app02", "ends_at": ends_at.to_string(),
                         "reason": "Mantenimiento" });
    let (status, body) = app
        .admin_json(Method::POST, "/api/v1/maintenance", &window)
        .await;
    assert_eq!(status, 201, "{body}");
    let held = fire(app, "held", "srv-safi-app02", "critical").await;
    assert!(held["held_by"].is_string(), "{held}");
    // Tickets, one resolved with its clocks stopped, one at risk and breached.
    let done = id(&desk.request("usuario.dgt", "Desbloquear cuenta").await);
    let late = id(&desk.request("usuario.dgt", "Instalar certificado").await);
    desk.ok("lucia.mendez", &done, "accept", json!({})).await;
    resolve(&desk, &done).await;
    let now = jiff::Timestamp::now().as_millisecond();
    for (ticket, metric, stopped_at, warned, breached_at) in [
        (&done, "acknowledge", Some(now), 0, None),
        (&done, "resolve", Some(now), 0, None),
        (&late, "acknowledge", None, 1, None),
        (&late, "resolve", None, 2, Some(now)),
    ] {
        let clock = Clock {
            ticket,
            metric,
            target_ms: DAY_MS,
            elapsed_ms: 10 * MINUTE_MS,
            stopped_at,
            warned,
            breached_at,
        };
        put_clock(app, clock).await;
    }

    let mut missing = wanted.clone();
    let mut text = String::new();
    for _ in 0..50 {
        text = scrape(app).await;
        missing.retain(|(_, name)| !exported(&text, name));
        if missing.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let listed: Vec<String> = missing
        .iter()
        .map(|(file, name)| format!("{file} queries {name}, which /metrics does not export"))
        .collect();
    panic!("{}\n--- /metrics ---\n{text}", listed.join("\n"));
}

/// The dashboards work on any Grafana: the data source and the unit are variables.
#[test]
fn every_dashboard_picks_its_data_source_and_units_and_every_panel_uses_them() {
    let found = dashboards();
    let names: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "dashboards/vigia-overview.json",
            "dashboards/vigia-sla.json"
        ]
    );
    for (file, dashboard) in &found {
        let variables = dashboard["templating"]["list"]
            .as_array()
            .expect("variables");
        let variable = |name: &str| {
            variables
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("{file} has no `{name}` variable"))
        };
        let source = variable("datasource");
        assert_eq!(
            (&source["type"], &source["query"]),
            (&json!("datasource"), &json!("prometheus")),
            "{file}"
        );
        let unit = variable("unit");
        assert_eq!(unit["type"], "query", "{file}");
        let query = unit["query"]["query"].as_str().or(unit["query"].as_str());
        assert_eq!(
            query,
            Some("label_values(vigia_tickets_opened_total, unit)"),
            "{file}"
        );
        assert_eq!(
            (&unit["multi"], &unit["includeAll"]),
            (&json!(true), &json!(true)),
            "{file}"
        );
        assert_eq!(unit["datasource"]["uid"], "${datasource}", "{file}");
        let mut panels = Vec::new();
        every_panel(&dashboard["panels"], &mut panels);
        assert!(!panels.is_empty(), "{file} has no panels");
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or("(untitled)");
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{file}: panel {title}"
            );
            for target in panel["targets"].as_array().into_iter().flatten() {
                assert_eq!(
                    target["datasource"]["uid"], "${datasource}",
                    "{file}: panel {title}"
                );
            }
        }
    }
}

/// Panels that query, rows' own panels included.
fn every_panel<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
    for panel in panels.as_array().into_iter().flatten() {
        if panel["type"] == "row" {
            every_panel(&panel["panels"], out);
        } else {
            out.push(panel);
        }
    }
}
