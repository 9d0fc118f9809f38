//! The service-desk procedure, walked as the people of the ministry's registry.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{json, Value};

use crate::correlation::fire;
use crate::helpers::{items, spawn_app, spawn_app_with, Backend, TestApp};
use crate::on_both_stores;
use crate::smtp_sink::{Mail, SmtpSink};

on_both_stores!(
    the_procedure_walks_from_an_alert_through_every_tier_to_a_problem,
    moves_by_the_wrong_role_or_unit_are_refused_with_the_permission_named,
    an_illegal_move_is_a_conflict_naming_the_state_and_the_moves_allowed,
    requesters_register_see_their_own_and_answer_questions,
    registering_on_a_users_behalf_records_the_channel,
    assignment_balances_open_work_and_skips_unavailable_people,
    a_unit_without_an_available_tier_one_sends_the_ticket_to_the_central_desk,
    rescheduling_pauses_the_ticket_and_it_resumes_by_itself,
    rescheduling_is_refused_once_the_resolution_time_has_passed,
    a_rejected_solution_reopens_the_ticket_and_is_counted,
    unconfirmed_solutions_close_themselves_and_can_no_longer_be_rejected,
    cancelling_needs_a_reason_and_a_duplicate_names_its_original,
    a_revoked_token_is_refused,
    resolving_a_problem_resolves_every_ticket_linked_to_it,
    the_audit_chain_verifies_and_shows_where_it_was_altered_or_cut,
    a_ticket_rescheduled_before_acceptance_comes_back_to_be_accepted,
    canceling_a_problem_sends_its_tickets_back_to_work,
);

/// People of the fixture, with a token each.
pub struct Desk {
    pub app: TestApp,
    tokens: HashMap<String, String>,
}

pub const PEOPLE: [&str; 11] = [
    "jefe.dinafi",
    "ana.lopez",
    "carlos.mejia",
    "rosa.hernandez",
    "proveedor.oracle",
    "jefe.dga",
    "sofia.castro",
    "jefe.dgt",
    "lucia.mendez",
    "admin.mesa",
    "usuario.dgt",
];

/// A requester of DGT and one of DGA, added to the ministry's registry (it has none).
const REQUESTERS: &str = "people:
  - { login: usuario.dgt, name: Usuario Tesorería, email: usuario.dgt@mh.gob.sv, unit: DGT, role: requester }
  - { login: usuario.dga, name: Usuario Aduanas, email: usuario.dga@mh.gob.sv, unit: DGA, role: requester }
";

impl Desk {
    pub async fn open(app: TestApp) -> Desk {
        app.import_ministry().await;
        let (status, body) = app.import(REQUESTERS, "application/yaml").await;
        assert_eq!(status, 200, "{body}");
        let mut tokens = HashMap::new();
        for login in PEOPLE.iter().chain(&["usuario.dga"]) {
            tokens.insert(login.to_string(), app.person_token(login).await);
        }
        Desk { app, tokens }
    }

    pub fn token(&self, login: &str) -> &str {
        self.tokens
            .get(login)
            .unwrap_or_else(|| panic!("no token for {login}"))
    }

    /// A move as `login`; status and body.
    pub async fn act(&self, login: &str, id: &str, action: &str, body: Value) -> (u16, Value) {
        let path = format!("/api/v1/tickets/{id}/{action}");
        self.app
            .call(self.token(login), Method::POST, &path, Some(&body))
            .await
    }

    /// A move that must succeed; the ticket after it.
    pub async fn ok(&self, login: &str, id: &str, action: &str, body: Value) -> Value {
        let (status, ticket) = self.act(login, id, action, body).await;
        assert_eq!(status, 200, "{login} {action} {id}: {ticket}");
        ticket
    }

    pub async fn get(&self, login: &str, path: &str) -> (u16, Value) {
        self.app
            .call(self.token(login), Method::GET, path, None)
            .await
    }

    pub async fn register(&self, login: &str, body: Value) -> (u16, Value) {
        self.app
            .call(
                self.token(login),
                Method::POST,
                "/api/v1/tickets",
                Some(&body),
            )
            .await
    }

    /// Registers a service request that must be accepted.
    pub async fn request(&self, login: &str, summary: &str) -> Value {
        let body = json!({ "kind": "service_request", "summary": summary, "category": "software" });
        let (status, ticket) = self.register(login, body).await;
        assert_eq!(status, 201, "{ticket}");
        ticket
    }

    /// The incident an alert on `ci` opened, once the desk assigned it.
    pub async fn incident_on(&self, ci: &str) -> Value {
        fire(&self.app, &format!("fp-{ci}"), ci, "critical").await;
        let page = self
            .app
            .eventually(&format!("/api/v1/tickets?kind=incident&ci={ci}"), |v| {
                items(v.clone())
                    .first()
                    .is_some_and(|t| t["state"] == "assigned")
            })
            .await;
        items(page).remove(0)
    }

