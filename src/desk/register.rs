//! Registration: a person's request (or one registered on a user's behalf), a problem
//! raised by a unit head, and the tier-3 groups heads form.

use serde_json::json;
use sqlx::AnyConnection;

use super::body::{NewGroup, Registration};
use super::change::{Caller, Change};
use super::error::{DeskError, DeskResult};
use super::service::{now, Desk};
use super::ticket::{Channel, Kind, Ticket};
use crate::auth::Role;
use crate::notify::Topic;
use crate::pipeline::priority::Level;
use crate::store::groups::{self, GroupRow};
use crate::store::people::{self, Contact};
use crate::store::tickets::{self, NewTicket, TicketRow};

/// The longest summary a ticket takes, in characters.
pub const MAX_SUMMARY: usize = 500;

impl Desk {
    /// Registers a ticket and assigns it at once.
    pub async fn register(&self, caller: &Caller, r: &Registration) -> DeskResult<TicketRow> {
        // Read before the write transaction: it holds its connection, and the registry
        // may need another.
        let registry = self.live.fresh_registry(&self.store).await?;
        let mut tx = self.store.begin_write().await?;
        let id = self.register_in(&mut tx, &registry, caller, r).await?;
        let row = tickets::get(&mut tx, &id)
            .await?
            .ok_or_else(|| super::service::not_found(&id))?;
        tx.commit().await?;
        self.committed();
        Ok(row)
    }

    /// Registers and assigns a ticket in the caller's write transaction (which may add
    /// its own rows to it), with a registry read before it began; returns the ticket's
    /// id. The caller commits, then calls `Desk::committed`.
    pub async fn register_in(
        &self,
        tx: &mut AnyConnection,
        registry: &crate::cmdb::graph::Registry,
        caller: &Caller,
        r: &Registration,
    ) -> DeskResult<String> {
        let kind = Kind::parse(&r.kind).ok_or_else(|| {
            DeskError::Invalid(format!("`kind` must be one of {}", Kind::choices()))
        })?;
        let who = &caller.who;
        if kind == Kind::Problem && !matches!(who.role, Role::Admin | Role::UnitHead) {
            return Err(DeskError::Forbidden {
                permission: "tickets.register.problem".into(),
                detail: "problems are raised by unit heads and the admin".into(),
            });
        }
        let summary = r.summary.trim();
        if summary.is_empty() || summary.chars().count() > MAX_SUMMARY {
            return Err(DeskError::Invalid(format!(
                "`summary` must have 1 to {MAX_SUMMARY} characters"
            )));
        }
        let urgency = match r.urgency.as_deref() {
            None => Level::Medium,
            Some(u) => Level::parse(u).ok_or_else(|| {
                DeskError::Invalid("`urgency` must be one of low, medium, high".into())
            })?,
        };
        let (requester, channel) = self.requester_and_channel(tx, caller, r).await?;
        let node = match &r.ci {
            Some(ci) => Some(registry.find(ci).ok_or_else(|| {
                DeskError::Invalid(format!("`ci`: no CI `{ci}` in the registry"))
            })?),
            None => None,
        };
        let ci_unit = node.map(|n| registry.node(n).unit.clone());
        let unit = r
            .unit
            .clone()
            .or(ci_unit)
            .or(requester.as_ref().map(|p| p.unit.clone()))
            .or(who.unit.clone())
            .unwrap_or_else(|| self.admin_unit.clone());
        if registry.unit(&unit).is_none() {
            return Err(DeskError::Invalid(format!("`unit`: no unit `{unit}`")));
        }
        let impact = node.map_or(Level::Medium, |n| self.priority.impact(registry, Some(n)));
        let priority = self.priority.priority(impact, urgency);
        let id = Desk::new_id(kind);
        let now = now();
        let new = NewTicket {
            id: id.clone(),
            kind,
            summary: summary.to_owned(),
            description: r.description.clone(),
            category: r.category.clone(),
            channel: channel.as_str().to_owned(),
            ci_id: node.map(|n| registry.node(n).id.clone()),
            unit,
            impact: impact.as_str().to_owned(),
            urgency: urgency.as_str().to_owned(),
            priority: priority.as_str().to_owned(),
            requester: requester.map(|p| p.login),
            registered_by: who.name.clone(),
            due_at: None,
            now,
        };
        tickets::insert(tx, &new).await?;
        let row = tickets::get(tx, &id)
            .await?
            .ok_or_else(|| super::service::not_found(&id))?;
        let mut change = Change::new(row.ticket()?, caller, now);
        let detail = json!({
            "kind": kind, "channel": channel, "requester": new.requester,
            "category": new.category, "priority": new.priority, "ci": new.ci_id,
        });
        change.record("registered", None, None, detail);
        self.auto_assign(tx, &mut change).await?;
        // A request that came by email gets its reference back by email: replies that
        // keep it in the subject join the ticket.
        if channel == Channel::Email {
            change.notify(Topic::Received, new.requester.as_deref(), None);
        }
        self.commit_change(tx, &change).await?;
        Ok(id)
    }

