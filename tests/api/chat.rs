//! The chat channel end to end: updates go in through the real endpoints, replies reach a
//! stand-in for the Telegram Bot API (and a bot's reply URL) started here, and tickets
//! are read back through the API.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use vigia::chat::{BotConfig, TelegramConfig};

use crate::bot_api_sink::{BotApi, Call};
use crate::helpers::{items, spawn_app, spawn_app_with, Backend, TestApp};
use crate::on_both_stores;

const BOT_TOKEN: &str = "123456:TEST-bot-token";
const SECRET: &str = "webhook-secret_01";
const TEAMS_TOKEN: &str = "teams-bot-token-0123456789";
const BODY_LIMIT: usize = 64 * 1024;
/// Gloria's Telegram user id, linked to `usuario.dgt` by every test.
const GLORIA: i64 = 5_550_001;

const PEOPLE: &str = "people:
  - { login: usuario.dgt, name: Gloria Ramos, email: gloria.ramos@mh.gob.sv, unit: DGT, role: requester }
  - { login: usuario.dga, name: John Smith, email: john.smith@mh.gob.sv, unit: DGA, role: requester }
";

/// The app with Telegram replying to `telegram` and a `teams` bot replying to
/// `reply_url`; the ministry imported, Gloria linked on Telegram.
async fn chat_app(backend: Backend, telegram: &BotApi, reply_url: Option<String>) -> TestApp {
    let api_base = telegram.base.clone();
    let app = spawn_app_with(backend, |c| {
        // Small enough that a body over it still fits the socket's buffers: the server
        // answers 413 without reading it all, and the client must not be cut off first.
        c.server.body_limit = BODY_LIMIT;
        c.chat.telegram = TelegramConfig {
            enabled: true,
            bot_token: BOT_TOKEN.to_owned(),
            secret_token: SECRET.to_owned(),
            api_base,
        };
        c.chat.bots = vec![BotConfig {
            name: "teams".to_owned(),
            token: TEAMS_TOKEN.to_owned(),
            reply_url,
        }];
    })
    .await;
    app.import_ministry().await;
    let (status, body) = app.import(PEOPLE, "application/yaml").await;
    assert_eq!(status, 200, "{body}");
    link(&app, "usuario.dgt", "telegram", &GLORIA.to_string()).await;
    app
}

async fn link(app: &TestApp, login: &str, platform: &str, id: &str) {
    let path = format!("/api/v1/people/{login}/chat/{platform}");
    let (status, body) = app
        .admin_json(Method::PUT, &path, &json!({ "external_id": id }))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A Telegram update: a text message from `from` in their private chat.
fn update(update_id: i64, from: i64, text: &str) -> String {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_767_225_600,
            "from": {"id": from, "is_bot": false, "first_name": "Gloria", "last_name": "Ramos",
                     "username": "gramos", "language_code": "es"},
            "chat": {"id": from, "type": "private", "first_name": "Gloria"},
            "text": text,
        }
    })
    .to_string()
}

