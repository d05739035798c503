//! Invitations into the caller's workspace: `GET/POST /api/v1/invitations`,
//! `DELETE /api/v1/invitations/{invitation}` (by id), and, for whoever has the link,
//! `GET /api/v1/invitations/{invitation}` and `POST /api/v1/invitations/{invitation}/accept`
//! (by token).
//!
//! Admins and owners invite; the link (`<public URL>/invite/<token>`) is in the answer, the
//! only time it is ever shown, and is also mailed when the server has SMTP. Only the account
//! with the invited email (in any case) can accept: a forwarded link is of no use to anyone
//! else.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use lyrebird_store::{
    Actor, AuditActor, Email, Invitation, InvitationDetails, InvitationId, Membership, Role,
    Secret, Workspace, WorkspaceId,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::Note;
use crate::auth::client_addr::ClientAddr;
use crate::auth::{Admin, session_token};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::mail::Mailed;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_invitations, create_invitation))
        .routes(routes!(show_invitation, revoke_invitation))
        .routes(routes!(accept_invitation))
}

/// A pending invitation, as the workspace's admins see it (never its link).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    #[schema(value_type = String, format = Uuid)]
    pub id: InvitationId,
    #[schema(example = "grace@example.com")]
    pub email: String,
    #[schema(value_type = String, example = "editor")]
    pub role: Role,
    /// The email of the member who invited; `null` once their account is gone.
    pub invited_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl From<Invitation> for InvitationView {
    fn from(invitation: Invitation) -> Self {
        Self {
            id: invitation.id,
            email: invitation.email,
            role: invitation.role,
            invited_by: invitation.invited_by,
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
        }
    }
}

/// Whom to invite, with what role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    #[schema(example = "grace@example.com")]
    pub email: String,
    /// `viewer`, `editor`, `admin`, or (by an owner, into a team workspace) `owner`.
    #[schema(value_type = String, example = "editor")]
    pub role: Role,
}

/// A new invitation and its link, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvitation {
    pub invitation: InvitationView,
    /// The link to hand to the invited person: it works once, until `expires_at`.
    #[schema(example = "https://lyrebird.example.com/invite/lbi_3kTq9...")]
    pub link: String,
    /// Whether the link was also mailed to the invited email.
    pub mailed: Mailed,
    /// What to do with the link, in a sentence.
    pub note: String,
}

/// An invitation as its link shows it to whoever has it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationSummary {
    #[schema(value_type = String, format = Uuid)]
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    /// Only the account with this email can accept.
    pub email: String,
    #[schema(value_type = String, example = "editor")]
    pub role: Role,
    pub invited_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl From<InvitationDetails> for InvitationSummary {
    fn from(details: InvitationDetails) -> Self {
        Self {
            workspace_id: details.workspace_id,
            workspace_name: details.workspace_name,
            email: details.email,
            role: details.role,
            invited_by: details.invited_by,
            expires_at: details.expires_at,
        }
    }
}

/// The workspace an accepted invitation joined.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinedWorkspace {
    #[schema(value_type = String, format = Uuid)]
    pub id: WorkspaceId,
    pub name: String,
    /// The role the account now has there.
    #[schema(value_type = String, example = "editor")]
    pub role: Role,
}

impl From<Membership> for JoinedWorkspace {
    fn from(membership: Membership) -> Self {
        Self {
            id: membership.id,
            name: membership.name,
            role: membership.role,
        }
    }
}