    /// The requester (the caller, or the user a technician registers for) and channel.
    async fn requester_and_channel(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        r: &Registration,
    ) -> DeskResult<(Option<Contact>, Channel)> {
        let who = &caller.who;
        let channel = match r.channel.as_deref() {
            None => None,
            Some(c) => Some(
                Channel::parse(c)
                    .filter(|c| *c != Channel::Monitoring)
                    .ok_or_else(|| {
                        DeskError::Invalid(format!(
                            "`channel` must be one of {}",
                            people_channels()
                        ))
                    })?,
            ),
        };
        let on_behalf = r.requester.as_deref().filter(|login| *login != who.name);
        let Some(login) = on_behalf else {
            let me = people::contact(conn, &who.name).await?;
            return Ok((me, channel.unwrap_or(Channel::Portal)));
        };
        if !matches!(who.role, Role::Technician | Role::UnitHead | Role::Admin) {
            return Err(DeskError::Forbidden {
                permission: "tickets.register_on_behalf".into(),
                detail: "only technicians, unit heads and the admin register on a user's behalf"
                    .into(),
            });
        }
        let channel = channel.filter(|c| *c != Channel::Portal).ok_or_else(|| {
            DeskError::Invalid(
                "registering on a user's behalf requires `channel`: phone, chat, email, note, form or in_person".into(),
            )
        })?;
        let requester = people::contact(conn, login)
            .await?
            .ok_or_else(|| DeskError::Invalid(format!("`requester`: no person `{login}`")))?;
        Ok((Some(requester), channel))
    }

    /// A problem raised from `origin` by its unit head, who handles it.
    pub(super) async fn new_problem(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        origin: &Ticket,
        summary: &str,
        description: Option<&str>,
    ) -> DeskResult<Change> {
        let summary = summary.trim();
        if summary.is_empty() || summary.chars().count() > MAX_SUMMARY {
            return Err(DeskError::Invalid(format!(
                "`summary` must have 1 to {MAX_SUMMARY} characters"
            )));
        }
        let id = Desk::new_id(Kind::Problem);
        let now = now();
        let new = NewTicket {
            id: id.clone(),
            kind: Kind::Problem,
            summary: summary.to_owned(),
            description: description.map(str::to_owned),
            category: None,
            channel: Channel::Note.as_str().to_owned(),
            ci_id: None,
            unit: self.unit_of(origin),
            impact: Level::Medium.as_str().to_owned(),
            urgency: Level::Medium.as_str().to_owned(),
            priority: origin.priority.clone().unwrap_or_else(|| "P3".to_owned()),
            requester: None,
            registered_by: caller.who.name.clone(),
            due_at: None,
            now,
        };
        tickets::insert(conn, &new).await?;
        let row = tickets::get(conn, &id)
            .await?
            .ok_or_else(|| super::service::not_found(&id))?;
        let mut change = Change::new(row.ticket()?, caller, now);
        change.record(
            "registered",
            None,
            None,
            json!({ "raised_from": origin.id }),
        );
        let from = Some(change.ticket.state_label());
        change.hand_to(&caller.who.name, None);
        change.notices.clear();
        change.record(
            "assigned",
            from,
            None,
            json!({ "assignee": caller.who.name }),
        );
        Ok(change)
    }
}

fn people_channels() -> String {
    Channel::ALL
        .iter()
        .filter(|c| **c != Channel::Monitoring)
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates a tier-3 group of the unit (and the people new to the desk in it).
pub(super) async fn create_group(
    conn: &mut AnyConnection,
    unit: &str,
    spec: &NewGroup,
    change: &mut Change,
) -> DeskResult<String> {
    let name = spec.name.trim();
    if name.is_empty() {
        return Err(DeskError::Invalid("`group.name` must not be empty".into()));
    }
    let mut members = Vec::new();
    for login in &spec.members {
        if people::contact(conn, login).await?.is_none() {
            return Err(DeskError::Invalid(format!(
                "`group.members`: no person `{login}`"
            )));
        }
        members.push(login.clone());
    }
    for (i, m) in spec.new_members.iter().enumerate() {
        if spec.new_members[..i].iter().any(|o| o.login == m.login) {
            return Err(DeskError::Invalid(format!(
                "`group.new_members`: `{}` is listed twice",
                m.login
            )));
        }
        if m.login.trim().is_empty() || !m.email.contains('@') {
            return Err(DeskError::Invalid(
                "`group.new_members`: each needs a login and an email address".into(),
            ));
        }
        if people::contact(conn, &m.login).await?.is_some() {
            return Err(DeskError::Invalid(format!(
                "`group.new_members`: `{}` already exists; list them in `members`",
                m.login
            )));
        }
        let contact = Contact {
            login: m.login.clone(),
            name: m.name.clone(),
            email: m.email.clone(),
            unit: unit.to_owned(),
            role: Role::Technician.as_str().to_owned(),
            tier: Some(3),
            language: crate::domain::Lang::from_code(m.language.as_deref().unwrap_or("es"))
                .as_str()
                .to_owned(),
            available: 1,
            organization: m.organization.clone(),
        };
        people::insert_contact(conn, &contact, change.now).await?;
        members.push(m.login.clone());
    }
    if members.is_empty() {
        return Err(DeskError::Invalid(
            "a group needs at least one member".into(),
        ));
    }
    let group = GroupRow {
        id: crate::domain::ids::new(crate::domain::ids::GROUP),
        unit: unit.to_owned(),
        name: name.to_owned(),
        created_by: change.actor().to_owned(),
        created_at: change.now,
    };
    groups::create(conn, &group, &members).await?;
    let from = Some(change.ticket.state_label());
    let new: Vec<&str> = spec.new_members.iter().map(|m| m.login.as_str()).collect();
    let detail = json!({ "group_id": group.id, "name": name, "members": members, "created": new });
    change.record("group_formed", from, None, detail);
    Ok(group.id)
}