/// POSTs a body to the Telegram webhook with `secret` (none: no header).
async fn post_telegram(app: &TestApp, body: String, secret: Option<&str>) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/api/v1/chat/telegram", app.base))
        .header("content-type", "application/json")
        .body(body);
    if let Some(secret) = secret {
        request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn telegram(app: &TestApp, update_id: i64, from: i64, text: &str) -> Value {
    let (status, body) = post_telegram(app, update(update_id, from, text), Some(SECRET)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn post_bot(app: &TestApp, bot: &str, token: Option<&str>, body: String) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/api/v1/chat/bots/{bot}", app.base))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The text of the `n`th reply Telegram received, checking it went where it should.
fn reply_text(call: &Call, chat_id: i64) -> String {
    assert_eq!(call.path, format!("/bot{BOT_TOKEN}/sendMessage"));
    assert_eq!(call.body["chat_id"], chat_id, "{:?}", call.body);
    call.body["text"].as_str().expect("text").to_owned()
}

fn assert_problem(status: u16, body: &Value, expected: u16, code: &str, detail: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    let shown = body["detail"].as_str().unwrap_or_default();
    assert!(shown.contains(detail), "expected `{detail}` in {body}");
}

async fn tickets_of(app: &TestApp, requester: &str) -> Vec<Value> {
    items(
        app.get(&format!("/api/v1/tickets?requester={requester}"))
            .await,
    )
}

async fn a_telegram_message_from_a_linked_person_opens_a_request_and_the_reply_names_it(
    backend: Backend,
) {
    let api = BotApi::start(StatusCode::OK).await;
    let app = chat_app(backend, &api, None).await;
    let text = "La impresora del piso 3 no imprime\nMuestra el error 0x1F desde ayer";
    let answer = telegram(&app, 900_042, GLORIA, text).await;
    assert_eq!(answer["outcome"], "opened", "{answer}");
    let id = answer["ticket"].as_str().expect("ticket id").to_owned();
    assert!(id.starts_with("req_"), "{id}");

    let calls = api.wait_for(1).await;
    let reply = reply_text(&calls[0], GLORIA);
    assert_eq!(calls[0].body["reply_parameters"]["message_id"], 900_042);
    assert!(
        reply.contains(&format!("Registramos su solicitud {id}")),
        "{reply}"
    );
    // DGT's only tier-1 technician.
    assert!(
        reply.contains("La atiende Lucía Méndez, técnico(a) de nivel 1 de DGT"),
        "{reply}"
    );
    assert!(reply.contains(&format!("/estado {id}")), "{reply}");

    let ticket = app.get(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(ticket["kind"], "service_request");
    assert_eq!(ticket["channel"], "chat");
    assert_eq!(ticket["requester"], "usuario.dgt");
    assert_eq!(ticket["registered_by"], "usuario.dgt");
    assert_eq!(ticket["summary"], "La impresora del piso 3 no imprime");
    assert_eq!(ticket["unit"], "DGT");
    assert_eq!(ticket["state"], "assigned");
    assert_eq!(ticket["assignee"], "lucia.mendez");
    let description = ticket["description"].as_str().expect("description");
    assert!(description.starts_with(text), "{description}");
    assert!(
        description.contains("Chat: telegram, sender 5550001 (Gloria Ramos (@gramos))"),
        "{description}"
    );
    // The requester sees it with their own token too.
    let token = app.person_token("usuario.dgt").await;
    let (status, _) = app
        .call(&token, Method::GET, &format!("/api/v1/tickets/{id}"), None)
        .await;
    assert_eq!(status, 200);
}

async fn a_retried_telegram_update_opens_no_second_ticket(backend: Backend) {
    let api = BotApi::start(StatusCode::OK).await;
    let app = chat_app(backend, &api, None).await;
    let body = update(900_100, GLORIA, "Sin acceso a la VPN");
    // Telegram retries a webhook it got no answer for; copies may overlap.
    let sends = (0..3).map(|_| post_telegram(&app, body.clone(), Some(SECRET)));
    let answers = futures::future::join_all(sends).await;
    let mut outcomes: Vec<&str> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["outcome"].as_str().expect("outcome")
        })
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["duplicate", "duplicate", "opened"]);
    let ids: Vec<&Value> = answers.iter().map(|(_, b)| &b["ticket"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    // Later, once more.
    let again = telegram(&app, 900_100, GLORIA, "Sin acceso a la VPN").await;
    assert_eq!(again["outcome"], "duplicate");
    assert_eq!(&again["ticket"], ids[0]);

    assert_eq!(tickets_of(&app, "usuario.dgt").await.len(), 1);
    // Each copy is answered, with the same reply: the sender learns the reference even
    // if the first answer was lost.
    let calls = api.wait_for(4).await;
    let first = reply_text(&calls[0], GLORIA);
    assert!(first.contains(ids[0].as_str().expect("id")), "{first}");
    assert!(calls.iter().all(|c| reply_text(c, GLORIA) == first));
    let duplicates = r#"vigia_chat_messages_total{outcome="duplicate",platform="telegram"}"#;
    assert_eq!(app.metric(duplicates).await, Some(3.0));
}

async fn estado_lists_the_senders_open_tickets_and_answers_about_one(backend: Backend) {
    let api = BotApi::start(StatusCode::OK).await;
    let app = chat_app(backend, &api, None).await;
    let first = telegram(&app, 900_201, GLORIA, "Cambio de contraseña del SAFI").await;
    let second = telegram(&app, 900_202, GLORIA, "Instalar lector de PDF").await;
    let (first, second) = (
        first["ticket"].as_str().unwrap(),
        second["ticket"].as_str().unwrap(),
    );
    // Another unit's ticket, which Gloria may not see.
    let (status, other) = app
        .admin_json(
            Method::POST,
            "/api/v1/tickets",
            &json!({"kind": "incident", "summary": "Switch caído", "unit": "DGA"}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let other = other["id"].as_str().expect("id");

    let listing = telegram(&app, 900_203, GLORIA, "/estado").await;
    assert_eq!(listing["outcome"], "status");
    telegram(&app, 900_204, GLORIA, &format!("/estado {first}")).await;
    telegram(&app, 900_205, GLORIA, &format!("/estado {other}")).await;
    telegram(&app, 900_206, GLORIA, "/ayuda").await;
    let calls = api.wait_for(6).await;
    let replies: Vec<String> = calls.iter().map(|c| reply_text(c, GLORIA)).collect();
    let listed = replies
        .iter()
        .find(|r| r.starts_with("Sus solicitudes abiertas:"));
    let listed = listed.expect("a listing");
    assert!(
        listed.contains(&format!("• {second} — asignada — Instalar lector de PDF")),
        "{listed}"
    );
    assert!(listed.contains(&format!(
        "• {first} — asignada — Cambio de contraseña del SAFI"
    )));
    assert!(!listed.contains(other), "{listed}");
    let one = replies
        .iter()
        .find(|r| r.starts_with(&format!("Solicitud {first}")));
    let one = one.expect("one ticket's state");
    assert!(
        one.contains("Estado: asignada.") && one.contains("Lucía Méndez"),
        "{one}"
    );
    let hidden = format!("No encontré la solicitud {other} entre las que usted puede consultar.");
    assert!(replies.contains(&hidden), "{replies:?}");
    assert!(replies
        .iter()
        .any(|r| r.contains("/estado muestra sus solicitudes abiertas")));

    // A person who prefers English is answered in English.
    link(&app, "usuario.dga", "telegram", "5550002").await;
    let (status, _) = app
        .admin_json(
            Method::PATCH,
            "/api/v1/people/usuario.dga",
            &json!({"language": "en"}),
        )
        .await;
    assert_eq!(status, 200);
    let opened = telegram(&app, 900_207, 5_550_002, "Need a new keyboard").await;
    telegram(&app, 900_208, 5_550_002, "/status").await;
    let calls = api.wait_for(8).await;
    let english: Vec<String> = calls[6..]
        .iter()
        .map(|c| reply_text(c, 5_550_002))
        .collect();
    let id = opened["ticket"].as_str().expect("id");
    assert!(english
        .iter()
        .any(|r| r.starts_with(&format!("We registered your request {id}"))));
    assert!(
        english
            .iter()
            .any(|r| r.starts_with("Your open requests:\n• ")),
        "{english:?}"
    );
}

async fn an_unknown_telegram_sender_is_refused_politely_and_recorded(backend: Backend) {
    let api = BotApi::start(StatusCode::OK).await;
    let app = chat_app(backend, &api, None).await;
    let body = json!({"update_id": 900_300, "message": {"message_id": 7, "date": 1,
        "from": {"id": 7_770_001, "is_bot": false, "first_name": "Pedro", "last_name": "Paz"},
        "chat": {"id": 7_770_001, "type": "private"}, "text": "Necesito acceso al SIAFI"}});
    let (status, answer) = post_telegram(&app, body.to_string(), Some(SECRET)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "refused");
    assert_eq!(answer["ticket"], Value::Null);
    let reply = reply_text(&api.wait_for(1).await[0], 7_770_001);
    assert!(
        reply.starts_with("Hola, Pedro Paz. Gracias por escribir"),
        "{reply}"
    );
    assert!(reply.contains("vincule su cuenta, indicando este identificador: 7770001"));

    let refusals = app.get("/api/v1/chat/refusals").await;
    let listed = items(refusals);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["platform"], "telegram");
    assert_eq!(listed[0]["external_id"], "7770001");
    assert_eq!(listed[0]["name"], "Pedro Paz");
    assert_eq!(listed[0]["excerpt"], "Necesito acceso al SIAFI");
    // A retry is answered the same way and recorded once.
    let (_, again) = post_telegram(&app, body.to_string(), Some(SECRET)).await;
    assert_eq!(again["outcome"], "duplicate");
    assert_eq!(items(app.get("/api/v1/chat/refusals").await).len(), 1);
    assert!(items(app.get("/api/v1/tickets").await).is_empty());
    let refused = r#"vigia_chat_messages_total{outcome="refused",platform="telegram"}"#;
    assert_eq!(app.metric(refused).await, Some(1.0));
    // Refusals hold personal data: the admin's only.
    let token = app.person_token("usuario.dgt").await;
    let (status, body) = app
        .call(&token, Method::GET, "/api/v1/chat/refusals", None)
        .await;
    assert_eq!((status, &body["permission"]), (403, &json!("admin")));
}

async fn a_sender_over_the_allowance_gets_429_and_nothing_more_is_recorded(backend: Backend) {
    let api = BotApi::start(StatusCode::OK).await;
    let app = chat_app(backend, &api, None).await;
    let from = 7_770_002;
    let message = |n: i64| {
        json!({"update_id": 910_000 + n, "message": {"message_id": n, "date": 1,
            "from": {"id": from, "is_bot": false, "first_name": "Bot", "last_name": "Ruidoso"},
            "chat": {"id": from, "type": "private"}, "text": format!("mensaje {n}")}})
        .to_string()
    };
    // The default allowance: 20 a minute.
    for n in 0..20 {
        let (status, answer) = post_telegram(&app, message(n), Some(SECRET)).await;
        assert_eq!(
            (status, &answer["outcome"]),
            (200, &json!("refused")),
            "{n}"
        );
    }
    let response = app
        .client
        .post(format!("{}/api/v1/chat/telegram", app.base))
        .header("content-type", "application/json")
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .body(message(20))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=3).contains(&retry_after), "{retry_after}");
    let problem: Value = response.json().await.expect("problem");
    assert_eq!(problem["code"], "rate_limited");
    assert_eq!(
        items(app.get("/api/v1/chat/refusals?limit=100").await).len(),
        20,
        "the 21st message was not recorded"
    );
    // Others are not held back by the noisy sender.
    telegram(&app, 910_100, GLORIA, "Mi clave expiró").await;
    let limited = r#"vigia_chat_rejected_total{platform="telegram",reason="rate_limited"}"#;
    assert_eq!(app.metric(limited).await, Some(1.0));
}

async fn bad_telegram_updates_get_clear_errors_and_lose_nothing_accepted(backend: Backend) {
    let api = BotApi::start(StatusCode::OK).await;
    let app = chat_app(backend, &api, None).await;
    let kept = telegram(&app, 900_400, GLORIA, "Monitor sin imagen").await;
    let kept = kept["ticket"].as_str().expect("ticket").to_owned();
    let good = update(900_401, GLORIA, "Otra solicitud");

    let (status, body) = post_telegram(&app, good.clone(), None).await;
    assert_problem(
        status,
        &body,
        401,
        "unauthorized",
        "the `X-Telegram-Bot-Api-Secret-Token` header is required",
    );
    let (status, body) = post_telegram(&app, good.clone(), Some("webhook-secret_02")).await;
    assert_problem(
        status,
        &body,
        401,
        "unauthorized",
        "does not match the webhook's secret",
    );
    let truncated = good[..good.len() / 2].to_owned();
    let (status, body) = post_telegram(&app, truncated, Some(SECRET)).await;
    assert_problem(
        status,
        &body,
        400,
        "malformed_json",
        "malformed JSON: EOF while parsing",
    );
    let wrong = good.replace("\"update_id\":900401", "\"update_id\":\"900401\"");
    assert_ne!(wrong, good);
    let (status, body) = post_telegram(&app, wrong, Some(SECRET)).await;
    assert_problem(
        status,
        &body,
        422,
        "invalid",
        "the request body does not fit: invalid type: string \"900401\", expected i64",
    );
    let wrong = good.replace("\"text\":\"Otra solicitud\"", "\"text\":5");
    let (status, body) = post_telegram(&app, wrong, Some(SECRET)).await;
    assert_problem(
        status,
        &body,
        422,
        "invalid",
        "invalid type: integer `5`, expected a string",
    );
    let huge = update(900_402, GLORIA, &"x".repeat(BODY_LIMIT + 1));
    let (status, body) = post_telegram(&app, huge, Some(SECRET)).await;
    assert_problem(
        status,
        &body,
        413,
        "payload_too_large",
        "the request body is larger than the limit of 65536 bytes",
    );
    // Not a message: acknowledged, ignored, not answered.
    let edited = json!({"update_id": 900_403, "edited_message": {"message_id": 1, "date": 1,
        "chat": {"id": GLORIA}, "from": {"id": GLORIA, "first_name": "Gloria"}, "text": "x"}});
    let (status, body) = post_telegram(&app, edited.to_string(), Some(SECRET)).await;
    assert_eq!((status, &body["outcome"]), (200, &json!("ignored")));

    // Nothing refused was kept, and nothing accepted before was lost.
    let tickets = tickets_of(&app, "usuario.dgt").await;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(tickets[0]["id"], kept);
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{kept}")).await["state"],
        "assigned"
    );
    let unauthorized = r#"vigia_chat_rejected_total{platform="telegram",reason="unauthorized"}"#;
    assert_eq!(app.metric(unauthorized).await, Some(2.0));
    // The refused update is taken once it is sent right.
    telegram(&app, 900_401, GLORIA, "Otra solicitud").await;
    assert_eq!(tickets_of(&app, "usuario.dgt").await.len(), 2);
    api.wait_for(2).await;
    // Replies go out in the background: give a stray one time to arrive.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(api.calls().len(), 2, "only accepted messages are answered");
}

async fn a_failed_reply_keeps_the_ticket_and_is_counted(backend: Backend) {
    let api = BotApi::start(StatusCode::BAD_REQUEST).await;
    let app = chat_app(backend, &api, None).await;
    let answer = telegram(&app, 900_500, GLORIA, "Teléfono IP sin tono").await;
    let id = answer["ticket"].as_str().expect("ticket");
    api.wait_for(1).await;
    let failed = r#"vigia_chat_replies_total{outcome="failed",platform="telegram"}"#;
    for _ in 0..100 {
        if app.metric(failed).await == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.metric(failed).await, Some(1.0));
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{id}")).await["channel"],
        "chat"
    );
}

