//! Turns a message into a ticket or a comment, through the desk, in one transaction that
//! also keeps its attachments and records the message as handled: a message counts once
//! even if marking it on the IMAP server fails after the commit.

use regex::Regex;
use sqlx::AnyConnection;

use super::config::{subject_rule, AccountConfig};
use super::message::{self, Attachment, Mail};
use crate::desk::moves::{self, Action};
use crate::desk::ticket::{Kind, State};
use crate::desk::{Caller, Desk, DeskError, MoveBody, Registration, MAX_SUMMARY};
use crate::domain::{ids, Lang};
use crate::store::people::{self, Contact};
use crate::store::{attachments, mailbox, tickets, StoreError};

/// One desk mailbox with its rules compiled.
#[derive(Debug, Clone)]
pub struct Account {
    pub config: AccountConfig,
    incident_subject: Option<Regex>,
    incident_recipients: Vec<String>,
}

impl Account {
    /// The configuration was validated at load: a rule that does not compile is dropped
    /// (and cannot happen).
    pub fn new(config: AccountConfig) -> Account {
        let incident_subject = config
            .incident_subject
            .as_deref()
            .and_then(|p| subject_rule(p).ok());
        let incident_recipients = config
            .incident_recipients
            .iter()
            .map(|r| r.trim().to_lowercase())
            .collect();
        Account {
            config,
            incident_subject,
            incident_recipients,
        }
    }

    pub fn unit(&self) -> &str {
        &self.config.unit
    }

    /// Incident by the subject or recipient rules; otherwise a service request.
    pub fn kind_of(&self, mail: &Mail) -> Kind {
        let by_subject = self
            .incident_subject
            .as_ref()
            .is_some_and(|rule| rule.is_match(&mail.subject));
        let by_recipient = mail
            .recipients
            .iter()
            .any(|r| self.incident_recipients.contains(r));
        if by_subject || by_recipient {
            Kind::Incident
        } else {
            Kind::ServiceRequest
        }
    }

    /// Who the desk records as acting for this mailbox.
    fn caller(&self) -> Caller {
        Caller::service(&format!("mailbox:{}", self.config.unit))
    }
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// A new ticket; `known_sender` when the sender is a person of the registry.
    Registered { ticket: String, known_sender: bool },
    /// A comment on the ticket the reply named.
    Commented { ticket: String },
    /// Handled before (the mark on the server was lost): nothing written.
    Duplicate { ticket: String },
}

impl Delivered {
    pub fn ticket(&self) -> &str {
        match self {
            Delivered::Registered { ticket, .. }
            | Delivered::Commented { ticket }
            | Delivered::Duplicate { ticket } => ticket,
        }
    }

    /// The metric label and the word recorded with the message.
    pub fn outcome(&self) -> &'static str {
        match self {
            Delivered::Registered { .. } => "registered",
            Delivered::Commented { .. } => "commented",
            Delivered::Duplicate { .. } => "duplicate",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Desk(#[from] DeskError),
    #[error("database error")]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for DeliverError {
    fn from(e: sqlx::Error) -> Self {
        DeliverError::Store(e.into())
    }
}

impl DeliverError {
    /// Worth trying again later (the database), as opposed to a message the desk refuses.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DeliverError::Store(_) | DeliverError::Desk(DeskError::Store(_))
        )
    }
}

