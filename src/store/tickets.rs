//! Tickets of every kind (stored in `incidents`, whose alert columns the intake writer
//! keeps), and what the desk keeps beside them: people's workload, groups, comments,
//! approvals.

use sqlx::AnyConnection;

use super::{ListQuery, StoreError, StoreResult, INCIDENT_TERMINAL};
use crate::desk::ticket::{HoldReason, Kind, State, Ticket};

/// A ticket row with what the API shows and what the desk decides on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub hold_reason: Option<String>,
    pub source: String,
    pub severity: String,
    pub summary: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub channel: Option<String>,
    pub ci_id: Option<String>,
    pub unit: Option<String>,
    pub impact: Option<String>,
    pub urgency: Option<String>,
    pub priority: Option<String>,
    pub tier: Option<i64>,
    pub group_id: Option<String>,
    pub assignee: Option<String>,
    pub central_desk: i64,
    pub requester: Option<String>,
    pub registered_by: Option<String>,
    pub problem_id: Option<String>,
    pub problem_requested: i64,
    pub opened_at: i64,
    pub updated_at: i64,
    pub acked_at: Option<i64>,
    pub acked_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub held_at: Option<i64>,
    pub resume_at: Option<i64>,
    pub due_at: Option<i64>,
    pub reassignments: i64,
    pub reopens: i64,
    pub solution: Option<String>,
    pub resolution_code: Option<String>,
    pub duplicate_of: Option<String>,
    pub cancel_reason: Option<String>,
    pub sla_breached: i64,
}

const COLUMNS: &str = "id, kind, status, hold_reason, source, severity, summary, description, \
    category, channel, ci_id, unit, impact, urgency, priority, tier, group_id, assignee, \
    central_desk, requester, registered_by, problem_id, problem_requested, opened_at, \
    updated_at, acked_at, acked_by, resolved_at, closed_at, held_at, resume_at, due_at, \
    reassignments, reopens, solution, resolution_code, duplicate_of, cancel_reason, \
    sla_breached";

