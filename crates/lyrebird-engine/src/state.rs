//! A mock's state as the engine reads it and the changes an answer makes to it (docs/state.md).
//!
//! The engine stays pure: it reads one [`State`] (the mock's default state, or a state key's)
//! and returns the changes its answer makes as [`StateWrite`]s. Whoever keeps the state (the
//! runtime, in PostgreSQL) writes them, and applies them to its copy with [`State::apply`].
//!
//! A collection that no answer has written yet reads as its seed ([`Seeds`]); its first write
//! copies the seed into the state with it ([`StateWrite::Collection`] followed by the seed's
//! records), so a reset (dropping the state) brings the seed back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ValidationError;
use crate::model::{CollectionSpec, IdKind};

/// The state every scenario starts in.
pub const STARTED: &str = "started";
/// Records one state may hold, all collections together.
pub const MAX_RECORDS: usize = 10_000;
/// The largest record, as JSON text.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// Keys of the key/value store (counters included) in one state.
pub const MAX_VALUES: usize = 1_000;
/// The largest value of the key/value store, as JSON text.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The most one state may hold: its records and values, as JSON text.
pub const MAX_STATE_BYTES: usize = 8 * 1024 * 1024;
/// The longest name: of a scenario, a scenario state, a key, a collection, a record id.
pub const MAX_NAME_BYTES: usize = 200;

/// One state of a mock at one version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// Counts the writes to this state; 0 before the first.
    pub version: i64,
    /// Scenarios that have left `started`, by name.
    pub scenarios: BTreeMap<String, String>,
    pub values: BTreeMap<String, Value>,
    /// The next response of each sequence that has moved, by example id.
    pub sequences: BTreeMap<Uuid, u64>,
    /// Collections written at least once; the others read as their seed.
    pub collections: BTreeMap<String, Collection>,
    /// The JSON text size of the values.
    value_bytes: usize,
}

/// The records of a collection, in the order they were created.
///
/// Persistent maps (`imbl`): a copy shares everything with its original, and a change copies
/// only the path to what it changes. A write to a state of 10,000 records makes its new state
/// from the old one, which readers may still hold, in microseconds rather than by copying every
/// record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collection {
    /// The id the next created record gets when ids are integers.
    pub next_id: i64,
    /// The records by their place in creation order.
    records: imbl::OrdMap<u64, (Arc<str>, Arc<Value>)>,
    /// Each record's place.
    places: imbl::HashMap<Arc<str>, u64>,
    /// The place of the next new record.
    next_place: u64,
    /// The JSON text size of the records.
    bytes: usize,
}

/// The length of `value` as compact JSON text, without writing it out.
pub fn json_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing JSON values to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The mock's collections as every state starts them: definitions and seeds.
pub type Seeds = BTreeMap<String, Seed>;

/// A collection's definition and its records before any write.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    pub id_field: String,
    pub ids: IdKind,
    pub records: Collection,
}

/// One change an answer makes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "write", rename_all = "snake_case")]
pub enum StateWrite {
    /// A scenario moved.
    Scenario { name: String, state: String },
    /// A key was set (or removed, when `value` is absent).
    Value {
        key: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
    },
    /// A sequence moved on.
    Sequence { example: Uuid, next: u64 },
    /// A collection's first write in this state, or its id counter moving.
    Collection { name: String, next_id: i64 },
    /// A record was created or replaced (or deleted, when `record` is absent).
    Record {
        collection: String,
        id: String,
        #[serde(skip_serializing)]
        record: Option<Arc<Value>>,
    },
    /// Every record of a collection was deleted.
    Clear { collection: String },
}

impl StateWrite {
    /// The write in a few words, for the call log.
    pub fn describe(&self) -> String {
        match self {
            Self::Scenario { name, state } => format!("scenario {name} moved to `{state}`"),
            Self::Value {
                key,
                value: Some(value),
            } => format!("{key} set to {}", truncated(&value.to_string())),
            Self::Value { key, value: None } => format!("{key} removed"),
            Self::Sequence { next, .. } => format!("sequence moved to response {}", next + 1),
            Self::Collection { name, next_id } => format!("{name}: next id {next_id}"),
            Self::Record {
                collection,
                id,
                record: Some(_),
            } => format!("{collection} record {id} saved"),
            Self::Record {
                collection,
                id,
                record: None,
            } => format!("{collection} record {id} deleted"),
            Self::Clear { collection } => format!("{collection} emptied"),
        }
    }
}

