//! A message read from a desk mailbox, as the desk needs it: who sent it, what it asks,
//! what came attached, which ticket it answers. Pure: no I/O.

use std::sync::LazyLock;

use mail_parser::{MessageParser, MimeHeaders};
use regex::Regex;
use sha2::{Digest, Sha256};

/// A message the desk can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The Message-ID, or `sha256:` and the raw message's hash when it has none: the key
    /// that makes a message count once.
    pub key: String,
    pub from_address: String,
    pub from_name: Option<String>,
    pub subject: String,
    /// Every To and Cc address, lower-cased.
    pub recipients: Vec<String>,
    pub body: String,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// Why a message cannot become a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("the message is not MIME the parser can read")]
    NotMime,
    #[error("the message has no sender address (From)")]
    NoSender,
    /// RFC 3834: answering machines (out-of-office, bounces) must not open requests,
    /// nor be answered, or two robots could write to each other forever.
    #[error("the message is automatic ({0})")]
    Automatic(String),
}

/// Why a message was sent by a machine, if it says so.
fn automatic(message: &mail_parser::Message) -> Option<String> {
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if let Some(value) = header("Auto-Submitted").filter(|v| !v.starts_with("no")) {
        return Some(format!("Auto-Submitted: {value}"));
    }
    header("Precedence")
        .filter(|v| matches!(v.as_str(), "bulk" | "junk" | "auto_reply"))
        .map(|value| format!("Precedence: {value}"))
}

/// PostgreSQL refuses NUL in text, and no person means one: a message carrying one
/// (quoted-printable `=00`, an encoded word) must not be stuck retrying forever.
fn clean(text: &str) -> String {
    text.replace('\0', "")
}

/// Reads a raw RFC 5322 message. A message without a sender address is refused: the
/// desk could not tell who asks nor answer them.
pub fn parse(raw: &[u8]) -> Result<Mail, Unreadable> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(Unreadable::NotMime)?;
    // A message with no header at all (garbage, a bare body) parses as one text part.
    if message.headers().is_empty() {
        return Err(Unreadable::NotMime);
    }
    let sender = message
        .from()
        .and_then(|from| from.first())
        .and_then(|addr| {
            let address = addr.address()?.trim();
            address.contains('@').then(|| {
                (
                    address.to_owned(),
                    addr.name()
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned),
                )
            })
        });
    let (from_address, from_name) = sender.ok_or(Unreadable::NoSender)?;
    if let Some(why) = automatic(&message) {
        return Err(Unreadable::Automatic(why));
    }
    let key = match message
        .message_id()
        .map(str::trim)
        .filter(|id| !id.is_empty())
    {
        Some(id) => id.to_owned(),
        None => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    };
    let recipients = message
        .to()
        .into_iter()
        .chain(message.cc())
        .flat_map(|list| list.iter())
        .filter_map(|addr| addr.address())
        .map(|a| a.trim().to_lowercase())
        .collect();
    let body = message
        .body_text(0)
        .map(|text| text.trim().to_owned())
        .unwrap_or_default();
    let attachments: Vec<Attachment> = message
        .attachments()
        .enumerate()
        .map(|(i, part)| Attachment {
            filename: part
                .attachment_name()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("adjunto-{}", i + 1)),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{sub}", ct.ctype()),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            content: part.contents().to_vec(),
        })
        .collect();
    Ok(Mail {
        key: clean(&key),
        from_address: clean(&from_address),
        from_name: from_name.map(|n| clean(&n)),
        subject: clean(message.subject().map(str::trim).unwrap_or_default()),
        recipients,
        body: clean(&body),
        attachments: attachments
            .into_iter()
            .map(|a: Attachment| Attachment {
                filename: clean(&a.filename),
                content_type: clean(&a.content_type),
                ..a
            })
            .collect(),
    })
}

static TICKET_ID: LazyLock<Regex> = LazyLock::new(|| {
    // What `Desk::new_id` makes: a kind prefix and a lower-cased ULID (Crockford base 32).
    Regex::new(r"(?i)\b(?:inc|req|prb|tev)_[0-9a-hjkmnp-tv-z]{26}\b").expect("valid pattern")
});

