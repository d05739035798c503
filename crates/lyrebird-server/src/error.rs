//! The one error type of the HTTP API, and its JSON shape:
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`.
//!
//! Every handler returns `Result<_, ApiError>`; store errors convert on `?`, unique violations
//! by the name of their constraint. Internal errors are logged here, with their causes, and
//! answered without details. An error that tells the client when to try again carries
//! `Retry-After`, and one answered before the request's body or framing could be trusted
//! carries `Connection: close`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lyrebird_engine::ValidationError;
use lyrebird_import::contract::Violation;
use lyrebird_import::{ImportError, Kind};
use lyrebird_store::error::error_chain;
use lyrebird_store::{Gone, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON; the message says where it broke.
    #[error("{0}")]
    MalformedJson(String),
    /// 400: a request that cannot be read for another reason.
    #[error("{0}")]
    BadRequest(String),
    /// 400: more than one `Host` header. Which one names the mock or the site is ambiguous (a
    /// proxy in front may have read the other), so RFC 9112 (section 3.2) says to refuse it; the
    /// connection is closed too, as its framing is not to be trusted.
    #[error("the request has more than one Host header; send exactly one (RFC 9112, section 3.2)")]
    SeveralHosts,
    /// 401: no credentials, or ones that are wrong, expired or revoked.
    #[error("{0}")]
    InvalidCredentials(&'static str),
    /// 403: a `mock`-scoped key on the admin API.
    #[error("this key has the mock scope, which may only call private mocks; use an admin key")]
    AdminScopeRequired,
    /// 403: the caller's role in the workspace (or their key's ceiling) is below what the
    /// operation needs.
    #[error("{0}")]
    RoleRequired(String),
    /// 403: not for this caller, for a reason `code` names (`invitation_email_mismatch`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// 403: the account's password, asked again before changing the account (in the field
    /// named), is wrong.
    #[error("{0}: this is not the account's password")]
    WrongPassword(&'static str),
    /// 403: an operation only a signed-in person may do (deleting the account), asked with a
    /// key.
    #[error("{0}")]
    SessionRequired(&'static str),
    /// 403: a change in a workspace the server's operator suspended.
    #[error(
        "this workspace is suspended by the server's operator: its members can read and export, but change nothing until it is unsuspended"
    )]
    WorkspaceSuspended,
    /// 403: a change made with the session cookie without the session's `x-csrf-token`.
    #[error("send the session's CSRF token in the x-csrf-token header (the web app's pages do)")]
    CsrfTokenInvalid,
    /// 404: missing, or in another workspace (indistinguishable on purpose).
    #[error("not found in this workspace")]
    NotFound,
    /// 404: no route has this path.
    #[error("no such endpoint; the API is described at /api/v1/openapi.json")]
    NoRoute,
    /// 409: a unique value that is taken.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        field: &'static str,
        message: &'static str,
    },
    /// 409: not possible as things are (a draft that exists or whose mock changed, a mock
    /// without an upstream or not recording); the message says what to do.
    #[error("{message}")]
    StateConflict { code: &'static str, message: String },
    /// 410: a one-use link (an invitation, a password reset, an email change) that no longer
    /// works; `code` says why (`invitation_expired`, `link_used`...).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// 412: the draft is not at the revision the request named in `If-Match`.
    #[error("{0}")]
    DraftChanged(String),
    /// 413: the body is over the configured limit.
    #[error("the request body is larger than the limit of {limit} bytes (LYREBIRD_MAX_BODY_BYTES)")]
    PayloadTooLarge { limit: usize },
    /// 413: an uploaded file over the import limit.
    #[error(
        "the file is larger than the import limit of {limit} bytes (LYREBIRD_MAX_IMPORT_BYTES)"
    )]
    ImportTooLarge { limit: usize },
    /// 400 when the file is not JSON or YAML, else 422: a file that cannot be imported at all.
    #[error("{0}")]
    Import(#[from] ImportError),
    /// 415: a body that does not say it is JSON.
    #[error("send the body as JSON with Content-Type: application/json")]
    UnsupportedMediaType,
    /// 422: a field with a value that is not accepted.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 422: an example the engine refuses, with every problem it found.
    #[error("{}", .0.first().map(ToString::to_string).unwrap_or_default())]
    InvalidExample(Vec<ValidationError>),
    /// 422: the write would make the mock larger than a mock may be; the message gives both
    /// limits and the size it would have had.
    #[error("{0}")]
    MockTooLarge(String),
    /// 507: a mock's state cannot take more (its states, records or bytes).
    #[error("{0}")]
    StateFull(String),
    /// 429: too many of `what` ("failed attempts to log in") from this client; `seconds` is
    /// how long to wait.
    #[error("too many {what}; wait {seconds} seconds and try again")]
    TooManyAttempts { what: &'static str, seconds: u64 },
    /// 503: the process holds more memory than its limit (`crate::memory`); new requests wait.
    #[error("the server is short of memory: try again in a moment")]
    MemoryPressure,
    /// 429: the same expensive work of this workspace is already under way, or the server's
    /// room for it is full; the message says which.
    #[error("{0}")]
    Busy(&'static str),
    /// 422: a check of the call log over more calls than it reads.
    #[error("more than {limit} calls in the range: narrow it with `since` and `until`")]
    TooManyCalls { limit: usize },
    /// 503: the call log writer did not write the calls answered before a check in time.
    #[error(
        "the call log has not caught up with the calls answered before this request; try again"
    )]
    CallLogBehind,
    /// 503, from the readiness probes only: the server is shutting down and answers the
    /// requests it is sent until it stops, but a balancer should send them elsewhere.
    #[error("the server is shutting down: send requests to another replica")]
    ShuttingDown,
    /// 422: an example breaks the mock's OpenAPI contract, which refuses such examples;
    /// `place` is where the example is in the request (`[2]` in a list, or empty).
    #[error("the example breaks the mock's OpenAPI contract: {}", violations[0].message)]
    ContractViolation {
        place: String,
        violations: Vec<Violation>,
    },
    /// 503: the database does not answer.
    #[error("the database is not available")]
    Unavailable(#[source] StoreError),
    /// 500: logged with its causes, answered without them.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A 422 for fields the engine refused (other than an example's): the first one's field,
    /// with every problem in the message.
    pub fn invalid_fields(errors: &[ValidationError]) -> Self {
        let field = errors.first().map_or(".", |error| error.field.as_str());
        let messages: Vec<String> = errors
            .iter()
            .map(|error| match error.field == field {
                true => error.message.clone(),
                false => error.to_string(),
            })
            .collect();
        ApiError::invalid(field, messages.join("; "))
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::BadRequest(_) | ApiError::SeveralHosts => {
                StatusCode::BAD_REQUEST
            }
            ApiError::InvalidCredentials(_) => StatusCode::UNAUTHORIZED,
            ApiError::AdminScopeRequired
            | ApiError::CsrfTokenInvalid
            | ApiError::RoleRequired(_)
            | ApiError::Refused { .. }
            | ApiError::WrongPassword(_)
            | ApiError::SessionRequired(_)
            | ApiError::WorkspaceSuspended => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::StateConflict { .. } => StatusCode::CONFLICT,
            ApiError::DraftChanged(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::PayloadTooLarge { .. } | ApiError::ImportTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Import(ImportError::NotJsonOrYaml { .. }) => StatusCode::BAD_REQUEST,
            ApiError::Import(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid { .. }
            | ApiError::InvalidExample(_)
            | ApiError::MockTooLarge(_)
            | ApiError::ContractViolation { .. }
            | ApiError::TooManyCalls { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Busy(_) | ApiError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_)
            | ApiError::MemoryPressure
            | ApiError::CallLogBehind
            | ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StateFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::BadRequest(_) | ApiError::SeveralHosts => "bad_request",
            ApiError::InvalidCredentials(_) => "invalid_credentials",
            ApiError::AdminScopeRequired => "admin_scope_required",
            ApiError::RoleRequired(_) => "role_required",
            ApiError::WrongPassword(_) => "wrong_password",
            ApiError::SessionRequired(_) => "session_required",
            ApiError::WorkspaceSuspended => "workspace_suspended",
            ApiError::CsrfTokenInvalid => "csrf_token_invalid",
            ApiError::NotFound | ApiError::NoRoute => "not_found",
            ApiError::Conflict { code, .. }
            | ApiError::StateConflict { code, .. }
            | ApiError::Gone { code, .. }
            | ApiError::Refused { code, .. } => code,
            ApiError::DraftChanged(_) => "draft_changed",
            ApiError::PayloadTooLarge { .. } | ApiError::ImportTooLarge { .. } => {
                "payload_too_large"
            }
            ApiError::Import(error) => match error {
                ImportError::NotJsonOrYaml { .. } => "invalid_file",
                ImportError::WrongKind { .. } => "wrong_file_kind",
                ImportError::UnsupportedVersion { .. } => "unsupported_version",
                ImportError::TooDeep { .. } => "file_too_deep",
                ImportError::Invalid { .. } => "invalid_document",
            },
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Invalid { .. } => "invalid_field",
            ApiError::InvalidExample(_) => "invalid_example",
            ApiError::ContractViolation { .. } => "contract_violation",
            ApiError::MockTooLarge(_) => "mock_too_large",
            ApiError::StateFull(_) => "state_full",
            ApiError::Busy(_) => "busy",
            ApiError::TooManyAttempts { .. } => "too_many_attempts",
            ApiError::MemoryPressure => "memory_pressure",
            ApiError::Unavailable(_) => "database_unavailable",
            ApiError::TooManyCalls { .. } => "too_many_calls",
            ApiError::CallLogBehind => "call_log_behind",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            ApiError::Conflict { field, .. } => Some((*field).to_owned()),
            ApiError::Invalid { field, .. } => Some(field.clone()),
            ApiError::WrongPassword(field) => Some((*field).to_owned()),
            ApiError::InvalidExample(errors) => errors.first().map(|e| e.field.clone()),
            ApiError::ContractViolation { place, violations } => Some(match place.as_str() {
                "" => violations[0].at.clone(),
                place => format!("{place}.{}", violations[0].at),
            }),
            // The part of the upload at fault: only an environment file's kind is checked on
            // its own; everything else is about the `file` part.
            ApiError::Import(ImportError::WrongKind {
                expected: Kind::PostmanEnvironment,
                ..
            }) => Some("environment".to_owned()),
            ApiError::Import(_) => Some("file".to_owned()),
            _ => None,
        }
    }

    /// Prefixes the field of a validation error, for errors found inside a larger document
    /// (`[3].response.body` in a list of examples).
    pub fn within(self, prefix: &str) -> Self {
        let join = |field: &str| {
            if field.is_empty() || field == "." {
                prefix.to_owned()
            } else if field.starts_with('[') {
                format!("{prefix}{field}")
            } else {
                format!("{prefix}.{field}")
            }
        };
        match self {
            ApiError::Invalid { field, message } => ApiError::Invalid {
                field: join(&field),
                message,
            },
            ApiError::InvalidExample(errors) => ApiError::InvalidExample(
                errors
                    .into_iter()
                    .map(|e| ValidationError {
                        field: join(&e.field),
                        ..e
                    })
                    .collect(),
            ),
            other => other,
        }
    }
}

/// The JSON body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `not_found`, `invalid_field`, `email_taken`...
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// The request field at fault (`email`, `request.expression`, `[2].response.status`).
    pub field: Option<String>,
    /// For templates and expressions: where in the source, 1-based.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Every problem found, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub details: Vec<ValidationError>,
    /// For `contract_violation`: `{"at", "schema_path", "message"}` of each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub violations: Vec<Violation>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(_) | ApiError::Unavailable(_) => {
                tracing::error!(error = %error_chain(&self), "request failed");
            }
            _ => tracing::debug!(%status, error = %self, "request refused"),
        }
        let body = ErrorBody {
            error: self.detail(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.closes_connection() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl ApiError {
    /// The error as its JSON body says it (also a line of a streamed answer that failed).
    pub(crate) fn detail(&self) -> ErrorDetail {
        let (line, column, details) = match self {
            ApiError::InvalidExample(errors) => (
                errors.first().and_then(|e| e.line),
                errors.first().and_then(|e| e.column),
                errors.clone(),
            ),
            _ => (None, None, Vec::new()),
        };
        ErrorDetail {
            code: self.code(),
            message: self.to_string(),
            field: self.field(),
            line,
            column,
            details,
            violations: match self {
                ApiError::ContractViolation { violations, .. } => violations.clone(),
                _ => Vec::new(),
            },
        }
    }

    /// Seconds the client should wait before sending the request again, when that is known.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::TooManyAttempts { seconds, .. } => Some(*seconds),
            ApiError::Busy(_) | ApiError::MemoryPressure => Some(1),
            _ => None,
        }
    }

    /// Whether the connection cannot carry another request: a body refused before it was read
    /// to its end (the client should stop sending it), or framing that cannot be trusted.
    fn closes_connection(&self) -> bool {
        matches!(
            self,
            ApiError::SeveralHosts
                | ApiError::PayloadTooLarge { .. }
                | ApiError::ImportTooLarge { .. }
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::EmailTaken => ApiError::Conflict {
                code: "email_taken",
                field: "email",
                message: "an account with this email already exists",
            },
            StoreError::MockTooLarge { .. } => ApiError::MockTooLarge(error.to_string()),
            StoreError::TooManyStates => ApiError::StateFull(error.to_string()),
            StoreError::DraftChanged { .. } => ApiError::DraftChanged(error.to_string()),
            StoreError::DraftExists => ApiError::StateConflict {
                code: "draft_exists",
                message: error.to_string(),
            },
            StoreError::LiveChanged { .. } => ApiError::StateConflict {
                code: "live_changed",
                message: error.to_string(),
            },
            StoreError::OwnerRequired | StoreError::AdminRequired => {
                ApiError::RoleRequired(error.to_string())
            }
            StoreError::LastOwner => ApiError::StateConflict {
                code: "last_owner",
                message: error.to_string(),
            },
            StoreError::PersonalWorkspace => ApiError::StateConflict {
                code: "personal_workspace",
                message: error.to_string(),
            },
            StoreError::InvitationGone(gone) => ApiError::Gone {
                code: match gone {
                    Gone::Expired => "invitation_expired",
                    Gone::Revoked => "invitation_revoked",
                    Gone::Used => "invitation_used",
                },
                message: error.to_string(),
            },
            StoreError::LinkGone(gone) => ApiError::Gone {
                code: match gone {
                    Gone::Used => "link_used",
                    Gone::Expired | Gone::Revoked => "link_expired",
                },
                message: error.to_string(),
            },
            StoreError::WrongInvitee { .. } => ApiError::Refused {
                code: "invitation_email_mismatch",
                message: error.to_string(),
            },
            StoreError::AlreadyMember { .. } => ApiError::StateConflict {
                code: "already_member",
                message: error.to_string(),
            },
            StoreError::MockLimit { .. } => ApiError::StateConflict {
                code: "mock_limit_reached",
                message: error.to_string(),
            },
            StoreError::PlanInUse { .. } => ApiError::StateConflict {
                code: "plan_in_use",
                message: error.to_string(),
            },
            StoreError::PlanExists => ApiError::Conflict {
                code: "plan_exists",
                field: "name",
                message: "a plan with this name exists already",
            },
            StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
                ApiError::Unavailable(error)
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_found_inside_a_list_are_prefixed_with_their_place() {
        let error = ApiError::invalid("request.method", "bad").within("[2]");
        assert_eq!(error.field().as_deref(), Some("[2].request.method"));
        let root = ApiError::invalid(".", "expected an object").within("[0]");
        assert_eq!(root.field().as_deref(), Some("[0]"));
    }

    #[test]
    fn the_chain_of_causes_is_kept_for_the_log() {
        let io = std::io::Error::other("disk on fire");
        let error = ApiError::Internal(Box::new(io));
        assert_eq!(error_chain(&error), "internal error: disk on fire");
    }
}