fn bot_form(message_id: &str, sender: &str, text: &str) -> Value {
    json!({"platform": "teams", "sender": {"id": sender, "name": "Gloria Ramos"},
           "conversation": "19:conv-gloria", "text": text, "message_id": message_id})
}

async fn a_generic_bot_gets_the_reply_in_its_answer_and_at_its_reply_url(backend: Backend) {
    let telegram_api = BotApi::start(StatusCode::OK).await;
    let bot_api = BotApi::start(StatusCode::OK).await;
    let reply_url = format!("{}/teams/replies", bot_api.base);
    let app = chat_app(backend, &telegram_api, Some(reply_url)).await;
    link(&app, "usuario.dgt", "teams", "29:gloria").await;
    let form = bot_form("m-1", "29:gloria", "Correo lleno\nNo recibo mensajes");
    let (status, answer) = post_bot(&app, "teams", Some(TEAMS_TOKEN), form.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "opened");
    let id = answer["ticket"].as_str().expect("ticket").to_owned();
    let reply = &answer["reply"];
    assert_eq!(reply["bot"], "teams");
    assert_eq!(reply["conversation"], "19:conv-gloria");
    assert_eq!(reply["reply_to"], "m-1");
    assert_eq!(reply["ticket"], id.as_str());
    let text = reply["text"].as_str().expect("text");
    assert!(
        text.starts_with(&format!("Registramos su solicitud {id}: «Correo lleno»")),
        "{text}"
    );

    let calls = bot_api.wait_for(1).await;
    assert_eq!(calls[0].path, "/teams/replies");
    let auth = calls[0]
        .headers
        .get("authorization")
        .expect("authorization");
    assert_eq!(
        auth.to_str().expect("ascii"),
        format!("Bearer {TEAMS_TOKEN}")
    );
    assert_eq!(&calls[0].body, reply);
    let ticket = app.get(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(
        (&ticket["channel"], &ticket["requester"]),
        (&json!("chat"), &json!("usuario.dgt"))
    );
    assert!(ticket["description"]
        .as_str()
        .unwrap()
        .contains("Chat: teams, sender 29:gloria"));

    // The same message again: the same answer, no second ticket.
    let (_, again) = post_bot(&app, "teams", Some(TEAMS_TOKEN), form.to_string()).await;
    assert_eq!(
        (&again["outcome"], &again["ticket"]),
        (&json!("duplicate"), &json!(id))
    );
    assert_eq!(tickets_of(&app, "usuario.dgt").await.len(), 1);
    assert!(telegram_api.calls().is_empty());
}

async fn bad_generic_bot_requests_get_clear_errors_and_unknown_senders_are_refused(
    backend: Backend,
) {
    let api = BotApi::start(StatusCode::OK).await;
    let app = chat_app(backend, &api, None).await;
    link(&app, "usuario.dgt", "teams", "29:gloria").await;
    let good = bot_form("m-1", "29:gloria", "Sin impresora").to_string();
    let (status, kept) = post_bot(&app, "teams", Some(TEAMS_TOKEN), good.clone()).await;
    assert_eq!(status, 200, "{kept}");

    let (status, body) = post_bot(&app, "slack", Some(TEAMS_TOKEN), good.clone()).await;
    assert_problem(
        status,
        &body,
        404,
        "not_found",
        "no chat bot `slack` is configured",
    );
    let (status, body) = post_bot(&app, "teams", None, good.clone()).await;
    assert_problem(
        status,
        &body,
        401,
        "unauthorized",
        "with the bot's token is required",
    );
    let (status, body) = post_bot(&app, "teams", Some("not-the-token"), good.clone()).await;
    assert_problem(
        status,
        &body,
        401,
        "unauthorized",
        "the token is not bot `teams`'s",
    );
    let (status, body) = post_bot(&app, "teams", Some(TEAMS_TOKEN), good[..20].to_owned()).await;
    assert_problem(
        status,
        &body,
        400,
        "malformed_json",
        "malformed JSON: EOF while parsing",
    );
    let cases = [
        (
            json!({"sender": {"id": "29:gloria"}, "text": 5, "message_id": "m-2"}),
            "invalid type: integer `5`, expected a string",
        ),
        (
            json!({"sender": {"id": "29:gloria"}, "message_id": "m-2"}),
            "missing field `text`",
        ),
        (
            json!({"sender": {"id": "29:gloria"}, "text": "x", "message_id": "m-2", "urgent": true}),
            "unknown field `urgent`",
        ),
        (
            json!({"platform": "whatsapp", "sender": {"id": "29:gloria"}, "text": "x",
                "message_id": "m-2"}),
            "`platform` must be `teams`, the bot this endpoint is for, or left out",
        ),
        (
            json!({"sender": {"id": "29:gloria"}, "text": " ", "message_id": "m-2"}),
            "`text` must have 1 to 16000 characters",
        ),
    ];
    for (form, detail) in cases {
        let (status, body) = post_bot(&app, "teams", Some(TEAMS_TOKEN), form.to_string()).await;
        assert_problem(status, &body, 422, "invalid", detail);
    }
    let huge = bot_form("m-3", "29:gloria", &"x".repeat(BODY_LIMIT + 1)).to_string();
    let (status, body) = post_bot(&app, "teams", Some(TEAMS_TOKEN), huge).await;
    assert_problem(
        status,
        &body,
        413,
        "payload_too_large",
        "larger than the limit",
    );

    let stranger = bot_form("m-4", "29:stranger", "Hola, necesito ayuda").to_string();
    let (status, body) = post_bot(&app, "teams", Some(TEAMS_TOKEN), stranger).await;
    assert_eq!(
        (status, &body["outcome"]),
        (200, &json!("refused")),
        "{body}"
    );
    let text = body["reply"]["text"].as_str().expect("reply");
    assert!(
        text.contains("Su cuenta de teams aún no está vinculada"),
        "{text}"
    );
    let refusals = items(app.get("/api/v1/chat/refusals").await);
    assert_eq!(refusals.len(), 1);
    assert_eq!(
        (&refusals[0]["platform"], &refusals[0]["external_id"]),
        (&json!("teams"), &json!("29:stranger"))
    );

    let tickets = tickets_of(&app, "usuario.dgt").await;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(tickets[0]["id"], kept["ticket"]);
}

async fn chat_accounts_are_linked_by_the_admin_and_seen_by_their_owner(backend: Backend) {
    let api = BotApi::start(StatusCode::OK).await;
    let app = chat_app(backend, &api, None).await;
    let gloria = app.person_token("usuario.dgt").await;
    let john = app.person_token("usuario.dga").await;
    let put = |id: &str| json!({ "external_id": id });

    let path = "/api/v1/people/usuario.dga/chat/telegram";
    let (status, body) = app.call(&gloria, Method::PUT, path, Some(&put("1"))).await;
    assert_eq!((status, &body["permission"]), (403, &json!("admin")));
    let (status, body) = app
        .admin_json(
            Method::PUT,
            "/api/v1/people/usuario.dga/chat/slack",
            &put("1"),
        )
        .await;
    assert_problem(
        status,
        &body,
        422,
        "invalid",
        "no chat platform `slack`: it must be one of telegram, teams",
    );
    let (status, body) = app
        .admin_json(Method::PUT, "/api/v1/people/nadie/chat/telegram", &put("1"))
        .await;
    assert_problem(status, &body, 404, "not_found", "no person `nadie`");
    let (status, body) = app
        .admin_json(Method::PUT, path, &put(&GLORIA.to_string()))
        .await;
    assert_problem(
        status,
        &body,
        409,
        "conflict",
        "is already linked to `usuario.dgt`",
    );
    let (status, body) = app.admin_json(Method::PUT, path, &put("  ")).await;
    assert_problem(
        status,
        &body,
        422,
        "invalid",
        "`external_id` must have 1 to 256 characters",
    );

    let own = "/api/v1/people/usuario.dgt/chat";
    let (status, links) = app.call(&gloria, Method::GET, own, None).await;
    assert_eq!(status, 200, "{links}");
    assert_eq!(links[0]["platform"], "telegram");
    assert_eq!(links[0]["external_id"], GLORIA.to_string());
    assert_eq!(links[0]["linked_by"], "admin.mesa");
    let (status, _) = app.call(&john, Method::GET, own, None).await;
    assert_eq!(status, 403);

    // Linking again replaces the account; unlinking refuses it again.
    link(&app, "usuario.dgt", "telegram", "5550009").await;
    assert_eq!(
        telegram(&app, 900_600, GLORIA, "hola").await["outcome"],
        "refused"
    );
    assert_eq!(
        telegram(&app, 900_601, 5_550_009, "/ayuda").await["outcome"],
        "help"
    );
    let unlink = "/api/v1/people/usuario.dgt/chat/telegram";
    assert_eq!(app.as_admin(Method::DELETE, unlink).await.status(), 204);
    assert_eq!(
        telegram(&app, 900_602, 5_550_009, "hola").await["outcome"],
        "refused"
    );
    let (status, body) = app.admin_json(Method::DELETE, unlink, &json!({})).await;
    assert_problem(
        status,
        &body,
        404,
        "not_found",
        "`usuario.dgt` has no account linked on `telegram`",
    );
}

async fn the_telegram_endpoint_is_not_found_until_enabled(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = post_telegram(&app, update(1, GLORIA, "hola"), Some(SECRET)).await;
    assert_problem(
        status,
        &body,
        404,
        "not_found",
        "the Telegram channel is not enabled",
    );
}

on_both_stores!(
    a_telegram_message_from_a_linked_person_opens_a_request_and_the_reply_names_it,
    a_retried_telegram_update_opens_no_second_ticket,
    estado_lists_the_senders_open_tickets_and_answers_about_one,
    an_unknown_telegram_sender_is_refused_politely_and_recorded,
    a_sender_over_the_allowance_gets_429_and_nothing_more_is_recorded,
    bad_telegram_updates_get_clear_errors_and_lose_nothing_accepted,
    a_failed_reply_keeps_the_ticket_and_is_counted,
    a_generic_bot_gets_the_reply_in_its_answer_and_at_its_reply_url,
    bad_generic_bot_requests_get_clear_errors_and_unknown_senders_are_refused,
    chat_accounts_are_linked_by_the_admin_and_seen_by_their_owner,
    the_telegram_endpoint_is_not_found_until_enabled,
);
