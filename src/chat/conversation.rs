//! Handling one message: refusing strangers, answering commands, registering requests.
//! Each message is claimed by its platform key once; a ticket's claim is in its
//! registration's transaction.

use super::commands::{self, Command};
use super::replies::{self, Assignment, TicketLine};
use super::{Chat, ChatError, Handled, Incoming, Outcome};
use crate::auth::{Principal, Role};
use crate::desk::{Caller, DeskError, Registration};
use crate::domain::{ids, Lang};
use crate::store::chat::{self, NewMessage, RefusalRow};
use crate::store::people::{self, Contact};
use crate::store::tickets::{self, TicketRow};
use crate::store::StoreError;

/// Characters of a refused message kept.
const REFUSAL_EXCERPT: usize = 200;
/// Open tickets a status reply lists, newest first.
const STATUS_LIST: i64 = 10;

impl Chat {
    /// Handles one message: once, whatever the retries.
    #[tracing::instrument(skip_all, fields(platform = %m.platform, key = %m.key))]
    pub async fn handle(
        &self,
        m: &Incoming,
        request_id: Option<String>,
    ) -> Result<Handled, ChatError> {
        let person = {
            let mut conn = self.store.pool().acquire().await?;
            if let Some(done) = chat::handled(&mut conn, &m.platform, &m.key).await? {
                return Ok(self.counted(m, again(done)));
            }
            chat::person_of(&mut conn, &m.platform, &m.sender_id).await?
        };
        let handled = match person {
            None => self.refuse(m).await?,
            Some(person) => self.answer(m, &person, request_id).await?,
        };
        Ok(self.counted(m, handled))
    }

    fn counted(&self, m: &Incoming, handled: Handled) -> Handled {
        self.metrics
            .chat_messages
            .with_label_values(&[&m.platform, handled.outcome.as_str()])
            .inc();
        handled
    }

    /// Answers someone linked to nobody, and records who wrote and what.
    async fn refuse(&self, m: &Incoming) -> Result<Handled, ChatError> {
        let reply = replies::refused(m.sender_name.as_deref(), &m.platform, &m.sender_id);
        let now = crate::desk::now();
        let mut tx = self.store.begin_write().await?;
        let message = NewMessage {
            platform: &m.platform,
            key: &m.key,
            person: None,
            outcome: Outcome::Refused.as_str(),
            ticket_id: None,
            reply: &reply,
            now,
        };
        if !chat::claim(&mut tx, &message).await? {
            drop(tx);
            return self.handled_before(m).await;
        }
        let refusal = RefusalRow {
            id: ids::new(ids::CHAT_REFUSAL),
            platform: m.platform.clone(),
            external_id: m.sender_id.clone(),
            name: m.sender_name.clone(),
            excerpt: commands::excerpt(m.text.as_deref().unwrap_or(""), REFUSAL_EXCERPT),
            received_at: now,
        };
        chat::insert_refusal(&mut tx, &refusal).await?;
        tx.commit().await?;
        tracing::info!(sender = %m.sender_id, refusal = %refusal.id, "message from a sender linked to nobody refused");
        Ok(Handled {
            outcome: Outcome::Refused,
            ticket: None,
            reply,
        })
    }

    async fn answer(
        &self,
        m: &Incoming,
        person: &Contact,
        request_id: Option<String>,
    ) -> Result<Handled, ChatError> {
        let lang = Lang::from_code(&person.language);
        let caller = caller_for(person, request_id)?;
        let Some(text) = m.text.as_deref() else {
            return self
                .record(m, person, Outcome::Help, None, replies::not_text(lang))
                .await;
        };
        match Command::parse(text) {
            Command::Help => {
                self.record(m, person, Outcome::Help, None, replies::help(lang))
                    .await
            }
            Command::Unknown(c) => {
                let reply = replies::unknown_command(lang, c);
                self.record(m, person, Outcome::Help, None, reply).await
            }
            Command::Status(None) => {
                let reply = self.open_tickets(person, lang).await?;
                self.record(m, person, Outcome::Status, None, reply).await
            }
            Command::Status(Some(id)) => {
                let (reply, found) = self.one_ticket(&caller, id, lang).await?;
                let ticket = found.then_some(id);
                self.record(m, person, Outcome::Status, ticket, reply).await
            }
            Command::Open(text) => self.open(m, person, &caller, lang, text).await,
        }
    }

