//! The email flows of an account: `POST /api/v1/account/email` changes the account's email
//! (confirmed by a link mailed to the new address when the server has SMTP, at once otherwise),
//! and `POST /api/v1/password-resets` mails a password-reset link. The links lead to pages
//! (`/confirm-email/{token}`, `/reset-password/{token}`, in [`crate::web::email`]).

use std::net::IpAddr;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use lyrebird_store::account_tokens::{EMAIL_CHANGE_LIFETIME, PASSWORD_RESET_LIFETIME};
use lyrebird_store::{Email, Secret, StoreError, Workspace};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::account::password_refused;
use crate::auth::Admin;
use crate::auth::throttle::{ClientAddr, LoginThrottle, throttled};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::mail::Mailed;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change_email))
        .routes(routes!(request_password_reset))
}

/// A new email for the account, with the account's password. No `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEmail {
    #[schema(example = "ada@example.org")]
    pub email: String,
    /// The account's password.
    #[schema(format = Password)]
    pub password: String,
}

/// What became of an email change.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailChange {
    /// The account's email now.
    pub email: String,
    /// The email the account moves to once the link mailed there is followed; `null` when the
    /// change is done.
    pub pending_email: Option<String>,
    /// Whether a confirmation link was mailed (`not_configured`: the change was made at once).
    pub mailed: Mailed,
    pub note: String,
}

/// Changes the account's email: with SMTP, once the link mailed to the new address is followed
/// (within a day); without, at once.
#[utoipa::path(
    post,
    path = "/api/v1/account/email",
    tag = "account",
    request_body = NewEmail,
    responses(
        (status = 200, description = "Changed at once (the server sends no mail)", body = EmailChange),
        (status = 202, description = "A confirmation link was mailed to the new address (`mailed`: `sent`), or could not be (`failed`)", body = EmailChange),
        (status = 403, description = "The password is not the account's (`wrong_password`)", body = ErrorBody),
        (status = 409, description = "Another account has this email (`email_taken`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Too many wrong passwords for this account or from this address; see Retry-After", body = ErrorBody),
    )
)]
async fn change_email(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientAddr(address): ClientAddr,
    admin: Admin,
    ApiJson(body): ApiJson<NewEmail>,
) -> Result<(StatusCode, Json<EmailChange>), ApiError> {
    let caller = (&throttle, address);
    let change =
        change_email_of(&state, caller, &admin.workspace, &body.email, body.password).await?;
    let status = match change.pending_email {
        Some(_) => StatusCode::ACCEPTED,
        None => StatusCode::OK,
    };
    Ok((status, Json(change)))
}

/// An email change as the API and the page make it.
pub(crate) async fn change_email_of(
    state: &AppState,
    (throttle, address): (&LoginThrottle, Option<IpAddr>),
    workspace: &Workspace,
    email: &str,
    password: String,
) -> Result<EmailChange, ApiError> {
    let email = Email::parse(email).map_err(|message| ApiError::invalid("email", message))?;
    let account = state.store.account(workspace.member()).await?;
    if account.email == email.as_str() {
        return Err(ApiError::invalid(
            "email",
            "this is the account's email already",
        ));
    }
    let current = Email::parse(&account.email).map_err(|m| ApiError::Internal(m.into()))?;
    let check = async {
        let right = state
            .store
            .check_password(account.id, Secret::new(password))
            .await?;
        Ok(right.then_some(()))
    };
    throttled(throttle, &current, address, check)
        .await
        .map_err(|refused| password_refused(refused, "password"))?;
    let mail = &state.settings.mail;
    if !mail.configured() {
        let account = state.store.change_email(account.id, &email).await?;
        return Ok(EmailChange {
            note: format!("The account's email is {} now.", account.email),
            email: account.email,
            pending_email: None,
            mailed: Mailed::NotConfigured,
        });
    }
    let token = state.store.issue_email_change(account.id, &email).await?;
    let link = mail.link(&format!("/confirm-email/{}", token.expose()));
    let body = format!(
        "Someone (you, we hope) asked to change the email of a Lyrebird account from {} to this \
         address. To confirm, open:\n\n{link}\n\nThe link works once, for {} hours. If you did not \
         ask for this, ignore this mail: nothing changes.\n",
        account.email,
        EMAIL_CHANGE_LIFETIME.whole_hours(),
    );
    let mailed = mail
        .send(email.as_str(), "Confirm your new email for Lyrebird", body)
        .await;
    let note = match mailed {
        Mailed::Sent => format!(
            "A link was mailed to {}: the email changes when it is followed.",
            email.as_str()
        ),
        _ => format!(
            "The confirmation link could not be mailed to {}; try again later.",
            email.as_str()
        ),
    };
    Ok(EmailChange {
        email: account.email,
        pending_email: Some(email.as_str().to_owned()),
        mailed,
        note,
    })
}

/// Whose password to reset.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
}

/// The answer to a password-reset request, the same whether or not the account exists.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetRequested {
    pub note: String,
}

/// Mails a password-reset link to the email, if an account has it and the server has SMTP. The
/// answer is the same either way, so it tells nobody which emails have accounts.
#[utoipa::path(
    post,
    path = "/api/v1/password-resets",
    tag = "account",
    security(()),
    request_body = PasswordResetRequest,
    responses(
        (status = 202, body = PasswordResetRequested),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Too many requests for this email or from this address; see Retry-After", body = ErrorBody),
    )
)]
async fn request_password_reset(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientAddr(address): ClientAddr,
    ApiJson(body): ApiJson<PasswordResetRequest>,
) -> Result<(StatusCode, Json<PasswordResetRequested>), ApiError> {
    let email = Email::parse(&body.email).map_err(|message| ApiError::invalid("email", message))?;
    let note = request_reset(&state, &throttle, address, email).await?;
    Ok((StatusCode::ACCEPTED, Json(PasswordResetRequested { note })))
}

/// A password-reset request as the API and the page take it: counted against the email's and
/// the address's limits, then mailed in the background (so that the answer takes as long
/// whether or not the account exists). The sentence to answer with.
pub(crate) async fn request_reset(
    state: &AppState,
    throttle: &LoginThrottle,
    address: Option<IpAddr>,
    email: Email,
) -> Result<String, ApiError> {
    throttle
        .password_reset(&email, address)
        .await?
        .map_err(|seconds| ApiError::TooManyAttempts {
            what: "password-reset requests",
            seconds,
        })?;
    if !state.settings.mail.configured() {
        return Ok(
            "This server does not send mail: ask its operator for a password-reset link."
                .to_owned(),
        );
    }
    let note = format!(
        "If {} has an account, a link to reset its password is on its way there.",
        email.as_str()
    );
    let state = state.clone();
    let to = email.as_str().to_owned();
    tokio::spawn(async move {
        let token = match state.store.issue_password_reset(&email).await {
            Ok(token) => token,
            Err(StoreError::NotFound) => return,
            Err(error) => {
                tracing::error!(error = %lyrebird_store::error::error_chain(&error), "a password-reset link could not be made");
                return;
            }
        };
        let mail = &state.settings.mail;
        let link = mail.link(&format!("/reset-password/{}", token.expose()));
        let body = format!(
            "Someone (you, we hope) asked to reset the password of the Lyrebird account {to}. To \
             choose a new one, open:\n\n{link}\n\nThe link works once, for {} hours, and logs the \
             account out everywhere. If you did not ask for this, ignore this mail.\n",
            PASSWORD_RESET_LIFETIME.whole_hours(),
        );
        mail.send(&to, "Reset your Lyrebird password", body).await;
    });
    Ok(note)
}
