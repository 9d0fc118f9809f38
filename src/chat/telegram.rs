//! Telegram's side: the `Update` its webhook posts (only the fields the desk reads; the
//! others are ignored, as Telegram adds new ones), the secret-token check, and
//! `sendMessage`.

use serde::Deserialize;

use super::{Incoming, TELEGRAM};

/// An update as Telegram posts it to the webhook.
#[derive(Debug, Deserialize)]
pub struct Update {
    pub update_id: i64,
    /// Absent for edited messages, callbacks, channel posts…: those are acknowledged
    /// and ignored.
    #[serde(default)]
    pub message: Option<Message>,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub message_id: i64,
    /// Absent for messages sent on behalf of a chat.
    #[serde(default)]
    pub from: Option<User>,
    pub chat: Chat,
    /// Absent for photos, stickers, voice notes…
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub id: i64,
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Chat {
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// Where a reply to a Telegram message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub chat_id: i64,
    pub message_id: i64,
}

impl Update {
    /// The message the desk handles, and where its reply goes; `None` for updates that
    /// are not a person's message.
    pub fn into_incoming(self) -> Option<(Incoming, Target)> {
        let message = self.message?;
        // Replies name tickets and people: only one-to-one conversations are served,
        // never a group's.
        if message.chat.kind.as_deref().is_some_and(|k| k != "private") {
            return None;
        }
        let from = message.from?;
        let name = match (&from.last_name, &from.username) {
            (Some(last), Some(user)) => format!("{} {last} (@{user})", from.first_name),
            (Some(last), None) => format!("{} {last}", from.first_name),
            (None, Some(user)) => format!("{} (@{user})", from.first_name),
            (None, None) => from.first_name.clone(),
        };
        let incoming = Incoming {
            platform: TELEGRAM.to_owned(),
            // Message ids are unique within a chat; `update_id` restarts after a quiet week.
            key: format!("{}:{}", message.chat.id, message.message_id),
            sender_id: from.id.to_string(),
            sender_name: Some(name),
            conversation: Some(message.chat.id.to_string()),
            message_id: message.message_id.to_string(),
            text: message.text,
        };
        let target = Target {
            chat_id: message.chat.id,
            message_id: message.message_id,
        };
        Some((incoming, target))
    }
}

/// The body of `sendMessage`: a reply to the sender's message, sent even if that
/// message was deleted meanwhile.
pub fn send_message(target: Target, text: &str) -> serde_json::Value {
    serde_json::json!({
        "chat_id": target.chat_id,
        "text": text,
        "reply_parameters": {
            "message_id": target.message_id,
            "allow_sending_without_reply": true,
        },
    })
}

/// What Telegram answers every method with.
#[derive(Debug, Deserialize)]
pub struct ApiAnswer {
    pub ok: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_message_becomes_an_incoming_message_keyed_by_its_chat_and_message() {
        let update: Update = serde_json::from_str(
            r#"{"update_id": 900001, "message": {"message_id": 42, "date": 1700000000,
                "from": {"id": 5550001, "is_bot": false, "first_name": "Gloria",
                         "last_name": "Ramos", "username": "gramos", "language_code": "es"},
                "chat": {"id": 5550001, "type": "private", "first_name": "Gloria"},
                "text": "No puedo entrar al SAFI"}}"#,
        )
        .expect("parses");
        let (incoming, target) = update.into_incoming().expect("a message");
        assert_eq!(incoming.key, "5550001:42");
        assert_eq!(incoming.sender_id, "5550001");
        assert_eq!(
            incoming.sender_name.as_deref(),
            Some("Gloria Ramos (@gramos)")
        );
        assert_eq!(incoming.text.as_deref(), Some("No puedo entrar al SAFI"));
        assert_eq!(
            target,
            Target {
                chat_id: 5550001,
                message_id: 42
            }
        );
    }

    #[test]
    fn updates_that_are_not_messages_are_ignored() {
        for body in [
            r#"{"update_id": 1, "edited_message": {"message_id": 1, "chat": {"id": 1}}}"#,
            r#"{"update_id": 2, "callback_query": {"id": "x"}}"#,
            r#"{"update_id": 3, "message": {"message_id": 1, "chat": {"id": -100}}}"#,
            // A person's message in a group: replies would show their tickets to all.
            r#"{"update_id": 4, "message": {"message_id": 9, "text": "/estado",
                "from": {"id": 5550001, "first_name": "Gloria"},
                "chat": {"id": -1001, "type": "supergroup", "title": "Soporte"}}}"#,
        ] {
            let update: Update = serde_json::from_str(body).expect("parses");
            assert!(update.into_incoming().is_none(), "{body}");
        }
    }

    #[test]
    fn send_message_replies_to_the_senders_message() {
        let body = send_message(
            Target {
                chat_id: -7,
                message_id: 42,
            },
            "hola",
        );
        assert_eq!(body["chat_id"], -7);
        assert_eq!(body["text"], "hola");
        assert_eq!(body["reply_parameters"]["message_id"], 42);
    }
}
