//! The matching and response engine of Lyrebird.
//!
//! Pure Rust with no I/O: given a mock's saved examples and an incoming request, it picks the
//! example to answer with, renders the response and can always say why.
//!
//! - [`model`]: the example format users save (plain serde types).
//! - [`request`]: the incoming request as plain data.
//! - [`error`]: what is wrong with an example a user tries to save.
//! - [`expr`]: Rhai expression conditions, compiled at save time and sandboxed.
//! - [`jsonpath`]: lenient JSON reading and panic-free JSONPath for the helpers.
//! - [`template`]: sandboxed MiniJinja response templates and Postman variable translation.
//! - `plain`: templates of only text and plain lookups, recognised when compiled and rendered
//!   without MiniJinja's VM, to the same bytes.
//! - [`render`]: a response compiled once and rendered per request, with its effects.
//! - [`xml`]: hostile-input-safe XML parsing, structural equality and XPath.
//! - [`compile`]: examples compiled once into the form serving uses; [`validate_example`].
//! - [`explain`]: why an example was chosen, and the near misses when none was.
//! - `shortlist`: the examples worth walking when explaining, found from their shapes.
//! - [`select`]: the compiled, indexed mock and the selection of an example (rules mode with its
//!   priority levels, postman mode as in Postman), `docs/matching.md` tells the rules.
//! - [`state`]: a mock's state (scenarios, sequences, keys, collections) as the engine reads it,
//!   and the writes an answer makes; `resource` serves a collection as REST.
//! - [`storable`]: NUL, the one character PostgreSQL cannot store, found and named.
//! - [`resolve_variables`]: `{{name}}` variables replaced from a map, for paths and imports,
//!   within a length; [`check_environment`] bounds a mock's environment.

mod body;
pub mod compile;
mod datetime;
pub mod error;
pub mod explain;
pub mod expr;
mod fake;
pub mod faults;
mod index;
pub mod jsonpath;
pub mod model;
mod path;
mod plain;
mod postman;
pub mod render;
pub mod request;
mod resource;
mod rules;
pub mod select;
mod shortlist;
pub mod state;
pub mod storable;
mod tally;
pub mod template;
mod template_state;
mod value;
pub mod xml;

pub use compile::validate_example;
pub use error::{SourceError, ValidationError};
pub use explain::{DecidedBy, Explanation, Failure, NearMiss, PathStep};
pub use model::*;
pub use path::{
    MAX_ENVIRONMENT_BYTES, MAX_PATH_BYTES, check_environment, literal_path, resolve_variables,
};
pub use request::Request;
pub use select::{CompiledMock, Matched, Outcome, Selection};
