//! The invitations page (`/invitations`, for admins): a form to invite an email with a role,
//! whose link is shown once on the page that answers it, with a Copy button; the pending
//! invitations, each with Revoke. And an invitation's own page (`/invite/{token}`), for
//! whoever has the link: what it is, and Accept for the invited account; sign-up (the email
//! filled in) or log-in for a visitor, each leading back to it.
//!
//! Inviting goes through [`crate::api::invitations::invite`], the API's own function.

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use lyrebird_store::{InvitationId, Role, Secret};
use minijinja::context;
use minijinja::value::Serde;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::csrf::PostedForm;
use super::{Flash, PageError, PagePath, WebSession, format, page, redirect_with, render};
use crate::AppState;
use crate::api::invitations::{
    CreatedInvitation, InvitationSummary, InvitationView, accept, invite, note,
};
use crate::audit::Note;
use crate::auth::client_addr::ClientAddr;
use crate::auth::cookies::session_token;
use crate::auth::csrf::anonymous_token;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/invitations",
            get(invitations_page).post(create_invitation),
        )
        .route("/invitations/{id}/revoke", post(revoke_invitation))
        .route(
            "/invite/{token}",
            get(invitation_page).post(accept_invitation),
        )
}

/// The invite form as sent.
#[derive(Debug, Deserialize)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// What the form shows: the values sent and the errors beside their fields.
#[derive(Debug, Default, Serialize)]
struct FormState {
    email: String,
    role: String,
    email_error: Option<String>,
    role_error: Option<String>,
}

/// A pending invitation as the page lists it.
#[derive(Debug, Serialize)]
struct InvitationRow {
    id: String,
    email: String,
    role: Role,
    invited_by: Option<String>,
    created: String,
    expires: String,
}

impl From<InvitationView> for InvitationRow {
    fn from(invitation: InvitationView) -> Self {
        Self {
            id: invitation.id.to_string(),
            email: invitation.email,
            role: invitation.role,
            invited_by: invitation.invited_by,
            created: format::time(invitation.created_at),
            expires: format::time(invitation.expires_at),
        }
    }
}

async fn invitations_page(
    State(state): State<AppState>,
    session: WebSession,
) -> Result<Response, PageError> {
    render_invitations(&state, &session, StatusCode::OK, FormState::default(), None).await
}

async fn create_invitation(
    State(state): State<AppState>,
    PostedForm { session, form }: PostedForm<InviteForm>,
) -> Result<Response, PageError> {
    let mut shown = FormState {
        email: form.email.clone(),
        role: form.role.clone(),
        ..FormState::default()
    };
    let role = match serde_json::from_value::<Role>(serde_json::Value::String(form.role)) {
        Ok(role) => role,
        Err(_) => {
            shown.role_error = Some("Choose a role.".to_owned());
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render_invitations(&state, &session, status, shown, None).await;
        }
    };
    match invite(&state, &session.workspace, &form.email, role).await {
        // Shown on this answer, not after a redirect: the link exists nowhere else.
        Ok(created) => {
            let status = StatusCode::CREATED;
            let note = note(&created);
            let form = FormState::default();
            let page = render_invitations(&state, &session, status, form, Some(created)).await?;
            Ok((note, page).into_response())
        }
        Err(ApiError::Invalid { message, .. }) => {
            shown.email_error = Some(format::sentence(&message));
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render_invitations(&state, &session, status, shown, None).await
        }
        Err(ApiError::StateConflict { message, .. } | ApiError::RoleRequired(message)) => {
            shown.role_error = Some(format::sentence(&message));
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render_invitations(&state, &session, status, shown, None).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn render_invitations(
    state: &AppState,
    session: &WebSession,
    status: StatusCode,
    form: FormState,
    created: Option<CreatedInvitation>,
) -> Result<Response, PageError> {
    let pending: Vec<InvitationRow> = state
        .store
        .invitations(&session.workspace)
        .await?
        .into_iter()
        .map(|invitation| InvitationRow::from(InvitationView::from(invitation)))
        .collect();
    let roles: Vec<&str> = Role::ALL
        .iter()
        .rev()
        .filter(|role| **role <= session.workspace.role())
        .map(|role| role.as_str())
        .collect();
    page(
        session,
        status,
        "invitations.html",
        context! {
            nav => "invitations",
            pending => Serde(pending),
            form => Serde(form),
            roles => roles,
            created => created.map(Serde),
        },
    )
}

async fn revoke_invitation(
    State(state): State<AppState>,
    PagePath(id): PagePath<InvitationId>,
    PostedForm { session, .. }: PostedForm<IgnoredAny>,
) -> Result<Response, PageError> {
    let email = state
        .store
        .invitations(&session.workspace)
        .await?
        .into_iter()
        .find(|invitation| invitation.id == id)
        .map(|invitation| invitation.email);
    state
        .store
        .revoke_invitation(&session.workspace, id)
        .await?;
    let email = email.unwrap_or_default();
    let text = format!("The invitation of {email} is revoked: its link no longer works.");
    let note = Note::target(email).with("invitation_id", id);
    Ok((note, redirect_with("/invitations", &[Flash::success(text)])).into_response())
}

/// What the invitation's page offers the person looking at it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Offer {
    /// Signed in with the invited email: Accept.
    Accept,
    /// Signed in with another email: log out, then in with the invited one.
    OtherAccount,
    /// Not signed in: sign up or log in.
    Visitor,
}

async fn invitation_page(
    State(state): State<AppState>,
    PagePath(token): PagePath<String>,
    mut parts: Parts,
) -> Result<Response, PageError> {
    let headers = parts.headers.clone();
    let invitation = InvitationSummary::from(state.store.invitation(&Secret::new(&token)).await?);
    let session = match session_token(&headers) {
        Some(_) => match WebSession::from_request_parts(&mut parts, &state).await {
            Ok(session) => Some(session),
            // No live session: a redirect to the log-in page, which this page has in it.
            Err(answer) if answer.status().is_redirection() => None,
            Err(answer) => return Ok(answer),
        },
        None => None,
    };
    let expires = format::time(invitation.expires_at);
    match session {
        Some(session) => {
            let offer = if session
                .account
                .email
                .eq_ignore_ascii_case(&invitation.email)
            {
                Offer::Accept
            } else {
                Offer::OtherAccount
            };
            page(
                &session,
                StatusCode::OK,
                "invite.html",
                context! { invitation => Serde(&invitation), offer => Serde(offer), token, expires },
            )
        }
        None => {
            let (csrf_token, set_cookie) = anonymous_token(&headers);
            let html = render(
                "invite.html",
                context! {
                    invitation => Serde(&invitation),
                    offer => Serde(Offer::Visitor),
                    token,
                    expires,
                    csrf_token,
                },
            )?;
            let mut response = Html(html).into_response();
            if let Some(cookie) = set_cookie {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
    }
}

async fn accept_invitation(
    State(state): State<AppState>,
    PagePath(token): PagePath<String>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    PostedForm { session, .. }: PostedForm<IgnoredAny>,
) -> Result<Response, PageError> {
    let token_of_session = session_token(&headers);
    let joined = accept(
        &state,
        &session.workspace,
        address,
        &token,
        token_of_session.as_ref(),
    )
    .await?;
    Ok(redirect_with(
        "/mocks",
        &[Flash::success(format!(
            "You joined “{}” as {}; you are working in it now.",
            joined.name, joined.role
        ))],
    ))
}