fn truncated(text: &str) -> String {
    const SHOWN: usize = 80;
    match text.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

impl State {
    /// A state nothing has written.
    pub const EMPTY: State = State {
        version: 0,
        scenarios: BTreeMap::new(),
        values: BTreeMap::new(),
        sequences: BTreeMap::new(),
        collections: BTreeMap::new(),
        value_bytes: 0,
    };

    /// The JSON text size of the values and the written collections' records, which
    /// [`MAX_STATE_BYTES`] bounds.
    pub fn bytes(&self) -> usize {
        self.value_bytes
            + self
                .collections
                .values()
                .map(Collection::bytes)
                .sum::<usize>()
    }

    /// The current state of a scenario.
    pub fn scenario(&self, name: &str) -> &str {
        self.scenarios.get(name).map_or(STARTED, String::as_str)
    }

    /// A collection as it reads now: written, or its seed.
    pub fn collection<'s>(&'s self, seeds: &'s Seeds, name: &str) -> Option<&'s Collection> {
        self.collections
            .get(name)
            .or_else(|| seeds.get(name).map(|seed| &seed.records))
    }

    /// [`State::bytes`] with the seeds of the collections not written yet: what the state
    /// holds as it reads now.
    pub fn bytes_with(&self, seeds: &Seeds) -> usize {
        let seeded: usize = seeds
            .iter()
            .filter(|(name, _)| !self.collections.contains_key(*name))
            .map(|(_, seed)| seed.records.bytes())
            .sum();
        self.bytes() + seeded
    }

    /// Records in all collections as they read now.
    pub fn record_count(&self, seeds: &Seeds) -> usize {
        let written: usize = self.collections.values().map(Collection::len).sum();
        let seeded: usize = seeds
            .iter()
            .filter(|(name, _)| !self.collections.contains_key(*name))
            .map(|(_, seed)| seed.records.len())
            .sum();
        written + seeded
    }

    /// Applies one write, as whoever keeps the state did.
    pub fn apply(&mut self, write: &StateWrite) {
        match write {
            StateWrite::Scenario { name, state } => {
                self.scenarios.insert(name.clone(), state.clone());
            }
            StateWrite::Value { key, value } => {
                let old = match value {
                    Some(value) => {
                        self.value_bytes += json_len(value);
                        self.values.insert(key.clone(), value.clone())
                    }
                    None => self.values.remove(key),
                };
                self.value_bytes -= old.as_ref().map_or(0, json_len);
            }
            StateWrite::Sequence { example, next } => {
                self.sequences.insert(*example, *next);
            }
            StateWrite::Collection { name, next_id } => {
                self.collections.entry(name.clone()).or_default().next_id = *next_id;
            }
            StateWrite::Record {
                collection,
                id,
                record,
            } => {
                let records = self.collections.entry(collection.clone()).or_default();
                match record {
                    Some(record) => records.put(id.clone(), Arc::clone(record)),
                    None => records.remove(id),
                }
            }
            StateWrite::Clear { collection } => {
                self.collections
                    .entry(collection.clone())
                    .or_default()
                    .clear();
            }
        }
    }
}

impl Collection {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records with their ids, oldest first.
    pub fn records(&self) -> impl Iterator<Item = (&str, &Arc<Value>)> {
        self.records.values().map(|(id, record)| (&**id, record))
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Value>> {
        let place = self.places.get(id)?;
        self.records.get(place).map(|(_, record)| record)
    }

    /// The JSON text size of the records.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Replaces the record with this id in its place, or adds it last.
    pub fn put(&mut self, id: String, record: Arc<Value>) {
        self.bytes += json_len(&record);
        let id: Arc<str> = id.into();
        let place = match self.places.get(&id) {
            Some(&place) => place,
            None => {
                let place = self.next_place;
                self.next_place += 1;
                self.places.insert(Arc::clone(&id), place);
                place
            }
        };
        if let Some((_, old)) = self.records.insert(place, (id, record)) {
            self.bytes -= json_len(&old);
        }
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(place) = self.places.remove(id)
            && let Some((_, record)) = self.records.remove(&place)
        {
            self.bytes -= json_len(&record);
        }
    }

    /// Removes every record.
    pub fn clear(&mut self) {
        self.records = imbl::OrdMap::new();
        self.places = imbl::HashMap::new();
        self.bytes = 0;
    }
}

/// The text form of a record id, as paths and the store hold it: a string as it is, an integer
/// in decimal; anything else is not an id.
pub fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(text)
            if !text.is_empty() && text.len() <= MAX_NAME_BYTES && !text.contains('\0') =>
        {
            Some(text.clone())
        }
        Value::Number(number) if number.is_i64() || number.is_u64() => Some(number.to_string()),
        _ => None,
    }
}

