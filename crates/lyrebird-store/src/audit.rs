//! The audit log: each change made in a workspace, who made it, from which address, what it was
//! (docs/audit.md). Events are only ever added; the database refuses to update or delete one
//! (a trigger), except when its workspace is deleted.

use std::net::IpAddr;

use serde_json::Value;
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::Store;
use crate::error::Result;
use crate::ids::{AccountId, KeyId, MockId, WorkspaceId};
use crate::workspace::{Actor, Workspace};

/// One event as it was recorded.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct AuditEvent {
    /// Increasing in the order events were recorded; what `before` pages by.
    pub id: i64,
    pub at: OffsetDateTime,
    /// Who, as they were named then: an account's email, or a key's name and prefix with the
    /// email of the member it acts for; `lyrebird` for the server itself.
    pub actor: String,
    /// The account acting, or the one whose key it was.
    pub account_id: Option<AccountId>,
    pub key_id: Option<KeyId>,
    /// The client's address, behind trusted proxies.
    pub address: Option<String>,
    /// What was done, a dotted name: `mock.created`, `example.changed`, ...
    pub action: String,
    /// What it was done to, by name (a mock's, a key's, an email).
    pub target: String,
    pub mock_id: Option<MockId>,
    /// The mock's name when the event was recorded.
    pub mock_name: Option<String>,
    /// The rest: ids, counts, a diff of before and after.
    pub details: Value,
}

macro_rules! event_columns {
    () => {
        "id, at, actor, account_id, key_id, address, action, target, mock_id, mock_name, details"
    };
}

/// Who an event is recorded for: in which workspace, by whom, from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditActor {
    pub workspace: WorkspaceId,
    pub actor: Actor,
    /// The member acting (the signed-in account, or the one whose key it is).
    pub member: Option<AccountId>,
    pub address: Option<IpAddr>,
}

impl AuditActor {
    /// The caller of `workspace`, in it, from `address`.
    pub fn of(workspace: &Workspace, address: Option<IpAddr>) -> Self {
        Self {
            workspace: workspace.id(),
            actor: workspace.actor(),
            member: Some(workspace.member()),
            address,
        }
    }
}

/// What happened: an action, its target, and details.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub action: String,
    /// What the change was to; empty for the mock itself, whose name is then the target.
    pub target: String,
    pub mock: Option<MockId>,
    /// The mock's name, when the mock is no longer there to read it from (it was deleted).
    pub mock_name: Option<String>,
    pub details: Value,
}

/// Which events to list: newest first, before an event's id, matching text, an action (or a
/// group of them: `mock` for `mock.*`) and an actor (part of its name, or its account's or key's
/// id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub before: Option<i64>,
    pub text: Option<String>,
    pub action: Option<String>,
    pub actor: Option<String>,
    pub limit: i64,
}

impl Store {
    /// Records an event. The names of its actor and mock are read as they are now, in the same
    /// statement.
    pub async fn record_audit(&self, by: &AuditActor, event: &NewAuditEvent) -> Result<()> {
        let (account, key) = match by.actor {
            Actor::Account(account) => (Some(account), None),
            Actor::Key(key) => (by.member, Some(key)),
            Actor::System => (None, None),
        };
        sqlx::query(
            "INSERT INTO audit_events
                 (workspace_id, actor, account_id, key_id, address, action, target, mock_id,
                  mock_name, details)
             WITH mock AS (SELECT coalesce($9, (SELECT name FROM mocks
                                                WHERE id = $7 AND workspace_id = $1)) AS name)
             SELECT $1,
                    CASE WHEN $3::uuid IS NOT NULL THEN
                             coalesce((SELECT 'key ' || k.name || ' (' || k.prefix || '…)'
                                       FROM api_keys k WHERE k.id = $3), 'key ' || $3::text)
                             || coalesce(' of ' || (SELECT email FROM accounts WHERE id = $2), '')
                         WHEN $2::uuid IS NOT NULL THEN
                             coalesce((SELECT email FROM accounts WHERE id = $2), $2::text)
                         ELSE 'lyrebird' END,
                    $2, $3, $4, $5,
                    coalesce(nullif($6, ''), mock.name, ''), $7, mock.name, $8
             FROM mock",
        )
        .bind(by.workspace)
        .bind(account)
        .bind(key)
        .bind(by.address.map(|address| address.to_canonical().to_string()))
        .bind(&event.action)
        .bind(&event.target)
        .bind(event.mock)
        .bind(&event.details)
        .bind(event.mock_name.as_deref())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The workspace's events that pass `filter`, newest first, at most `filter.limit`.
    pub async fn audit_events(
        &self,
        workspace: &Workspace,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            event_columns!(),
            " FROM audit_events
             WHERE workspace_id = $1
               AND ($2::bigint IS NULL OR id < $2)
               AND ($3::text IS NULL OR strpos(lower(concat_ws(' ', action, target, mock_name, details::text)),
                                               lower($3)) > 0)
               AND ($4::text IS NULL OR action = $4 OR starts_with(action, $4 || '.'))
               AND ($5::text IS NULL OR strpos(lower(actor), lower($5)) > 0
                    OR account_id::text = lower($5) OR key_id::text = lower($5))
             ORDER BY id DESC
             LIMIT $6"
        ))
        .bind(workspace.id())
        .bind(filter.before)
        .bind(filter.text.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.actor.as_deref())
        .bind(filter.limit)
        .fetch_all(self.pool())
        .await?)
    }
}
