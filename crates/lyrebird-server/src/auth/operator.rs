//! The server's operators: accounts flagged `operator` (`lyrebird operator grant <email>`), who
//! govern every workspace. Workspace roles ([`super::roles`]) say nothing about them: an
//! operator is checked here, by account.
//!
//! To everyone else the operator's routes do not exist: a caller who is not an operator (or
//! not signed in, or with a wrong credential) gets the same 404 as a path no route has, never a
//! 401 or 403, so the console's existence is not advertised.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lyrebird_store::{AccountId, Scope};

use super::{authenticate, check_csrf};
use crate::AppState;
use crate::error::ApiError;

/// An operator calling the operator API (`/api/v1/operator/...`), with a session (and its CSRF
/// token for changes) or an `admin` key of theirs.
#[derive(Debug)]
pub struct Operator {
    pub account: AccountId,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (caller, session) = match authenticate(&parts.headers, state).await {
            Ok(found) => found,
            Err(ApiError::InvalidCredentials(_)) => return Err(ApiError::NoRoute),
            Err(error) => return Err(error),
        };
        let account = caller.workspace.member();
        if caller.scope() == Scope::Mock || !state.store.is_operator(account).await? {
            return Err(ApiError::NoRoute);
        }
        check_csrf(parts, session.as_ref())?;
        Ok(Operator { account })
    }
}
