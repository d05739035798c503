//! What can go wrong in the store, in terms the API layer can answer with.

/// An error of a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist in the caller's workspace (or does not exist at all: the two are
    /// deliberately indistinguishable).
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `constraint` is its name in the
    /// migrations, which is what callers match on (never the message text).
    #[error("conflict on constraint {constraint}")]
    Conflict {
        constraint: String,
        #[source]
        source: sqlx::Error,
    },
    /// An account with this email exists already (emails are compared without case).
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    #[error("background task failed")]
    Task(#[from] tokio::task::JoinError),
    /// A block of the call log could not be written or read (docs/call-log.md, "Storage").
    #[error("call log block {block}: {reason}")]
    CallBlock { block: uuid::Uuid, reason: String },
    /// The write would make a mock larger than a mock may be ([`crate::MAX_EXAMPLES_PER_MOCK`],
    /// [`crate::MAX_EXAMPLE_BYTES_PER_MOCK`]); nothing was written.
    #[error(
        "a mock holds at most {} examples and {} MiB of them; this one would hold {examples} examples and {} MiB",
        crate::MAX_EXAMPLES_PER_MOCK,
        crate::MAX_EXAMPLE_BYTES_PER_MOCK >> 20,
        (bytes + (1 << 20) - 1) >> 20
    )]
    MockTooLarge { examples: i64, bytes: i64 },
    /// A new state key would give the mock more states than it may hold
    /// ([`crate::state::MAX_STATES_PER_MOCK`]); nothing was written.
    #[error(
        "a mock holds at most {} states (its default state and its state keys'); reset some",
        crate::state::MAX_STATES_PER_MOCK
    )]
    TooManyStates,
    /// A version or a draft of a mock could not be read back as it was kept.
    #[error("mock {mock}: {reason}")]
    Kept {
        mock: crate::ids::MockId,
        reason: String,
    },
    /// The draft changed since the revision an edit named; nothing was written.
    #[error("the draft is at revision {current}, not {expected}: read it again")]
    DraftChanged { expected: i64, current: i64 },
    /// The mock changed since its draft began (a publish without `force`); nothing was written.
    #[error(
        "the mock is at version {live} and the draft began from version {based_on}: publishing \
         it would undo what changed since (publish with force to do so anyway)"
    )]
    LiveChanged { based_on: i32, live: i32 },
    /// A draft was to be started for a mock that has one.
    #[error("the mock has a draft already: edit it, publish it or discard it")]
    DraftExists,
    /// Only an owner may do this (act on an owner, make one, delete the workspace).
    #[error("only an owner of the workspace may do this")]
    OwnerRequired,
    /// Only an admin or owner may do this to another member.
    #[error("only an admin or owner of the workspace may do this to another member")]
    AdminRequired,
    /// The change would leave the workspace without an owner; nothing was written.
    #[error("a workspace keeps at least one owner: make another member owner first")]
    LastOwner,
    /// A personal workspace has its account as its only owner, and goes only with it.
    #[error("a personal workspace keeps its account as its only owner and is deleted with it")]
    PersonalWorkspace,
    /// An invitation that can no longer be accepted (nor revoked): why.
    #[error("{0}")]
    InvitationGone(Gone),
    /// A password-reset or email-change link that can no longer be followed: why.
    #[error("{0}")]
    LinkGone(Gone),
    /// The invitation is for another email than the account accepting it has.
    #[error("this invitation is for {invited}: log in (or sign up) with that email to accept it")]
    WrongInvitee { invited: String },
    /// The invited email belongs to a member of the workspace already.
    #[error("{email} is a member of this workspace already")]
    AlreadyMember { email: String },
    /// A plan with this name exists already.
    #[error("a plan with this name exists already")]
    PlanExists,
    /// Workspaces are on the plan: it cannot be deleted until they are on another.
    #[error("{workspaces} workspace(s) are on this plan: put them on another plan first")]
    PlanInUse { workspaces: i64 },
    /// The workspace holds as many mocks as its plan allows; nothing was written.
    #[error(
        "this workspace's plan allows at most {max} mocks: delete one first, or ask the server's operator for a larger plan"
    )]
    MockLimit { max: i64 },
    /// A value could not be turned into the JSON of a column.
    #[error("JSON for {column} could not be encoded")]
    Json {
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Why a one-use link (an invitation, a password reset, an email change) no longer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    Expired,
    Revoked,
    Used,
}

impl Gone {
    pub fn as_str(self) -> &'static str {
        match self {
            Gone::Expired => "expired",
            Gone::Revoked => "revoked",
            Gone::Used => "used",
        }
    }
}

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Gone::Expired => "the link has expired: ask for a new one",
            Gone::Revoked => "the invitation was revoked",
            Gone::Used => "the link has been used already: each works once",
        })
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(ref db)
                if matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation) =>
            {
                let constraint = db.constraint().unwrap_or_default().to_owned();
                // The migrations name the constraints; only the store spells them.
                if constraint == "accounts_email_key" {
                    return StoreError::EmailTaken;
                }
                StoreError::Conflict {
                    constraint,
                    source: error,
                }
            }
            other => StoreError::Database(other),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// `error: cause: cause's cause`, for the log.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