    /// The actions of a ticket's audit trail, in order.
    pub async fn history(&self, id: &str) -> Vec<Value> {
        let (status, body) = self
            .get("admin.mesa", &format!("/api/v1/tickets/{id}/history"))
            .await;
        assert_eq!(status, 200, "{body}");
        body.as_array().expect("history list").clone()
    }
}

fn actions(history: &[Value]) -> Vec<&str> {
    history
        .iter()
        .map(|r| r["action"].as_str().expect("action"))
        .collect()
}

pub fn id(ticket: &Value) -> String {
    ticket["id"].as_str().expect("ticket id").to_owned()
}

/// The app sending its email to a test SMTP server.
async fn with_mail(backend: Backend) -> (Desk, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(backend, |c| {
        c.notify.smtp_url = url;
        c.notify.poll_interval_ms = 100;
    })
    .await;
    (Desk::open(app).await, sink)
}

/// The first message to `email` whose subject contains `subject`.
pub async fn mail_to(sink: &SmtpSink, email: &str, subject: &str) -> Mail {
    sink.wait_for(|m| m.to.iter().any(|t| t == email) && m.subject().contains(subject))
        .await
}

async fn the_procedure_walks_from_an_alert_through_every_tier_to_a_problem(backend: Backend) {
    let (desk, sink) = with_mail(backend).await;
    let incident = desk.incident_on("db-safi-pg01").await;
    let inc = id(&incident);
    assert_eq!(incident["unit"], "DINAFI");
    assert_eq!(incident["tier"], 1);
    assert_eq!(incident["channel"], "monitoring");
    let tier1 = incident["assignee"].as_str().expect("assignee").to_owned();
    assert!(
        ["ana.lopez", "carlos.mejia"].contains(&tier1.as_str()),
        "{tier1}"
    );
    let assigned = mail_to(&sink, &format!("{tier1}@mh.gob.sv"), &inc).await;
    assert!(
        assigned.subject().starts_with("Se le asignó el incidente"),
        "{}",
        assigned.subject()
    );

    // The head of DGT phones: SAFI's outage stops the payments system.
    let t = desk
        .ok(
            &tier1,
            &inc,
            "set_requester",
            json!({ "requester": "jefe.dgt", "channel": "phone" }),
        )
        .await;
    assert_eq!(t["requester"], "jefe.dgt");
    let t = desk.ok(&tier1, &inc, "accept", json!({})).await;
    assert_eq!(t["state"], "in_progress");
    assert_eq!(t["acknowledged_by"], tier1.as_str());

    let t = desk.ok(&tier1, &inc, "escalate", json!({})).await;
    assert_eq!(
        (t["state"].clone(), t["tier"].clone()),
        (json!("assigned"), json!(2))
    );
    assert_eq!(t["assignee"], "rosa.hernandez");
    assert_eq!(t["reassignments"], 1);
    desk.ok("rosa.hernandez", &inc, "accept", json!({})).await;

    let ask = json!({ "comment": "Reiniciar el clúster de base de datos en horario laboral" });
    let t = desk
        .ok("rosa.hernandez", &inc, "request_approval", ask)
        .await;
    assert_eq!(
        (t["state"].clone(), t["hold_reason"].clone()),
        (json!("on_hold"), json!("awaiting_approval"))
    );
    let asked = mail_to(&sink, "marta.alvarado@mh.gob.sv", "Aprobación solicitada").await;
    assert!(
        asked
            .body()
            .contains("Reiniciar el clúster de base de datos"),
        "{}",
        asked.body()
    );
    let t = desk
        .ok(
            "jefe.dinafi",
            &inc,
            "approve",
            json!({ "comment": "Aprobado" }),
        )
        .await;
    mail_to(&sink, "rosa.hernandez@mh.gob.sv", "Aprobación concedida").await;
    assert_eq!(t["state"], "in_progress");
    assert_eq!(t["approvals"][0]["decision"], "approved");
    assert_eq!(t["approvals"][0]["decided_by"], "jefe.dinafi");

    let why = json!({ "comment": "El reinicio no corrigió la corrupción de índices" });
    let t = desk.ok("rosa.hernandez", &inc, "give_up", why).await;
    assert_eq!(t["assignee"], "jefe.dinafi");
    assert_eq!(t["tier"], 3);
    let gave_up = mail_to(
        &sink,
        "marta.alvarado@mh.gob.sv",
        "Sin solución en segundo nivel",
    )
    .await;
    assert!(
        gave_up.body().contains("El reinicio no corrigió"),
        "{}",
        gave_up.body()
    );

    let group = json!({
        "group": {
            "name": "Soporte BD SAFI",
            "members": ["proveedor.oracle"],
            "new_members": [{ "login": "dba.externo", "name": "DBA Externo",
                              "email": "dba@proveedor.example", "organization": "Proveedor BD" }],
        },
        "assignee": "proveedor.oracle",
    });
    let t = desk.ok("jefe.dinafi", &inc, "form_group", group).await;
    assert_eq!(
        (t["assignee"].clone(), t["tier"].clone()),
        (json!("proveedor.oracle"), json!(3))
    );
    let group_id = t["group_id"].as_str().expect("group").to_owned();
    let (_, groups) = desk.get("jefe.dinafi", "/api/v1/groups").await;
    assert_eq!(groups[0]["id"], group_id.as_str());
    assert_eq!(
        groups[0]["members"],
        json!(["dba.externo", "proveedor.oracle"])
    );

    desk.ok("proveedor.oracle", &inc, "accept", json!({})).await;
    let ask = json!({ "comment": "Falla de diseño del motor; requiere análisis de causa raíz" });
    let t = desk
        .ok("proveedor.oracle", &inc, "request_problem", ask)
        .await;
    assert_eq!(t["problem_requested"], true);
    let problem = json!({ "summary": "Corrupción recurrente de índices en SAFI" });
    let t = desk.ok("jefe.dinafi", &inc, "raise_problem", problem).await;
    assert_eq!(t["hold_reason"], "awaiting_problem");
    let prb = t["problem_id"].as_str().expect("problem").to_owned();
    assert!(prb.starts_with("prb_"), "{prb}");

    let solution = json!({ "solution": "Parche 15.4 del proveedor aplicado e índices reconstruidos",
                           "resolution_code": "vendor_fix" });
    let p = desk.ok("jefe.dinafi", &prb, "resolve", solution).await;
    assert_eq!(
        (p["kind"].clone(), p["state"].clone()),
        (json!("problem"), json!("resolved"))
    );
    let (_, t) = desk
        .get("jefe.dgt", &format!("/api/v1/tickets/{inc}"))
        .await;
    assert_eq!(t["state"], "resolved");
    assert_eq!(
        t["solution"],
        "Parche 15.4 del proveedor aplicado e índices reconstruidos"
    );
    assert_eq!(t["resolution_code"], "vendor_fix");

    // The user is told automatically, with the solution.
    let told = mail_to(&sink, "pedro.guzman@mh.gob.sv", "resuelto").await;
    assert_eq!(
        told.subject(),
        format!("Su incidente {inc} fue resuelto: «db-safi-pg01 no responde»")
    );
    let body = told.body();
    assert!(body.contains("Estimado(a) Pedro Guzmán"), "{body}");
    assert!(
        body.contains("Parche 15.4 del proveedor aplicado e índices reconstruidos"),
        "{body}"
    );
    assert_eq!(told.header("X-Vigia-Ticket").as_deref(), Some(inc.as_str()));

    let t = desk.ok("jefe.dgt", &inc, "confirm", json!({})).await;
    assert_eq!(t["state"], "closed");

    let history = desk.history(&inc).await;
    assert_eq!(
        actions(&history),
        [
            "registered",
            "assigned",
            "set_requester",
            "accept",
            "escalate",
            "accept",
            "request_approval",
            "approve",
            "give_up",
            "group_formed",
            "form_group",
            "accept",
            "request_problem",
            "raise_problem",
            "resolved_by_problem",
            "confirm",
        ]
    );
    let approve = &history[7];
    assert_eq!(approve["actor"], "jefe.dinafi");
    assert_eq!(approve["from_state"], "on_hold (awaiting_approval)");
    assert_eq!(approve["to_state"], "in_progress");
    assert_eq!(approve["comment"], "Aprobado");
    assert!(
        approve["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("rid_")),
        "{approve}"
    );
    assert_eq!(history[0]["actor"], "system");
}

async fn moves_by_the_wrong_role_or_unit_are_refused_with_the_permission_named(backend: Backend) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let incident = desk.incident_on("db-safi-pg01").await;
    let inc = id(&incident);
    let tier1 = incident["assignee"].as_str().expect("assignee").to_owned();
    let other = if tier1 == "ana.lopez" {
        "carlos.mejia"
    } else {
        "ana.lopez"
    };

    let refused = |(status, body): (u16, Value), permission: &str| {
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["code"], "forbidden");
        assert_eq!(body["permission"], permission, "{body}");
    };
    // Another tier-1 technician of the unit sees it but may not take its moves.
    refused(
        desk.act(other, &inc, "accept", json!({})).await,
        "tickets.accept",
    );
    // Technicians and heads of other units do not even see it.
    refused(
        desk.get("sofia.castro", &format!("/api/v1/tickets/{inc}"))
            .await,
        "tickets.read",
    );
    let (_, page) = desk.get("sofia.castro", "/api/v1/tickets").await;
    assert!(items(page).is_empty());
    let (_, page) = desk.get(other, "/api/v1/tickets").await;
    assert_eq!(items(page).len(), 1);
    refused(
        desk.act(
            "jefe.dga",
            &inc,
            "assign",
            json!({ "assignee": "sofia.castro" }),
        )
        .await,
        "tickets.read",
    );
    // Nor its events.
    let event = &desk.app.events("?ci=db-safi-pg01").await[0];
    let event_path = format!("/api/v1/events/{}", event["id"].as_str().expect("event id"));
    refused(desk.get("sofia.castro", &event_path).await, "events.read");
    let (status, page) = desk.get("sofia.castro", "/api/v1/events").await;
    assert_eq!(status, 200);
    assert!(items(page).is_empty());
    let (status, _) = desk.get(other, &event_path).await;
    assert_eq!(status, 200);
    refused(
        desk.get("usuario.dgt", "/api/v1/events").await,
        "events.read",
    );
    // Requesters of another unit neither.
    refused(
        desk.get("usuario.dgt", &format!("/api/v1/tickets/{inc}"))
            .await,
        "tickets.read",
    );

    desk.ok(&tier1, &inc, "accept", json!({})).await;
    desk.ok(&tier1, &inc, "escalate", json!({})).await;
    desk.ok("rosa.hernandez", &inc, "accept", json!({})).await;
    // Tier 2 may not escalate: that is tier 1's move.
    let (status, body) = desk
        .act("rosa.hernandez", &inc, "escalate", json!({}))
        .await;
    refused((status, body.clone()), "tickets.escalate");
    assert!(
        body["detail"].as_str().expect("detail").contains("tier 1"),
        "{body}"
    );
    // The former assignee may not resolve it any more.
    let solve = json!({ "solution": "x", "resolution_code": "solved" });
    refused(
        desk.act(&tier1, &inc, "resolve", solve).await,
        "tickets.resolve",
    );
    desk.ok(
        "rosa.hernandez",
        &inc,
        "request_approval",
        json!({ "comment": "¿Reinicio?" }),
    )
    .await;
    // Only the unit's head decides, not the technician who asked.
    refused(
        desk.act("rosa.hernandez", &inc, "approve", json!({})).await,
        "tickets.approve",
    );
    refused(
        desk.act(&tier1, &inc, "reject", json!({ "comment": "no" }))
            .await,
        "tickets.reject",
    );
    // Monitoring tokens only send alerts.
    let (status, body) = desk
        .app
        .call(
            &desk.app.monitor_token,
            Method::GET,
            "/api/v1/tickets",
            None,
        )
        .await;
    assert_eq!((status, body["permission"].clone()), (403, json!("person")));
}