/// Registers the message, or adds it to the ticket it answers, and commits.
pub async fn deliver(
    desk: &Desk,
    account: &Account,
    mail: &Mail,
    attachment_max_bytes: u64,
) -> Result<Delivered, DeliverError> {
    let unit = account.unit();
    // Read before the write transaction, as every registration does.
    let registry = desk.registry().await?;
    let mut tx = desk.store().begin_write().await?;
    if let Some(ticket) = mailbox::handled(&mut tx, unit, &mail.key).await? {
        return Ok(Delivered::Duplicate { ticket });
    }
    let sender = people::by_email(&mut tx, &mail.from_address).await?;
    let lang = sender
        .as_ref()
        .map_or(Lang::Es, |p| Lang::from_code(&p.language));
    let dropped = dropped_note(&mail.attachments, attachment_max_bytes, lang);
    let now = crate::desk::now();
    let delivered = match reply_target(&mut tx, account, mail, sender.as_ref()).await? {
        Some((ticket, caller)) => {
            let body = MoveBody {
                comment: Some(comment_text(
                    mail,
                    sender.as_ref(),
                    dropped.as_deref(),
                    lang,
                )),
                ..MoveBody::default()
            };
            desk.act_in(&mut tx, &caller, &ticket, Action::Comment, &body)
                .await?;
            Delivered::Commented { ticket }
        }
        None => {
            let registration = Registration {
                kind: account.kind_of(mail).as_str().to_owned(),
                summary: summary(&mail.subject, lang),
                description: description(&mail.body, dropped.as_deref()),
                category: None,
                urgency: None,
                unit: Some(unit.to_owned()),
                ci: None,
                requester: sender.as_ref().map(|p| p.login.clone()),
                channel: Some("email".to_owned()),
            };
            let ticket = desk
                .register_in(&mut tx, &registry, &account.caller(), &registration)
                .await?;
            Delivered::Registered {
                ticket,
                known_sender: sender.is_some(),
            }
        }
    };
    let ticket = delivered.ticket().to_owned();
    keep_attachments(&mut tx, &ticket, mail, attachment_max_bytes, now).await?;
    let row = mailbox::MessageRow {
        unit: unit.to_owned(),
        message_key: mail.key.clone(),
        ticket_id: ticket.clone(),
        outcome: delivered.outcome().to_owned(),
        from_address: mail.from_address.clone(),
        from_name: mail.from_name.clone(),
        subject: mail.subject.clone(),
        received_at: now,
    };
    if !mailbox::record(&mut tx, &row).await? {
        // Another replica handled it meanwhile: roll this copy back.
        let ticket = mailbox::handled(&mut tx, unit, &mail.key)
            .await?
            .unwrap_or(ticket);
        return Ok(Delivered::Duplicate { ticket });
    }
    tx.commit().await?;
    desk.committed();
    Ok(delivered)
}

/// The ticket a reply adds to, and who comments: the subject names a ticket of this
/// unit, still open to comments, whose requester is the sender (or, for a ticket of a
/// sender the registry does not know, which was opened from the same address).
/// Anything else is a new request.
async fn reply_target(
    conn: &mut AnyConnection,
    account: &Account,
    mail: &Mail,
    sender: Option<&Contact>,
) -> Result<Option<(String, Caller)>, DeliverError> {
    let Some(id) = message::ticket_reference(&mail.subject) else {
        return Ok(None);
    };
    let Some(row) = tickets::get(conn, &id).await? else {
        return Ok(None);
    };
    let ticket = row.ticket()?;
    if ticket.unit.as_deref() != Some(account.unit())
        || matches!(ticket.state, State::Closed | State::Canceled)
    {
        return Ok(None);
    }
    let caller = match (sender, ticket.requester.as_deref()) {
        (Some(person), Some(requester)) if person.login == requester => Caller::person(person),
        (_, None) => {
            let origin = mailbox::origin(conn, &id).await?;
            let same =
                origin.is_some_and(|o| o.from_address.eq_ignore_ascii_case(&mail.from_address));
            if !same {
                return Ok(None);
            }
            account.caller()
        }
        _ => return Ok(None),
    };
    let allowed = moves::can_see(&caller.who, &ticket)
        && moves::check(Action::Comment, &caller.who, &ticket).is_ok();
    Ok(allowed.then_some((id, caller)))
}

fn summary(subject: &str, lang: Lang) -> String {
    let subject = subject.trim();
    if subject.is_empty() {
        return match lang {
            Lang::Es => "(sin asunto)",
            Lang::En => "(no subject)",
        }
        .to_owned();
    }
    subject.chars().take(MAX_SUMMARY).collect()
}

fn description(body: &str, dropped: Option<&str>) -> Option<String> {
    let text = [Some(body.trim()), dropped]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    (!text.is_empty()).then_some(text)
}

