//! The mock's state in templates (docs/state.md, "State in templates"): `state.get`,
//! `state.set`, `state.incr`, `state.delete`, `state.scenario` and `collection(name)`.
//!
//! A template reads the state its call saw; what it sets is collected in the render's
//! [`Effects`] (so a later `state.get` in the same template sees it) and comes back as
//! [`StateWrite`]s for the runtime to keep.

use std::sync::Arc;

use minijinja::value::{Object, Serde, Value};
use minijinja::{Error, ErrorKind, State as Render};

use crate::state::{self, MAX_STATE_BYTES, MAX_VALUE_BYTES, MAX_VALUES, Seeds, State};
use crate::template::Effects;

/// The context name of the state.
pub(crate) const STATE_KEY: &str = "state";

/// The state a render reads, as the `state` object of the template context.
#[derive(Debug)]
pub(crate) struct StateObject {
    pub(crate) state: Arc<State>,
    pub(crate) seeds: Arc<Seeds>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

impl Object for StateObject {
    fn call_method(
        self: &Arc<Self>,
        render: &mut Render<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let key = || -> Result<String, Error> {
            let key = args
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("state.{method} takes a key (a string) first")))?;
            state::check_name("key", key).map_err(invalid)?;
            Ok(key.to_owned())
        };
        match method {
            "get" => {
                let current = self.current(render, &key()?);
                Ok(current.unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::from(()))))
            }
            "set" => {
                let value = args
                    .get(1)
                    .ok_or_else(|| invalid("state.set takes a key and a value"))?;
                self.set(render, key()?, Some(value))?;
                Ok(Value::from(""))
            }
            "delete" => {
                self.set(render, key()?, None)?;
                Ok(Value::from(""))
            }
            "incr" => {
                let key = key()?;
                let by = match args.get(1) {
                    Some(by) => i64::try_from(by.clone())
                        .map_err(|_| invalid("state.incr counts by a whole number"))?,
                    None => 1,
                };
                let current = match self.current(render, &key) {
                    None => 0,
                    Some(value) => i64::try_from(value).map_err(|_| {
                        invalid(format!("state.incr: {key} does not hold a whole number"))
                    })?,
                };
                let next = current
                    .checked_add(by)
                    .ok_or_else(|| invalid(format!("state.incr: {key} would overflow")))?;
                self.set(render, key, Some(&Value::from(next)))?;
                Ok(Value::from(next))
            }
            "scenario" => {
                let name = key()?;
                Ok(Value::from(self.state.scenario(&name)))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

impl StateObject {
    /// The value of `key` as this render sees it: its own writes first.
    fn current(&self, render: &mut Render<'_, '_>, key: &str) -> Option<Value> {
        if let Some(written) = render
            .get_extension_mut::<Effects>()
            .and_then(|effects| effects.values.get(key))
        {
            return written.as_ref().map(|value| Value::from(Serde(value)));
        }
        self.state
            .values
            .get(key)
            .map(|value| Value::from(Serde(value)))
    }

    fn set(
        &self,
        render: &mut Render<'_, '_>,
        key: String,
        value: Option<&Value>,
    ) -> Result<(), Error> {
        let value = value
            .map(|value| {
                let json = serde_json::to_value(value).map_err(|e| invalid(e.to_string()))?;
                let size = state::json_len(&json);
                if size > MAX_VALUE_BYTES {
                    return Err(invalid(format!(
                        "state.set: the value has {size} bytes; a value has at most {MAX_VALUE_BYTES}"
                    )));
                }
                if self.state.bytes_with(&self.seeds) + size > MAX_STATE_BYTES {
                    return Err(invalid(format!(
                        "state.set: the state would hold more than {MAX_STATE_BYTES} bytes"
                    )));
                }
                Ok(json)
            })
            .transpose()?;
        let effects = render.get_or_insert_extension(Effects::default());
        let known =
            |key: &String| self.state.values.contains_key(key) || effects.values.contains_key(key);
        if value.is_some() && !known(&key) {
            let added = effects
                .values
                .iter()
                .filter(|(key, value)| value.is_some() && !self.state.values.contains_key(*key))
                .count();
            if self.state.values.len() + added >= MAX_VALUES {
                return Err(invalid(format!(
                    "state.set: the state holds {MAX_VALUES} keys, the most it may"
                )));
            }
        }
        effects.values.insert(key, value);
        Ok(())
    }
}

/// `collection(name)`: the records of one of the mock's collections, as the call saw them.
pub(crate) fn collection(render: &Render<'_, '_>, name: &str) -> Result<Value, Error> {
    let object = render
        .lookup(STATE_KEY)
        .ok_or_else(|| invalid("this render has no state"))?;
    let object = object
        .downcast_object_ref::<StateObject>()
        .ok_or_else(|| invalid("`state` is not the mock's state here"))?;
    let records = object
        .state
        .collection(&object.seeds, name)
        .ok_or_else(|| invalid(format!("this mock has no collection {name:?}")))?;
    Ok(Value::from_iter(
        records
            .records()
            .map(|(_, record)| Value::from(Serde(&**record))),
    ))
}