/// The ticket a reply's subject names (`RE: [req_01…] …`), lower-cased as ids are.
pub fn ticket_reference(subject: &str) -> Option<String> {
    TICKET_ID.find(subject).map(|m| m.as_str().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_message_gives_its_sender_subject_body_and_recipients() {
        let raw =
            b"From: \"Ana L\xc3\xb3pez\" <Ana.Lopez@mh.gob.sv>\r\nTo: mesa.dgii@mh.gob.sv\r\n\
Cc: Otro <otro@mh.gob.sv>\r\nSubject: Impresora sin papel\r\nMessage-ID: <m1@mh.gob.sv>\r\n\r\n\
La impresora del piso 2 no imprime.\r\n";
        let mail = parse(raw).expect("parses");
        assert_eq!(mail.from_address, "Ana.Lopez@mh.gob.sv");
        assert_eq!(mail.from_name.as_deref(), Some("Ana López"));
        assert_eq!(mail.subject, "Impresora sin papel");
        assert_eq!(mail.key, "m1@mh.gob.sv");
        assert_eq!(
            mail.recipients,
            vec!["mesa.dgii@mh.gob.sv", "otro@mh.gob.sv"]
        );
        assert_eq!(mail.body, "La impresora del piso 2 no imprime.");
        assert!(mail.attachments.is_empty());
    }

    #[test]
    fn a_message_without_message_id_is_keyed_by_its_hash() {
        let raw = b"From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n";
        let first = parse(raw).expect("parses");
        assert!(first.key.starts_with("sha256:"), "{}", first.key);
        assert_eq!(parse(raw).expect("parses").key, first.key);
    }

    #[test]
    fn garbage_and_messages_without_a_sender_are_refused() {
        assert_eq!(parse(b"").unwrap_err(), Unreadable::NotMime);
        assert_eq!(
            parse(b"Subject: nobody sent this\r\n\r\nbody\r\n").unwrap_err(),
            Unreadable::NoSender
        );
        assert_eq!(
            parse(b"From: not an address\r\n\r\nbody\r\n").unwrap_err(),
            Unreadable::NoSender
        );
    }

    #[test]
    fn nul_characters_are_dropped_from_every_text() {
        let raw = b"From: a@b.example\r\nSubject: =?utf-8?Q?caf=00e?=\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
uno=00dos\r\n";
        let mail = parse(raw).expect("parses");
        assert_eq!(mail.subject, "cafe");
        assert_eq!(mail.body, "unodos");
    }

    #[test]
    fn out_of_office_replies_and_bulk_mail_are_automatic() {
        let ooo = b"From: a@b.example\r\nAuto-Submitted: auto-replied\r\nSubject: Fuera de la oficina\r\n\r\nVuelvo el lunes\r\n";
        assert_eq!(
            parse(ooo).unwrap_err(),
            Unreadable::Automatic("Auto-Submitted: auto-replied".into())
        );
        let bulk = b"From: a@b.example\r\nPrecedence: bulk\r\nSubject: Boletin\r\n\r\nx\r\n";
        assert_eq!(
            parse(bulk).unwrap_err(),
            Unreadable::Automatic("Precedence: bulk".into())
        );
        let person = b"From: a@b.example\r\nAuto-Submitted: no\r\nSubject: Ayuda\r\n\r\nx\r\n";
        assert!(parse(person).is_ok());
    }

    #[test]
    fn attachments_keep_their_name_type_and_bytes() {
        let raw = b"From: a@b.example\r\nSubject: log\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n\
see attached\r\n--XX\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n\
Content-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
JVBERi0xLjQ=\r\n--XX--\r\n";
        let mail = parse(raw).expect("parses");
        assert_eq!(mail.body, "see attached");
        assert_eq!(mail.attachments.len(), 1);
        let a = &mail.attachments[0];
        assert_eq!(a.filename, "a.pdf");
        assert_eq!(a.content_type, "application/pdf");
        assert_eq!(a.content, b"%PDF-1.4");
    }

    #[test]
    fn the_ticket_reference_is_found_anywhere_in_the_subject() {
        assert_eq!(
            ticket_reference("RE: [REQ_01JABCDEFGHJKMNPQRSTVWXYZ0] impresora").as_deref(),
            Some("req_01jabcdefghjkmnpqrstvwxyz0")
        );
        assert_eq!(ticket_reference("Re: req_123 short"), None);
        assert_eq!(ticket_reference("nada"), None);
    }
}
