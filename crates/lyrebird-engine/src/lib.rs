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
//! - [`xml`]: hostile-input-safe XML parsing, structural equality and XPath.

pub mod error;
pub mod expr;
pub mod jsonpath;
pub mod model;
pub mod request;
pub mod xml;

pub use error::{SourceError, ValidationError};
pub use model::*;
pub use request::Request;
