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

    /// Sets (or, without a value, deletes) `key` in this render's writes, within the limits of
    /// a state: its keys and its bytes as they would be with every write of the render.
    fn set(
        &self,
        render: &mut Render<'_, '_>,
        key: String,
        value: Option<&Value>,
    ) -> Result<(), Error> {
        let value = value
            .map(|value| serde_json::to_value(value).map_err(|e| invalid(e.to_string())))
            .transpose()?;
        if let Some(json) = &value {
            let size = state::json_len(json);
            if size > MAX_VALUE_BYTES {
                return Err(invalid(format!(
                    "state.set: the value has {size} bytes; a value has at most {MAX_VALUE_BYTES}"
                )));
            }
            if crate::storable::nul_at(json).is_some() || key.contains('\0') {
                return Err(invalid(format!(
                    "state.set: {}",
                    crate::storable::NUL_MESSAGE
                )));
            }
        }
        let effects = render.get_or_insert_extension(Effects::default());
        let before = match effects.values.get(&key) {
            Some(written) => written.as_ref(),
            None => self.state.values.get(&key),
        };
        let size =
            |value: Option<&serde_json::Value>| value.map_or(0, |v| state::json_len(v) as i64);
        effects.added_bytes += size(value.as_ref()) - size(before);
        effects.added_keys += i64::from(value.is_some()) - i64::from(before.is_some());
        effects.values.insert(key, value);
        let keys = self.state.values.len() as i64 + effects.added_keys;
        let bytes = self.state.bytes_with(&self.seeds) as i64 + effects.added_bytes;
        if keys > MAX_VALUES as i64 {
            return Err(invalid(format!(
                "state.set: the state would hold more than {MAX_VALUES} keys"
            )));
        }
        if bytes > MAX_STATE_BYTES as i64 {
            return Err(invalid(format!(
                "state.set: the state would hold more than {MAX_STATE_BYTES} bytes"
            )));
        }
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
