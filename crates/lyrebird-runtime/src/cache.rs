//! The compiled-mock cache: a mock is loaded from Postgres and compiled once, then shared by
//! every call as an `Arc`, so a warm mock costs no database round trip.
//!
//! Concurrent first calls to the same mock share one load (the slot's `OnceCell`), so a burst
//! on a cold mock reaches the database once. Unknown ids are cached too (as [`Entry::Missing`]),
//! so a flood of made-up ids costs one query each at most once; creating a mock announces its
//! id, which evicts that entry. The number of mocks kept is bounded; the least recently used
//! leave first.
//!
//! Three ways to take a change in:
//! - [`MockCache::evict`], for a change made through this process: the slot is replaced by an
//!   empty one, and the very next call loads afresh.
//! - [`MockCache::refresh`], for a change announced by `NOTIFY`: the mock is reloaded in the
//!   background and swapped in when loaded, while calls go on with the entry they have. If the
//!   database is away meanwhile, the entry stays, so a late notification of a change that is
//!   already in (our own change, announced after it was evicted and reloaded) never turns a warm
//!   mock cold while PostgreSQL restarts.
//! - [`MockCache::refresh_all`], when notifications may have been missed (the listening
//!   connection was lost): every mock in memory is refreshed so, one after the other.
//!
//! Every slot carries the version of the change it was made for, from one counter; a reload
//! replaces a slot only when it was started for a later change than the slot's, so an older
//! reload finishing last never wins. A load under way when a change commits finishes into a slot
//! that has been replaced, which no later call sees.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use lyrebird_engine::faults::CompiledChaos;
use lyrebird_engine::render::CompiledResponse;
use lyrebird_engine::{CompiledMock, Latency};
use lyrebird_store::{MockId, ServedMock, Store, StoreError, WorkspaceId};
use time::OffsetDateTime;
use tokio::sync::{OnceCell, Semaphore};
use uuid::Uuid;

use crate::rate_limit::Limiter;
use crate::upstream::Upstream;
use lyrebird_import::contract::Contract;

/// What a mock id names, as far as serving is concerned.
#[derive(Debug)]
pub enum Entry {
    /// No mock has this id (never had, or deleted).
    Missing,
    /// The stored mock does not compile with this engine; `reason` says why (for its own
    /// workspace only).
    Broken {
        workspace: WorkspaceId,
        reason: String,
    },
    Ready(Box<LoadedMock>),
}

/// A mock ready to answer.
#[derive(Debug)]
pub struct LoadedMock {
    pub id: MockId,
    pub workspace: WorkspaceId,
    pub private: bool,
    /// The mock's own delay, added to every answer's.
    pub delay_ms: u64,
    pub engine: CompiledMock,
    pub fallback: Option<CompiledResponse>,
    /// For rendering the fallback (the engine keeps its own copy for examples).
    pub environment: BTreeMap<String, String>,
    /// Examples whose request names `OPTIONS` itself: those answer browser preflights, which
    /// the runtime answers otherwise.
    pub options_examples: HashSet<Uuid>,
    /// A wait drawn per call, added to `delay_ms`.
    pub latency: Option<Latency>,
    /// Faults for a share of the calls, and the calls decided so far (a seeded chaos setting
    /// decides a call by its number).
    pub chaos: Option<(CompiledChaos, Arc<AtomicU64>)>,
    pub rate_limit: Option<Arc<Limiter>>,
    /// The mock's upstream: where the calls of examples that pass their calls on go, and the
    /// calls no example matches when `passes_misses`.
    pub upstream: Option<Upstream>,
    /// Pass-through is on, or the mock is recording.
    pub passes_misses: bool,
    /// The OpenAPI contract its calls are checked against, when they are.
    pub contract: Option<Contract>,
    /// The mock's version: the call log notes it with every call.
    pub version: u32,
    /// Its workspace is suspended: calls are refused.
    pub suspended: bool,
    /// The most bytes one state may hold under the workspace's plan, when it sets a limit
    /// (the engine's own bound applies anyway).
    pub state_max_bytes: Option<usize>,
}

