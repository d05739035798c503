//! Creating a mock by uploading a file (`POST /mocks/import`): a Postman collection with an
//! optional environment, an OpenAPI or Swagger description, or a HAR recording.
//!
//! The file goes through the same importers as `POST /api/v1/imports/...` and the mock is
//! created with all of its examples in one transaction, as there. The importer's warnings (what
//! was left out or changed, and where in the file) come along to the new mock's page as flash
//! messages; a file that cannot be imported comes back to the form with the reason.
//!
//! The CSRF token is the form's first field and is checked before the rest of the body is read,
//! so a forged upload is refused (403, the connection closed) without the server taking its file.

use axum::Router;
use axum::extract::multipart::Field;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lyrebird_engine::storable::NUL_MESSAGE;
use lyrebird_import::Warning;

use super::mocks::{ImportForm, NewMockForm, new_mock_page};
use super::{Flash, PageError, WebSession, csrf, redirect_with};
use crate::AppState;
use crate::api::imports::{Format, Upload, create_imported, run_importer};
use crate::api::mocks::{MAX_NAME_CHARS, bounded};
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        // The handler enforces the import limit (LYREBIRD_MAX_IMPORT_BYTES) itself.
        .route(
            "/mocks/import",
            post(import).layer(DefaultBodyLimit::disable()),
        )
}

/// The kinds of file the form offers (`kind`); native documents are imported through the API.
fn form_format(kind: &str) -> Option<Format> {
    match kind {
        "postman" => Some(Format::Postman),
        "openapi" => Some(Format::OpenApi),
        "har" => Some(Format::Har),
        _ => None,
    }
}

/// The form as sent, after its CSRF token.
#[derive(Debug, Default)]
struct UploadForm {
    kind: String,
    name: String,
    file: Vec<u8>,
    file_name: String,
    environment: Vec<u8>,
}

async fn import(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let session = match WebSession::from_request_parts(&mut parts, &state).await {
        Ok(session) => session,
        Err(to_login) => return to_login,
    };
    let request = Request::from_parts(parts, body);
    match read_and_import(&state, &session, request).await {
        Ok(response) => response,
        // Refused before the body was read to its end: the connection cannot carry another
        // request, and the client should stop sending this one.
        Err(Refused::Page(error @ (PageError::Csrf | PageError::BadRequest(_)))) => {
            ([(header::CONNECTION, "close")], error).into_response()
        }
        Err(Refused::Page(error)) => error.into_response(),
        Err(Refused::Form(import)) => new_mock_page(
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &NewMockForm::default(),
            None,
            &import,
        )
        .unwrap_or_else(IntoResponse::into_response),
    }
}

/// Why an upload made no mock: a page error (CSRF, an unreadable request, the database), or
/// a problem with what was sent, shown on the form with what was chosen.
enum Refused {
    Page(PageError),
    Form(ImportForm),
}

impl From<PageError> for Refused {
    fn from(error: PageError) -> Self {
        Refused::Page(error)
    }
}

async fn read_and_import(
    state: &AppState,
    session: &WebSession,
    request: Request,
) -> Result<Response, Refused> {
    let limit = state.settings.max_import_bytes;
    let form = read_form(state, session, request, limit).await?;
    let refuse = |message: String| {
        Refused::Form(ImportForm {
            kind: form.kind.clone(),
            name: form.name.clone(),
            error: Some(message),
        })
    };
    let format =
        form_format(&form.kind).ok_or_else(|| refuse("Choose the kind of file.".into()))?;
    if form.file.is_empty() {
        return Err(refuse("Choose a file to import.".to_owned()));
    }
    let name = match form.name.trim() {
        "" => None,
        name => Some(bounded("name", name, MAX_NAME_CHARS).map_err(|e| refuse(e.to_string()))?),
    };
    let upload = Upload {
        file: form.file.into(),
        environment: Some(form.environment)
            .filter(|bytes| !bytes.is_empty())
            .map(Into::into),
    };
    let imported = run_importer(session.workspace.id(), format, upload)
        .await
        .map_err(|error| match error {
            ApiError::Internal(error) => PageError::Internal(error).into(),
            error => refuse(format!("{} could not be imported: {error}", form.file_name)),
        })?;
    let (mock, counts, warnings) =
        create_imported(&state.store, &session.workspace, name, format, imported)
            .await
            .map_err(PageError::from)?;
    let mut flashes = vec![Flash::success(format!(
        "Imported {} as {}: {} example{} from {} request{}.",
        form.file_name,
        mock.name,
        counts.examples,
        if counts.examples == 1 { "" } else { "s" },
        counts.requests,
        if counts.requests == 1 { "" } else { "s" },
    ))];
    flashes.extend(warnings.iter().map(warning_flash));
    let note = format.audit_note(&mock, &counts, false);
    Ok((
        note,
        redirect_with(&format!("/mocks/{}", mock.id), &flashes),
    )
        .into_response())
}