/// A reply as a comment: its text, who wrote it when the registry does not know them
/// (the comment's author is then the mailbox), and the attachments not kept.
fn comment_text(
    mail: &Mail,
    sender: Option<&Contact>,
    dropped: Option<&str>,
    lang: Lang,
) -> String {
    let from = match (sender, &mail.from_name) {
        (Some(_), _) => None,
        (None, Some(name)) => Some(format!("{name} <{}>", mail.from_address)),
        (None, None) => Some(mail.from_address.clone()),
    };
    let heading = from.map(|f| match lang {
        Lang::Es => format!("De: {f}"),
        Lang::En => format!("From: {f}"),
    });
    let body = Some(mail.body.trim())
        .filter(|b| !b.is_empty())
        .map(str::to_owned);
    let text = [heading, body, dropped.map(str::to_owned)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n\n");
    if text.is_empty() {
        match lang {
            Lang::Es => "(mensaje sin texto)",
            Lang::En => "(message without text)",
        }
        .to_owned()
    } else {
        text
    }
}

/// Names the attachments over the limit, so none is dropped without a word.
fn dropped_note(attachments: &[Attachment], limit: u64, lang: Lang) -> Option<String> {
    let over: Vec<String> = attachments
        .iter()
        .filter(|a| a.content.len() as u64 > limit)
        .map(|a| format!("{} ({} bytes)", a.filename, a.content.len()))
        .collect();
    if over.is_empty() {
        return None;
    }
    let list = over.join(", ");
    Some(match lang {
        Lang::Es => format!("Adjuntos no guardados por superar el límite de {limit} bytes: {list}"),
        Lang::En => format!("Attachments not kept, over the limit of {limit} bytes: {list}"),
    })
}

async fn keep_attachments(
    conn: &mut AnyConnection,
    ticket: &str,
    mail: &Mail,
    limit: u64,
    now: i64,
) -> Result<(), DeliverError> {
    for a in &mail.attachments {
        let size = a.content.len();
        let kept = size as u64 <= limit;
        let row = attachments::NewAttachment {
            id: ids::new(ids::ATTACHMENT),
            ticket_id: ticket,
            filename: &a.filename,
            content_type: &a.content_type,
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            content: kept.then_some(a.content.as_slice()),
            sender: &mail.from_address,
            added_at: now,
        };
        attachments::insert(conn, &row).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(subject: &str, to: &[&str]) -> Mail {
        Mail {
            key: "k".into(),
            from_address: "a@b.example".into(),
            from_name: None,
            subject: subject.into(),
            recipients: to.iter().map(|s| s.to_string()).collect(),
            body: String::new(),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn subject_or_recipient_rules_make_an_incident_else_a_service_request() {
        let account = Account::new(AccountConfig {
            incident_subject: Some(r"\b(ca[ií]do|urgente)\b".into()),
            incident_recipients: vec!["Incidentes.DGII@mh.gob.sv".into()],
            ..AccountConfig::default()
        });
        assert_eq!(account.kind_of(&mail("Sistema CAÍDO", &[])), Kind::Incident);
        assert_eq!(
            account.kind_of(&mail("hola", &["incidentes.dgii@mh.gob.sv"])),
            Kind::Incident
        );
        assert_eq!(
            account.kind_of(&mail("Nueva cuenta", &["mesa.dgii@mh.gob.sv"])),
            Kind::ServiceRequest
        );
    }

    #[test]
    fn attachments_over_the_limit_are_named_in_the_users_language() {
        let files = vec![
            Attachment {
                filename: "small.txt".into(),
                content_type: "text/plain".into(),
                content: vec![0; 10],
            },
            Attachment {
                filename: "big.iso".into(),
                content_type: "application/octet-stream".into(),
                content: vec![0; 11],
            },
        ];
        assert_eq!(
            dropped_note(&files, 10, Lang::Es).as_deref(),
            Some("Adjuntos no guardados por superar el límite de 10 bytes: big.iso (11 bytes)")
        );
        assert!(dropped_note(&files, 11, Lang::En).is_none());
    }

    #[test]
    fn an_empty_subject_still_gives_a_summary_and_a_long_one_is_cut() {
        assert_eq!(summary("  ", Lang::Es), "(sin asunto)");
        assert_eq!(
            summary(&"x".repeat(600), Lang::Es).chars().count(),
            MAX_SUMMARY
        );
    }
}
