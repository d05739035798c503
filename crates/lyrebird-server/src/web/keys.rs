//! The keys page (`/keys`): the workspace's API keys with their prefix, scope, creation and last
//! use; a form to create one, whose key is shown once, on the page the form redirects to; and
//! revoking, after a confirmation page.
//!
//! Creating goes through [`crate::api::keys::create`], the API's own function, so names are checked
//! the same way. The store keeps only a key's digest, so the new key reaches the page the form
//! redirects to sealed in a cookie only this session can open ([`super::reveal`]); reloading that
//! page shows the list, and makes no second key.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use lyrebird_store::{KeyId, Role, Scope, Workspace};
use minijinja::context;
use minijinja::value::Serde;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::csrf::PostedForm;
use super::reveal::{self, NewKey};
use super::{Flash, PageError, WebSession, format, page, redirect_with};
use crate::AppState;
use crate::api::keys::KeyView;
use crate::auth::cookies::is_https;
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
    /// For an admin key, the most it may do; empty for the member's own role.
    #[serde(default)]
    role: String,
}

/// A key as the page lists it.
#[derive(Debug, Serialize)]
struct KeyRow {
    id: String,
    name: String,
    scope: Scope,
    role: Option<Role>,
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
            role: key.role,
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
    role: String,
    name_error: Option<String>,
    scope_error: Option<String>,
    role_error: Option<String>,
}

async fn keys_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: WebSession,
) -> Result<Response, PageError> {
    let created = session.reveal.open(&headers);
    let mut page = render_keys(
        &state,
        &session,
        StatusCode::OK,
        FormState::default(),
        created,
    )
    .await?;
    if reveal::carried(&headers) {
        page.headers_mut()
            .append(header::SET_COOKIE, reveal::cleared());
    }
    Ok(page)
}

async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    PostedForm { session, form }: PostedForm<NewKeyForm>,
) -> Result<Response, PageError> {
    let mut shown = FormState {
        name: form.name.clone(),
        scope: form.scope.clone(),
        role: form.role.clone(),
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
    let role = match form.role.as_str() {
        "" => None,
        named => match named.parse::<Role>() {
            Ok(role) => Some(role),
            Err(error) => {
                shown.role_error = Some(format::sentence(&error.to_string()));
                return render_keys(
                    &state,
                    &session,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    shown,
                    None,
                )
                .await;
            }
        },
    };
    let new = lyrebird_store::NewKey {
        name: &form.name,
        scope,
        role,
    };
    match crate::api::keys::create(&state, &session.workspace, new).await {
        Ok(created) => {
            let note = crate::api::keys::note(&created.key);
            let new_key = NewKey {
                name: created.key.name,
                scope: created.key.scope.as_str().to_owned(),
                api_key: created.api_key,
            };
            let mut answer = Redirect::to("/keys").into_response();
            answer.headers_mut().append(
                header::SET_COOKIE,
                session.reveal.seal(&new_key, is_https(&headers)),
            );
            Ok((note, answer).into_response())
        }
        Err(ApiError::Invalid { field, message }) => {
            let error = Some(format::sentence(&message));
            if field == "role" {
                shown.role_error = error;
            } else {
                shown.name_error = error;
            }
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
    created: Option<NewKey>,
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
            // The ceilings a key of this member may have, strongest first.
            roles => Role::ALL
                .into_iter()
                .rev()
                .filter(|role| *role <= session.workspace.role())
                .map(Role::as_str)
                .collect::<Vec<_>>(),
            form => Serde(form),
            created => created.map(Serde),
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
    let revoked = state.store.revoke_key(&session.workspace, id).await?;
    let done = redirect_with(
        "/keys",
        &[Flash::success(format!(
            "Key “{}” ({}…) is revoked: requests with it are refused from now on.",
            key.name, key.prefix
        ))],
    );
    Ok((crate::api::keys::note(&revoked.into()), done).into_response())
}