async fn an_illegal_move_is_a_conflict_naming_the_state_and_the_moves_allowed(backend: Backend) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let ticket = desk
        .request("usuario.dgt", "Instalar lector de firma")
        .await;
    let req = id(&ticket);
    assert_eq!(ticket["assignee"], "lucia.mendez");
    let (status, body) = desk.act("usuario.dgt", &req, "confirm", json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "illegal_transition");
    assert_eq!(body["state"], "assigned");
    let allowed: Vec<&str> = body["allowed"]
        .as_array()
        .expect("allowed")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        allowed.contains(&"accept") && allowed.contains(&"escalate"),
        "{allowed:?}"
    );
    assert!(!allowed.contains(&"confirm"), "{allowed:?}");
    assert!(body["detail"]
        .as_str()
        .expect("detail")
        .contains("cannot `confirm`"));

    // Unknown moves and bodies that do not fit are refused before anything changes.
    let (status, body) = desk.act("lucia.mendez", &req, "teleport", json!({})).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = desk
        .act("lucia.mendez", &req, "accept", json!({ "coment": "typo" }))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = desk
        .act(
            "lucia.mendez",
            &req,
            "resolve",
            json!({ "solution": "hecho" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("resolution_code"),
        "{body}"
    );
    let (_, t) = desk
        .get("lucia.mendez", &format!("/api/v1/tickets/{req}"))
        .await;
    assert_eq!(t["state"], "assigned");
}

async fn requesters_register_see_their_own_and_answer_questions(backend: Backend) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let ticket = desk
        .request("usuario.dgt", "Acceso al sistema de pagos")
        .await;
    let req = id(&ticket);
    assert!(req.starts_with("req_"), "{req}");
    assert_eq!(ticket["unit"], "DGT");
    assert_eq!(ticket["requester"], "usuario.dgt");
    assert_eq!(ticket["channel"], "portal");
    assert_eq!(ticket["state"], "assigned");

    let (_, mine) = desk.get("usuario.dgt", "/api/v1/tickets").await;
    assert_eq!(items(mine).len(), 1);
    let (_, theirs) = desk.get("usuario.dga", "/api/v1/tickets").await;
    assert!(items(theirs).is_empty());
    let (status, _) = desk
        .get("usuario.dga", &format!("/api/v1/tickets/{req}"))
        .await;
    assert_eq!(status, 403);
    // Requesters do not browse the directory.
    let (status, _) = desk.get("usuario.dgt", "/api/v1/people").await;
    assert_eq!(status, 403);

    desk.ok("lucia.mendez", &req, "accept", json!({})).await;
    let question = json!({ "comment": "¿Qué rol necesita en el sistema?" });
    let t = desk
        .ok("lucia.mendez", &req, "request_info", question)
        .await;
    assert_eq!(t["hold_reason"], "awaiting_user");
    // A comment from someone else does not resume it; the requester's reply does.
    let t = desk
        .ok(
            "jefe.dgt",
            &req,
            "comment",
            json!({ "comment": "Le consulto" }),
        )
        .await;
    assert_eq!(t["hold_reason"], "awaiting_user");
    let t = desk
        .ok(
            "usuario.dgt",
            &req,
            "comment",
            json!({ "comment": "Rol de consulta" }),
        )
        .await;
    assert_eq!(t["state"], "in_progress");
    let bodies: Vec<&str> = t["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .filter_map(|c| c["body"].as_str())
        .collect();
    assert_eq!(
        bodies,
        [
            "¿Qué rol necesita en el sistema?",
            "Le consulto",
            "Rol de consulta"
        ]
    );
}

async fn registering_on_a_users_behalf_records_the_channel(backend: Backend) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let body = json!({ "kind": "incident", "summary": "No imprime", "requester": "usuario.dgt" });
    let (status, answer) = desk.register("lucia.mendez", body.clone()).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["detail"]
        .as_str()
        .expect("detail")
        .contains("channel"));
    let mut phoned = body.clone();
    phoned["channel"] = json!("phone");
    let (status, t) = desk.register("lucia.mendez", phoned).await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["requester"], "usuario.dgt");
    assert_eq!(t["registered_by"], "lucia.mendez");
    assert_eq!(t["channel"], "phone");
    assert_eq!(t["kind"], "incident");
    // A requester may not register for someone else.
    let mut forged = body;
    forged["requester"] = json!("usuario.dga");
    forged["channel"] = json!("phone");
    let (status, answer) = desk.register("usuario.dgt", forged).await;
    assert_eq!(
        (status, answer["permission"].clone()),
        (403, json!("tickets.register_on_behalf"))
    );
}

