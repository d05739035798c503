//! Resource examples: a collection served as REST (docs/state.md, "Collections").
//!
//! `GET /things` lists (paged, filtered, sorted), `POST /things` creates, `DELETE /things`
//! empties; `GET`, `PUT`, `PATCH` (a JSON merge patch) and `DELETE` of `/things/:id` read and
//! change one record. Errors are `{"error": {"code", "message"}}`: 404 `not_found`, 405
//! `method_not_allowed`, 409 `conflict`, 422 `invalid_record` or `invalid_query`, 507
//! `state_full`.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::model::IdKind;
use crate::render::Rendered;
use crate::request::Request;
use crate::state::{self, MAX_RECORDS, MAX_STATE_BYTES, Seed, Seeds, State, StateWrite};

/// Where a resource example answers: the collection, or one of its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) collection: String,
    /// The capture that holds the record id; `None` on the collection's own path.
    pub(crate) item: Option<&'static str>,
}

/// The capture name of a record id in a resource example's item path.
pub(crate) const RECORD_ID: &str = "record_id";

/// An answer and the writes it makes.
pub(crate) struct Served {
    pub(crate) rendered: Rendered,
    pub(crate) writes: Vec<StateWrite>,
}

impl Served {
    fn read(status: u16, body: &Value) -> Self {
        Self::with(status, body, Vec::new(), Vec::new())
    }

    fn with(
        status: u16,
        body: &Value,
        mut headers: Vec<(String, String)>,
        writes: Vec<StateWrite>,
    ) -> Self {
        let body = if status == 204 {
            Vec::new()
        } else {
            headers.insert(
                0,
                ("content-type".to_owned(), "application/json".to_owned()),
            );
            body.to_string().into_bytes()
        };
        Served {
            rendered: Rendered {
                status,
                headers,
                body,
                delay_ms: 0,
                latency: None,
                fault: None,
                proxy: false,
                callbacks: Vec::new(),
                error: None,
            },
            writes,
        }
    }

    fn error(status: u16, code: &str, message: String) -> Self {
        Self::read(
            status,
            &json!({"error": {"code": code, "message": message}}),
        )
    }
}

/// Answers `request` from the collection `target` names.
pub(crate) fn serve(
    target: &Target,
    captures: &[(String, String)],
    request: &Request,
    state: &State,
    seeds: &Seeds,
) -> Served {
    let name = target.collection.as_str();
    let Some(seed) = seeds.get(name) else {
        return Served::error(
            500,
            "unknown_collection",
            format!("this mock has no collection {name:?}: add it to the mock's settings"),
        );
    };
    let crud = Crud {
        name,
        seed,
        seeds,
        state,
        request,
    };
    let item = target.item.and_then(|capture| {
        captures
            .iter()
            .find(|(name, _)| name == capture)
            .map(|(_, id)| id.as_str())
    });
    match (request.method.as_str(), item) {
        ("GET" | "HEAD", None) => crud.list(),
        ("POST", None) => crud.create(),
        ("DELETE", None) => crud.clear(),
        ("GET" | "HEAD", Some(id)) => crud.read(id),
        ("PUT", Some(id)) => crud.replace(id),
        ("PATCH", Some(id)) => crud.patch(id),
        ("DELETE", Some(id)) => crud.delete(id),
        (method, item) => {
            let allow = if item.is_some() {
                "GET, HEAD, PUT, PATCH, DELETE"
            } else {
                "GET, HEAD, POST, DELETE"
            };
            let mut served = Served::error(
                405,
                "method_not_allowed",
                format!("{method} is not one of {allow} here"),
            );
            served
                .rendered
                .headers
                .push(("allow".to_owned(), allow.to_owned()));
            served
        }
    }
}

struct Crud<'a> {
    name: &'a str,
    seed: &'a Seed,
    seeds: &'a Seeds,
    state: &'a State,
    request: &'a Request,
}