impl LoadedMock {
    pub(crate) fn compile(served: ServedMock) -> Result<Self, String> {
        let ServedMock {
            mock,
            examples,
            upstream_headers,
            request_contract,
            terms,
        } = served;
        let contract = request_contract
            .map(Contract::new)
            .transpose()
            .map_err(|error| format!("the OpenAPI contract cannot be read: {error}"))?;
        let options_examples = examples
            .iter()
            .filter(|stored| {
                stored
                    .example
                    .request
                    .method
                    .as_deref()
                    .is_some_and(|method| method.eq_ignore_ascii_case("OPTIONS"))
            })
            .map(|stored| stored.id.as_uuid())
            .collect();
        let examples = examples
            .into_iter()
            .map(|stored| (stored.id.as_uuid(), stored.example))
            .collect();
        let engine =
            CompiledMock::compile(examples, mock.settings.clone(), mock.environment.clone())
                .map_err(|errors| match errors.first() {
                    Some((position, first)) => {
                        format!("example {position} does not compile: {first}")
                    }
                    None => "an example does not compile".to_owned(),
                })?;
        let fallback = mock
            .fallback
            .as_ref()
            .map(CompiledResponse::compile)
            .transpose()
            .map_err(|errors| match errors.first() {
                Some(first) => format!("the fallback response does not compile: {first}"),
                None => "the fallback response does not compile".to_owned(),
            })?;
        let chaos = mock
            .settings
            .chaos
            .as_ref()
            .map(CompiledChaos::compile)
            .transpose()
            .map_err(|errors| match errors.first() {
                Some(first) => format!("the chaos setting does not compile: {first}"),
                None => "the chaos setting does not compile".to_owned(),
            })?;
        let passes_misses = mock
            .settings
            .upstream
            .as_ref()
            .is_some_and(|upstream| upstream.pass_through || mock.recording_since.is_some());
        let upstream = mock
            .settings
            .upstream
            .as_ref()
            .map(|upstream| {
                Upstream::new(
                    upstream,
                    &upstream_headers,
                    mock.upstream_headers_origin.as_deref(),
                )
                .map_err(|error| format!("the upstream does not work: {error}"))
            })
            .transpose()?;
        Ok(Self {
            id: mock.id,
            workspace: mock.workspace_id,
            private: mock.private,
            delay_ms: mock.delay.millis().into(),
            engine,
            fallback,
            environment: mock.environment,
            options_examples,
            latency: mock.settings.latency,
            chaos: chaos.map(|chaos| (chaos, Arc::default())),
            rate_limit: mock
                .settings
                .rate_limit
                .map(|limit| Arc::new(Limiter::new(limit))),
            upstream,
            passes_misses,
            contract,
            version: u32::try_from(mock.version).unwrap_or_default(),
            suspended: terms.suspended,
            state_max_bytes: terms
                .state_max_bytes
                .map(|bytes| usize::try_from(bytes).unwrap_or(usize::MAX)),
        })
    }
}

#[derive(Debug, Default)]
struct Slot {
    entry: OnceCell<Arc<Entry>>,
    /// The cache's clock at the last use, for least-recently-used eviction.
    last_used: AtomicU64,
    /// The change this slot was made for (0: none seen).
    version: u64,
}

impl Slot {
    fn empty(version: u64) -> Arc<Self> {
        Arc::new(Self {
            version,
            ..Self::default()
        })
    }
}