async fn assignment_balances_open_work_and_skips_unavailable_people(backend: Backend) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let mut assignees = Vec::new();
    for n in 0..4 {
        let t = desk.request("jefe.dinafi", &format!("Solicitud {n}")).await;
        assignees.push(t["assignee"].as_str().expect("assignee").to_owned());
    }
    let count = |who: &str| assignees.iter().filter(|a| *a == who).count();
    assert_eq!(
        (count("ana.lopez"), count("carlos.mejia")),
        (2, 2),
        "{assignees:?}"
    );
    assert_ne!(
        assignees[0], assignees[1],
        "equals take turns: {assignees:?}"
    );

    let (status, body) = desk
        .app
        .call(
            desk.token("jefe.dinafi"),
            Method::PATCH,
            "/api/v1/people/carlos.mejia",
            Some(&json!({ "available": false })),
        )
        .await;
    assert_eq!(
        (status, body["available"].clone()),
        (200, json!(false)),
        "{body}"
    );
    // Ana gets the next two although she then has more open work than Carlos.
    for n in 4..6 {
        let t = desk.request("jefe.dinafi", &format!("Solicitud {n}")).await;
        assert_eq!(t["assignee"], "ana.lopez");
    }
    // A technician may not mark a colleague unavailable.
    let (status, _) = desk
        .app
        .call(
            desk.token("ana.lopez"),
            Method::PATCH,
            "/api/v1/people/carlos.mejia",
            Some(&json!({ "available": true })),
        )
        .await;
    assert_eq!(status, 403);
}