impl TicketRow {
    pub fn ticket(&self) -> StoreResult<Ticket> {
        let corrupt = |what: &str, value: &str| {
            StoreError::Corrupt(format!("ticket {}: {what} `{value}`", self.id))
        };
        let hold_reason = match &self.hold_reason {
            Some(h) => Some(HoldReason::parse(h).ok_or_else(|| corrupt("hold reason", h))?),
            None => None,
        };
        Ok(Ticket {
            id: self.id.clone(),
            kind: Kind::parse(&self.kind).ok_or_else(|| corrupt("kind", &self.kind))?,
            state: State::parse(&self.status).ok_or_else(|| corrupt("state", &self.status))?,
            hold_reason,
            unit: self.unit.clone(),
            ci: self.ci_id.clone(),
            summary: self.summary.clone(),
            priority: self.priority.clone(),
            tier: self.tier.and_then(|t| u8::try_from(t).ok()),
            group_id: self.group_id.clone(),
            assignee: self.assignee.clone(),
            central_desk: self.central_desk != 0,
            requester: self.requester.clone(),
            problem_id: self.problem_id.clone(),
            problem_requested: self.problem_requested != 0,
            opened_at: self.opened_at,
            acked_at: self.acked_at,
            acked_by: self.acked_by.clone(),
            resolved_at: self.resolved_at,
            closed_at: self.closed_at,
            held_at: self.held_at,
            resume_at: self.resume_at,
            due_at: self.due_at,
            reassignments: self.reassignments,
            reopens: self.reopens,
            solution: self.solution.clone(),
            resolution_code: self.resolution_code.clone(),
            duplicate_of: self.duplicate_of.clone(),
            cancel_reason: self.cancel_reason.clone(),
        })
    }
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<TicketRow>> {
    let sql = format!("SELECT {COLUMNS} FROM incidents WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?)
}

/// Reads a ticket for a change, holding its row until the transaction ends (the first
/// statement writes, which takes the row lock on PostgreSQL and the write lock on SQLite).
pub async fn lock(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<TicketRow>> {
    let touched = sqlx::query("UPDATE incidents SET updated_at = updated_at WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if touched.rows_affected() == 0 {
        return Ok(None);
    }
    get(conn, id).await
}

/// Writes the desk's fields of a locked ticket back (`due_at` is the SLA engine's).
pub async fn save(conn: &mut AnyConnection, t: &Ticket, now: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE incidents SET status = $2, hold_reason = $3, tier = $4, group_id = $5, \
           assignee = $6, central_desk = $7, problem_id = $8, problem_requested = $9, \
           acked_at = $10, acked_by = $11, resolved_at = $12, closed_at = $13, held_at = $14, \
           resume_at = $15, reassignments = $16, reopens = $17, solution = $18, \
           resolution_code = $19, duplicate_of = $20, cancel_reason = $21, updated_at = $22, \
           requester = $23 \
         WHERE id = $1",
    )
    .bind(&t.id)
    .bind(t.state.as_str())
    .bind(t.hold_reason.map(HoldReason::as_str))
    .bind(t.tier.map(i64::from))
    .bind(&t.group_id)
    .bind(&t.assignee)
    .bind(i64::from(t.central_desk))
    .bind(&t.problem_id)
    .bind(i64::from(t.problem_requested))
    .bind(t.acked_at)
    .bind(&t.acked_by)
    .bind(t.resolved_at)
    .bind(t.closed_at)
    .bind(t.held_at)
    .bind(t.resume_at)
    .bind(t.reassignments)
    .bind(t.reopens)
    .bind(&t.solution)
    .bind(&t.resolution_code)
    .bind(&t.duplicate_of)
    .bind(&t.cancel_reason)
    .bind(now)
    .bind(&t.requester)
    .execute(conn)
    .await?;
    Ok(())
}

/// A ticket registered by a person (or on their behalf).
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub id: String,
    pub kind: Kind,
    pub summary: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub channel: String,
    pub ci_id: Option<String>,
    pub unit: String,
    pub impact: String,
    pub urgency: String,
    pub priority: String,
    pub requester: Option<String>,
    pub registered_by: String,
    pub due_at: Option<i64>,
    pub now: i64,
}

pub async fn insert(conn: &mut AnyConnection, t: &NewTicket) -> StoreResult<()> {
    // The `desk` source and the id as fingerprint keep the alert columns' rules (one
    // open incident per source and fingerprint) true for people's tickets.
    sqlx::query(
        "INSERT INTO incidents (id, source, fingerprint, status, severity, summary, \
           description, opened_at, updated_at, last_seen, event_count, alert_count, ci_id, \
           unit, triage, impact, urgency, priority, kind, category, channel, requester, \
           registered_by, due_at) \
         VALUES ($1, 'desk', $1, 'new', 'info', $2, $3, $4, $4, $4, 0, 0, $5, $6, 0, $7, $8, \
           $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&t.id)
    .bind(&t.summary)
    .bind(&t.description)
    .bind(t.now)
    .bind(&t.ci_id)
    .bind(&t.unit)
    .bind(&t.impact)
    .bind(&t.urgency)
    .bind(&t.priority)
    .bind(t.kind.as_str())
    .bind(&t.category)
    .bind(&t.channel)
    .bind(&t.requester)
    .bind(&t.registered_by)
    .bind(t.due_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A unit's open tickets, oldest first.
pub async fn open_of_unit(conn: &mut AnyConnection, unit: &str) -> StoreResult<Vec<TicketRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM incidents WHERE unit = $1 \
         AND status NOT IN {INCIDENT_TERMINAL} ORDER BY opened_at, id"
    );
    Ok(sqlx::query_as(&sql).bind(unit).fetch_all(conn).await?)
}

/// The open tickets a person requested, newest first, `limit` at most.
pub async fn open_requested_by(
    conn: &mut AnyConnection,
    login: &str,
    limit: i64,
) -> StoreResult<Vec<TicketRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM incidents WHERE requester = $1 \
         AND status NOT IN {INCIDENT_TERMINAL} ORDER BY opened_at DESC, id DESC LIMIT $2"
    );
    Ok(sqlx::query_as(&sql)
        .bind(login)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}

/// Newest first, with the listing's filters.
pub async fn list(pool: &sqlx::AnyPool, q: &ListQuery) -> StoreResult<Vec<TicketRow>> {
    let (sql, filter) = q.select(COLUMNS, "incidents", "updated_at");
    Ok(filter
        .bind(sqlx::query_as(&sql))
        .bind(q.limit)
        .fetch_all(pool)
        .await?)
}

/// Most ids one timer query returns.
pub const TIMER_PAGE: usize = 200;

/// Ids of tickets the desk's timers must act on, oldest first (`TIMER_PAGE` at most).
pub async fn due(conn: &mut AnyConnection, timer: Timer, now: i64) -> StoreResult<Vec<String>> {
    let condition = match timer {
        Timer::Assign => "status = 'new' AND opened_at <= $1 ORDER BY id",
        Timer::Resume => {
            "status = 'on_hold' AND hold_reason = 'rescheduled' AND resume_at <= $1 \
             ORDER BY resume_at"
        }
        Timer::Close => "status = 'resolved' AND resolved_at <= $1 ORDER BY resolved_at",
    };
    let sql = format!("SELECT id FROM incidents WHERE {condition} LIMIT {TIMER_PAGE}");
    let rows: Vec<(String,)> = sqlx::query_as(&sql).bind(now).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// New tickets (opened by the intake writer) to assign.
    Assign,
    /// Rescheduled tickets whose time has come (`now` = now).
    Resume,
    /// Resolved tickets left unconfirmed (`now` = the latest resolution time to close).
    Close,
}

/// Tickets on hold for this problem.
pub async fn awaiting_problem(conn: &mut AnyConnection, problem: &str) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM incidents WHERE problem_id = $1 AND status = 'on_hold' \
         AND hold_reason = 'awaiting_problem' ORDER BY id",
    )
    .bind(problem)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A technician who could take a ticket, with their open work.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Candidate {
    pub login: String,
    pub available: i64,
    pub open: i64,
    pub last_assigned_at: Option<i64>,
}

