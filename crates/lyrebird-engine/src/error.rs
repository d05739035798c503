//! Errors a user can cause by saving an example.

use serde::Serialize;

/// A problem in user-written source (a template or an expression), with its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}{}", position(*line, *column))]
pub struct SourceError {
    pub message: String,
    /// 1-based line and column, where the parser knows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

/// Why an example cannot be saved: the field (a dotted path such as `request.expression` or
/// `response.body`), what is wrong, and for templates and expressions the line and column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}{}", position(*line, *column))]
pub struct ValidationError {
    pub field: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }

    /// The error of a template or expression, placed at `field`.
    pub fn in_source(field: impl Into<String>, error: SourceError) -> Self {
        Self {
            field: field.into(),
            message: error.message,
            line: error.line,
            column: error.column,
        }
    }
}

fn position(line: Option<u32>, column: Option<u32>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
        (Some(line), None) => format!(" (line {line})"),
        _ => String::new(),
    }
}