async fn a_unit_without_an_available_tier_one_sends_the_ticket_to_the_central_desk(
    backend: Backend,
) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let (status, _) = desk
        .app
        .call(
            desk.token("lucia.mendez"),
            Method::PATCH,
            "/api/v1/people/lucia.mendez",
            Some(&json!({ "available": false })),
        )
        .await;
    assert_eq!(status, 200);
    let t = desk.request("usuario.dgt", "Cambio de contraseña").await;
    let req = id(&t);
    assert_eq!(t["central_desk"], true);
    assert_eq!(t["assignee"], Value::Null);
    let history = desk.history(&req).await;
    let sent = &history[1];
    assert_eq!(sent["action"], "sent_to_central_desk");
    assert_eq!(
        sent["comment"],
        "no tier-1 technician of unit DGT is available"
    );
    // The central desk takes it.
    let t = desk.ok("admin.mesa", &req, "accept", json!({})).await;
    assert_eq!(
        (t["assignee"].clone(), t["central_desk"].clone()),
        (json!("admin.mesa"), json!(false))
    );
}

async fn rescheduling_pauses_the_ticket_and_it_resumes_by_itself(backend: Backend) {
    let (desk, sink) = with_mail(backend).await;
    let t = desk.request("usuario.dgt", "Configurar VPN").await;
    let req = id(&t);
    desk.ok("lucia.mendez", &req, "accept", json!({})).await;
    let resume_at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let missing = desk
        .act(
            "lucia.mendez",
            &req,
            "reschedule",
            json!({ "resume_at": resume_at.to_string() }),
        )
        .await;
    assert_eq!(missing.0, 422, "a reason is required: {}", missing.1);
    let body = json!({ "resume_at": resume_at.to_string(), "reason": "El usuario está de viaje" });
    let t = desk.ok("lucia.mendez", &req, "reschedule", body).await;
    assert_eq!(t["hold_reason"], "rescheduled");
    assert!(t["resume_at"].is_string());

    let path = format!("/api/v1/tickets/{req}");
    desk.app
        .eventually(&path, |t| t["state"] == "in_progress")
        .await;
    let history = desk.history(&req).await;
    let resumed = history.last().expect("record");
    assert_eq!(
        (resumed["action"].clone(), resumed["actor"].clone()),
        (json!("resumed"), json!("system"))
    );
    assert_eq!(resumed["from_state"], "on_hold (rescheduled)");
    // The assignee is told it is back.
    mail_to(&sink, "lucia.mendez@mh.gob.sv", "Se reanudó").await;
}

