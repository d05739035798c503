//! Sign-up, `POST /api/v1/accounts`: an account, its personal workspace and a first admin key.
//! [`sign_up_from`] is sign-up itself, for the web app's form too.

use std::net::IpAddr;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lyrebird_store::{
    Access, Account, Email, FirstAccess, NewPassword, Secret, SignUp, WorkspaceDetails,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::throttle::{ClientAddr, LoginThrottle};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::{AppState, Settings};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_up))
}

/// Email and password, for signing up and for logging in. No `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At least 10 characters.
    #[schema(format = Password)]
    pub password: String,
}

impl Credentials {
    /// The email, normalised, and the password, wrapped so it cannot be logged.
    pub fn parse(self) -> Result<(Email, Secret), ApiError> {
        let email = Email::parse(&self.email).map_err(|m| ApiError::invalid("email", m))?;
        Ok((email, Secret::new(self.password)))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    #[schema(value_type = String, format = Uuid)]
    pub id: lyrebird_store::AccountId,
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Account> for AccountView {
    fn from(account: Account) -> Self {
        Self {
            id: account.id,
            email: account.email,
            created_at: account.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    #[schema(value_type = String, format = Uuid)]
    pub id: lyrebird_store::WorkspaceId,
    pub name: String,
    /// Mock calls allowed per calendar month (the server's default unless set for this
    /// workspace).
    pub monthly_quota: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl WorkspaceView {
    pub fn new(workspace: WorkspaceDetails, settings: &Settings) -> Self {
        Self {
            id: workspace.id,
            name: workspace.name,
            monthly_quota: workspace
                .monthly_quota
                .and_then(|quota| u64::try_from(quota).ok())
                .unwrap_or(settings.monthly_quota),
            created_at: workspace.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignedUp {
    pub account: AccountView,
    pub workspace: WorkspaceView,
    /// An API key with the admin scope. Shown only this once: keep it.
    #[schema(example = "lb_3kTq9...")]
    pub api_key: String,
}

/// Signs up.
#[utoipa::path(
    post,
    path = "/api/v1/accounts",
    tag = "accounts",
    security(()),
    request_body = Credentials,
    responses(
        (status = 201, description = "Account, workspace and first key created", body = SignedUp),
        (status = 409, description = "The email is taken", body = ErrorBody),
        (status = 422, description = "Invalid email or password too short", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address; see Retry-After", body = ErrorBody),
    )
)]
async fn sign_up(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientAddr(address): ClientAddr,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let (email, password) = body.parse()?;
    let password = NewPassword::parse(password).map_err(|m| ApiError::invalid("password", m))?;
    let signed_up = sign_up_from(
        &state,
        &throttle,
        address,
        &email,
        password,
        FirstAccess::ApiKey,
    )
    .await?;
    let Access::ApiKey { secret, .. } = signed_up.access else {
        return Err(ApiError::Internal("an API sign-up gave no key".into()));
    };
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            account: signed_up.account.into(),
            workspace: WorkspaceView::new(signed_up.workspace, &state.settings),
            api_key: secret.expose().to_owned(),
        }),
    )
        .into_response())
}

/// Sign-up as both doors do it, the API and the web app's form: within the sign-ups an address
/// may make, an account with its personal workspace and its `first` access. A taken email is
/// `409 email_taken`; past the address's sign-ups, `429 too_many_attempts`.
pub(crate) async fn sign_up_from(
    state: &AppState,
    throttle: &LoginThrottle,
    address: Option<IpAddr>,
    email: &Email,
    password: NewPassword,
    first: FirstAccess,
) -> Result<SignUp, ApiError> {
    throttle
        .sign_up(address)
        .await?
        .map_err(|seconds| ApiError::TooManyAttempts {
            what: "sign-ups from this address",
            seconds,
        })?;
    Ok(state.store.sign_up(email, password, first).await?)
}
