//! Why a file cannot be imported at all. Problems with single requests or examples are not errors:
//! they become [`crate::Warning`]s and the rest of the file is imported.

use crate::Kind;

/// A file that cannot be imported; the message is meant for the person who uploaded it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The bytes are neither JSON nor YAML (or are not UTF-8).
    #[error("the file is not valid JSON or YAML: {detail}")]
    NotJsonOrYaml { detail: String },
    /// The document parses but is another kind of file than the importer reads.
    #[error("expected {expected}, but the file looks like {found}")]
    WrongKind { expected: Kind, found: Kind },
    /// The right kind of file in a version this importer does not read.
    #[error("{kind} version {version} is not supported (supported: {supported})")]
    UnsupportedVersion {
        kind: Kind,
        version: String,
        supported: &'static str,
    },
    /// Folders, schemas or the document itself nest deeper than the importer follows.
    #[error("the file nests deeper than {limit} levels at {at}")]
    TooDeep { limit: usize, at: String },
    /// A part the importer needs is missing or has the wrong shape.
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
}

impl ImportError {
    pub(crate) fn invalid(at: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            at: at.into(),
            message: message.into(),
        }
    }
}