/// Checks a mock's collections (`settings.collections`): ids, sizes and the number of records.
pub fn check_collections(
    specs: &BTreeMap<String, CollectionSpec>,
) -> Result<(), Vec<ValidationError>> {
    let (_, errors) = seeds(specs);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The mock's collections as every state starts them, and what is wrong with them (the records
/// at fault are left out); errors name the field `collections` of the admin API's mock.
pub fn seeds(specs: &BTreeMap<String, CollectionSpec>) -> (Seeds, Vec<ValidationError>) {
    let mut errors = Vec::new();
    let mut seeds = Seeds::new();
    let mut total = 0usize;
    for (name, spec) in specs {
        let field = format!("collections.{name}");
        if name.is_empty() || name.len() > MAX_NAME_BYTES {
            errors.push(ValidationError::new(
                &field,
                format!("a collection name has 1 to {MAX_NAME_BYTES} bytes"),
            ));
        }
        if spec.id_field.is_empty() {
            errors.push(ValidationError::new(
                format!("{field}.id_field"),
                "name the member that holds each record's id",
            ));
        }
        let mut records = Collection::default();
        let mut integers = true;
        for (i, record) in spec.seed.iter().enumerate() {
            let at = format!("{field}.seed[{i}]");
            match seed_record(record, &spec.id_field) {
                Ok((id, integer)) if records.get(&id).is_none() => {
                    integers &= integer.is_some();
                    if let Some(integer) = integer {
                        records.next_id = records.next_id.max(integer.saturating_add(1));
                    }
                    records.put(id, Arc::new(record.clone()));
                }
                Ok((id, _)) => errors.push(ValidationError::new(
                    at,
                    format!("the id {id} is also the id of an earlier record"),
                )),
                Err(message) => errors.push(ValidationError::new(at, message)),
            }
        }
        total += records.len();
        records.next_id = records.next_id.max(1);
        seeds.insert(
            name.clone(),
            Seed {
                id_field: spec.id_field.clone(),
                ids: spec.ids.unwrap_or(if integers {
                    IdKind::Integer
                } else {
                    IdKind::Uuid
                }),
                records,
            },
        );
    }
    if total > MAX_RECORDS {
        errors.push(ValidationError::new(
            "collections",
            format!("the seeds hold {total} records; a state holds at most {MAX_RECORDS}"),
        ));
    }
    let bytes: usize = seeds.values().map(|seed| seed.records.bytes()).sum();
    if bytes > MAX_STATE_BYTES {
        errors.push(ValidationError::new(
            "collections",
            format!("the seeds hold {bytes} bytes; a state holds at most {MAX_STATE_BYTES}"),
        ));
    }
    (seeds, errors)
}

/// A seed record's id text and, when it is one, its integer.
fn seed_record(record: &Value, id_field: &str) -> Result<(String, Option<i64>), String> {
    check_record(record)?;
    let id = record
        .get(id_field)
        .ok_or_else(|| format!("the record has no `{id_field}`"))?;
    let text = id_text(id).ok_or_else(|| {
        format!("`{id_field}` must be a string of 1 to {MAX_NAME_BYTES} bytes or an integer")
    })?;
    Ok((text, id.as_i64()))
}

/// A record is a JSON object within [`MAX_RECORD_BYTES`].
pub fn check_record(record: &Value) -> Result<(), String> {
    if !record.is_object() {
        return Err("a record is a JSON object".to_owned());
    }
    if let Some(at) = crate::storable::nul_at(record) {
        return Err(format!("{at} {}", crate::storable::NUL_MESSAGE));
    }
    let size = record.to_string().len();
    if size > MAX_RECORD_BYTES {
        return Err(format!(
            "the record has {size} bytes; a record has at most {MAX_RECORD_BYTES}"
        ));
    }
    Ok(())
}

/// Checks a name given at request time (a key, a scenario state).
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(format!("a {what} has 1 to {MAX_NAME_BYTES} bytes"));
    }
    if name.contains('\0') {
        return Err(format!("a {what} {}", crate::storable::NUL_MESSAGE));
    }
    Ok(())
}

