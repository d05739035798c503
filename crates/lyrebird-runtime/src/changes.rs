//! How the runtime takes in changes ([`Change`]) to what it caches: mocks, keys and quotas.
//!
//! - A change this process commits is applied before the write returns ([`ApplyChange`]: the
//!   server's store is given the runtime for that), so the very next call sees it even before
//!   its notification arrives: a changed mock is evicted and loads afresh at its next call.
//! - Every change, this process's own included, also arrives through a listener: a changed mock
//!   is then reloaded in the background and swapped in, while calls go on with what they have.
//! - When the listener's connection is lost (PostgreSQL restarted, or the network failed), it
//!   reconnects and then reloads everything cached in the background, since changes may have
//!   been missed, while warm mocks keep answering from memory.
//!
//! A key change loads or drops that one key, never every key.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use lyrebird_store::{ApplyChange, Change, ChangeListener};

use crate::Runtime;

impl ApplyChange for Runtime {
    fn apply(&self, change: Change) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            match change {
                Change::Mock(id) => self.inner.cache.evict(id),
                other => self.received(other).await,
            }
        })
    }
}

impl Runtime {
    /// Follows the changes every process commits, until the runtime shuts down.
    pub(crate) async fn follow_changes(self, mut listener: ChangeListener) {
        loop {
            let lost = match listener.next().await {
                Ok(Some(change)) => {
                    self.received(change).await;
                    continue;
                }
                Ok(None) => "the connection was lost".to_owned(),
                Err(error) => error.to_string(),
            };
            // The cache is refreshed once listening again, not at the loss, and in the
            // background: warm mocks keep being served while the database is away and after.
            tracing::warn!(reason = %lost, "change notifications stopped; reconnecting");
            listener = self.relisten().await;
            self.changes_missed().await;
        }
    }

    /// A new listener, once the database lets us listen again.
    async fn relisten(&self) -> ChangeListener {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match self.inner.store.listen_for_changes().await {
                Ok(listener) => return listener,
                Err(error) => tracing::debug!(%error, "still cannot listen for changes"),
            }
        }
    }

    /// Takes in a change announced by a notification.
    async fn received(&self, change: Change) {
        let Runtime { inner } = self;
        match change {
            Change::Mock(id) => {
                let runtime = self.clone();
                tokio::spawn(async move { runtime.inner.cache.refresh(id).await });
            }
            Change::KeyCreated { key, .. } => {
                if let Err(error) = inner.keys.created(key).await {
                    tracing::warn!(%error, %key, "could not load a new API key");
                }
            }
            Change::KeyRevoked { key, .. } => inner.keys.revoked(key).await,
            Change::QuotaSet(workspace) => inner.quotas.quota_changed(workspace),
            Change::CallsWanted(workspace) => inner.quotas.calls_wanted(workspace),
            Change::CallsReturned(workspace) => inner.quotas.calls_returned(workspace),
            Change::StateWritten { .. } | Change::StateReset { .. } => {
                inner.states.changed(&change);
            }
            Change::CallsWritten(block) if block.origin != inner.store.origin() => {
                inner.call_log.written_elsewhere(block);
            }
            Change::CallsWritten(_) => {}
        }
    }

    async fn changes_missed(&self) {
        tracing::info!("listening for changes again; reloading what is cached");
        self.inner.quotas.recheck_all();
        self.inner.states.forget_all();
        if let Err(error) = self.inner.keys.reload().await {
            tracing::warn!(%error, "could not reload the API keys");
        }
        let runtime = self.clone();
        tokio::spawn(async move { runtime.inner.cache.refresh_all().await });
    }
}