async fn rescheduling_is_refused_once_the_resolution_time_has_passed(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.sla.policies = vec![vigia::sla::config::Policy {
            name: "instant".into(),
            kind: None,
            priority: None,
            unit: None,
            ci_type: None,
            acknowledge: "1s".into(),
            resolve: "1s".into(),
            calendar: Some("24x7".into()),
        }];
    })
    .await;
    let desk = Desk::open(app).await;
    let t = desk.request("usuario.dgt", "Configurar VPN").await;
    let req = id(&t);
    desk.ok("lucia.mendez", &req, "accept", json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let body = json!({ "resume_at": later.to_string(), "reason": "Mañana" });
    let (status, answer) = desk.act("lucia.mendez", &req, "reschedule", body).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .expect("detail")
            .contains("within its SLA"),
        "{answer}"
    );
}

async fn a_rejected_solution_reopens_the_ticket_and_is_counted(backend: Backend) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let req = id(&desk.request("usuario.dgt", "Correo no sincroniza").await);
    desk.ok("lucia.mendez", &req, "accept", json!({})).await;
    let solve = json!({ "solution": "Perfil recreado", "resolution_code": "solved" });
    desk.ok("lucia.mendez", &req, "resolve", solve.clone())
        .await;
    let (status, _) = desk.act("usuario.dgt", &req, "reopen", json!({})).await;
    assert_eq!(status, 422, "a reason is required");
    let t = desk
        .ok(
            "usuario.dgt",
            &req,
            "reopen",
            json!({ "comment": "Sigue sin sincronizar" }),
        )
        .await;
    assert_eq!(
        (t["state"].clone(), t["reopens"].clone()),
        (json!("in_progress"), json!(1))
    );
    assert_eq!(t["assignee"], "lucia.mendez");
    assert_eq!(t["solution"], Value::Null);
    desk.ok("lucia.mendez", &req, "resolve", solve).await;
    let t = desk.ok("usuario.dgt", &req, "confirm", json!({})).await;
    assert_eq!(t["state"], "closed");
}