/// Compiled mocks by id, at most `capacity` of them.
#[derive(Debug)]
pub struct MockCache {
    store: Store,
    capacity: usize,
    slots: RwLock<HashMap<MockId, Arc<Slot>>>,
    clock: AtomicU64,
    /// Counts the changes taken in, for [`Slot::version`].
    changes: AtomicU64,
    compiles: Compiles,
    /// Lookups that found their mock compiled in memory, and loads of a mock.
    hits: AtomicU64,
    misses: AtomicU64,
    /// What mocks have counted (chaos's calls, the rate limit's clients), by the time of the
    /// mock's last change: a mock compiled again without a change (evicted, or told of its own
    /// change twice, by this process and by the database) goes on counting.
    counts: Mutex<HashMap<MockId, Counts>>,
}

#[derive(Debug)]
struct Counts {
    updated_at: OffsetDateTime,
    chaos_calls: Option<Arc<AtomicU64>>,
    rate_limit: Option<Arc<Limiter>>,
}

/// Room for compiling mocks, off the request threads: one compile at a time per workspace, and
/// two per core in all. A tenant whose many large mocks are called cold at once waits for its
/// own compiles, one after the other, instead of taking every core from the others.
#[derive(Debug)]
struct Compiles {
    all: Semaphore,
    /// A workspace's turn; dropped from the map when nobody holds or waits for it.
    by_workspace: Mutex<HashMap<WorkspaceId, Arc<Semaphore>>>,
}

impl Compiles {
    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            all: Semaphore::new(2 * cores),
            by_workspace: Mutex::default(),
        }
    }

    /// Compiles `served` when its workspace's turn and a place in all have come.
    async fn compile(&self, served: ServedMock) -> Result<LoadedMock, String> {
        let workspace = served.mock.workspace_id;
        let turn = Arc::clone(
            self.by_workspace
                .lock()
                .expect("compile turns are never poisoned")
                .entry(workspace)
                .or_insert_with(|| Arc::new(Semaphore::new(1))),
        );
        let compiled = {
            let _turn = turn
                .acquire()
                .await
                .expect("compile turns are never closed");
            let _place = self
                .all
                .acquire()
                .await
                .expect("compile places are never closed");
            tokio::task::spawn_blocking(move || LoadedMock::compile(served))
                .await
                .unwrap_or_else(|error| Err(format!("compiling stopped: {error}")))
        };
        let mut turns = self
            .by_workspace
            .lock()
            .expect("compile turns are never poisoned");
        // Two references: the map's and this one; nobody else holds or waits for the turn.
        if Arc::strong_count(&turn) == 2 {
            turns.remove(&workspace);
        }
        compiled
    }
}

