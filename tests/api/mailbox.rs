//! The desk mailbox end to end: messages go into a real IMAP server (the dovecot instance
//! `.ci/run` starts on 127.0.0.1:1143, where any user name logs in with `vigia-test` and
//! gets a mailbox of its own), Vigía polls it, and the tickets are read back through the
//! HTTP API.

use std::collections::HashSet;
use std::time::Duration;

use futures::TryStreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::helpers::{items, spawn_app_with, Backend, TestApp};
use crate::on_both_stores;

const IMAP: &str = "127.0.0.1:1143";
const PASSWORD: &str = "vigia-test";
const DESK: &str = "mesa.dgii@mh.gob.sv";
const LIMIT: u64 = 1024;

/// A mailbox of its own on the test server.
struct Mailbox {
    user: String,
}

impl Mailbox {
    fn new() -> Mailbox {
        Mailbox {
            user: format!("t{}", ulid::Ulid::new().to_string().to_lowercase()),
        }
    }

    async fn session(&self) -> async_imap::Session<TcpStream> {
        let tcp = TcpStream::connect(IMAP).await.unwrap_or_else(|e| {
            panic!(
                "the test IMAP server (dovecot) is not reachable on {IMAP}: {e}; \
                 start it with .ci/run's ensure_dovecot"
            )
        });
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        client
            .login(&self.user, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("test login")
    }

    /// Delivers a message the way an MTA would put it in the mailbox.
    async fn append(&self, raw: &str) {
        let mut s = self.session().await;
        s.append("INBOX", None, None, raw.replace('\n', "\r\n"))
            .await
            .expect("APPEND");
        s.logout().await.ok();
    }

    /// The flags of every message of `folder` (none if it does not exist).
    async fn flags(&self, folder: &str) -> Vec<Vec<String>> {
        let mut s = self.session().await;
        if s.select(folder).await.is_err() {
            return Vec::new();
        }
        let fetches: Vec<_> = s
            .fetch("1:*", "FLAGS")
            .await
            .expect("FETCH")
            .try_collect()
            .await
            .unwrap_or_default();
        let flags = fetches
            .iter()
            .map(|f| f.flags().map(|flag| format!("{flag:?}")).collect())
            .collect();
        s.logout().await.ok();
        flags
    }

    /// Removes Vigía's mark from every message, as if marking had failed after the commit.
    async fn unmark_all(&self) {
        let mut s = self.session().await;
        s.select("INBOX").await.expect("SELECT");
        let _: Vec<_> = s
            .store("1:*", "-FLAGS (\\Seen VigiaProcessed)")
            .await
            .expect("STORE")
            .try_collect()
            .await
            .expect("STORE");
        s.logout().await.ok();
    }

    fn account(&self, unit: &str) -> vigia::mailbox::AccountConfig {
        vigia::mailbox::AccountConfig {
            unit: unit.to_owned(),
            address: DESK.to_owned(),
            host: "127.0.0.1".to_owned(),
            port: 1143,
            tls: false,
            username: self.user.clone(),
            password: PASSWORD.to_owned(),
            incident_subject: Some(r"ca[ií]d[oa]|urgente".to_owned()),
            ..Default::default()
        }
    }
}

async fn desk_with_mailbox(backend: Backend, mailbox: &Mailbox, unit: &str) -> TestApp {
    let account = mailbox.account(unit);
    let app = spawn_app_with(backend, |c| {
        c.mailbox.poll_interval_secs = 1;
        c.mailbox.attachment_max_bytes = LIMIT;
        c.mailbox.accounts = vec![account];
    })
    .await;
    app.import_ministry().await;
    app
}

fn plain(from: &str, subject: &str, id: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: Mesa DGII <{DESK}>\nSubject: {subject}\nMessage-ID: <{id}@test>\n\
         Date: Mon, 2 Jun 2025 10:00:00 -0600\nMIME-Version: 1.0\n\
         Content-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

/// A message with a small PDF (kept) and a file over the limit (listed, not kept).
fn with_attachments(from: &str, subject: &str, id: &str) -> String {
    let big = "A".repeat(2000);
    format!(
        "From: {from}\nTo: {DESK}\nSubject: {subject}\nMessage-ID: <{id}@test>\n\
         MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n\
         --b1\nContent-Type: text/plain; charset=utf-8\n\n\
         La impresora del segundo piso no imprime.\n\
         --b1\nContent-Type: application/pdf; name=\"informe.pdf\"\n\
         Content-Disposition: attachment; filename=\"informe.pdf\"\n\
         Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n\
         --b1\nContent-Type: application/octet-stream; name=\"grande.bin\"\n\
         Content-Disposition: attachment; filename=\"grande.bin\"\n\n{big}\n--b1--\n"
    )
}

/// Waits until the unit has `n` tickets; they come newest first.
async fn tickets_of(app: &TestApp, unit: &str, n: usize) -> Vec<Value> {
    let path = format!("/api/v1/tickets?unit={unit}");
    items(
        app.eventually(&path, |page| items(page.clone()).len() >= n)
            .await,
    )
}

async fn ticket(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/tickets/{id}")).await
}

fn series(unit: &str, outcome: &str) -> String {
    format!("vigia_mailbox_messages_total{{outcome=\"{outcome}\",unit=\"{unit}\"}}")
}

/// Waits (10 s at most) until the metric series reaches `n`.
async fn metric_reaches(app: &TestApp, series: &str, n: f64) {
    for _ in 0..100 {
        if app.metric(series).await.unwrap_or(0.0) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{series} never reached {n}: {:?}", app.metric(series).await);
}

async fn an_email_becomes_an_assigned_request_of_the_unit_registered_to_its_sender(
    backend: Backend,
) {
    let mailbox = Mailbox::new();
    let app = desk_with_mailbox(backend, &mailbox, "DGII").await;
    mailbox
        .append(&with_attachments(
            "\"Luis Ramírez\" <Luis.Ramirez@MH.gob.sv>",
            "Impresora sin servicio",
            "m1",
        ))
        .await;

    let found = tickets_of(&app, "DGII", 1).await;
    let id = found[0]["id"].as_str().expect("id").to_owned();
    let t = ticket(&app, &id).await;
    assert_eq!(t["kind"], "service_request");
    assert_eq!(t["unit"], "DGII");
    assert_eq!(t["channel"], "email");
    assert_eq!(t["requester"], "jefe.dga", "matched by address, any case");
    assert_eq!(t["registered_by"], "mailbox:DGII");
    assert_eq!(t["state"], "assigned");
    assert_eq!(
        t["assignee"], "mario.rivas",
        "DGII's only tier-1 technician"
    );
    assert_eq!(t["summary"], "Impresora sin servicio");
    assert_eq!(
        t["description"],
        "La impresora del segundo piso no imprime.\n\n\
         Adjuntos no guardados por superar el límite de 1024 bytes: grande.bin (2000 bytes)"
    );
    assert_eq!(t["email"]["from_address"], "Luis.Ramirez@MH.gob.sv");
    assert_eq!(t["email"]["from_name"], "Luis Ramírez");
    assert_eq!(t["email"]["message_id"], "m1@test");

    let list = app.get(&format!("/api/v1/tickets/{id}/attachments")).await;
    let list = list.as_array().expect("list");
    assert_eq!(list.len(), 2, "{list:?}");
    let pdf = list
        .iter()
        .find(|a| a["filename"] == "informe.pdf")
        .expect("pdf");
    assert_eq!(
        (pdf["stored"].as_bool(), pdf["size_bytes"].as_i64()),
        (Some(true), Some(9))
    );
    let big = list
        .iter()
        .find(|a| a["filename"] == "grande.bin")
        .expect("big");
    assert_eq!(
        (big["stored"].as_bool(), big["size_bytes"].as_i64()),
        (Some(false), Some(2000))
    );

    // The requester downloads the file as sent; another unit's technician may not.
    let requester = app.person_token("jefe.dga").await;
    let path = format!(
        "/api/v1/tickets/{id}/attachments/{}",
        pdf["id"].as_str().expect("id")
    );
    let resp = app.send(Method::GET, &path, None, Some(&requester)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("attachment; filename=\"informe.pdf\""));
    assert_eq!(resp.bytes().await.expect("body").as_ref(), b"%PDF-1.4\n");
    let other = app.person_token("sofia.castro").await;
    let resp = app.send(Method::GET, &path, None, Some(&other)).await;
    assert_eq!(resp.status(), 403);
    let big_path = format!(
        "/api/v1/tickets/{id}/attachments/{}",
        big["id"].as_str().expect("id")
    );
    let resp = app
        .send(Method::GET, &big_path, None, Some(&requester))
        .await;
    assert_eq!(resp.status(), 410);
    let problem: Value = resp.json().await.expect("problem");
    assert_eq!(problem["code"], "gone");

    // Marked on the server only once the ticket was committed; still there.
    metric_reaches(&app, &series("DGII", "registered"), 1.0).await;
    let flags = mailbox.flags("INBOX").await;
    assert_eq!(flags.len(), 1);
    assert!(
        flags[0].iter().any(|f| f.contains("VigiaProcessed")),
        "{flags:?}"
    );
    assert!(flags[0].iter().any(|f| f == "Seen"), "{flags:?}");
}

async fn a_reply_naming_its_ticket_adds_a_comment_and_resumes_it_when_it_awaited_the_sender(
    backend: Backend,
) {
    let mailbox = Mailbox::new();
    let app = desk_with_mailbox(backend, &mailbox, "DGII").await;
    mailbox
        .append(&plain(
            "Luis Ramírez <luis.ramirez@mh.gob.sv>",
            "Sistema de recaudación caído",
            "m1",
            "No carga desde las 9.",
        ))
        .await;
    let id = tickets_of(&app, "DGII", 1).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        ticket(&app, &id).await["kind"],
        "incident",
        "by the subject rule"
    );
    let tech = app.person_token("mario.rivas").await;
    let (status, _) = app
        .call(
            &tech,
            Method::POST,
            &format!("/api/v1/tickets/{id}/accept"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 200);
    let question = json!({ "comment": "¿Qué mensaje de error aparece?" });
    let (status, t) = app
        .call(
            &tech,
            Method::POST,
            &format!("/api/v1/tickets/{id}/request_info"),
            Some(&question),
        )
        .await;
    assert_eq!(
        (status, t["hold_reason"].as_str()),
        (200, Some("awaiting_user"))
    );

    mailbox
        .append(&plain(
            "Luis Ramírez <luis.ramirez@mh.gob.sv>",
            &format!("RE: [{}] Sistema de recaudación caído", id.to_uppercase()),
            "m2",
            "Error 500 al iniciar sesión.",
        ))
        .await;
    let t = app
        .eventually(&format!("/api/v1/tickets/{id}"), |t| {
            t["state"] == "in_progress"
        })
        .await;
    assert_eq!(t["hold_reason"], Value::Null);
    let last = t["comments"]
        .as_array()
        .expect("comments")
        .last()
        .cloned()
        .expect("one");
    assert_eq!(last["author"], "jefe.dga");
    assert_eq!(last["body"], "Error 500 al iniciar sesión.");
    metric_reaches(&app, &series("DGII", "commented"), 1.0).await;
    assert_eq!(
        items(app.get("/api/v1/tickets?unit=DGII").await).len(),
        1,
        "no new ticket"
    );
}

async fn bad_mail_is_set_aside_or_registered_as_documented_and_nothing_accepted_is_lost(
    backend: Backend,
) {
    let mailbox = Mailbox::new();
    let app = desk_with_mailbox(backend, &mailbox, "DGII").await;
    let known = "Luis Ramírez <luis.ramirez@mh.gob.sv>";
    let stranger = "Visitante Externo <visitante@example.org>";
    mailbox
        .append(&plain(
            known,
            "Cambio de contraseña",
            "a",
            "Olvidé mi clave.",
        ))
        .await;
    // Not MIME at all: no header, bytes that are not text.
    mailbox
        .append("\u{1}\u{2}garbage without any header\n\n\u{fffd}\u{fffd}\n")
        .await;
    // MIME without a sender: nobody to register it to or answer.
    mailbox
        .append("Subject: sin remitente\nMessage-ID: <nf@test>\n\nhola\n")
        .await;
    mailbox
        .append(&plain(
            stranger,
            "Ventanilla caída",
            "u",
            "No atiende el sistema.",
        ))
        .await;
    let unknown_ref = "req_01jabcdefghjkmnpqrstvwxyz0";
    mailbox
        .append(&plain(
            known,
            &format!("RE: [{unknown_ref}] otra cosa"),
            "r",
            "¿Y mi caso?",
        ))
        .await;

    metric_reaches(&app, &series("DGII", "rejected"), 2.0).await;
    let all = tickets_of(&app, "DGII", 3).await;
    let by_summary = |s: &str| {
        all.iter()
            .find(|t| t["summary"] == s)
            .unwrap_or_else(|| panic!("no ticket `{s}` in {all:?}"))["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let a = by_summary("Cambio de contraseña");
    let u = by_summary("Ventanilla caída");
    let r = by_summary(&format!("RE: [{unknown_ref}] otra cosa"));
    // A sender the registry does not know: registered all the same, with no requester,
    // their address and name kept on the ticket so the desk can answer.
    let stranger_ticket = ticket(&app, &u).await;
    assert_eq!(stranger_ticket["kind"], "incident");
    assert_eq!(stranger_ticket["requester"], Value::Null);
    assert_eq!(stranger_ticket["state"], "assigned");
    assert_eq!(
        stranger_ticket["email"]["from_address"],
        "visitante@example.org"
    );
    assert_eq!(stranger_ticket["email"]["from_name"], "Visitante Externo");
    // A reference to no ticket: a new request.
    assert_eq!(ticket(&app, &r).await["requester"], "jefe.dga");

    // The two unreadable messages are in the rejected folder, untouched; the others
    // are processed in the inbox.
    let rejected = mailbox.flags("Rechazados").await;
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected
        .iter()
        .all(|f| !f.iter().any(|x| x.contains("VigiaProcessed"))));
    let inbox = mailbox.flags("INBOX").await;
    assert_eq!(inbox.len(), 3, "{inbox:?}");

    // A reply to someone else's ticket is a request of its own; the stranger's reply
    // to theirs is a comment, signed with their address.
    mailbox
        .append(&plain(
            "Elena Flores <elena.flores@mh.gob.sv>",
            &format!("RE: [{a}] Cambio de contraseña"),
            "e",
            "Yo también.",
        ))
        .await;
    mailbox
        .append(&plain(
            stranger,
            &format!("Re: [{u}] Ventanilla caída"),
            "u2",
            "Sigue sin servicio.",
        ))
        .await;
    metric_reaches(&app, &series("DGII", "commented"), 1.0).await;
    let all = tickets_of(&app, "DGII", 4).await;
    assert_eq!(all.len(), 4, "{all:?}");
    let elenas = all
        .iter()
        .find(|t| t["requester"] == "jefe.dgii")
        .expect("her own request");
    assert_ne!(elenas["id"], a.as_str());
    let comments = ticket(&app, &u).await["comments"].clone();
    assert_eq!(comments.as_array().map(Vec::len), Some(1), "{comments}");
    assert_eq!(comments[0]["author"], "mailbox:DGII");
    assert_eq!(
        comments[0]["body"],
        "De: Visitante Externo <visitante@example.org>\n\nSigue sin servicio."
    );

    // Everything accepted earlier is still there as it was.
    let first = ticket(&app, &a).await;
    assert_eq!(first["description"], "Olvidé mi clave.");
    assert_eq!(first["comments"].as_array().map(Vec::len), Some(0));
    assert_eq!(first["requester"], "jefe.dga");
    let inbox = mailbox.flags("INBOX").await;
    assert_eq!(inbox.len(), 5);
    assert_eq!(
        mailbox.flags("Rechazados").await.len(),
        2,
        "no message deleted"
    );
}

async fn a_message_whose_mark_was_lost_after_the_commit_is_not_registered_twice(backend: Backend) {
    let mailbox = Mailbox::new();
    let app = desk_with_mailbox(backend, &mailbox, "DGII").await;
    mailbox
        .append(&plain(
            "Luis Ramírez <luis.ramirez@mh.gob.sv>",
            "Acceso VPN",
            "v",
            "Sin VPN.",
        ))
        .await;
    metric_reaches(&app, &series("DGII", "registered"), 1.0).await;
    mailbox.unmark_all().await;
    metric_reaches(&app, &series("DGII", "duplicate"), 1.0).await;
    assert_eq!(items(app.get("/api/v1/tickets?unit=DGII").await).len(), 1);
    let flags = mailbox.flags("INBOX").await;
    assert!(
        flags[0].iter().any(|f| f.contains("VigiaProcessed")),
        "marked again: {flags:?}"
    );
}

async fn a_mailbox_of_a_unit_the_registry_lacks_is_not_read_and_its_mail_waits(backend: Backend) {
    let mailbox = Mailbox::new();
    let app = desk_with_mailbox(backend, &mailbox, "NOEXISTE").await;
    mailbox
        .append(&plain(
            "Luis Ramírez <luis.ramirez@mh.gob.sv>",
            "Hola",
            "w",
            "Espera.",
        ))
        .await;
    let failures = "vigia_mailbox_poll_failures_total{unit=\"NOEXISTE\"}";
    metric_reaches(&app, failures, 2.0).await;
    assert!(items(app.get("/api/v1/tickets").await).is_empty());
    let flags = mailbox.flags("INBOX").await;
    assert_eq!(flags.len(), 1);
    let marked: HashSet<&String> = flags[0].iter().filter(|f| f.contains("Vigia")).collect();
    assert!(marked.is_empty(), "left unprocessed: {flags:?}");
}

async fn a_message_over_the_size_limit_is_moved_aside_unread_and_the_next_is_read(
    backend: Backend,
) {
    let mailbox = Mailbox::new();
    let account = mailbox.account("DGII");
    let app = spawn_app_with(backend, |c| {
        c.mailbox.poll_interval_secs = 1;
        c.mailbox.max_message_bytes = 8 * 1024;
        c.mailbox.accounts = vec![account];
    })
    .await;
    app.import_ministry().await;
    let huge = "línea de registro\n".repeat(600);
    mailbox
        .append(&plain(
            "Luis Ramírez <luis.ramirez@mh.gob.sv>",
            "Registro",
            "big",
            &huge,
        ))
        .await;
    mailbox
        .append(&plain(
            "Luis Ramírez <luis.ramirez@mh.gob.sv>",
            "Pantalla azul",
            "small",
            "Se reinicia sola.",
        ))
        .await;
    let found = tickets_of(&app, "DGII", 1).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["summary"], "Pantalla azul");
    metric_reaches(&app, &series("DGII", "rejected"), 1.0).await;
    assert_eq!(
        mailbox.flags("Rechazados").await.len(),
        1,
        "kept, not deleted"
    );
}

async fn the_sender_gets_the_reference_by_email_and_a_reply_keeping_it_joins_the_ticket(
    backend: Backend,
) {
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let mailbox = Mailbox::new();
    let account = mailbox.account("DGII");
    let smtp_url = sink.url();
    let app = spawn_app_with(backend, |c| {
        c.mailbox.poll_interval_secs = 1;
        c.mailbox.accounts = vec![account];
        c.notify.smtp_url = smtp_url;
        c.notify.poll_interval_ms = 100;
    })
    .await;
    app.import_ministry().await;
    mailbox
        .append(&plain(
            "Luis Ramírez <luis.ramirez@mh.gob.sv>",
            "Sin acceso al portal",
            "ack",
            "Desde esta mañana.",
        ))
        .await;
    let id = tickets_of(&app, "DGII", 1).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ack = crate::desk::mail_to(&sink, "luis.ramirez@mh.gob.sv", &id).await;
    assert_eq!(
        ack.subject(),
        format!("Recibimos su solicitud de servicio {id} «Sin acceso al portal»")
    );
    assert!(
        ack.body().contains("sin quitar la referencia"),
        "{}",
        ack.body()
    );
    // Out-of-office replies and desk mailboxes leave it alone (RFC 3834).
    assert_eq!(
        ack.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );

    // The sender answers that email, as mail programs do.
    mailbox
        .append(&plain(
            "Luis Ramírez <luis.ramirez@mh.gob.sv>",
            &format!("RE: {}", ack.subject()),
            "ack-reply",
            "Olvidé decir: uso Firefox.",
        ))
        .await;
    let path = format!("/api/v1/tickets/{id}");
    let t = app
        .eventually(&path, |t| {
            t["comments"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["body"] == "Olvidé decir: uso Firefox."))
        })
        .await;
    assert_eq!(t["requester"], "jefe.dga");
    assert_eq!(items(app.get("/api/v1/tickets?unit=DGII").await).len(), 1);
}

/// The CA that signed the test server's IMAPS certificate (`.ci/run` makes both).
const TEST_CA: &str = "/var/tmp/vigia-dovecot/tls/ca.pem";

async fn a_mailbox_over_tls_is_read_with_its_servers_ca_and_an_untrusted_server_is_not(
    backend: Backend,
) {
    let trusted = Mailbox::new();
    let untrusted = Mailbox::new();
    let over_tls =
        |mailbox: &Mailbox, unit: &str, ca: Option<&str>| vigia::mailbox::AccountConfig {
            host: "localhost".to_owned(),
            port: 1993,
            tls: true,
            ca_file: ca.map(Into::into),
            ..mailbox.account(unit)
        };
    let accounts = vec![
        over_tls(&trusted, "DGII", Some(TEST_CA)),
        // The public roots: the test server's certificate is signed by none of them.
        over_tls(&untrusted, "DGA", None),
    ];
    let app = spawn_app_with(backend, |c| {
        c.mailbox.poll_interval_secs = 1;
        c.mailbox.accounts = accounts;
    })
    .await;
    app.import_ministry().await;
    for mailbox in [&trusted, &untrusted] {
        mailbox
            .append(&plain(
                "Luis Ramírez <luis.ramirez@mh.gob.sv>",
                "Sin acceso a la VPN",
                "tls",
                "No conecta desde ayer.",
            ))
            .await;
    }
    let found = tickets_of(&app, "DGII", 1).await;
    assert_eq!(found[0]["summary"], "Sin acceso a la VPN");
    assert_eq!(found[0]["channel"], "email");
    let failures = "vigia_mailbox_poll_failures_total{unit=\"DGA\"}";
    metric_reaches(&app, failures, 1.0).await;
    assert!(
        items(app.get("/api/v1/tickets?unit=DGA").await).is_empty(),
        "nothing read from a server that proved nothing"
    );
    let flags = untrusted.flags("INBOX").await;
    assert_eq!(flags.len(), 1);
    assert!(
        !flags[0].iter().any(|f| f.contains("Vigia")),
        "its message waits: {flags:?}"
    );
}

on_both_stores!(
    the_sender_gets_the_reference_by_email_and_a_reply_keeping_it_joins_the_ticket,
    a_message_over_the_size_limit_is_moved_aside_unread_and_the_next_is_read,
    a_mailbox_over_tls_is_read_with_its_servers_ca_and_an_untrusted_server_is_not,
    an_email_becomes_an_assigned_request_of_the_unit_registered_to_its_sender,
    a_reply_naming_its_ticket_adds_a_comment_and_resumes_it_when_it_awaited_the_sender,
    bad_mail_is_set_aside_or_registered_as_documented_and_nothing_accepted_is_lost,
    a_message_whose_mark_was_lost_after_the_commit_is_not_registered_twice,
    a_mailbox_of_a_unit_the_registry_lacks_is_not_read_and_its_mail_waits,
);