impl Crud<'_> {
    fn records(&self) -> &state::Collection {
        self.state
            .collection(self.seeds, self.name)
            .unwrap_or(&self.seed.records)
    }

    fn not_found(&self, id: &str) -> Served {
        Served::error(
            404,
            "not_found",
            format!("{} has no record with id {id:?}", self.name),
        )
    }

    fn list(&self) -> Served {
        let mut query = Query::default();
        for (name, value) in self.request.query_params() {
            if let Err(message) = query.read(name, value) {
                return Served::error(422, "invalid_query", message);
            }
        }
        let mut found: Vec<&Arc<Value>> = self
            .records()
            .records()
            .map(|(_, record)| record)
            .filter(|record| {
                query.filters.iter().all(|(field, value)| {
                    record.get(field).and_then(as_text).as_deref() == Some(value)
                })
            })
            .collect();
        if let Some((field, descending)) = &query.sort {
            found.sort_by(|a, b| {
                let order = compare(a.get(field), b.get(field));
                if *descending { order.reverse() } else { order }
            });
        }
        let total = found.len();
        let page: Vec<&Value> = found
            .into_iter()
            .skip(query.offset)
            .take(query.limit.unwrap_or(usize::MAX))
            .map(|record| &**record)
            .collect();
        Served::with(
            200,
            &json!(page),
            vec![("x-total-count".to_owned(), total.to_string())],
            Vec::new(),
        )
    }

    fn read(&self, id: &str) -> Served {
        match self.records().get(id) {
            Some(record) => Served::read(200, record),
            None => self.not_found(id),
        }
    }

    /// The request body as a record, or the 422 that says why it is not one.
    fn body(&self) -> Result<Map<String, Value>, Box<Served>> {
        let invalid = |message: String| Box::new(Served::error(422, "invalid_record", message));
        match serde_json::from_slice::<Value>(&self.request.body) {
            Ok(Value::Object(record)) => Ok(record),
            Ok(_) => Err(invalid("the body must be a JSON object".to_owned())),
            Err(error) => Err(invalid(format!("the body is not JSON: {error}"))),
        }
    }

    /// The writes that save `record` under `id`, after the collection's first-write writes.
    fn save(
        &self,
        id: String,
        record: Map<String, Value>,
        next_id: i64,
    ) -> Result<(Vec<StateWrite>, Value), Box<Served>> {
        let record = Value::Object(record);
        if let Err(message) = state::check_record(&record) {
            return Err(Box::new(Served::error(422, "invalid_record", message)));
        }
        let replaced = self
            .records()
            .get(&id)
            .map_or(0, |old| state::json_len(old));
        let after = self.state.bytes_with(self.seeds) + state::json_len(&record) - replaced;
        if after > MAX_STATE_BYTES {
            return Err(Box::new(Served::error(
                507,
                "state_full",
                format!(
                    "the state would hold {after} bytes, more than {MAX_STATE_BYTES}: delete some records or reset the state"
                ),
            )));
        }
        let mut writes = self.first_writes();
        if writes.is_empty() && next_id != self.records().next_id {
            writes.push(StateWrite::Collection {
                name: self.name.to_owned(),
                next_id,
            });
        } else if let Some(StateWrite::Collection { next_id: first, .. }) = writes.first_mut() {
            *first = next_id;
        }
        writes.push(StateWrite::Record {
            collection: self.name.to_owned(),
            id,
            record: Some(Arc::new(record.clone())),
        });
        Ok((writes, record))
    }

    /// Copies the seed into the state at the collection's first write.
    fn first_writes(&self) -> Vec<StateWrite> {
        if self.state.collections.contains_key(self.name) {
            return Vec::new();
        }
        let seed = &self.seed.records;
        std::iter::once(StateWrite::Collection {
            name: self.name.to_owned(),
            next_id: seed.next_id,
        })
        .chain(seed.records().map(|(id, record)| StateWrite::Record {
            collection: self.name.to_owned(),
            id: id.to_owned(),
            record: Some(Arc::clone(record)),
        }))
        .collect()
    }

    fn create(&self) -> Served {
        let mut record = match self.body() {
            Ok(record) => record,
            Err(refused) => return *refused,
        };
        if self.state.record_count(self.seeds) >= MAX_RECORDS {
            return Served::error(
                507,
                "state_full",
                format!(
                    "this state holds {MAX_RECORDS} records, the most it may: delete some or reset the state"
                ),
            );
        }
        let records = self.records();
        let field = &self.seed.id_field;
        let (id, next_id) = match record.get(field) {
            Some(given) => {
                let Some(id) = state::id_text(given) else {
                    return Served::error(
                        422,
                        "invalid_record",
                        format!(
                            "`{field}` must be a string of 1 to {} bytes or an integer",
                            state::MAX_NAME_BYTES
                        ),
                    );
                };
                if records.get(&id).is_some() {
                    return Served::error(
                        409,
                        "conflict",
                        format!("{} already has a record with id {id:?}", self.name),
                    );
                }
                let next = given.as_i64().map_or(records.next_id, |n| {
                    records.next_id.max(n.saturating_add(1))
                });
                (id, next)
            }
            None => {
                let (id, next) = match self.seed.ids {
                    IdKind::Uuid => (
                        Value::from(uuid::Uuid::new_v4().to_string()),
                        records.next_id,
                    ),
                    IdKind::Integer => {
                        // The next integer no record has (a record may have been given one, or
                        // its digits as a string).
                        let mut id = Some(records.next_id);
                        while let Some(taken) = id.filter(|n| records.get(&n.to_string()).is_some())
                        {
                            id = taken.checked_add(1);
                        }
                        let Some(id) = id else {
                            return Served::error(
                                507,
                                "state_full",
                                format!("{} has no integer id left to give", self.name),
                            );
                        };
                        (Value::from(id), id.saturating_add(1))
                    }
                };
                let text = state::id_text(&id).unwrap_or_default();
                record.insert(field.clone(), id);
                (text, next)
            }
        };
        match self.save(id.clone(), record, next_id) {
            Ok((writes, record)) => {
                let location = location(&self.request.path, &id);
                Served::with(
                    201,
                    &record,
                    vec![("location".to_owned(), location)],
                    writes,
                )
            }
            Err(refused) => *refused,
        }
    }

    fn replace(&self, id: &str) -> Served {
        let Some(existing) = self.records().get(id) else {
            return self.not_found(id);
        };
        let mut record = match self.body() {
            Ok(record) => record,
            Err(refused) => return *refused,
        };
        let field = &self.seed.id_field;
        let current = existing.get(field).cloned().unwrap_or(Value::Null);
        if let Some(given) = record.get(field)
            && state::id_text(given).as_deref() != Some(id)
        {
            return Served::error(
                422,
                "invalid_record",
                format!(
                    "`{field}` is {given} but the path names record {id:?}: a record keeps its id"
                ),
            );
        }
        record.insert(field.clone(), current);
        self.saved(id, record)
    }

    fn patch(&self, id: &str) -> Served {
        let Some(existing) = self.records().get(id) else {
            return self.not_found(id);
        };
        let patch = match self.body() {
            Ok(patch) => patch,
            Err(refused) => return *refused,
        };
        let mut merged = (**existing).clone();
        merge(&mut merged, Value::Object(patch));
        let field = &self.seed.id_field;
        if merged.get(field) != existing.get(field) {
            return Served::error(
                422,
                "invalid_record",
                format!("the patch changes `{field}`: a record keeps its id"),
            );
        }
        match merged {
            Value::Object(record) => self.saved(id, record),
            _ => unreachable!("merging an object into an object gives an object"),
        }
    }

    /// Saves a changed record under its id: 200 with the record.
    fn saved(&self, id: &str, record: Map<String, Value>) -> Served {
        match self.save(id.to_owned(), record, self.records().next_id) {
            Ok((writes, record)) => Served::with(200, &record, Vec::new(), writes),
            Err(refused) => *refused,
        }
    }

    fn delete(&self, id: &str) -> Served {
        if self.records().get(id).is_none() {
            return self.not_found(id);
        }
        let mut writes = self.first_writes();
        writes.push(StateWrite::Record {
            collection: self.name.to_owned(),
            id: id.to_owned(),
            record: None,
        });
        Served::with(204, &Value::Null, Vec::new(), writes)
    }

    fn clear(&self) -> Served {
        let mut writes = self.first_writes();
        writes.truncate(1);
        writes.push(StateWrite::Clear {
            collection: self.name.to_owned(),
        });
        Served::with(204, &Value::Null, Vec::new(), writes)
    }
}