/// A whole state as the admin API shows and sets it: every scenario of the mock with its state,
/// the keys, and every collection's records (written, or its seed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateDocument {
    #[serde(default)]
    pub scenarios: BTreeMap<String, String>,
    #[serde(default)]
    pub values: BTreeMap<String, Value>,
    #[serde(default)]
    pub collections: BTreeMap<String, Vec<Value>>,
}

impl StateDocument {
    /// `state` as it reads now, with every scenario in `scenarios` (the names the mock's
    /// examples use) and every collection.
    pub fn of<'n>(
        state: &State,
        seeds: &Seeds,
        scenarios: impl IntoIterator<Item = &'n str>,
    ) -> Self {
        let mut names: BTreeMap<String, String> = scenarios
            .into_iter()
            .map(|name| (name.to_owned(), state.scenario(name).to_owned()))
            .collect();
        names.extend(state.scenarios.clone());
        let collection_names: BTreeSet<&String> =
            seeds.keys().chain(state.collections.keys()).collect();
        Self {
            scenarios: names,
            values: state.values.clone(),
            collections: collection_names
                .into_iter()
                .filter_map(|name| {
                    let records = state.collection(seeds, name)?;
                    Some((
                        name.clone(),
                        records.records().map(|(_, r)| (**r).clone()).collect(),
                    ))
                })
                .collect(),
        }
    }

    /// The writes that make an empty state this one, checked against the mock: its scenarios
    /// (`scenarios`, the names its examples use), its collections and the limits. Collections
    /// left out keep reading as their seed.
    pub fn writes(
        &self,
        seeds: &Seeds,
        scenarios: &BTreeSet<&str>,
    ) -> Result<Vec<StateWrite>, Vec<ValidationError>> {
        let mut errors = Vec::new();
        let mut writes = Vec::new();
        for (name, state) in &self.scenarios {
            let field = format!("scenarios.{name}");
            if !scenarios.contains(name.as_str()) {
                errors.push(ValidationError::new(
                    field,
                    "no example of this mock names this scenario",
                ));
            } else if let Err(message) = check_name("scenario state", state) {
                errors.push(ValidationError::new(field, message));
            } else if state != STARTED {
                writes.push(StateWrite::Scenario {
                    name: name.clone(),
                    state: state.clone(),
                });
            }
        }
        if self.values.len() > MAX_VALUES {
            errors.push(ValidationError::new(
                "values",
                format!("a state holds at most {MAX_VALUES} keys"),
            ));
        }
        for (key, value) in &self.values {
            let field = format!("values.{key}");
            if let Err(message) = check_name("key", key) {
                errors.push(ValidationError::new(field, message));
            } else if json_len(value) > MAX_VALUE_BYTES {
                errors.push(ValidationError::new(
                    field,
                    format!("a value has at most {MAX_VALUE_BYTES} bytes"),
                ));
            } else if crate::storable::nul_at(value).is_some() {
                errors.push(ValidationError::new(field, crate::storable::NUL_MESSAGE));
            } else {
                writes.push(StateWrite::Value {
                    key: key.clone(),
                    value: Some(value.clone()),
                });
            }
        }
        for (name, records) in &self.collections {
            let field = format!("collections.{name}");
            let Some(seed) = seeds.get(name) else {
                errors.push(ValidationError::new(
                    field,
                    "this mock has no such collection; define it in the mock's collections",
                ));
                continue;
            };
            let mut collection = Collection {
                next_id: seed.records.next_id,
                ..Collection::default()
            };
            for (i, record) in records.iter().enumerate() {
                match seed_record(record, &seed.id_field) {
                    Ok((id, _)) if collection.get(&id).is_some() => {
                        errors.push(ValidationError::new(
                            format!("{field}[{i}]"),
                            format!("the id {id} is also the id of an earlier record"),
                        ));
                    }
                    Ok((id, integer)) => {
                        if let Some(integer) = integer {
                            collection.next_id = collection.next_id.max(integer.saturating_add(1));
                        }
                        collection.put(id, Arc::new(record.clone()));
                    }
                    Err(message) => {
                        errors.push(ValidationError::new(format!("{field}[{i}]"), message));
                    }
                }
            }
            writes.push(StateWrite::Collection {
                name: name.clone(),
                next_id: collection.next_id,
            });
            writes.extend(collection.records().map(|(id, record)| StateWrite::Record {
                collection: name.clone(),
                id: id.to_owned(),
                record: Some(Arc::clone(record)),
            }));
        }
        let mut state = State::default();
        for write in &writes {
            state.apply(write);
        }
        if state.record_count(seeds) > MAX_RECORDS {
            errors.push(ValidationError::new(
                "collections",
                format!("a state holds at most {MAX_RECORDS} records"),
            ));
        }
        if state.bytes_with(seeds) > MAX_STATE_BYTES {
            errors.push(ValidationError::new(
                "collections",
                format!("a state holds at most {MAX_STATE_BYTES} bytes"),
            ));
        }
        if errors.is_empty() {
            Ok(writes)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(seed: Vec<Value>) -> BTreeMap<String, CollectionSpec> {
        BTreeMap::from([(
            "todos".to_owned(),
            CollectionSpec {
                id_field: "id".to_owned(),
                ids: None,
                seed,
            },
        )])
    }

    #[test]
    fn integer_seed_ids_make_integer_ids_from_one_more_than_the_largest() {
        let seeds = seeds_of(vec![json!({"id": 4}), json!({"id": 2})]);
        assert_eq!(seeds["todos"].ids, IdKind::Integer);
        assert_eq!(seeds["todos"].records.next_id, 5);
        let seeds = seeds_of(vec![json!({"id": "a"})]);
        assert_eq!(seeds["todos"].ids, IdKind::Uuid);
    }

    fn seeds_of(seed: Vec<Value>) -> Seeds {
        let (seeds, errors) = seeds(&spec(seed));
        assert!(errors.is_empty(), "{errors:?}");
        seeds
    }

    #[test]
    fn bad_seeds_are_named_by_position() {
        let errors = check_collections(&spec(vec![
            json!({"id": 1}),
            json!({"id": 1}),
            json!([1]),
            json!({"name": "x"}),
            json!({"id": 1.5}),
        ]))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "collections.todos.seed[1]",
                "collections.todos.seed[2]",
                "collections.todos.seed[3]",
                "collections.todos.seed[4]",
            ]
        );
    }

    #[test]
    fn an_unwritten_collection_reads_as_its_seed_and_a_written_one_as_itself() {
        let seeds = seeds_of(vec![json!({"id": 1})]);
        let mut state = State::default();
        assert_eq!(state.collection(&seeds, "todos").unwrap().len(), 1);
        state.apply(&StateWrite::Clear {
            collection: "todos".to_owned(),
        });
        assert!(state.collection(&seeds, "todos").unwrap().is_empty());
        assert_eq!(state.record_count(&seeds), 0);
    }
}
