//! Mock state in memory (docs/state.md): the states calls read, loaded from PostgreSQL once
//! and then kept, so a warm call that only reads the state makes no database round trip.
//!
//! Coherence follows the state's version (one number per content, from one sequence):
//! - a write of this process puts its new state in at once ([`States::written`]);
//! - a write or reset announced by any process drops what is kept of that state when it is
//!   older ([`States::changed`]), and the next call loads it again;
//! - a load that was under way while a change of its mock arrived is used for its call but
//!   not kept (the change may be newer than what it read).
//!
//! What is kept is bounded by [`MAX_KEPT_BYTES`] and [`MAX_KEPT_STATES`]; past them, states
//! leave in no particular order and load again when called.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use lyrebird_engine::state::State;
use lyrebird_store::{Change, MockId, Store, StoreError};

/// The most bytes of states (records and values, as JSON text) kept in memory.
pub const MAX_KEPT_BYTES: usize = 256 * 1024 * 1024;
/// The most states kept in memory.
pub const MAX_KEPT_STATES: usize = 10_000;
/// Changes are counted per group of mocks, so a load can tell whether one of its mock's came
/// while it ran.
const GROUPS: usize = 64;

#[derive(Debug)]
pub(crate) struct States {
    store: Store,
    kept: RwLock<Kept>,
    changes: [AtomicU64; GROUPS],
    hasher: RandomState,
    /// Each state's turn to write, in this process: the calls writing one state take the
    /// database's lock one after the other, each from the state the one before kept, rather
    /// than all waiting on the row lock (and a pooled connection) at once, each then reading
    /// the whole state again.
    turns: Mutex<HashMap<StateId, Arc<tokio::sync::Mutex<()>>>>,
}

/// A state: its mock and its key.
type StateId = (MockId, String);

/// A state's turn to write, held until dropped.
pub(crate) struct Turn<'s> {
    states: &'s States,
    state: StateId,
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.turn.take());
        let mut turns = self.states.turns.lock().expect("turns lock");
        // The map's reference is the last: nobody holds or waits for this turn.
        if turns
            .get(&self.state)
            .is_some_and(|turn| Arc::strong_count(turn) == 1)
        {
            turns.remove(&self.state);
        }
    }
}

#[derive(Debug, Default)]
struct Kept {
    states: HashMap<MockId, HashMap<String, Arc<State>>>,
    count: usize,
    bytes: usize,
    /// The newest version announced for each state, and when each state (or, without a key,
    /// every state of a mock) was last announced reset: a write of this process, put in after
    /// its commit, must not replace what a later write or reset of another made.
    announced: HashMap<StateId, i64>,
    resets: HashMap<(MockId, Option<String>), Instant>,
}

/// Announcements remembered at most; past it they are forgotten (a write of this process racing
/// one of those is then kept a little longer than it should, until its next announcement).
const MAX_ANNOUNCED: usize = 100_000;

impl Kept {
    fn get(&self, mock: MockId, key: &str) -> Option<&Arc<State>> {
        self.states.get(&mock)?.get(key)
    }

    /// Keeps `state` unless a newer one is kept, making room first.
    fn put(&mut self, mock: MockId, key: &str, state: Arc<State>) {
        if self
            .get(mock, key)
            .is_some_and(|kept| kept.version >= state.version)
        {
            return;
        }
        self.remove(mock, key);
        while self.count >= MAX_KEPT_STATES || self.bytes + state.bytes() > MAX_KEPT_BYTES {
            let Some((&other, keys)) = self.states.iter().next() else {
                break;
            };
            let Some(other_key) = keys.keys().next().cloned() else {
                self.states.remove(&other);
                continue;
            };
            self.remove(other, &other_key);
        }
        self.count += 1;
        self.bytes += state.bytes();
        self.states
            .entry(mock)
            .or_default()
            .insert(key.to_owned(), state);
    }

    fn remove(&mut self, mock: MockId, key: &str) {
        let Some(keys) = self.states.get_mut(&mock) else {
            return;
        };
        if let Some(state) = keys.remove(key) {
            self.count -= 1;
            self.bytes -= state.bytes();
        }
        if keys.is_empty() {
            self.states.remove(&mock);
        }
    }

