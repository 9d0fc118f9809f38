//! Other bots (Teams, WhatsApp gateways…): the JSON form they post, its checks, and the
//! reply they get back.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ChatError, Incoming};

/// Longest message text accepted from a bot, in characters.
pub const MAX_TEXT: usize = 16_000;
/// Longest identifier (sender, conversation, message) accepted, in characters.
const MAX_ID: usize = 256;

/// `POST /api/v1/chat/bots/{bot}`: one message a person wrote to the bot.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotMessage {
    /// The bot's name, if sent; it must be the one in the path.
    pub platform: Option<String>,
    pub sender: BotSender,
    /// The conversation the reply belongs to, as the bot knows it.
    pub conversation: Option<String>,
    pub text: String,
    /// Unique per message within the bot: a message sent again with the same id is
    /// answered again and opens no second ticket.
    pub message_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotSender {
    /// The sender's id on the platform: the one an admin linked to a person.
    pub id: String,
    /// Their display name, kept with a refusal.
    pub name: Option<String>,
}

/// The reply: in the answer to the bot, and POSTed to the bot's `reply_url` if it has
/// one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BotReply {
    pub bot: String,
    pub conversation: Option<String>,
    /// The `message_id` answered.
    pub reply_to: String,
    pub text: String,
    /// The ticket the message opened or was answered about.
    pub ticket: Option<String>,
}

impl BotMessage {
    /// Checks the form against the bot it came to; the message the desk handles.
    pub fn into_incoming(self, bot: &str) -> Result<Incoming, ChatError> {
        if self.platform.as_deref().is_some_and(|p| p != bot) {
            return Err(ChatError::Invalid(format!(
                "`platform` must be `{bot}`, the bot this endpoint is for, or left out"
            )));
        }
        let id = |value: &str, field: &str| {
            let value = value.trim();
            if value.is_empty() || value.chars().count() > MAX_ID {
                Err(ChatError::Invalid(format!(
                    "`{field}` must have 1 to {MAX_ID} characters"
                )))
            } else {
                Ok(value.to_owned())
            }
        };
        let sender_id = id(&self.sender.id, "sender.id")?;
        let message_id = id(&self.message_id, "message_id")?;
        let conversation = match &self.conversation {
            Some(c) => Some(id(c, "conversation")?),
            None => None,
        };
        if self.text.trim().is_empty() || self.text.chars().count() > MAX_TEXT {
            return Err(ChatError::Invalid(format!(
                "`text` must have 1 to {MAX_TEXT} characters"
            )));
        }
        Ok(Incoming {
            platform: bot.to_owned(),
            key: message_id.clone(),
            sender_id,
            sender_name: self.sender.name,
            conversation,
            message_id,
            text: Some(self.text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(json: &str) -> BotMessage {
        serde_json::from_str(json).expect("parses")
    }

    #[test]
    fn a_well_formed_message_becomes_an_incoming_message_keyed_by_its_id() {
        let m = form(
            r#"{"platform": "teams", "sender": {"id": "29:1abc", "name": "Gloria Ramos"},
                "conversation": "19:meeting", "text": "Sin acceso a la VPN", "message_id": "m-1"}"#,
        );
        let incoming = m.into_incoming("teams").expect("accepted");
        assert_eq!(incoming.platform, "teams");
        assert_eq!(incoming.key, "m-1");
        assert_eq!(incoming.sender_id, "29:1abc");
        assert_eq!(incoming.conversation.as_deref(), Some("19:meeting"));
    }

    #[test]
    fn each_field_out_of_bounds_is_named() {
        let cases = [
            (
                r#"{"platform": "slack", "sender": {"id": "a"}, "text": "x", "message_id": "1"}"#,
                "`platform`",
            ),
            (
                r#"{"sender": {"id": " "}, "text": "x", "message_id": "1"}"#,
                "`sender.id`",
            ),
            (
                r#"{"sender": {"id": "a"}, "text": "x", "message_id": ""}"#,
                "`message_id`",
            ),
            (
                r#"{"sender": {"id": "a"}, "text": "  ", "message_id": "1"}"#,
                "`text`",
            ),
        ];
        for (json, field) in cases {
            let err = form(json).into_incoming("teams").expect_err("refused");
            assert!(err.to_string().contains(field), "{json}: {err}");
        }
        let long = format!(
            r#"{{"sender": {{"id": "a"}}, "text": "{}", "message_id": "1"}}"#,
            "x".repeat(MAX_TEXT + 1)
        );
        assert!(form(&long).into_incoming("teams").is_err());
    }
}
