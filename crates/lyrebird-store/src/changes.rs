//! The changes that serving processes must see at once, as one typed feed.
//!
//! Every write that a serving process caches (a mock or its examples, a key, a quota) or that
//! its quota leases wait for ends with a [`Change`]: published with `pg_notify` inside the
//! write's transaction, so it is delivered at commit and only if the write commits, and, once
//! committed, applied to the writing process itself through the [`ApplyChange`] its [`Store`]
//! was given ([`Store::applying_changes`]). So a request that changed a mock answers only after
//! this process's cache has dropped the old mock, and no handler has to remember to tell it.
//! The other processes receive the same change through [`ChangeListener`].
//!
//! The notification channels and their payloads are built and read here and nowhere else.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, Postgres, Transaction};

use crate::Store;
use crate::error::Result;
use crate::ids::{KeyId, MockId, WorkspaceId};

/// The id of every created, changed or deleted mock.
const MOCK_CHANNEL: &str = "lyrebird_mock_changed";
/// `created:<workspace id>:<key id>` or `revoked:<workspace id>:<key id>`.
const KEYS_CHANNEL: &str = "lyrebird_keys_changed";
/// `quota:<workspace id>`, `wanted:<workspace id>` or `returned:<workspace id>`.
const USAGE_CHANNEL: &str = "lyrebird_usage_changed";
/// `written:<mock id>:<version>:<state key>`, `reset:<mock id>:<state key>` or
/// `reset:<mock id>` (every state of the mock).
const STATE_CHANNEL: &str = "lyrebird_state_changed";
/// `<origin>:<workspace id>:<mock id>:<block id>:<first call, µs since the epoch>`, for each
/// block of calls the call log writes ([`Change::CallsWritten`]).
pub(crate) const CALLS_CHANNEL: &str = "lyrebird_calls_written";

/// A committed change that serving processes must take in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A mock was created, deleted, or had its settings or examples changed.
    Mock(MockId),
    /// A key was created (also at sign-up).
    KeyCreated { workspace: WorkspaceId, key: KeyId },
    /// A key was revoked.
    KeyRevoked { workspace: WorkspaceId, key: KeyId },
    /// The workspace's monthly quota may have changed: an operator set it, or its plan.
    QuotaSet(WorkspaceId),
    /// A process found the workspace's quota spent and asks the others for the calls they
    /// leased and did not use.
    CallsWanted(WorkspaceId),
    /// A process handed unused leased calls of the workspace back.
    CallsReturned(WorkspaceId),
    /// A state of a mock was written; `version` is its new version.
    StateWritten {
        mock: MockId,
        key: String,
        version: i64,
    },
    /// A state of a mock (every state, without a key) was reset.
    StateReset { mock: MockId, key: Option<String> },
    /// The call log of the process marked `origin` ([`Store::origin`]) wrote a block of a
    /// mock's calls: live tails elsewhere read it ([`Store::block_calls`]).
    CallsWritten(WrittenBlock),
}

/// Where a block of calls was written, as its notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenBlock {
    pub origin: uuid::Uuid,
    pub workspace: WorkspaceId,
    pub mock: MockId,
    pub block: uuid::Uuid,
    pub first_at: time::OffsetDateTime,
}

impl WrittenBlock {
    pub(crate) fn payload(&self) -> String {
        let micros = self.first_at.unix_timestamp_nanos() / 1_000;
        let WrittenBlock {
            origin,
            workspace,
            mock,
            block,
            ..
        } = self;
        format!("{origin}:{workspace}:{mock}:{block}:{micros}")
    }

    fn decode(payload: &str) -> Option<Self> {
        let mut parts = payload.split(':');
        let mut next = || parts.next();
        let (origin, workspace, mock, block) = (next()?, next()?, next()?, next()?);
        let micros: i128 = next()?.parse().ok()?;
        Some(Self {
            origin: origin.parse().ok()?,
            workspace: workspace.parse().ok()?,
            mock: mock.parse().ok()?,
            block: block.parse().ok()?,
            first_at: time::OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).ok()?,
        })
    }
}