    fn remove_mock(&mut self, mock: MockId) {
        for state in self
            .states
            .remove(&mock)
            .into_iter()
            .flat_map(HashMap::into_values)
        {
            self.count -= 1;
            self.bytes -= state.bytes();
        }
    }
}

impl States {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            kept: RwLock::default(),
            changes: std::array::from_fn(|_| AtomicU64::new(0)),
            hasher: RandomState::new(),
            turns: Mutex::default(),
        }
    }

    /// Waits for the state's turn to write in this process.
    pub(crate) async fn turn(&self, mock: MockId, key: &str) -> Turn<'_> {
        let state = (mock, key.to_owned());
        let turn = Arc::clone(
            self.turns
                .lock()
                .expect("turns lock")
                .entry(state.clone())
                .or_default(),
        );
        Turn {
            states: self,
            state,
            turn: Some(turn.lock_owned().await),
        }
    }

    fn changes_of(&self, mock: MockId) -> &AtomicU64 {
        &self.changes[self.hasher.hash_one(mock) as usize % GROUPS]
    }

    /// The state `key` of `mock`, kept or loaded.
    pub(crate) async fn get(&self, mock: MockId, key: &str) -> Result<Arc<State>, StoreError> {
        if let Some(state) = self.kept.read().expect("states lock").get(mock, key) {
            return Ok(Arc::clone(state));
        }
        let changes = self.changes_of(mock).load(Ordering::Acquire);
        let state = Arc::new(self.store.mock_state(mock, key).await?);
        // Changes are counted under the same lock, so none can come between this look and
        // the put.
        let mut kept = self.kept.write().expect("states lock");
        if self.changes_of(mock).load(Ordering::Acquire) == changes {
            kept.put(mock, key, Arc::clone(&state));
        }
        Ok(state)
    }

    /// Keeps the state this process wrote after taking the state's lock at `since`, unless a
    /// newer write or a reset was announced meanwhile (its commit came after ours).
    pub(crate) fn written(&self, mock: MockId, key: &str, state: Arc<State>, since: Instant) {
        let mut kept = self.kept.write().expect("states lock");
        let overtaken = kept
            .announced
            .get(&(mock, key.to_owned()))
            .is_some_and(|version| *version > state.version)
            || [Some(key.to_owned()), None].into_iter().any(|reset| {
                kept.resets
                    .get(&(mock, reset))
                    .is_some_and(|at| *at >= since)
            });
        if !overtaken {
            kept.put(mock, key, state);
        }
    }

    /// Takes in a change of a mock's state announced by any process.
    pub(crate) fn changed(&self, change: &Change) {
        let mut kept = self.kept.write().expect("states lock");
        match change {
            Change::StateWritten { mock, key, version } => {
                self.changes_of(*mock).fetch_add(1, Ordering::AcqRel);
                if kept.announced.len() >= MAX_ANNOUNCED {
                    kept.announced.clear();
                }
                let newest = kept.announced.entry((*mock, key.clone())).or_default();
                *newest = (*newest).max(*version);
                if kept
                    .get(*mock, key)
                    .is_some_and(|state| state.version < *version)
                {
                    kept.remove(*mock, key);
                }
            }
            Change::StateReset { mock, key } => {
                self.changes_of(*mock).fetch_add(1, Ordering::AcqRel);
                if kept.resets.len() >= MAX_ANNOUNCED {
                    kept.resets.clear();
                }
                kept.resets.insert((*mock, key.clone()), Instant::now());
                match key {
                    Some(key) => kept.remove(*mock, key),
                    None => kept.remove_mock(*mock),
                }
            }
            _ => {}
        }
    }

    /// Forgets every state kept, when changes may have been missed.
    pub(crate) fn forget_all(&self) {
        for changes in &self.changes {
            changes.fetch_add(1, Ordering::AcqRel);
        }
        *self.kept.write().expect("states lock") = Kept::default();
    }
}