/// `where in the file: what happened`; a warning about the whole file has no place.
fn warning_flash(warning: &Warning) -> Flash {
    if warning.location.is_empty() {
        return Flash::warning(warning.message.clone());
    }
    Flash::warning(format!(
        "{}: {}",
        warning.location.join(" / "),
        warning.message
    ))
}

/// Reads the form, its CSRF token first: the form puts it first and browsers send fields in the
/// form's order, so the token is checked before anything else of the body is read. A forged
/// upload costs its first few bytes, not the up to `LYREBIRD_MAX_IMPORT_BYTES` of its file.
async fn read_form(
    state: &AppState,
    session: &WebSession,
    request: Request,
    limit: usize,
) -> Result<UploadForm, Refused> {
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|rejection| PageError::BadRequest(rejection.body_text()))?;
    csrf::check(session, first_token(&mut multipart).await.as_deref())?;
    let mut form = UploadForm::default();
    let mut read = 0usize;
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name().unwrap_or_default() {
            "kind" => form.kind = text(field, &mut read, limit).await?,
            "import_name" => form.name = text(field, &mut read, limit).await?,
            "file" => {
                form.file_name = field.file_name().unwrap_or("The file").to_owned();
                form.file = bytes(field, &mut read, limit).await?;
            }
            "environment" => form.environment = bytes(field, &mut read, limit).await?,
            _ => {
                bytes(field, &mut read, limit).await?;
            }
        }
    }
    Ok(form)
}

/// The form's first field if it is the CSRF token, reading no more than a token can be long.
async fn first_token(multipart: &mut Multipart) -> Option<String> {
    const MAX_TOKEN_BYTES: usize = 128;
    let mut field = multipart.next_field().await.ok()??;
    if field.name() != Some(crate::auth::csrf::FIELD) {
        return None;
    }
    let mut token = Vec::new();
    while let Some(chunk) = field.chunk().await.ok()? {
        token.extend_from_slice(&chunk);
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
    }
    String::from_utf8(token).ok()
}

fn unreadable(error: axum::extract::multipart::MultipartError) -> Refused {
    PageError::BadRequest(format!("the upload cannot be read: {}", error.body_text())).into()
}

/// A part's bytes, counting towards the limit of the whole upload.
async fn bytes(mut field: Field<'_>, read: &mut usize, limit: usize) -> Result<Vec<u8>, Refused> {
    let mut data = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        *read += chunk.len();
        if *read > limit {
            return Err(PageError::BadRequest(format!(
                "The upload is larger than the limit of {limit} bytes (LYREBIRD_MAX_IMPORT_BYTES)."
            ))
            .into());
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

async fn text(field: Field<'_>, read: &mut usize, limit: usize) -> Result<String, Refused> {
    let data = bytes(field, read, limit).await?;
    let text = String::from_utf8(data)
        .map_err(|_| PageError::BadRequest("a form field is not UTF-8 text".to_owned()))?;
    if text.contains('\0') {
        return Err(PageError::BadRequest(format!("A form field {NUL_MESSAGE}.")).into());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_values_name_the_kinds_and_native_is_not_one() {
        assert_eq!(form_format("postman"), Some(Format::Postman));
        assert_eq!(form_format("openapi"), Some(Format::OpenApi));
        assert_eq!(form_format("har"), Some(Format::Har));
        assert_eq!(form_format("native"), None);
        assert_eq!(form_format("zip"), None);
    }
}