impl Change {
    fn channel(&self) -> &'static str {
        match self {
            Change::Mock(_) => MOCK_CHANNEL,
            Change::KeyCreated { .. } | Change::KeyRevoked { .. } => KEYS_CHANNEL,
            Change::QuotaSet(_) | Change::CallsWanted(_) | Change::CallsReturned(_) => {
                USAGE_CHANNEL
            }
            Change::StateWritten { .. } | Change::StateReset { .. } => STATE_CHANNEL,
            Change::CallsWritten(_) => CALLS_CHANNEL,
        }
    }

    fn payload(&self) -> String {
        match self {
            Change::Mock(id) => id.to_string(),
            Change::KeyCreated { workspace, key } => format!("created:{workspace}:{key}"),
            Change::KeyRevoked { workspace, key } => format!("revoked:{workspace}:{key}"),
            Change::QuotaSet(workspace) => format!("quota:{workspace}"),
            Change::CallsWanted(workspace) => format!("wanted:{workspace}"),
            Change::CallsReturned(workspace) => format!("returned:{workspace}"),
            Change::StateWritten { mock, key, version } => {
                format!("written:{mock}:{version}:{key}")
            }
            Change::StateReset {
                mock,
                key: Some(key),
            } => format!("reset:{mock}:{key}"),
            Change::StateReset { mock, key: None } => format!("reset:{mock}"),
            Change::CallsWritten(written) => written.payload(),
        }
    }

    /// The change a notification carries; `None` for anything else.
    fn decode(channel: &str, payload: &str) -> Option<Self> {
        match channel {
            MOCK_CHANNEL => payload.parse().ok().map(Change::Mock),
            KEYS_CHANNEL => {
                let (what, ids) = payload.split_once(':')?;
                let (workspace, key) = ids.split_once(':')?;
                let (workspace, key) = (workspace.parse().ok()?, key.parse().ok()?);
                match what {
                    "created" => Some(Change::KeyCreated { workspace, key }),
                    "revoked" => Some(Change::KeyRevoked { workspace, key }),
                    _ => None,
                }
            }
            USAGE_CHANNEL => {
                let (what, workspace) = payload.split_once(':')?;
                let workspace = workspace.parse().ok()?;
                match what {
                    "quota" => Some(Change::QuotaSet(workspace)),
                    "wanted" => Some(Change::CallsWanted(workspace)),
                    "returned" => Some(Change::CallsReturned(workspace)),
                    _ => None,
                }
            }
            STATE_CHANNEL => {
                let (what, rest) = payload.split_once(':')?;
                match what {
                    "written" => {
                        let (mock, rest) = rest.split_once(':')?;
                        let (version, key) = rest.split_once(':')?;
                        Some(Change::StateWritten {
                            mock: mock.parse().ok()?,
                            key: key.to_owned(),
                            version: version.parse().ok()?,
                        })
                    }
                    "reset" => {
                        let (mock, key) = match rest.split_once(':') {
                            Some((mock, key)) => (mock, Some(key.to_owned())),
                            None => (rest, None),
                        };
                        Some(Change::StateReset {
                            mock: mock.parse().ok()?,
                            key,
                        })
                    }
                    _ => None,
                }
            }
            CALLS_CHANNEL => WrittenBlock::decode(payload).map(Change::CallsWritten),
            _ => None,
        }
    }

    /// Publishes the change when the surrounding transaction commits (at once outside one).
    async fn publish(&self, conn: &mut PgConnection) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(self.channel())
            .bind(self.payload())
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// What a process does with the changes it commits itself, before the write returns (the mock
/// runtime drops what it cached of them).
pub trait ApplyChange: fmt::Debug + Send + Sync {
    fn apply(&self, change: Change) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// A connection of its own that receives every [`Change`] committed by any process, this one
/// included.
#[derive(Debug)]
pub struct ChangeListener(PgListener);

impl ChangeListener {
    /// The next change; `Ok(None)` when the connection was lost, after which changes may have
    /// been missed and a new listener is needed.
    pub async fn next(&mut self) -> Result<Option<Change>> {
        loop {
            let Some(notification) = self.0.try_recv().await? else {
                return Ok(None);
            };
            if let Some(change) = Change::decode(notification.channel(), notification.payload()) {
                return Ok(Some(change));
            }
        }
    }
}

impl Store {
    /// Starts receiving the changes every process commits, on a connection of its own (a
    /// pooled connection cannot hold `LISTEN`).
    pub async fn listen_for_changes(&self) -> Result<ChangeListener> {
        let mut listener = PgListener::connect_with(self.pool()).await?;
        listener
            .listen_all([
                MOCK_CHANNEL,
                KEYS_CHANNEL,
                USAGE_CHANNEL,
                STATE_CHANNEL,
                CALLS_CHANNEL,
            ])
            .await?;
        Ok(ChangeListener(listener))
    }

