//! Accounts, their personal workspaces, and web sessions.
//!
//! Passwords are hashed with Argon2id on a blocking thread (hashing takes tens of milliseconds
//! on purpose, which would stall the async runtime), at most one per core at a time: each takes
//! about 19 MiB, and a burst of sign-ups or log-ins would otherwise run hundreds at once on
//! tokio's blocking threads. Session tokens, like API keys, are random and stored as SHA-256
//! digests.

use std::net::IpAddr;
use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sqlx::{FromRow, PgConnection};
use time::{Duration, OffsetDateTime};
use tokio::sync::Semaphore;

use crate::Store;
use crate::changes::Change;
use crate::error::{Result, StoreError};
use crate::ids::{AccountId, WorkspaceId};
use crate::keys::{ApiKey, NewKey, insert_key};
use crate::members::insert_member;
use crate::secret::{Secret, random_token};
use crate::workspace::{Actor, Caller, Credential, Role, Scope, Workspace};

/// How long a web session lasts after logging in.
pub const SESSION_LIFETIME: Duration = Duration::days(30);

/// The shortest password accepted at sign-up.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// An email address, trimmed and in lower case, so the same person cannot sign up twice by
/// changing letter case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let email = input.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or("an email address needs an @")?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err("an email address looks like name@example.com");
        }
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("an email address has no spaces and at most 254 characters");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password good enough to be hashed and stored.
#[derive(Debug, Clone)]
pub struct NewPassword(Secret);

