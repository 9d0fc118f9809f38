//! The desk: registers tickets and makes moves, each in one transaction that locks the
//! ticket, checks the move, writes the ticket, its audit records and its notification
//! outbox rows together.

use std::sync::Arc;

use serde_json::json;
use sqlx::AnyConnection;

use super::change::{assignment_detail, Caller, Change, Draft};
use super::error::{DeskError, DeskResult};
use super::moves::{self, Action};
use super::ticket::{Kind, State, Ticket};
use super::{assign, DeskConfig};
use crate::domain::{ids, to_millis, Lang};
use crate::notify::{Notice, Notifier, Recipient, TicketFacts};
use crate::pipeline::priority::PriorityConfig;
use crate::store::tickets::{self, TicketRow};
use crate::store::{audit, people, Store};

#[derive(Clone)]
pub struct Desk {
    pub(super) store: Store,
    pub(super) config: Arc<DeskConfig>,
    pub(super) notifier: Arc<Notifier>,
    pub(super) priority: PriorityConfig,
    pub(super) policies: Arc<crate::sla::Policies>,
    pub(super) live: Arc<crate::cmdb::Live>,
    /// The central desk's unit.
    pub(super) admin_unit: String,
}

/// New incidents assigned per transaction on SQLite (one writer: no lock order to keep).
const ASSIGN_CHUNK: usize = 50;
/// Pages of new incidents assigned per timer tick, at most: an alert storm's backlog
/// drains quickly without starving the other timers.
const ASSIGN_ROUNDS: usize = 10;

pub fn now() -> i64 {
    to_millis(jiff::Timestamp::now())
}

impl Desk {
    pub fn new(
        store: Store,
        config: DeskConfig,
        notifier: Arc<Notifier>,
        priority: PriorityConfig,
        policies: Arc<crate::sla::Policies>,
        live: Arc<crate::cmdb::Live>,
        admin_unit: String,
    ) -> Desk {
        Desk {
            store,
            config: Arc::new(config),
            notifier,
            priority,
            policies,
            live,
            admin_unit,
        }
    }