    /// Registers the request and records the message in the same transaction.
    async fn open(
        &self,
        m: &Incoming,
        person: &Contact,
        caller: &Caller,
        lang: Lang,
        text: &str,
    ) -> Result<Handled, ChatError> {
        let registration = registration(m, text);
        // Read before the write transaction: it holds its connection.
        let registry = self.desk.registry().await.map_err(desk_failure)?;
        let mut tx = self.desk.store().begin_write().await?;
        let claimed = NewMessage {
            platform: &m.platform,
            key: &m.key,
            person: Some(&person.login),
            outcome: Outcome::Opened.as_str(),
            ticket_id: None,
            reply: "",
            now: crate::desk::now(),
        };
        if !chat::claim(&mut tx, &claimed).await? {
            drop(tx);
            return self.handled_before(m).await;
        }
        let id = match self
            .desk
            .register_in(&mut tx, &registry, caller, &registration)
            .await
        {
            Ok(id) => id,
            Err(DeskError::Store(e)) => return Err(e.into()),
            Err(refused) => {
                drop(tx);
                tracing::warn!(person = %person.login, error = %refused, "the desk refused a chat request");
                let reply = replies::not_registered(lang);
                return self
                    .record(m, person, Outcome::NotRegistered, None, reply)
                    .await;
            }
        };
        let row = tickets::get(&mut tx, &id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("ticket {id} vanished in its own transaction"))
        })?;
        let assignee = match &row.assignee {
            Some(login) => people::contact(&mut tx, login).await?,
            None => None,
        };
        let reply = replies::opened(
            lang,
            &row.id,
            &row.summary,
            &assignment(&row, assignee.as_ref()),
        );
        chat::settle(&mut tx, &m.platform, &m.key, &row.id, &reply).await?;
        tx.commit().await?;
        self.desk.committed();
        tracing::info!(ticket = %row.id, person = %person.login, "chat message registered a request");
        Ok(Handled {
            outcome: Outcome::Opened,
            ticket: Some(row.id),
            reply,
        })
    }

    /// Records a message that opened nothing, with its reply.
    async fn record(
        &self,
        m: &Incoming,
        person: &Contact,
        outcome: Outcome,
        ticket: Option<&str>,
        reply: String,
    ) -> Result<Handled, ChatError> {
        let mut conn = self.store.pool().acquire().await?;
        let message = NewMessage {
            platform: &m.platform,
            key: &m.key,
            person: Some(&person.login),
            outcome: outcome.as_str(),
            ticket_id: ticket,
            reply: &reply,
            now: crate::desk::now(),
        };
        if !chat::claim(&mut conn, &message).await? {
            drop(conn);
            return self.handled_before(m).await;
        }
        Ok(Handled {
            outcome,
            ticket: ticket.map(str::to_owned),
            reply,
        })
    }

    async fn handled_before(&self, m: &Incoming) -> Result<Handled, ChatError> {
        let mut conn = self.store.pool().acquire().await?;
        let done = chat::handled(&mut conn, &m.platform, &m.key)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "chat message {} of {} claimed but not found",
                    m.key, m.platform
                ))
            })?;
        Ok(again(done))
    }

    async fn open_tickets(&self, person: &Contact, lang: Lang) -> Result<String, ChatError> {
        let mut conn = self.store.pool().acquire().await?;
        let rows = tickets::open_requested_by(&mut conn, &person.login, STATUS_LIST).await?;
        let tickets: Vec<_> = rows.iter().map(|r| r.ticket()).collect::<Result<_, _>>()?;
        let lines: Vec<TicketLine<'_>> = tickets
            .iter()
            .map(|t| TicketLine {
                id: &t.id,
                summary: &t.summary,
                state: t.state,
                hold_reason: t.hold_reason,
            })
            .collect();
        Ok(replies::open_tickets(lang, &lines))
    }

    /// The reply about one ticket, and whether the caller may see it.
    async fn one_ticket(
        &self,
        caller: &Caller,
        id: &str,
        lang: Lang,
    ) -> Result<(String, bool), ChatError> {
        // Not found and not visible read alike: the bot does not tell which ids exist.
        let row = match self.desk.read(caller, id).await {
            Ok(row) => row,
            Err(DeskError::Store(e)) => return Err(e.into()),
            Err(_) => return Ok((replies::no_such_ticket(lang, id), false)),
        };
        let t = row.ticket()?;
        let mut conn = self.store.pool().acquire().await?;
        let assignee = match &t.assignee {
            Some(login) => people::contact(&mut conn, login).await?,
            None => None,
        };
        let line = TicketLine {
            id: &t.id,
            summary: &t.summary,
            state: t.state,
            hold_reason: t.hold_reason,
        };
        let who = assignment(&row, assignee.as_ref());
        let reply = replies::one_ticket(lang, &line, &who, t.solution.as_deref());
        Ok((reply, true))
    }
}