    /// This store, with every change it commits from now on also applied by `local` before the
    /// write returns.
    pub fn applying_changes(&self, local: Arc<dyn ApplyChange>) -> Store {
        Store {
            local: Some(local),
            ..self.clone()
        }
    }

    /// Publishes `change` in `tx`, commits, and applies the change to this process.
    pub(crate) async fn commit(
        &self,
        mut tx: Transaction<'static, Postgres>,
        change: Change,
    ) -> Result<()> {
        change.publish(&mut tx).await?;
        tx.commit().await?;
        self.applied(change).await;
        Ok(())
    }

    /// Publishes every change in `tx` (in one statement: a plan's change may announce every
    /// mock of thousands of workspaces), commits, and applies them to this process.
    pub(crate) async fn commit_all(
        &self,
        mut tx: Transaction<'static, Postgres>,
        changes: Vec<Change>,
    ) -> Result<()> {
        let channels: Vec<&str> = changes.iter().map(Change::channel).collect();
        let payloads: Vec<String> = changes.iter().map(Change::payload).collect();
        sqlx::query("SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t (c, p)")
            .bind(&channels)
            .bind(&payloads)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        for change in changes {
            self.applied(change).await;
        }
        Ok(())
    }

    /// Publishes `change` outside any transaction and applies it to this process.
    pub(crate) async fn announce(&self, change: Change) -> Result<()> {
        change.publish(&mut *self.pool().acquire().await?).await?;
        self.applied(change).await;
        Ok(())
    }

    /// [`Store::announce`] for each of `changes`, in order.
    pub(crate) async fn announce_all(&self, changes: Vec<Change>) -> Result<()> {
        for change in changes {
            self.announce(change).await?;
        }
        Ok(())
    }

    async fn applied(&self, change: Change) {
        if let Some(local) = &self.local {
            local.apply(change).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn every_change_reads_back_from_its_notification() {
        let workspace = WorkspaceId::from(Uuid::now_v7());
        let key = KeyId::from(Uuid::now_v7());
        for change in [
            Change::Mock(MockId::from(Uuid::now_v7())),
            Change::KeyCreated { workspace, key },
            Change::KeyRevoked { workspace, key },
            Change::QuotaSet(workspace),
            Change::CallsWanted(workspace),
            Change::CallsReturned(workspace),
            Change::StateWritten {
                mock: MockId::from(Uuid::now_v7()),
                key: "run:1".to_owned(),
                version: 42,
            },
            Change::StateWritten {
                mock: MockId::from(Uuid::now_v7()),
                key: String::new(),
                version: 1,
            },
            Change::StateReset {
                mock: MockId::from(Uuid::now_v7()),
                key: Some("a:b".to_owned()),
            },
            Change::StateReset {
                mock: MockId::from(Uuid::now_v7()),
                key: None,
            },
        ] {
            let decoded = Change::decode(change.channel(), &change.payload());
            assert_eq!(decoded, Some(change));
        }
        assert_eq!(Change::decode(KEYS_CHANNEL, ""), None);
        assert_eq!(Change::decode(USAGE_CHANNEL, "quota:nope"), None);
        assert_eq!(Change::decode("elsewhere", "x"), None);
    }
}