/// The workspace's pending invitations, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/invitations",
    tag = "invitations",
    responses(
        (status = 200, body = Vec<InvitationView>),
        (status = 403, description = "Not an admin of the workspace (`role_required`)", body = ErrorBody),
    )
)]
async fn list_invitations(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<Vec<InvitationView>>, ApiError> {
    let invitations = state.store.invitations(&admin.workspace).await?;
    Ok(Json(invitations.into_iter().map(Into::into).collect()))
}

/// Invites an email into the workspace with a role; the answer has the link, shown only now.
#[utoipa::path(
    post,
    path = "/api/v1/invitations",
    tag = "invitations",
    request_body = NewInvitation,
    responses(
        (status = 201, body = CreatedInvitation),
        (status = 403, description = "Not an admin, or an owner invited by a non-owner (`role_required`)", body = ErrorBody),
        (status = 409, description = "The email is a member already (`already_member`), or an owner invited into a personal workspace (`personal_workspace`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn create_invitation(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<NewInvitation>,
) -> Result<(StatusCode, Note, Json<CreatedInvitation>), ApiError> {
    let created = invite(&state, &admin.workspace, &body.email, body.role).await?;
    Ok((StatusCode::CREATED, note(&created), Json(created)))
}

/// The audit log's note of an invitation: whom, with what role, and whether it was mailed
/// (never the link).
pub(crate) fn note(created: &CreatedInvitation) -> Note {
    Note::target(&created.invitation.email)
        .with("invitation_id", created.invitation.id)
        .with("role", created.invitation.role)
        .with("mailed", created.mailed)
}

/// Invitation as the API and the invitations page make it: the link, mailed when the server
/// can, and what became of the mail.
pub(crate) async fn invite(
    state: &AppState,
    workspace: &Workspace,
    email: &str,
    role: Role,
) -> Result<CreatedInvitation, ApiError> {
    let email = Email::parse(email).map_err(|message| ApiError::invalid("email", message))?;
    let mail = &state.settings.mail;
    let (invitation, token) = state
        .store
        .invite(workspace, &email, role, mail.invitation_lifetime)
        .await?;
    let link = mail.link(&format!("/invite/{}", token.expose()));
    let membership = state.store.membership(workspace).await?;
    let inviter = invitation.invited_by.as_deref().unwrap_or("A member");
    let body = format!(
        "{inviter} invited you to the workspace \"{}\" on Lyrebird, as {role}.\n\n\
         Accept the invitation here (log in or sign up with this email, {}):\n\n{link}\n\n\
         The link works once, until {}. If you did not expect it, ignore this mail.\n",
        membership.name,
        email.as_str(),
        crate::web::format::time(invitation.expires_at),
    );
    let subject = format!("You are invited to \"{}\" on Lyrebird", membership.name);
    let mailed = mail.send(email.as_str(), &subject, body).await;
    Ok(CreatedInvitation {
        note: mailed.note(email.as_str()),
        invitation: invitation.into(),
        link,
        mailed,
    })
}

/// What an invitation's link is: the workspace, the invited email and role, who invited.
#[utoipa::path(
    get,
    path = "/api/v1/invitations/{invitation}",
    tag = "invitations",
    security(()),
    params(("invitation" = String, Path, description = "The invitation's token (the last part of its link)")),
    responses(
        (status = 200, body = InvitationSummary),
        (status = 404, description = "No invitation has this token", body = ErrorBody),
        (status = 410, description = "Used, revoked or expired (`invitation_used`, `invitation_revoked`, `invitation_expired`)", body = ErrorBody),
    )
)]
async fn show_invitation(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<InvitationSummary>, ApiError> {
    let details = state.store.invitation(&Secret::new(token)).await?;
    Ok(Json(details.into()))
}

/// Revokes an invitation of the workspace: its link stops working. Revoking one that was
/// revoked or has expired is no error.
#[utoipa::path(
    delete,
    path = "/api/v1/invitations/{invitation}",
    tag = "invitations",
    params(("invitation" = String, Path, format = Uuid, description = "The invitation's id")),
    responses(
        (status = 204, description = "Revoked (or was already, or had expired)"),
        (status = 403, description = "Not an admin of the workspace (`role_required`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 410, description = "Accepted already (`invitation_used`): remove the member instead", body = ErrorBody),
    )
)]
async fn revoke_invitation(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<InvitationId>,
) -> Result<(StatusCode, Note, ()), ApiError> {
    state.store.revoke_invitation(&admin.workspace, id).await?;
    let note = Note::details().with("invitation_id", id);
    Ok((StatusCode::NO_CONTENT, note, ()))
}

/// Accepts an invitation as the signed-in account (or the member of the key), whose email must
/// be the invited one: it joins the workspace with the invited role, and a session acts there
/// from its next request.
#[utoipa::path(
    post,
    path = "/api/v1/invitations/{invitation}/accept",
    tag = "invitations",
    params(("invitation" = String, Path, description = "The invitation's token (the last part of its link)")),
    responses(
        (status = 200, body = JoinedWorkspace),
        (status = 403, description = "The invitation is for another email (`invitation_email_mismatch`)", body = ErrorBody),
        (status = 404, description = "No invitation has this token", body = ErrorBody),
        (status = 410, description = "Used, revoked or expired (`invitation_used`, `invitation_revoked`, `invitation_expired`)", body = ErrorBody),
    )
)]
async fn accept_invitation(
    State(state): State<AppState>,
    admin: Admin,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<JoinedWorkspace>, ApiError> {
    let session = match admin.workspace.actor() {
        Actor::Account(_) => session_token(&headers),
        _ => None,
    };
    let joined = accept(&state, &admin.workspace, address, &token, session.as_ref()).await?;
    Ok(Json(joined.into()))
}

/// Accepts as the API and the invitation's page do, and records the new member's arrival as an
/// event of the workspace joined.
pub(crate) async fn accept(
    state: &AppState,
    by: &Workspace,
    address: Option<IpAddr>,
    token: &str,
    session: Option<&Secret>,
) -> Result<Membership, ApiError> {
    let joined = state
        .store
        .accept_invitation(&Secret::new(token), by.member(), session)
        .await?;
    let actor = AuditActor {
        workspace: joined.id,
        actor: Actor::Account(by.member()),
        ..AuditActor::of(by, address)
    };
    let email = state.store.account(by.member()).await?.email;
    let details = json!({"role": joined.role});
    let recorded =
        crate::audit::record(&state.store, actor, "invitation.accepted", &email, details);
    if let Err(error) = recorded.await {
        // As for every change: it stands, and the log says its event is missing.
        tracing::error!(%error, "an invitation was accepted but its audit event could not be recorded");
    }
    Ok(joined)
}