impl NewPassword {
    pub fn parse(password: Secret) -> Result<Self, String> {
        if password.expose().chars().count() < MIN_PASSWORD_CHARS {
            return Err(format!(
                "a password has at least {MIN_PASSWORD_CHARS} characters"
            ));
        }
        Ok(Self(password))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Account {
    pub id: AccountId,
    pub email: String,
    pub created_at: OffsetDateTime,
    /// Whether the account is one of the server's operators (`lyrebird operator grant`).
    pub operator: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct WorkspaceDetails {
    pub id: WorkspaceId,
    pub name: String,
    /// Calls per month, its own or its plan's; `None` means the server's default.
    pub monthly_quota: Option<i64>,
    pub created_at: OffsetDateTime,
}

/// What a new account acts with first: the API's sign-up hands back a key, the web app's a
/// session opened from `origin` (a key nobody would see is not made).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstAccess {
    ApiKey,
    Session(SessionOrigin),
}

/// Where a session is opened from, as its account's session list shows it: the client's address
/// and its `User-Agent`, cut to [`MAX_USER_AGENT_CHARS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOrigin {
    pub address: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// The most of a `User-Agent` a session keeps.
pub const MAX_USER_AGENT_CHARS: usize = 300;

/// What sign-up creates: the account, its personal workspace, and its first access.
#[derive(Debug)]
pub struct SignUp {
    pub account: Account,
    pub workspace: WorkspaceDetails,
    pub access: Access,
}

/// The first access of a new account ([`FirstAccess`]).
#[derive(Debug)]
pub enum Access {
    /// An `admin` key named "First key"; `secret` is the only time the key is ever seen.
    ApiKey {
        key: ApiKey,
        secret: Secret,
    },
    Session(Session),
}

/// A web session that has just been opened. `token` goes into the cookie and nowhere else.
#[derive(Debug)]
pub struct Session {
    pub token: Secret,
    pub account: Account,
    pub workspace: WorkspaceDetails,
    pub expires_at: OffsetDateTime,
}

/// A PHC string of a password nobody has, verified when the email is unknown so that a failed
/// login takes as long whether or not the account exists.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9/8d6dIRKDbFKc/o8mSOYzrZ2oG5CgXH6o4JLfxSJcA";

impl Store {
    /// Creates the account, its personal workspace and its first access (an `admin` key or a
    /// session), all or nothing. An email that is taken, in any case, is
    /// [`StoreError::EmailTaken`].
    pub async fn sign_up(
        &self,
        email: &Email,
        password: NewPassword,
        first: FirstAccess,
    ) -> Result<SignUp> {
        let password_hash = hash_password(password).await?;
        let mut tx = self.begin().await?;
        let account: Account = sqlx::query_as(
            "INSERT INTO accounts (id, email, password_hash) VALUES ($1, $2, $3)
             RETURNING id, email, created_at, operator",
        )
        .bind(AccountId::generate())
        .bind(email.as_str())
        .bind(password_hash)
        .fetch_one(&mut *tx)
        .await?;
        let workspace: WorkspaceDetails = sqlx::query_as(
            "INSERT INTO workspaces (id, personal_of, name) VALUES ($1, $2, 'Personal')
             RETURNING id, name, coalesce(monthly_quota,
                 (SELECT p.monthly_quota FROM plans p WHERE p.id = plan_id)) AS monthly_quota,
                 created_at",
        )
        .bind(WorkspaceId::generate())
        .bind(account.id)
        .fetch_one(&mut *tx)
        .await?;
        insert_member(&mut tx, workspace.id, account.id, Role::Owner).await?;
        let access = match first {
            FirstAccess::ApiKey => {
                let first_key = NewKey {
                    name: "First key",
                    scope: Scope::Admin,
                    role: None,
                };
                let (key, secret) =
                    insert_key(&mut tx, workspace.id, account.id, Role::Owner, &first_key).await?;
                let change = Change::KeyCreated {
                    workspace: workspace.id,
                    key: key.id,
                };
                self.commit(tx, change).await?;
                Access::ApiKey { key, secret }
            }
            FirstAccess::Session(origin) => {
                let (token, expires_at) = insert_session(&mut tx, account.id, &origin).await?;
                tx.commit().await?;
                Access::Session(Session {
                    token,
                    account: account.clone(),
                    workspace: workspace.clone(),
                    expires_at,
                })
            }
        };
        Ok(SignUp {
            account,
            workspace,
            access,
        })
    }

    /// Checks the password and opens a session from `origin`; `None` when the email or password
    /// is wrong (the caller cannot tell which, on purpose).
    pub async fn log_in(
        &self,
        email: &Email,
        password: Secret,
        origin: &SessionOrigin,
    ) -> Result<Option<Session>> {
        let found: Option<(AccountId, String)> =
            sqlx::query_as("SELECT id, password_hash FROM accounts WHERE email = $1")
                .bind(email.as_str())
                .fetch_optional(self.pool())
                .await?;
        let (account_id, stored_hash) = match found {
            Some((id, hash)) => (Some(id), hash),
            None => (None, DECOY_HASH.to_owned()),
        };
        let verified = verify_password(password, stored_hash).await?;
        let Some(account_id) = account_id.filter(|_| verified) else {
            return Ok(None);
        };

        let mut tx = self.begin().await?;
        // Expired sessions are of no use; each login clears its account's.
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND expires_at <= now()")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        let (token, expires_at) = insert_session(&mut tx, account_id, origin).await?;
        tx.commit().await?;
        let account: Account =
            sqlx::query_as("SELECT id, email, created_at, operator FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_one(self.pool())
                .await?;
        let workspace = self.personal_workspace(account_id).await?;
        Ok(Some(Session {
            token,
            account,
            workspace,
            expires_at,
        }))
    }

    /// Ends a session; an unknown token is not an error (logging out twice is harmless).
    pub async fn log_out(&self, token: &Secret) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE digest = $1")
            .bind(token.digest())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The caller behind a session cookie, if the session exists and has not expired, in the
    /// workspace the session chose ([`Store::switch_workspace`]) while its account is a member
    /// there, and in the account's personal workspace otherwise.
    pub async fn authenticate_session(&self, token: &Secret) -> Result<Option<Caller>> {
        let found: Option<(AccountId, WorkspaceId, Role)> = sqlx::query_as(
            "SELECT s.account_id, m.workspace_id, m.role
             FROM sessions s
             JOIN LATERAL (
                 SELECT m.workspace_id, m.role FROM workspace_members m
                 JOIN workspaces w ON w.id = m.workspace_id
                 WHERE m.account_id = s.account_id
                   AND (m.workspace_id = s.workspace_id OR w.personal_of = s.account_id)
                 ORDER BY (m.workspace_id = s.workspace_id) IS TRUE DESC
                 LIMIT 1
             ) m ON true
             WHERE s.digest = $1 AND s.expires_at > now()",
        )
        .bind(token.digest())
        .fetch_optional(self.pool())
        .await?;
        Ok(found.map(|(account, workspace, role)| Caller {
            workspace: Workspace::granted(workspace, Actor::Account(account), account, role),
            credential: Credential::Session { account },
        }))
    }

    /// The account a session names (the web pages show its email).
    pub async fn account(&self, id: AccountId) -> Result<Account> {
        sqlx::query_as("SELECT id, email, created_at, operator FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn personal_workspace(&self, account: AccountId) -> Result<WorkspaceDetails> {
        Ok(sqlx::query_as(
            "SELECT w.id, w.name, coalesce(w.monthly_quota, p.monthly_quota) AS monthly_quota,
                    w.created_at
             FROM workspaces w LEFT JOIN plans p ON p.id = w.plan_id WHERE w.personal_of = $1",
        )
        .bind(account)
        .fetch_one(self.pool())
        .await?)
    }
}

pub(crate) async fn hash_password(password: NewPassword) -> Result<String> {
    let password = password.0;
    on_hashing_thread(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| StoreError::PasswordHash(e.to_string()))
    })
    .await?
}

/// Whether `password` is the one `stored_hash` (a PHC string) was made from.
pub(crate) async fn verify_password(password: Secret, stored_hash: String) -> Result<bool> {
    on_hashing_thread(move || {
        let hash =
            PasswordHash::new(&stored_hash).map_err(|e| StoreError::PasswordHash(e.to_string()))?;
        Ok(Argon2::default()
            .verify_password(password.expose().as_bytes(), &hash)
            .is_ok())
    })
    .await?
}

/// One permit per core for Argon2 work, process-wide.
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
});

