//! Email through SMTP (lettre): plain-text UTF-8 messages from the desk's address.

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{NotifyError, Recipient};
use crate::store::outbox::Delivery;

pub const CHANNEL: &str = "email";

/// Longest wait for the mail server at each step, so one stuck server cannot hold a
/// claimed batch past its lease.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Names the ticket for filters and for tests, whatever the subject's language.
const TICKET_HEADER: &str = "X-Vigia-Ticket";

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, NotifyError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(NotifyError::SmtpUrl)?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Mailer {
            transport,
            from: parse_mailbox(from)?,
        })
    }

    pub async fn send(&self, delivery: &Delivery) -> Result<(), NotifyError> {
        let message = self.message(delivery)?;
        self.transport
            .send(message)
            .await
            .map_err(NotifyError::Smtp)?;
        Ok(())
    }

    fn message(&self, delivery: &Delivery) -> Result<Message, NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(parse_mailbox(&delivery.recipient)?)
            .subject(delivery.subject.clone().unwrap_or_default())
            .header(ContentType::TEXT_PLAIN)
            // RFC 3834: answering machines (out-of-office replies) must not answer it,
            // nor a desk mailbox turn it into a request.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".to_owned(),
            ));
        if let Some(ticket) = &delivery.ticket_id {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(TICKET_HEADER),
                ticket.clone(),
            ));
        }
        builder
            .body(delivery.body.clone())
            .map_err(NotifyError::Message)
    }
}

/// The recipient as `Name <address>`, quoted where the name needs it. An address that
/// does not parse is kept as given, so its delivery fails visibly in the outbox.
pub fn mailbox_text(recipient: &Recipient) -> String {
    match recipient.email.parse() {
        Ok(address) => Mailbox::new(Some(recipient.name.clone()), address).to_string(),
        Err(_) => format!("{} <{}>", recipient.name, recipient.email),
    }
}

fn parse_mailbox(text: &str) -> Result<Mailbox, NotifyError> {
    text.parse().map_err(|source| NotifyError::Address {
        address: text.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Lang;

    fn recipient(name: &str, email: &str) -> Recipient {
        Recipient {
            login: "jperez".to_owned(),
            name: name.to_owned(),
            email: email.to_owned(),
            language: Lang::Es,
        }
    }

    fn delivery(recipient: &str) -> Delivery {
        Delivery {
            id: "ntf_1".to_owned(),
            channel: CHANNEL.to_owned(),
            topic: "assigned".to_owned(),
            ticket_id: Some("inc_01".to_owned()),
            recipient: recipient.to_owned(),
            subject: Some("Se le asignó el incidente inc_01 «Caída del SIAFI»".to_owned()),
            body: "Estimado(a) José:\n\nSe le asignó el incidente.\n".to_owned(),
            attempts: 0,
        }
    }

    #[test]
    fn names_with_accents_and_commas_survive_the_outbox() {
        for name in ["José Pérez", "Pérez, José", "Ana \"la jefa\" Ruiz"] {
            let text = mailbox_text(&recipient(name, "jperez@mh.gob.sv"));
            let parsed = parse_mailbox(&text).expect("parses back");
            assert_eq!(parsed.name.as_deref(), Some(name), "{text}");
            assert_eq!(parsed.email.to_string(), "jperez@mh.gob.sv");
        }
    }

    // The pooled transport lives on the Tokio runtime, as in the service.
    #[tokio::test]
    async fn a_bad_address_is_a_permanent_failure() {
        let text = mailbox_text(&recipient("José", "not an address"));
        let mailer = Mailer::new("smtp://127.0.0.1:2525", "Mesa <mesa@mh.gob.sv>").expect("mailer");
        let err = mailer.message(&delivery(&text)).expect_err("refused");
        assert!(err.is_permanent(), "{err}");
    }

    #[tokio::test]
    async fn the_message_names_the_ticket_and_is_utf8_text() {
        let mailer = Mailer::new("smtp://127.0.0.1:2525", "Mesa <mesa@mh.gob.sv>").expect("mailer");
        let text = mailbox_text(&recipient("José Pérez", "jperez@mh.gob.sv"));
        let raw = mailer.message(&delivery(&text)).expect("built").formatted();
        let raw = String::from_utf8_lossy(&raw);
        assert!(raw.contains("X-Vigia-Ticket: inc_01\r\n"), "{raw}");
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(raw.contains("jperez@mh.gob.sv"), "{raw}");
    }
}