fn again(done: chat::MessageRow) -> Handled {
    Handled {
        outcome: Outcome::Duplicate,
        ticket: done.ticket_id,
        reply: done.reply,
    }
}

fn desk_failure(e: DeskError) -> ChatError {
    match e {
        DeskError::Store(e) => ChatError::Store(e),
        other => ChatError::Store(StoreError::Corrupt(other.to_string())),
    }
}

/// The person as the desk's caller: their role, unit and tier as they are now.
fn caller_for(person: &Contact, request_id: Option<String>) -> Result<Caller, ChatError> {
    let role: Role = person.role.parse().map_err(|_| {
        StoreError::Corrupt(format!("person {}: role `{}`", person.login, person.role))
    })?;
    Ok(Caller {
        who: Principal {
            token_id: String::new(),
            name: person.login.clone(),
            role,
            unit: Some(person.unit.clone()),
            tier: person.tier.and_then(|t| u8::try_from(t).ok()),
            person: true,
        },
        request_id,
    })
}

/// A service request of the sender's, with the whole message and where it came from.
fn registration(m: &Incoming, text: &str) -> Registration {
    let mut origin = format!("Chat: {}, sender {}", m.platform, m.sender_id);
    if let Some(name) = &m.sender_name {
        origin.push_str(&format!(" ({name})"));
    }
    if let Some(conversation) = &m.conversation {
        origin.push_str(&format!(", conversation {conversation}"));
    }
    origin.push_str(&format!(", message {}", m.message_id));
    Registration {
        kind: "service_request".to_owned(),
        summary: commands::summary_of(text),
        description: Some(format!("{text}\n\n--\n{origin}")),
        category: None,
        urgency: None,
        unit: None,
        ci: None,
        requester: None,
        channel: Some("chat".to_owned()),
    }
}

fn assignment<'a>(row: &'a TicketRow, assignee: Option<&'a Contact>) -> Assignment<'a> {
    Assignment {
        assignee: assignee.map(|c| c.name.as_str()),
        tier: row.tier,
        unit: row.unit.as_deref(),
        central_desk: row.central_desk != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::TELEGRAM;

    #[test]
    fn a_registration_keeps_the_whole_message_and_where_it_came_from() {
        let m = Incoming {
            platform: TELEGRAM.to_owned(),
            key: "900001".to_owned(),
            sender_id: "5550001".to_owned(),
            sender_name: Some("Gloria Ramos".to_owned()),
            conversation: Some("5550001".to_owned()),
            message_id: "42".to_owned(),
            text: None,
        };
        let r = registration(&m, "Sin VPN\nDesde ayer no conecta");
        assert_eq!(r.kind, "service_request");
        assert_eq!(r.channel.as_deref(), Some("chat"));
        assert_eq!(r.summary, "Sin VPN");
        assert_eq!(
            r.description.as_deref(),
            Some("Sin VPN\nDesde ayer no conecta\n\n--\nChat: telegram, sender 5550001 (Gloria Ramos), conversation 5550001, message 42")
        );
    }
}
