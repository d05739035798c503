//! The keys page (`/keys`): the workspace's API keys with their prefix, scope, creation and last
//! use; a form to create one, whose key is shown on the answer to that form and never again; and
//! revoking, after a confirmation page.
//!
//! Creating goes through [`crate::api::keys::create`], the API's own function, so names are checked
//! the same way. The page that shows a new key is the answer to the POST itself rather than a
//! redirect: the key must not travel in a URL or a cookie, and the store keeps only its digest.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use lyrebird_store::{KeyId, Scope, Workspace};
use minijinja::context;
use minijinja::value::Serde;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::csrf::PostedForm;
use super::{Flash, PageError, WebSession, format, page, redirect_with};
use crate::AppState;
use crate::api::keys::{CreatedKey, KeyView};
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/keys", get(keys_page).post(create_key))
        .route("/keys/{id}/revoke", get(confirm_revoke).post(revoke_key))
}

/// The create form as sent.
#[derive(Debug, Deserialize)]
struct NewKeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
}

/// A key as the page lists it.
#[derive(Debug, Serialize)]
struct KeyRow {
    id: String,
    name: String,
    scope: Scope,
    prefix: String,
    created: String,
    last_used: Option<String>,
    revoked: Option<String>,
}

impl From<KeyView> for KeyRow {
    fn from(key: KeyView) -> Self {
        Self {
            id: key.id.to_string(),
            name: key.name,
            scope: key.scope,
            prefix: key.prefix,
            created: format::time(key.created_at),
            last_used: key.last_used_at.map(format::time),
            revoked: key.revoked_at.map(format::time),
        }
    }
}

/// What the form shows besides the list: the values sent and the errors beside their fields.
#[derive(Debug, Default, Serialize)]
struct FormState {
    name: String,
    scope: String,
    name_error: Option<String>,
    scope_error: Option<String>,
}

async fn keys_page(
    State(state): State<AppState>,
    session: WebSession,
) -> Result<Response, PageError> {
    render_keys(&state, &session, StatusCode::OK, FormState::default(), None).await
}

async fn create_key(
    State(state): State<AppState>,
    PostedForm { session, form }: PostedForm<NewKeyForm>,
) -> Result<Response, PageError> {
    let mut shown = FormState {
        name: form.name.clone(),
        scope: form.scope.clone(),
        ..FormState::default()
    };
    let Ok(scope) = Scope::try_from(form.scope.clone()) else {
        shown.scope_error = Some("Choose admin or mock.".to_owned());
        return render_keys(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            shown,
            None,
        )
        .await;
    };
    match crate::api::keys::create(&state, &session.workspace, &form.name, scope).await {
        Ok(created) => {
            render_keys(
                &state,
                &session,
                StatusCode::OK,
                FormState::default(),
                Some(created),
            )
            .await
        }
        Err(ApiError::Invalid { message, .. }) => {
            shown.name_error = Some(format::sentence(&message));
            render_keys(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                shown,
                None,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

async fn render_keys(
    state: &AppState,
    session: &WebSession,
    status: StatusCode,
    form: FormState,
    created: Option<CreatedKey>,
) -> Result<Response, PageError> {
    let keys: Vec<KeyRow> = state
        .store
        .list_keys(&session.workspace)
        .await?
        .into_iter()
        .map(|key| KeyRow::from(KeyView::from(key)))
        .collect();
    page(
        session,
        status,
        "keys.html",
        context! {
            nav => "keys",
            keys => Serde(keys),
            form => Serde(form),
            created => created.map(|created| context! {
                name => created.key.name,
                scope => created.key.scope.as_str(),
                api_key => created.api_key,
            }),
        },
    )
}

/// The workspace's key `id`, revoked or not; anything else is a 404 page.
async fn find_key(
    state: &AppState,
    workspace: &Workspace,
    id: &str,
) -> Result<(KeyId, KeyRow), PageError> {
    let id: KeyId = id.parse().map_err(|_| PageError::NotFound)?;
    let key = state
        .store
        .list_keys(workspace)
        .await?
        .into_iter()
        .find(|key| key.id == id)
        .ok_or(PageError::NotFound)?;
    Ok((id, KeyRow::from(KeyView::from(key))))
}

async fn confirm_revoke(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (_, key) = find_key(&state, &session.workspace, &id).await?;
    page(
        &session,
        StatusCode::OK,
        "key_revoke.html",
        context! { nav => "keys", key => Serde(key) },
    )
}

async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PostedForm { session, .. }: PostedForm<IgnoredAny>,
) -> Result<Response, PageError> {
    let (id, key) = find_key(&state, &session.workspace, &id).await?;
    state.store.revoke_key(&session.workspace, id).await?;
    Ok(redirect_with(
        "/keys",
        &[Flash::success(format!(
            "Key “{}” ({}…) is revoked: requests with it are refused from now on.",
            key.name, key.prefix
        ))],
    ))
}
