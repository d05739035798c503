//! Importers: Postman collections and environments, OpenAPI / Swagger and HAR files become engine
//! examples; mocks export back to Postman and to the native format. Pure: files in, examples and
//! warnings out.
//!
//! - [`postman`]: Postman collections v2.0 / v2.1 (and the 2.0 drafts) with environment files.
//! - [`openapi`]: OpenAPI 3.0 / 3.1 and Swagger 2.0, JSON or YAML.
//! - [`har`]: HAR 1.2 browser recordings.
//! - [`contract`]: an OpenAPI document that examples and requests are checked against.
//! - [`learn`]: examples learned from exchanges with a real API (a recording, chosen calls).
//! - [`export`]: a mock as a Postman collection v2.1.
//! - [`NativeMock`]: the native document, whose export then import is exact.
//! - [`detect`]: which importer an uploaded file is for.
//!
//! Every importer returns an [`ImportedMock`]: what could be read, plus a [`Warning`] for each part
//! that could not, naming where it is in the file. Only a file that cannot be read at all is an
//! [`ImportError`].

pub mod contract;
mod document;
mod error;
pub mod export;
pub mod har;
mod http;
pub mod learn;
mod native;
mod nesting;
pub mod openapi;
pub mod postman;

use std::collections::BTreeMap;
use std::fmt;

use lyrebird_engine::{Example, MatchSettings};
use serde::Serialize;

pub use error::ImportError;
pub use export::{PostmanExport, export_postman};
pub use native::{NATIVE_VERSION, NativeMock, export_native, import_native};

/// The kinds of file the importers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    PostmanCollection,
    PostmanEnvironment,
    OpenApi,
    Swagger,
    Har,
    Native,
    Unknown,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PostmanCollection => "a Postman collection",
            Self::PostmanEnvironment => "a Postman environment",
            Self::OpenApi => "an OpenAPI description",
            Self::Swagger => "a Swagger 2.0 description",
            Self::Har => "a HAR recording",
            Self::Native => "a Lyrebird export",
            Self::Unknown => "an unknown kind of document",
        })
    }
}

/// Which importer a file is for, so an upload page can take any file; `Unknown` when it is not
/// JSON or YAML or none of the formats.
pub fn detect(bytes: &[u8]) -> Kind {
    document::parse(bytes).map_or(Kind::Unknown, |value| document::classify(&value))
}

/// A mock read from a file, ready to be saved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportedMock {
    pub name: String,
    /// In file order, which is also the order of Postman's tie-breaks.
    pub examples: Vec<Example>,
    pub environment: BTreeMap<String, String>,
    pub settings: MatchSettings,
    pub warnings: Vec<Warning>,
    pub counts: Counts,
}

impl ImportedMock {
    /// Leaves out, with a warning, each example the engine would not compile with the mock's own
    /// environment: most importers check examples before the environment is known, and a path
    /// within its limit as written may not be once the file's variables are put in.
    pub fn keep_compilable(&mut self) {
        let (env, warnings) = (&self.environment, &mut self.warnings);
        self.examples = std::mem::take(&mut self.examples)
            .into_iter()
            .filter_map(|example| {
                if !example.request.path.contains("{{") {
                    return Some(example);
                }
                let location = [example.name.clone()];
                accepted(example, &location, env, warnings)
            })
            .collect();
        self.counts.examples = self.examples.len();
    }
}

/// Something in the file that was left out or changed, and where it is: the folder, request and
/// example names for Postman, the method and path for OpenAPI and HAR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub location: Vec<String>,
    pub message: String,
}

impl Warning {
    pub(crate) fn new(location: &[String], message: impl Into<String>) -> Self {
        Self {
            location: location.to_vec(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.location.join(" / "), self.message)
        }
    }
}

/// The example if the engine accepts it; otherwise a warning naming what the engine refused, so
/// that a file with one odd request still imports and nothing unsaveable is handed on.
/// `env` is the mock's environment, which `{{variables}}` in paths resolve from.
pub(crate) fn accepted(
    example: Example,
    location: &[String],
    env: &BTreeMap<String, String>,
    warnings: &mut Vec<Warning>,
) -> Option<Example> {
    match lyrebird_engine::validate_example(&example, env) {
        Ok(()) => Some(example),
        Err(errors) => {
            let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
            warnings.push(Warning::new(
                location,
                format!("left out: {}", reasons.join("; ")),
            ));
            None
        }
    }
}

/// What the file held and what became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    /// Postman folders.
    pub folders: usize,
    /// Postman requests, OpenAPI operations or HAR entries.
    pub requests: usize,
    /// Examples imported, generated ones included.
    pub examples: usize,
    /// Examples made up from a schema because the operation had none.
    pub generated: usize,
    /// Requests or operations that produced no example.
    pub without_examples: usize,
    /// Repeated identical HAR entries that were imported once.
    pub duplicates: usize,
}