async fn unconfirmed_solutions_close_themselves_and_can_no_longer_be_rejected(backend: Backend) {
    let desk = Desk::open(spawn_app_with(backend, |c| c.desk.confirm_days = 0).await).await;
    let req = id(&desk.request("usuario.dgt", "Correo no sincroniza").await);
    desk.ok("lucia.mendez", &req, "accept", json!({})).await;
    let solve = json!({ "solution": "Perfil recreado", "resolution_code": "solved" });
    desk.ok("lucia.mendez", &req, "resolve", solve).await;
    let path = format!("/api/v1/tickets/{req}");
    desk.app.eventually(&path, |t| t["state"] == "closed").await;
    assert_eq!(
        actions(&desk.history(&req).await).last(),
        Some(&"closed_unconfirmed")
    );
    let (status, _) = desk
        .act("usuario.dgt", &req, "reopen", json!({ "comment": "tarde" }))
        .await;
    assert_eq!(status, 409);
}

async fn cancelling_needs_a_reason_and_a_duplicate_names_its_original(backend: Backend) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let first = id(&desk.request("usuario.dgt", "Impresora atascada").await);
    let second = id(&desk
        .request("usuario.dgt", "Impresora atascada otra vez")
        .await);
    let (status, _) = desk.act("lucia.mendez", &second, "cancel", json!({})).await;
    assert_eq!(status, 422);
    let (status, _) = desk
        .act(
            "lucia.mendez",
            &second,
            "cancel",
            json!({ "reason": "duplicate" }),
        )
        .await;
    assert_eq!(status, 422, "a duplicate names its original");
    let t = desk
        .ok(
            "lucia.mendez",
            &second,
            "cancel",
            json!({ "reason": "duplicate", "duplicate_of": first }),
        )
        .await;
    assert_eq!(
        (t["state"].clone(), t["duplicate_of"].clone()),
        (json!("canceled"), json!(first))
    );
    // The requester may withdraw their request, not declare it invalid.
    let (status, body) = desk
        .act(
            "usuario.dgt",
            &first,
            "cancel",
            json!({ "reason": "invalid" }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let t = desk
        .ok(
            "usuario.dgt",
            &first,
            "cancel",
            json!({ "reason": "withdrawn" }),
        )
        .await;
    assert_eq!(t["cancel_reason"], "withdrawn");
}

async fn a_revoked_token_is_refused(backend: Backend) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let (status, created) = desk
        .app
        .admin_json(
            Method::POST,
            "/api/v1/people/ana.lopez/tokens",
            &json!({ "name": "portátil" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().expect("token");
    let token_id = created["id"].as_str().expect("id");
    let (status, _) = desk
        .app
        .call(token, Method::GET, "/api/v1/tickets", None)
        .await;
    assert_eq!(status, 200);
    // Nobody else's token is Carlos's to revoke.
    let (status, _) = desk
        .app
        .call(
            desk.token("carlos.mejia"),
            Method::DELETE,
            &format!("/api/v1/tokens/{token_id}"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = desk
        .app
        .call(
            token,
            Method::DELETE,
            &format!("/api/v1/tokens/{token_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = desk
        .app
        .call(token, Method::GET, "/api/v1/tickets", None)
        .await;
    assert_eq!(status, 401, "{body}");
    let (_, listed) = desk
        .app
        .admin_json(Method::GET, "/api/v1/tokens?person=ana.lopez", &Value::Null)
        .await;
    let revoked: Vec<bool> = listed
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["revoked_at"].is_string())
        .collect();
    assert_eq!(revoked, [false, true], "{listed}");
}

/// `vigia audit verify` on the app's database: exit success, stdout, stderr.
fn verify_audit(app: &TestApp) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigia"))
        .args(["audit", "verify"])
        .env("VIGIA_DATABASE__URL", &app.database_url)
        .env("VIGIA_LOG__LEVEL", "error")
        .output()
        .expect("vigia runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

async fn the_audit_chain_verifies_and_shows_where_it_was_altered_or_cut(backend: Backend) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let req = id(&desk
        .request("usuario.dgt", "Acceso a carpeta compartida")
        .await);
    desk.ok("lucia.mendez", &req, "accept", json!({})).await;
    let solve = json!({ "solution": "Permiso concedido", "resolution_code": "solved" });
    desk.ok("lucia.mendez", &req, "resolve", solve).await;
    assert_eq!(desk.history(&req).await.len(), 4);

    let (ok, out, err) = verify_audit(&desk.app);
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("audit chain intact: 4 records"), "{out}");

    // Someone with database access rewrites what the technician wrote.
    let pool = desk.app.pool();
    sqlx::query("UPDATE audit_log SET detail = '{\"solution\":\"otra cosa\"}' WHERE seq = 4")
        .execute(pool)
        .await
        .expect("tampered");
    let (ok, _, err) = verify_audit(&desk.app);
    assert!(!ok);
    assert!(err.contains("broken at record 4"), "{err}");
    assert!(err.contains("was altered"), "{err}");
    assert!(err.contains(&req), "names the ticket: {err}");

    // Removing the altered record (the newest) is detected too: the head remembers it.
    sqlx::query("DELETE FROM audit_log WHERE seq = 4")
        .execute(pool)
        .await
        .expect("removed");
    let (ok, _, err) = verify_audit(&desk.app);
    assert!(!ok);
    assert!(err.contains("records 4 to 4 are missing"), "{err}");

    // And so is a record removed from the middle.
    sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(pool)
        .await
        .expect("removed");
    let (ok, _, err) = verify_audit(&desk.app);
    assert!(!ok);
    assert!(err.contains("record 2 is missing"), "{err}");
}

async fn resolving_a_problem_resolves_every_ticket_linked_to_it(backend: Backend) {
    let (desk, sink) = with_mail(backend).await;
    let mut tickets = Vec::new();
    for user in ["usuario.dgt", "jefe.dgt"] {
        let req = id(&desk
            .request(user, "El sistema de pagos rechaza transferencias")
            .await);
        desk.ok("lucia.mendez", &req, "accept", json!({})).await;
        tickets.push(req);
    }
    let raised = json!({ "summary": "Certificado vencido en el enlace con el BCR" });
    let t = desk
        .ok("jefe.dgt", &tickets[0], "raise_problem", raised)
        .await;
    let prb = t["problem_id"].as_str().expect("problem").to_owned();
    // The second ticket links the existing problem instead of raising another.
    let linked = json!({ "problem_id": prb });
    let t = desk
        .ok("jefe.dgt", &tickets[1], "raise_problem", linked)
        .await;
    assert_eq!(t["hold_reason"], "awaiting_problem");
    // A ticket already waiting on a problem raises no other.
    let (status, body) = desk
        .act(
            "jefe.dgt",
            &tickets[1],
            "raise_problem",
            json!({ "problem_id": &tickets[0] }),
        )
        .await;
    assert_eq!(status, 409, "{body}");

    let solve = json!({ "solution": "Certificado renovado", "resolution_code": "change_applied" });
    desk.ok("jefe.dgt", &prb, "resolve", solve).await;
    for (req, email) in tickets
        .iter()
        .zip(["usuario.dgt@mh.gob.sv", "pedro.guzman@mh.gob.sv"])
    {
        let (_, t) = desk
            .get("admin.mesa", &format!("/api/v1/tickets/{req}"))
            .await;
        assert_eq!(
            (t["state"].clone(), t["solution"].clone()),
            (json!("resolved"), json!("Certificado renovado"))
        );
        let told = mail_to(&sink, email, req).await;
        assert!(
            told.body().contains("Certificado renovado"),
            "{}",
            told.body()
        );
    }
}

async fn a_ticket_rescheduled_before_acceptance_comes_back_to_be_accepted(backend: Backend) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let req = id(&desk.request("usuario.dgt", "Cambio de equipo").await);
    let resume_at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
    let body = json!({ "resume_at": resume_at.to_string(), "reason": "Equipo en camino" });
    desk.ok("lucia.mendez", &req, "reschedule", body).await;
    let path = format!("/api/v1/tickets/{req}");
    desk.app
        .eventually(&path, |t| t["state"] == "assigned")
        .await;
    let t = desk.ok("lucia.mendez", &req, "accept", json!({})).await;
    assert_eq!(t["state"], "in_progress");
    assert_eq!(t["acknowledged_by"], "lucia.mendez");
}

async fn canceling_a_problem_sends_its_tickets_back_to_work(backend: Backend) {
    let desk = Desk::open(spawn_app(backend).await).await;
    let req = id(&desk.request("usuario.dgt", "Pagos lentos").await);
    desk.ok("lucia.mendez", &req, "accept", json!({})).await;
    let raised = json!({ "summary": "Lentitud del enlace" });
    let t = desk.ok("jefe.dgt", &req, "raise_problem", raised).await;
    let prb = t["problem_id"].as_str().expect("problem").to_owned();
    // Another unit's head cannot link its tickets to this problem.
    let dga = id(&desk.request("usuario.dga", "Aduana lenta").await);
    desk.ok("sofia.castro", &dga, "accept", json!({})).await;
    let (status, _) = desk
        .act(
            "jefe.dga",
            &dga,
            "raise_problem",
            json!({ "problem_id": prb }),
        )
        .await;
    assert_eq!(status, 422);

    desk.ok("jefe.dgt", &prb, "cancel", json!({ "reason": "invalid" }))
        .await;
    let (_, t) = desk
        .get("lucia.mendez", &format!("/api/v1/tickets/{req}"))
        .await;
    assert_eq!(
        (t["state"].clone(), t["problem_id"].clone()),
        (json!("in_progress"), Value::Null)
    );
    let history = desk.history(&req).await;
    assert_eq!(actions(&history).last(), Some(&"released_from_problem"));
}
