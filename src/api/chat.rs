//! The chat channel over HTTP: Telegram's webhook and other bots' JSON form
//! (`chat_accounts` has people's linked accounts and the senders refused).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::bearer_token;
use super::{ApiError, ApiResult, AppState, Problem, REQUEST_ID};
use crate::auth::secret_matches;
use crate::chat::bots::{BotMessage, BotReply};
use crate::chat::{Handled, TELEGRAM};

/// The header Telegram sends the webhook's secret in.
const TELEGRAM_SECRET: &str = "x-telegram-bot-api-secret-token";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(telegram_update))
        .routes(routes!(bot_message))
}

/// What became of a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatAnswer {
    /// opened, status, help, refused, duplicate (handled before: the same reply again),
    /// not_registered, or ignored (not a person's message).
    pub outcome: String,
    /// The ticket opened, or asked about.
    pub ticket: Option<String>,
    /// Bots: the reply to show the sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<BotReply>,
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Telegram's webhook (`setWebhook` with a `secret_token`). A text message from a linked
/// person registers a service request, or answers `/estado` and `/ayuda`; the reply goes
/// to `sendMessage`. 200 once the message is stored; updates that are not messages are
/// acknowledged and ignored.
#[utoipa::path(post, path = "/api/v1/chat/telegram", tag = "chat",
    request_body(content = Object, description = "A Telegram `Update`"),
    params(("X-Telegram-Bot-Api-Secret-Token" = String, Header, description = "The webhook's secret token")),
    responses(
        (status = 200, body = ChatAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The sender is over its allowance; retry after Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
async fn telegram_update(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ChatAnswer>> {
    let answer = read_telegram(&state, &headers, body).await;
    if let Err(e) = &answer {
        state.chat.rejected(TELEGRAM, e.code());
    }
    answer
}

async fn read_telegram(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ChatAnswer>> {
    let config = &state.chat.config().telegram;
    if !config.enabled {
        return Err(ApiError::NotFound(
            "the Telegram channel is not enabled (`chat.telegram.enabled`)".to_owned(),
        ));
    }
    let sent = headers.get(TELEGRAM_SECRET).ok_or_else(|| {
        ApiError::Unauthorized(
            "the `X-Telegram-Bot-Api-Secret-Token` header is required".to_owned(),
        )
    })?;
    if !secret_matches(sent.as_bytes(), &config.secret_token) {
        return Err(ApiError::Unauthorized(
            "the `X-Telegram-Bot-Api-Secret-Token` header does not match the webhook's secret"
                .to_owned(),
        ));
    }
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let update: crate::chat::telegram::Update = ApiError::parse_json(&body)?;
    let Some((incoming, target)) = update.into_incoming() else {
        state.chat.ignored(TELEGRAM);
        return Ok(Json(ChatAnswer {
            outcome: "ignored".to_owned(),
            ticket: None,
            reply: None,
        }));
    };
    admit(state, &incoming)?;
    let handled = state.chat.handle(&incoming, request_id(headers)).await?;
    state.chat.reply_on_telegram(target, &handled.reply);
    Ok(Json(answer(handled, None)))
}

/// A sender over their allowance gets a 429; the platform retries later.
fn admit(state: &AppState, incoming: &crate::chat::Incoming) -> ApiResult<()> {
    state.chat.admit(incoming).map_err(|wait| {
        // Whole seconds, rounded up: a platform that waits that long passes.
        let retry_after_secs = u64::try_from(wait.as_millis().div_ceil(1000))
            .unwrap_or(u64::MAX)
            .max(1);
        ApiError::TooManyRequests {
            detail: format!(
                "sender `{}` is over {} messages a minute; nothing of this message was recorded, retry after {retry_after_secs} s",
                incoming.sender_id,
                state.chat.config().messages_per_minute_per_sender
            ),
            retry_after_secs,
        }
    })
}

fn answer(handled: Handled, reply: Option<BotReply>) -> ChatAnswer {
    ChatAnswer {
        outcome: handled.outcome.as_str().to_owned(),
        ticket: handled.ticket,
        reply,
    }
}

/// A message to another bot, in the generic form, authenticated by the bot's token
/// (`[[chat.bots]]`). The reply is in the answer and, when the bot has a `reply_url`,
/// POSTed there too.
#[utoipa::path(post, path = "/api/v1/chat/bots/{bot}", tag = "chat",
    params(("bot" = String, Path, description = "The bot's configured name")),
    request_body = BotMessage,
    security(("bearer" = [])),
    responses(
        (status = 200, body = ChatAnswer),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The sender is over its allowance; retry after Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
async fn bot_message(
    State(state): State<AppState>,
    Path(bot): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ChatAnswer>> {
    let answer = read_bot(&state, &bot, &headers, body).await;
    if let Err(e) = &answer {
        // Labels stay bounded: only configured bots are named.
        let label = if state.chat.config().bot(&bot).is_some() {
            bot.as_str()
        } else {
            "unknown"
        };
        state.chat.rejected(label, e.code());
    }
    answer
}

async fn read_bot(
    state: &AppState,
    bot: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ChatAnswer>> {
    let config = state
        .chat
        .config()
        .bot(bot)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no chat bot `{bot}` is configured")))?;
    let token = bearer_token(headers).ok_or_else(|| {
        ApiError::Unauthorized(
            "an `Authorization: Bearer <token>` header with the bot's token is required".to_owned(),
        )
    })?;
    if !secret_matches(token.as_bytes(), &config.token) {
        return Err(ApiError::Unauthorized(format!(
            "the token is not bot `{bot}`'s"
        )));
    }
    let body = body.map_err(|e| ApiError::from_body(e, state.body_limit))?;
    let message: BotMessage = ApiError::parse_json(&body)?;
    let incoming = message.into_incoming(bot)?;
    admit(state, &incoming)?;
    let handled = state.chat.handle(&incoming, request_id(headers)).await?;
    let reply = BotReply {
        bot: bot.to_owned(),
        conversation: incoming.conversation.clone(),
        reply_to: incoming.message_id.clone(),
        text: handled.reply.clone(),
        ticket: handled.ticket.clone(),
    };
    state.chat.reply_to_bot(&config, &reply);
    Ok(Json(answer(handled, Some(reply))))
}
