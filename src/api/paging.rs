//! Query parameters shared by the listings: filters, `since`, cursor and limit.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use crate::domain::{to_millis, Severity};
use crate::pipeline::priority::Priority;
use crate::store::ListQuery;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Filter by status.
    pub status: Option<String>,
    /// Filter by severity: critical, major, minor, warning or info.
    pub severity: Option<String>,
    /// Filter by source (rule file name).
    pub source: Option<String>,
    /// Filter by the owning unit's code.
    pub unit: Option<String>,
    /// Filter by CI (an event's CI; an incident's root CI).
    pub ci: Option<String>,
    /// Filter incidents by priority, P1 to P5.
    pub priority: Option<String>,
    /// Tickets only: filter by kind (incident, service_request, event, problem).
    pub kind: Option<String>,
    /// Tickets only: filter by assignee's login.
    pub assignee: Option<String>,
    /// Tickets only: filter by requester's login.
    pub requester: Option<String>,
    /// Only items changed at or after this RFC 3339 time.
    pub since: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<i64>,
}

impl ListParams {
    /// Checks every parameter; the query fetches one row more than the page, to learn
    /// whether another page follows.
    pub fn validate(self, statuses: &[&str]) -> Result<ListQuery, ApiError> {
        if let Some(status) = &self.status {
            if !statuses.contains(&status.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "`status` must be one of {}",
                    statuses.join(", ")
                )));
            }
        }
        if let Some(severity) = &self.severity {
            severity
                .parse::<Severity>()
                .map_err(|e| ApiError::BadRequest(format!("`severity`: {e}")))?;
        }
        let since = self
            .since
            .as_deref()
            .map(|s| {
                s.parse::<jiff::Timestamp>().map(to_millis).map_err(|e| {
                    ApiError::BadRequest(format!("`since` is not an RFC 3339 time: {e}"))
                })
            })
            .transpose()?;
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "`limit` must be between 1 and {MAX_LIMIT}"
            )));
        }
        if let Some(priority) = &self.priority {
            Priority::parse(priority).ok_or_else(|| {
                ApiError::BadRequest("`priority` must be one of P1, P2, P3, P4, P5".to_owned())
            })?;
        }
        Ok(ListQuery {
            status: self.status,
            severity: self.severity,
            source: self.source,
            unit: self.unit,
            ci: self.ci,
            priority: self.priority,
            kind: self.kind,
            assignee: self.assignee,
            requester: self.requester,
            visible_to: None,
            since,
            before: self.cursor,
            limit: limit + 1,
        })
    }
}

/// One page of a listing, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` came from a query made by [`ListParams::validate`], one longer than a page.
    pub fn from_rows(mut rows: Vec<T>, query: &ListQuery, id: impl Fn(&T) -> String) -> Self {
        let page = usize::try_from(query.limit - 1).unwrap_or(0);
        let more = rows.len() > page;
        rows.truncate(page);
        let next_cursor = more.then(|| rows.last().map(&id)).flatten();
        Page {
            items: rows,
            next_cursor,
        }
    }
}
