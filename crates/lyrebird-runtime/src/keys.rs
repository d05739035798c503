//! The keys private mocks are checked against: every live key by its SHA-256 digest, in memory,
//! loaded whole at start and after changes may have been missed, and otherwise kept up to date
//! one key at a time: a created key is loaded by its id, a revoked one dropped. Keys used on mock
//! calls are noted here and their `last_used_at` written in one statement per second, off the
//! request path.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use lyrebird_store::{KeyId, LiveKey, Secret, Store, WorkspaceId};

/// Live keys by digest.
#[derive(Debug)]
pub struct KeyMap {
    store: Store,
    keys: RwLock<Arc<HashMap<Vec<u8>, LiveKey>>>,
    /// Updates run one at a time, so an older one never overwrites a newer one.
    updating: tokio::sync::Mutex<()>,
    used: Mutex<HashSet<KeyId>>,
}

impl KeyMap {
    /// Loads every live key.
    pub async fn load(store: Store) -> lyrebird_store::Result<Self> {
        let map = Self {
            store,
            keys: RwLock::default(),
            updating: tokio::sync::Mutex::new(()),
            used: Mutex::default(),
        };
        map.reload().await?;
        Ok(map)
    }

    /// Replaces every key with those live now.
    pub async fn reload(&self) -> lyrebird_store::Result<()> {
        let _one_at_a_time = self.updating.lock().await;
        let keys = self.store.live_keys().await?;
        let keys = keys
            .into_iter()
            .map(|key| (key.digest.clone(), key))
            .collect();
        *self.keys.write().expect("key map lock") = Arc::new(keys);
        Ok(())
    }

    /// Loads a key just created (or drops it, if it was revoked since).
    pub async fn created(&self, id: KeyId) -> lyrebird_store::Result<()> {
        let _one_at_a_time = self.updating.lock().await;
        let key = self.store.live_key(id).await?;
        let mut keys = self.keys.write().expect("key map lock");
        let keys = Arc::make_mut(&mut keys);
        match key {
            Some(key) => {
                keys.insert(key.digest.clone(), key);
            }
            None => keys.retain(|_, live| live.id != id),
        }
        Ok(())
    }

    /// Drops a key just revoked.
    pub async fn revoked(&self, id: KeyId) {
        let _one_at_a_time = self.updating.lock().await;
        let mut keys = self.keys.write().expect("key map lock");
        Arc::make_mut(&mut keys).retain(|_, live| live.id != id);
    }

    /// The key presented, if it is live and belongs to `workspace` (any scope: `mock` and
    /// `admin` keys both call private mocks). Its use is noted for `last_used_at`.
    pub fn check(&self, presented: &str, workspace: WorkspaceId) -> Option<KeyId> {
        let digest = Secret::new(presented.trim()).digest();
        let keys = Arc::clone(&self.keys.read().expect("key map lock"));
        let key = keys
            .get(&digest)
            .filter(|key| key.workspace_id == workspace)?;
        self.used.lock().expect("used keys lock").insert(key.id);
        Some(key.id)
    }

    /// Writes `last_used_at` of the keys used since the last time.
    pub async fn write_last_used(&self) {
        let used: Vec<KeyId> = self.used.lock().expect("used keys lock").drain().collect();
        if used.is_empty() {
            return;
        }
        if let Err(error) = self.store.touch_keys(&used).await {
            tracing::warn!(%error, keys = used.len(), "could not record the use of keys");
            self.used.lock().expect("used keys lock").extend(used);
        }
    }
}