/// Where a created record is, relative to the collection's URL (RFC 9110 allows a relative
/// `Location`): the mock may be called on its own host or under `/m/<id>`, which only the client
/// knows, and a reference relative to the request resolves right in both.
fn location(collection_path: &str, id: &str) -> String {
    // A segment keeps RFC 3986's unreserved characters; every other byte is %-encoded.
    let id: String = id
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect();
    match collection_path.rsplit('/').next() {
        Some(last) if !last.is_empty() => format!("{last}/{id}"),
        _ => id,
    }
}

/// A list's query: paging (`limit`/`offset` or `page`/`per_page`), `sort` (`field` or `-field`)
/// and any other parameter as a filter on the field of its name.
#[derive(Default)]
struct Query {
    offset: usize,
    limit: Option<usize>,
    page: Option<usize>,
    sort: Option<(String, bool)>,
    filters: Vec<(String, String)>,
}

impl Query {
    fn read(&mut self, name: &str, value: &str) -> Result<(), String> {
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("`{name}` must be a whole number, not {value:?}"))
        };
        match name {
            "limit" | "per_page" => self.limit = Some(number()?),
            "offset" => self.offset = number()?,
            "page" => {
                let page = number()?;
                if page == 0 {
                    return Err("`page` counts from 1".to_owned());
                }
                self.page = Some(page);
            }
            "sort" => {
                let (field, descending) = match value.strip_prefix('-') {
                    Some(field) => (field, true),
                    None => (value, false),
                };
                self.sort = Some((field.to_owned(), descending));
            }
            _ => self.filters.push((name.to_owned(), value.to_owned())),
        }
        if let Some(page) = self.page {
            let per_page = *self.limit.get_or_insert(10);
            self.offset = (page - 1).saturating_mul(per_page);
        }
        Ok(())
    }
}

