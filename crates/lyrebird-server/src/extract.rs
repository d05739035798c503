//! Extractors that turn raw requests into checked values at the edge, for the API and the pages
//! alike: JSON bodies and query strings with errors that say where, and typed path ids.
//!
//! Text the database cannot store (NUL, see [`lyrebird_engine::storable`]) is refused here, in
//! JSON bodies and query strings, as a 422 naming the field, before any handler sees it.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri, header};
use lyrebird_engine::storable::{self, NUL_MESSAGE};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// A JSON body. Unlike axum's `Json`, its errors are ours: 400 with line and column for broken
/// JSON, 422 naming the field for a value of the wrong shape, 413 over the size limit.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| body_error(rejection, state))?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let media = content_type
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

fn body_error(rejection: BytesRejection, state: &AppState) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge {
            limit: state.settings.max_body_bytes,
        }
    } else {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// Parses JSON into `T`, telling a syntax error (400, with its position) from a value that does
/// not fit (422, with the path of the field) or a string, key or value at any depth, that holds
/// a NUL (422, with its path).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_nul_in_json(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => data_error(path, &inner),
            _ => malformed(&inner),
        }
    })?;
    deserializer.end().map_err(|error| malformed(&error))?;
    Ok(value)
}

/// A 422 naming the first string that holds a NUL. Only JSON that contains the escape `\u0000`
/// is walked; broken JSON is left to the typed parse, which says where it broke.
fn refuse_nul_in_json(bytes: &[u8]) -> Result<(), ApiError> {
    if !storable::json_may_hold_nul(bytes) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match storable::nul_at(&value) {
        Some(field) => Err(ApiError::invalid(field, NUL_MESSAGE)),
        None => Ok(()),
    }
}

/// A query string read into `T`, whose fields may be numbers, booleans and times: a parameter
/// that does not read as its type is a 422 naming it, as a body's field is; one whose name or
/// value holds a NUL is a 422 naming it too.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if let Some(name) = nul_in_query(&parts.uri) {
            return Err(ApiError::invalid(name, NUL_MESSAGE));
        }
        let query = parts.uri.query().unwrap_or_default();
        let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(pairs)
            .map(ApiQuery)
            .map_err(|error| {
                let message = error.inner().to_string();
                // A missing parameter is named itself, not by the path of its parent.
                let field = match message.strip_prefix("missing field `") {
                    Some(rest) => rest.trim_end_matches('`').to_owned(),
                    None => error.path().to_string(),
                };
                ApiError::invalid(field, message)
            })
    }
}

/// The name of the first query parameter whose name or value decodes to text holding a NUL. The
/// request line cannot carry a NUL byte, so only a query with `%00` is decoded to look.
fn nul_in_query(uri: &Uri) -> Option<String> {
    if !uri.query().is_some_and(|query| query.contains("%00")) {
        return None;
    }
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).ok()?;
    nul_in_pairs(&pairs)
}

/// The name of the first pair whose name or value holds a NUL, the NUL written as `\0`: for
/// query strings and the web app's forms.
pub fn nul_in_pairs(pairs: &[(String, String)]) -> Option<String> {
    pairs
        .iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.replace('\0', "\\0"))
}

fn malformed(error: &serde_json::Error) -> ApiError {
    ApiError::MalformedJson(format!(
        "malformed JSON at line {}, column {}: {}",
        error.line(),
        error.column(),
        strip_position(error)
    ))
}

/// Deserializes an already parsed JSON value, naming the field on failure.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        data_error(path, error.inner())
    })
}

/// A 422 for a value of the wrong shape. A missing field is reported at its own path rather than
/// at its parent's.
fn data_error(path: String, error: &serde_json::Error) -> ApiError {
    let message = strip_position(error);
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match (missing, path.as_str()) {
        (Some(name), ".") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, _) => path,
    };
    ApiError::invalid(field, message)
}

/// serde_json's message without its " at line 1 column 5" suffix.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.line() > 0 => text[..at].to_owned(),
        _ => text,
    }
}

/// Path parameters parsed into typed ids. Anything that does not parse names nothing that exists,
/// so it is a 404 like a missing resource.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn field(error: ApiError) -> String {
        match error {
            ApiError::Invalid { field, .. } => field,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn broken_json_is_a_400_with_line_and_column() {
        let error = parse_json::<Body>(b"{\"name\": \"a\",\n \"inner\": }").unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, ApiError::MalformedJson(_)));
        assert!(message.contains("line 2, column 11"), "{message}");
    }

    #[test]
    fn a_wrong_type_names_the_nested_field() {
        let error =
            parse_json::<Body>(br#"{"name": "a", "inner": {"count": "three"}}"#).unwrap_err();
        assert_eq!(field(error), "inner.count");
    }

    #[test]
    fn a_missing_field_is_named_itself() {
        assert_eq!(
            field(parse_json::<Body>(br#"{"inner": {"count": 1}}"#).unwrap_err()),
            "name"
        );
        assert_eq!(
            field(parse_json::<Body>(br#"{"name": "a", "inner": {}}"#).unwrap_err()),
            "inner.count"
        );
    }

    #[test]
    fn a_nul_anywhere_is_a_422_naming_its_path() {
        let error = parse_json::<Body>(br#"{"name": "a", "inner": {"count": 1, "x\u0000": 2}}"#)
            .unwrap_err();
        assert_eq!(field(error), "inner.x\\0");
        let escaped = parse_json::<Body>(br#"{"name": "\\u0000", "inner": {"count": 1}}"#);
        assert_eq!(escaped.unwrap().name, "\\u0000");
    }

    #[test]
    fn a_nul_in_the_query_names_the_parameter() {
        let uri: Uri = "/x?a=1&name=b%00c".parse().unwrap();
        assert_eq!(nul_in_query(&uri).as_deref(), Some("name"));
        let uri: Uri = "/x?a=%2500".parse().unwrap();
        assert_eq!(nul_in_query(&uri), None);
    }

    #[test]
    fn trailing_garbage_is_malformed() {
        let error = parse_json::<Inner>(br#"{"count": 1} x"#).unwrap_err();
        assert!(matches!(error, ApiError::MalformedJson(_)));
    }
}
