//! A mock's state as the engine reads it and the changes an answer makes to it (docs/state.md).
//!
//! The engine stays pure: it reads one [`State`] (the mock's default state, or a state key's)
//! and returns the changes its answer makes as [`StateWrite`]s. Whoever keeps the state (the
//! runtime, in PostgreSQL) writes them, and applies them to its copy with [`State::apply`].
//!
//! A collection that no answer has written yet reads as its seed ([`Seeds`]); its first write
//! copies the seed into the state with it ([`StateWrite::Collection`] followed by the seed's
//! records), so a reset (dropping the state) brings the seed back.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
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
}

/// The records of a collection, in the order they were created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collection {
    /// The id the next created record gets when ids are integers.
    pub next_id: i64,
    records: Vec<(String, Arc<Value>)>,
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
            Self::Collection { name, .. } => format!("{name} written"),
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
    };

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
            StateWrite::Value { key, value } => match value {
                Some(value) => {
                    self.values.insert(key.clone(), value.clone());
                }
                None => {
                    self.values.remove(key);
                }
            },
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
                    .records = Vec::new();
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
    pub fn records(&self) -> impl ExactSizeIterator<Item = (&str, &Arc<Value>)> {
        self.records
            .iter()
            .map(|(id, record)| (id.as_str(), record))
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Value>> {
        self.records
            .iter()
            .find(|(other, _)| other == id)
            .map(|(_, record)| record)
    }

    /// Replaces the record with this id in its place, or adds it last.
    pub fn put(&mut self, id: String, record: Arc<Value>) {
        match self.records.iter_mut().find(|(other, _)| *other == id) {
            Some((_, slot)) => *slot = record,
            None => self.records.push((id, record)),
        }
    }

    pub fn remove(&mut self, id: &str) {
        self.records.retain(|(other, _)| other != id);
    }
}

/// The text form of a record id, as paths and the store hold it: a string as it is, an integer
/// in decimal; anything else is not an id.
pub fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(text) if !text.is_empty() && text.len() <= MAX_NAME_BYTES => {
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
/// at fault are left out); errors name `settings.collections`.
pub fn seeds(specs: &BTreeMap<String, CollectionSpec>) -> (Seeds, Vec<ValidationError>) {
    let mut errors = Vec::new();
    let mut seeds = Seeds::new();
    let mut total = 0usize;
    for (name, spec) in specs {
        let field = format!("settings.collections.{name}");
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
            "settings.collections",
            format!("the seeds hold {total} records; a state holds at most {MAX_RECORDS}"),
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
pub(crate) fn check_record(record: &Value) -> Result<(), String> {
    if !record.is_object() {
        return Err("a record is a JSON object".to_owned());
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
    Ok(())
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
                "settings.collections.todos.seed[1]",
                "settings.collections.todos.seed[2]",
                "settings.collections.todos.seed[3]",
                "settings.collections.todos.seed[4]",
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