impl MockCache {
    pub fn new(store: Store, capacity: usize) -> Self {
        Self {
            compiles: Compiles::new(),
            store,
            capacity: capacity.max(1),
            slots: RwLock::default(),
            clock: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            counts: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Lookups that found their mock in memory, loads of a mock, and the mocks held.
    pub fn use_counts(&self) -> (u64, u64, u64) {
        let held = self.slots.read().expect("cache lock").len() as u64;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        (read(&self.hits), read(&self.misses), held)
    }

    /// The mock, from memory, or loaded and compiled once however many calls ask at once.
    /// A database error is not cached: the next call tries again.
    pub async fn get(&self, id: MockId) -> Result<Arc<Entry>, StoreError> {
        let slot = self.slot(id);
        slot.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        // Counted after the fact: a check before could see the entry just as a change of the
        // mock drops it, and count one call as both a hit and a miss.
        let mut loaded = false;
        let entry = slot
            .entry
            .get_or_try_init(|| {
                loaded = true;
                Box::pin(self.load(id))
            })
            .await
            .cloned();
        if !loaded {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        entry
    }

    async fn load(&self, id: MockId) -> Result<Arc<Entry>, StoreError> {
        self.misses.fetch_add(1, Ordering::Relaxed);
        let entry = match self.store.served_mock(id).await? {
            None => Entry::Missing,
            Some(served) => {
                let workspace = served.mock.workspace_id;
                let updated_at = served.mock.updated_at;
                match self.compiles.compile(served).await {
                    Ok(mut mock) => {
                        self.go_on_counting(&mut mock, updated_at);
                        Entry::Ready(Box::new(mock))
                    }
                    Err(reason) => {
                        tracing::error!(mock = %id, %reason, "a stored mock does not compile");
                        Entry::Broken { workspace, reason }
                    }
                }
            }
        };
        Ok(Arc::new(entry))
    }

    /// Gives a mock compiled again the counts of its last compile, when it has not changed
    /// since; otherwise keeps its new counts for the next compile.
    fn go_on_counting(&self, mock: &mut LoadedMock, updated_at: OffsetDateTime) {
        let mut counts = self.counts.lock().expect("counts are never poisoned");
        match counts.get(&mock.id) {
            Some(kept) if kept.updated_at == updated_at => {
                if let (Some((_, calls)), Some(kept)) = (&mut mock.chaos, &kept.chaos_calls) {
                    *calls = Arc::clone(kept);
                }
                if let (Some(limiter), Some(kept)) = (&mut mock.rate_limit, &kept.rate_limit) {
                    *limiter = Arc::clone(kept);
                }
            }
            _ => {
                // Bounded like the cache: past twice its size, the counts of mocks the cache no
                // longer holds go (they start over if the mock comes back).
                if counts.len() >= 2 * self.capacity {
                    let slots = self.slots.read().expect("cache lock");
                    counts.retain(|id, _| slots.contains_key(id));
                }
                counts.insert(
                    mock.id,
                    Counts {
                        updated_at,
                        chaos_calls: mock.chaos.as_ref().map(|(_, calls)| Arc::clone(calls)),
                        rate_limit: mock.rate_limit.clone(),
                    },
                );
            }
        }
    }

    fn slot(&self, id: MockId) -> Arc<Slot> {
        if let Some(slot) = self.slots.read().expect("cache lock").get(&id) {
            return Arc::clone(slot);
        }
        let mut slots = self.slots.write().expect("cache lock");
        let slot = Arc::clone(slots.entry(id).or_default());
        if slots.len() > self.capacity {
            self.evict_least_recently_used(&mut slots);
        }
        slot
    }

    /// Drops the least recently used tenth (at least one), so the scan is paid once per many
    /// insertions.
    fn evict_least_recently_used(&self, slots: &mut HashMap<MockId, Arc<Slot>>) {
        let excess = slots.len() - self.capacity + self.capacity / 10;
        let mut ages: Vec<(u64, MockId)> = slots
            .iter()
            .map(|(id, slot)| (slot.last_used.load(Ordering::Relaxed), *id))
            .collect();
        let excess = excess.clamp(1, ages.len());
        ages.select_nth_unstable(excess - 1);
        for (_, id) in &ages[..excess] {
            slots.remove(id);
        }
    }

    /// Forgets a mock: the next call loads it again.
    pub fn evict(&self, id: MockId) {
        let version = self.changes.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(slot) = self.slots.write().expect("cache lock").get_mut(&id) {
            *slot = Slot::empty(version);
        }
    }

    /// Reloads a mock that changed, keeping the current entry until the new one is loaded (and
    /// when it cannot be). A mock not in memory is left alone. A load under way (which may have
    /// read the mock before the change) is replaced too, once this one is done.
    pub async fn refresh(&self, id: MockId) {
        let version = self.changes.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.slots.read().expect("cache lock").contains_key(&id) {
            return;
        }
        match self.load(id).await {
            Ok(entry) => self.install(id, version, entry),
            Err(error) => {
                tracing::warn!(%error, mock = %id, "could not reload a changed mock; serving the copy in memory");
            }
        }
    }

    /// Puts a reloaded entry in place, unless the slot was made for a later change meanwhile
    /// (or the mock left the cache).
    fn install(&self, id: MockId, version: u64, entry: Arc<Entry>) {
        let mut slots = self.slots.write().expect("cache lock");
        if let Some(slot) = slots.get_mut(&id)
            && slot.version < version
        {
            *slot = Arc::new(Slot {
                entry: OnceCell::new_with(Some(entry)),
                last_used: AtomicU64::new(slot.last_used.load(Ordering::Relaxed)),
                version,
            });
        }
    }

    /// Reloads every mock in memory, one after the other, as [`MockCache::refresh`] does (after
    /// changes may have been missed): calls go on with the copies they have meanwhile.
    pub async fn refresh_all(&self) {
        let ids: Vec<MockId> = self
            .slots
            .read()
            .expect("cache lock")
            .keys()
            .copied()
            .collect();
        for id in ids {
            self.refresh(id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use lyrebird_store::testing::TestDatabase;

    use super::*;

    #[tokio::test]
    async fn concurrent_first_calls_share_one_load_and_an_eviction_loads_afresh() {
        let db = TestDatabase::new().await;
        let cache = Arc::new(MockCache::new(db.store().clone(), 10));
        let id = MockId::generate();
        let loads: Vec<_> = (0..50)
            .map(|_| {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move { cache.get(id).await.unwrap() })
            })
            .collect();
        let mut entries = Vec::new();
        for load in loads {
            entries.push(load.await.unwrap());
        }
        assert!(entries.iter().all(|entry| Arc::ptr_eq(entry, &entries[0])));
        cache.evict(id);
        assert!(!Arc::ptr_eq(&cache.get(id).await.unwrap(), &entries[0]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mocks_of_one_workspace_compile_in_turn_and_the_turns_are_given_back() {
        let db = TestDatabase::new().await;
        let owner = db.sign_up("cold@example.com").await;
        let cache = Arc::new(MockCache::new(db.store().clone(), 100));
        let mut ids = Vec::new();
        for _ in 0..8 {
            ids.push(db.mock(&owner).await);
        }
        let loads: Vec<_> = ids
            .iter()
            .map(|&id| {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move { cache.get(id).await.unwrap() })
            })
            .collect();
        for load in loads {
            assert!(matches!(*load.await.unwrap(), Entry::Ready(_)));
        }
        let turns = cache.compiles.by_workspace.lock().unwrap();
        assert!(turns.is_empty(), "{} turns kept", turns.len());
    }

    #[tokio::test]
    async fn a_reload_started_before_an_eviction_never_replaces_what_the_eviction_loaded() {
        let db = TestDatabase::new().await;
        let cache = MockCache::new(db.store().clone(), 10);
        let id = MockId::generate();
        let first = cache.get(id).await.unwrap();
        // A refresh replaces a loaded entry with a new load.
        cache.refresh(id).await;
        let refreshed = cache.get(id).await.unwrap();
        assert!(!Arc::ptr_eq(&first, &refreshed));
        // A reload started for an earlier change than an eviction, and finishing after it,
        // leaves what the eviction loaded in place.
        let version = cache.changes.fetch_add(1, Ordering::Relaxed) + 1;
        cache.evict(id);
        let after_eviction = cache.get(id).await.unwrap();
        cache.install(id, version, Arc::clone(&refreshed));
        assert!(Arc::ptr_eq(&cache.get(id).await.unwrap(), &after_eviction));
        // A later one replaces it.
        cache.install(id, u64::MAX, Arc::clone(&refreshed));
        assert!(Arc::ptr_eq(&cache.get(id).await.unwrap(), &refreshed));
    }

    #[tokio::test]
    async fn the_least_recently_used_mocks_leave_first() {
        let db = TestDatabase::new().await;
        let cache = MockCache::new(db.store().clone(), 10);
        let kept = MockId::generate();
        cache.get(kept).await.unwrap();
        for _ in 0..30 {
            cache.get(MockId::generate()).await.unwrap();
            cache.get(kept).await.unwrap();
        }
        let kept_count = cache.slots.read().unwrap().len();
        assert!(kept_count <= 10, "{kept_count} mocks kept");
        assert!(cache.slots.read().unwrap().contains_key(&kept));
        assert!(matches!(*cache.get(kept).await.unwrap(), Entry::Missing));
    }
}