/// Runs Argon2 work on a blocking thread once one of the [`HASHING`] permits is free.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let _permit = HASHING
        .acquire()
        .await
        .expect("the hashing semaphore is never closed");
    Ok(tokio::task::spawn_blocking(work).await?)
}

/// A new session of the account, opened from `origin`: its token (for the cookie, and nowhere
/// else) and its end.
async fn insert_session(
    conn: &mut PgConnection,
    account: AccountId,
    origin: &SessionOrigin,
) -> Result<(Secret, OffsetDateTime)> {
    let token = random_token("", 43);
    let expires_at = OffsetDateTime::now_utc() + SESSION_LIFETIME;
    let user_agent = origin
        .user_agent
        .as_deref()
        .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
    sqlx::query(
        "INSERT INTO sessions (digest, account_id, expires_at, address, user_agent)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.digest())
    .bind(account)
    .bind(expires_at)
    .bind(
        origin
            .address
            .map(|address| address.to_canonical().to_string()),
    )
    .bind(user_agent)
    .execute(conn)
    .await?;
    Ok((token, expires_at))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn no_more_hashing_runs_at_once_than_there_are_cores() {
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        let cores = std::thread::available_parallelism().unwrap().get();
        let tasks: Vec<_> = (0..cores * 8)
            .map(|_| {
                tokio::spawn(on_hashing_thread(|| {
                    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
                    MOST.fetch_max(now, Ordering::SeqCst);
                    // Long enough for unbounded work to overlap; nothing here is timed.
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    RUNNING.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let most = MOST.load(Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&most),
            "{most} at once on {cores} cores"
        );
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada@example.com");
    }

    #[test]
    fn emails_without_an_at_sign_or_with_spaces_are_refused() {
        assert!(Email::parse("ada.example.com").is_err());
        assert!(Email::parse("@example.com").is_err());
        assert!(Email::parse("ada lovelace@example.com").is_err());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(NewPassword::parse(Secret::new("123456789")).is_err());
        assert!(NewPassword::parse(Secret::new("1234567890")).is_ok());
    }

    #[test]
    fn the_decoy_hash_is_a_valid_phc_string() {
        assert!(PasswordHash::new(DECOY_HASH).is_ok());
    }
}