/// The unit's technicians at a tier, with their open tickets. Run after `lock_unit`, so
/// concurrent assignments in one unit see each other's work.
pub async fn candidates(
    conn: &mut AnyConnection,
    unit: &str,
    tier: u8,
) -> StoreResult<Vec<Candidate>> {
    let sql = format!(
        "SELECT p.login, p.available, p.last_assigned_at, \
           (SELECT COUNT(*) FROM incidents i WHERE i.assignee = p.login \
              AND i.status NOT IN {INCIDENT_TERMINAL}) AS open \
         FROM people p WHERE p.unit = $1 AND p.role = 'technician' AND p.tier = $2 \
         ORDER BY p.login"
    );
    Ok(sqlx::query_as(&sql)
        .bind(unit)
        .bind(i64::from(tier))
        .fetch_all(conn)
        .await?)
}

/// Serializes assignments within a unit until the transaction ends.
pub async fn lock_unit(conn: &mut AnyConnection, unit: &str) -> StoreResult<()> {
    sqlx::query("UPDATE units SET updated_at = updated_at WHERE code = $1")
        .bind(unit)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn mark_assigned(conn: &mut AnyConnection, login: &str, now: i64) -> StoreResult<()> {
    sqlx::query("UPDATE people SET last_assigned_at = $2 WHERE login = $1")
        .bind(login)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn add_comment(
    conn: &mut AnyConnection,
    id: &str,
    ticket: &str,
    author: &str,
    body: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO ticket_comments (id, ticket_id, author, at, body) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(ticket)
    .bind(author)
    .bind(now)
    .bind(body)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentRow {
    pub id: String,
    pub author: String,
    pub at: i64,
    pub body: String,
}

pub async fn comments(conn: &mut AnyConnection, ticket: &str) -> StoreResult<Vec<CommentRow>> {
    Ok(sqlx::query_as(
        "SELECT id, author, at, body FROM ticket_comments WHERE ticket_id = $1 ORDER BY at, id",
    )
    .bind(ticket)
    .fetch_all(conn)
    .await?)
}

pub async fn request_approval(
    conn: &mut AnyConnection,
    id: &str,
    ticket: &str,
    by: &str,
    request: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO approvals (id, ticket_id, requested_by, requested_at, request) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(ticket)
    .bind(by)
    .bind(now)
    .bind(request)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn decide_approval(
    conn: &mut AnyConnection,
    ticket: &str,
    by: &str,
    decision: &str,
    comment: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE approvals SET decided_by = $2, decided_at = $3, decision = $4, comment = $5 \
         WHERE ticket_id = $1 AND decided_at IS NULL",
    )
    .bind(ticket)
    .bind(by)
    .bind(now)
    .bind(decision)
    .bind(comment)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApprovalRow {
    pub id: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub request: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision: Option<String>,
    pub comment: Option<String>,
}

pub async fn approvals(conn: &mut AnyConnection, ticket: &str) -> StoreResult<Vec<ApprovalRow>> {
    Ok(sqlx::query_as(
        "SELECT id, requested_by, requested_at, request, decided_by, decided_at, decision, \
           comment FROM approvals WHERE ticket_id = $1 ORDER BY requested_at, id",
    )
    .bind(ticket)
    .fetch_all(conn)
    .await?)
}

/// The resolution clock's due time, copied onto the ticket for listings.
pub async fn set_due(conn: &mut AnyConnection, id: &str, due_at: Option<i64>) -> StoreResult<()> {
    sqlx::query("UPDATE incidents SET due_at = $2 WHERE id = $1")
        .bind(id)
        .bind(due_at)
        .execute(conn)
        .await?;
    Ok(())
}