    pub fn policies(&self) -> &crate::sla::Policies {
        &self.policies
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Reads a ticket the caller may see.
    pub async fn read(&self, caller: &Caller, id: &str) -> DeskResult<TicketRow> {
        let mut conn = self.store.pool().acquire().await?;
        let row = tickets::get(&mut conn, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if !moves::can_see(&caller.who, &row.ticket()?) {
            return Err(DeskError::unseen(id, &caller.who.name));
        }
        Ok(row)
    }

    /// Makes one move on a ticket.
    pub async fn act(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
        body: &super::MoveBody,
    ) -> DeskResult<TicketRow> {
        let mut tx = self.store.begin_write().await?;
        self.act_in(&mut tx, caller, id, action, body).await?;
        let row = tickets::get(&mut tx, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        self.committed();
        Ok(row)
    }

    /// Makes one move in the caller's write transaction (which may add its own rows to
    /// it). The caller commits, then calls `Desk::committed`.
    pub async fn act_in(
        &self,
        tx: &mut AnyConnection,
        caller: &Caller,
        id: &str,
        action: Action,
        body: &super::MoveBody,
    ) -> DeskResult<()> {
        let row = tickets::lock(tx, id).await?.ok_or_else(|| not_found(id))?;
        let ticket = row.ticket()?;
        if !moves::can_see(&caller.who, &ticket) {
            return Err(DeskError::unseen(id, &caller.who.name));
        }
        moves::check(action, &caller.who, &ticket)
            .map_err(|r| DeskError::refused(action.as_str(), r))?;
        let mut change = Change::new(ticket, caller, now());
        let mut more = self.perform(tx, caller, action, body, &mut change).await?;
        more.insert(0, change);
        for change in &more {
            self.commit_change(tx, change).await?;
        }
        Ok(())
    }

    /// After a transaction with desk changes committed: the notifications it queued go
    /// out now rather than at the dispatcher's next tick.
    pub fn committed(&self) {
        self.notifier.wake();
    }

    /// The registry, reloaded first if another replica changed it.
    pub async fn registry(&self) -> DeskResult<Arc<crate::cmdb::graph::Registry>> {
        Ok(self.live.fresh_registry(&self.store).await?)
    }

    /// Writes a change: the ticket's fields, its audit records, its notices.
    pub(super) async fn commit_change(
        &self,
        conn: &mut AnyConnection,
        change: &Change,
    ) -> DeskResult<()> {
        // A timer's pass that changed nothing keeps the ticket's last update as it was
        // (the review's stale tickets are those nobody touched).
        if change.ticket != change.before {
            tickets::save(conn, &change.ticket, change.now).await?;
        }
        let registry = self.live.registry();
        let ci_type = change
            .ticket
            .ci
            .as_deref()
            .and_then(|ci| registry.find(ci))
            .map(|node| registry.node(node).kind.clone());
        let (before, after) = (&change.before, &change.ticket);
        crate::sla::engine::sync(
            conn,
            &self.policies,
            before,
            after,
            ci_type.as_deref(),
            change.now,
        )
        .await?;
        audit::append(conn, &change.records).await?;
        let mut notices = Vec::new();
        for draft in &change.notices {
            if let Some(notice) = self.notice(conn, draft, change).await? {
                notices.push(notice);
            }
        }
        self.notifier.enqueue(conn, &notices, change.now).await?;
        Ok(())
    }

    async fn notice(
        &self,
        conn: &mut AnyConnection,
        draft: &Draft,
        change: &Change,
    ) -> DeskResult<Option<Notice>> {
        let (topic, login) = (draft.topic, draft.login.as_str());
        let Some(person) = people::contact(conn, login).await? else {
            tracing::warn!(login, topic = topic.as_str(), "no such person to notify");
            return Ok(None);
        };
        let t = &change.ticket;
        Ok(Some(Notice {
            topic,
            recipient: Recipient {
                login: person.login,
                name: person.name,
                email: person.email,
                language: Lang::from_code(&person.language),
            },
            ticket: TicketFacts {
                id: t.id.clone(),
                kind: t.kind.as_str().to_owned(),
                summary: t.summary.clone(),
                unit: t.unit.clone(),
                state: t.state.as_str().to_owned(),
                priority: t.priority.clone(),
                actor: change.actor().to_owned(),
                comment: draft.comment.clone(),
                solution: t.solution.clone(),
                resolution_code: t.resolution_code.clone(),
                resume_at: t.resume_at,
                sla_metric: draft.sla.as_ref().map(|(m, _)| m.clone()),
                due_at: draft.sla.as_ref().map(|(_, due)| *due),
            },
        }))
    }

    /// Assigns a new ticket to a tier-1 technician of its unit, or sends it to the
    /// central desk when the unit has none available.
    pub(super) async fn auto_assign(
        &self,
        conn: &mut AnyConnection,
        change: &mut Change,
    ) -> DeskResult<()> {
        let unit = self.unit_of(&change.ticket);
        let from = Some(change.ticket.state_label());
        let (picked, candidates) = self.hand_to_tier(conn, change, 1).await?;
        match picked {
            Some(open) => {
                let mut detail = assignment_detail(&change.ticket);
                detail["rule"] = json!("least open work, round-robin among equals");
                detail["open_work"] = json!(open);
                change.record("assigned", from, None, detail);
            }
            None => {
                change.ticket.state = State::Assigned;
                change.ticket.tier = Some(1);
                change.ticket.central_desk = true;
                let why = if candidates == 0 {
                    format!("unit {unit} has no tier-1 technician")
                } else {
                    format!("no tier-1 technician of unit {unit} is available")
                };
                let detail = json!({ "central_desk": self.admin_unit, "reason": why });
                change.record("sent_to_central_desk", from, Some(&why), detail);
            }
        }
        Ok(())
    }

    /// Registers the tickets the intake writer opened and assigns them. Returns how
    /// many were assigned.
    pub async fn assign_new(&self) -> DeskResult<usize> {
        let mut done = 0;
        for _ in 0..ASSIGN_ROUNDS {
            let (assigned, more) = self.assign_some().await?;
            done += assigned;
            if !more {
                break;
            }
        }
        if done > 0 {
            self.notifier.wake();
        }
        Ok(done)
    }

    /// One page of new tickets; whether more may wait.
    async fn assign_some(&self) -> DeskResult<(usize, bool)> {
        let ids = {
            let mut conn = self.store.pool().acquire().await?;
            tickets::due(&mut conn, tickets::Timer::Assign, now()).await?
        };
        let mut done = 0;
        // A storm of new incidents is assigned many to a transaction (one commit each
        // chunk), so the desk does not take the write lock once per incident.
        // On PostgreSQL one to a transaction: a transaction holding the audit chain's head
        // must not then wait for another ticket the intake writer may hold.
        let chunk = match self.store.backend() {
            crate::store::Backend::Sqlite => ASSIGN_CHUNK,
            crate::store::Backend::Postgres => 1,
        };
        for chunk in ids.chunks(chunk) {
            let mut tx = self.store.begin_write().await?;
            for id in chunk {
                let Some(row) = tickets::lock(&mut tx, id).await? else {
                    continue;
                };
                let ticket = row.ticket()?;
                // Another replica, or a person, got there first.
                if ticket.state != State::New {
                    continue;
                }
                let mut change = Change::new(ticket, &Caller::system(), now());
                let detail =
                    json!({ "channel": "monitoring", "source": row.source, "ci": row.ci_id });
                change.record("registered", None, None, detail);
                self.auto_assign(&mut tx, &mut change).await?;
                self.commit_change(&mut tx, &change).await?;
                done += 1;
            }
            tx.commit().await?;
        }
        Ok((done, ids.len() == tickets::TIMER_PAGE))
    }

    /// Hands the ticket to the available technician of the tier with the least open
    /// work (see `assign`), serialized with the unit's other assignments. Returns that
    /// person's open work, if someone was found, and how many people the tier has.
    pub(super) async fn hand_to_tier(
        &self,
        conn: &mut AnyConnection,
        change: &mut Change,
        tier: u8,
    ) -> DeskResult<(Option<i64>, usize)> {
        let unit = self.unit_of(&change.ticket);
        tickets::lock_unit(conn, &unit).await?;
        let candidates = tickets::candidates(conn, &unit, tier).await?;
        let Some(pick) = assign::pick(&candidates) else {
            return Ok((None, candidates.len()));
        };
        let (login, open) = (pick.login.clone(), pick.open);
        tickets::mark_assigned(conn, &login, change.now).await?;
        change.hand_to(&login, Some(tier));
        Ok((Some(open), candidates.len()))
    }

    /// The ticket's unit; the central desk's for a ticket that has none.
    pub(super) fn unit_of(&self, t: &Ticket) -> String {
        t.unit.clone().unwrap_or_else(|| self.admin_unit.clone())
    }

    pub(super) fn new_id(kind: Kind) -> String {
        ids::new(kind.id_prefix())
    }
}

pub(super) fn not_found(id: &str) -> DeskError {
    DeskError::NotFound(format!("no ticket `{id}`"))
}