/// A field's value as a query parameter would write it.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        Value::Null => Some("null".to_owned()),
        _ => None,
    }
}

/// Numbers by value, strings by text, then everything else by its JSON; missing fields last.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => a
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&b.as_f64().unwrap_or(0.0)),
        (Some(Value::String(a)), Some(Value::String(b))) => a.cmp(b),
        (Some(a), Some(b)) => a.to_string().cmp(&b.to_string()),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// RFC 7396 JSON merge patch: members set to `null` are removed, objects merge, anything else
/// replaces.
fn merge(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (name, value) in patch {
        if value.is_null() {
            target.remove(&name);
        } else {
            merge(target.entry(name).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_resolves_against_the_collection_url_in_either_form() {
        assert_eq!(location("/api/todos", "7"), "todos/7");
        assert_eq!(location("/api/todos/", "7"), "7");
        assert_eq!(location("/todos", "a b"), "todos/a%20b");
    }

    #[test]
    fn a_merge_patch_removes_nulls_and_merges_objects() {
        let mut record = json!({"id": 1, "a": {"b": 1, "c": 2}, "d": 3});
        merge(
            &mut record,
            json!({"a": {"b": null, "e": 4}, "d": null, "f": [1]}),
        );
        assert_eq!(record, json!({"id": 1, "a": {"c": 2, "e": 4}, "f": [1]}));
    }
}
