//! One-use links of an account: a password reset, and the confirmation of a new email address.
//! Each carries a random token of which only the SHA-256 digest is stored, expires, and works
//! once; following a newer link of the same purpose is not needed for an older one to stop
//! working (a reset uses up every reset link of its account).

use time::{Duration, OffsetDateTime};

use crate::Store;
use crate::accounts::{Account, Email, NewPassword, hash_password};
use crate::error::{Gone, Result, StoreError};
use crate::ids::AccountId;
use crate::secret::{Secret, random_token};

/// How long a password-reset link works.
pub const PASSWORD_RESET_LIFETIME: Duration = Duration::hours(2);
/// How long a link confirming a new email address works.
pub const EMAIL_CHANGE_LIFETIME: Duration = Duration::days(1);
/// Random base62 characters of a token: about 238 bits.
const TOKEN_RANDOM_CHARS: usize = 40;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    PasswordReset,
    EmailChange,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::PasswordReset => "password_reset",
            Purpose::EmailChange => "email_change",
        }
    }
}

/// A link's row, as following it reads it.
#[derive(sqlx::FromRow)]
struct Link {
    account_id: AccountId,
    new_email: Option<String>,
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
}

/// Moves account `$1` to email `$2`, using up every link of the account still open (this one,
/// and a password reset mailed to the old address), and answers the account.
const MOVE_EMAIL: &str = "WITH used AS (
        UPDATE account_tokens SET used_at = now() WHERE account_id = $1 AND used_at IS NULL
    )
    UPDATE accounts SET email = $2 WHERE id = $1 RETURNING id, email, created_at, operator";

impl Store {
    /// A password-reset link's token for the account with `email`, valid for
    /// [`PASSWORD_RESET_LIFETIME`]; [`StoreError::NotFound`] when no account has that email.
    /// The server mails it; an operator hands it over when the server cannot mail.
    pub async fn issue_password_reset(&self, email: &Email) -> Result<Secret> {
        let account: AccountId = sqlx::query_scalar("SELECT id FROM accounts WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        self.issue(
            account,
            Purpose::PasswordReset,
            None,
            PASSWORD_RESET_LIFETIME,
        )
        .await
    }

    /// The account a password-reset link is for, while the link works.
    pub async fn password_reset(&self, token: &Secret) -> Result<Account> {
        let link = read(self.pool(), token, Purpose::PasswordReset, false).await?;
        self.account(link.account_id).await
    }

    /// The account an email-change link is for, and the email it moves to, while the link
    /// works.
    pub async fn email_change(&self, token: &Secret) -> Result<(Account, String)> {
        let link = read(self.pool(), token, Purpose::EmailChange, false).await?;
        let account = self.account(link.account_id).await?;
        Ok((account, link.new_email.unwrap_or_default()))
    }

    /// Follows a password-reset link: sets the new password, uses up every reset link of the
    /// account, and ends all its sessions.
    pub async fn reset_password(&self, token: &Secret, password: NewPassword) -> Result<Account> {
        let hash = hash_password(password).await?;
        let mut tx = self.begin().await?;
        let link = read(&mut *tx, token, Purpose::PasswordReset, true).await?;
        sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
            .bind(link.account_id)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE account_tokens SET used_at = now()
             WHERE account_id = $1 AND purpose = 'password_reset' AND used_at IS NULL",
        )
        .bind(link.account_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(link.account_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.account(link.account_id).await
    }

    /// Changes the account's email at once; an email another account has is
    /// [`StoreError::EmailTaken`].
    pub async fn change_email(&self, account: AccountId, email: &Email) -> Result<Account> {
        Ok(sqlx::query_as(MOVE_EMAIL)
            .bind(account)
            .bind(email.as_str())
            .fetch_one(self.pool())
            .await?)
    }

    /// A link's token that, followed within [`EMAIL_CHANGE_LIFETIME`], moves the account to
    /// `email`; an email another account has already is [`StoreError::EmailTaken`].
    pub async fn issue_email_change(&self, account: AccountId, email: &Email) -> Result<Secret> {
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts WHERE email = $1)")
                .bind(email.as_str())
                .fetch_one(self.pool())
                .await?;
        if taken {
            return Err(StoreError::EmailTaken);
        }
        self.issue(
            account,
            Purpose::EmailChange,
            Some(email),
            EMAIL_CHANGE_LIFETIME,
        )
        .await
    }

    /// Follows an email-change link: the account's email becomes the one the link was sent to
    /// ([`StoreError::EmailTaken`] if another account took it meanwhile).
    pub async fn confirm_email_change(&self, token: &Secret) -> Result<Account> {
        let mut tx = self.begin().await?;
        let link = read(&mut *tx, token, Purpose::EmailChange, true).await?;
        let account = sqlx::query_as(MOVE_EMAIL)
            .bind(link.account_id)
            .bind(link.new_email)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(account)
    }

    async fn issue(
        &self,
        account: AccountId,
        purpose: Purpose,
        new_email: Option<&Email>,
        lifetime: Duration,
    ) -> Result<Secret> {
        let token = random_token("", TOKEN_RANDOM_CHARS);
        sqlx::query(
            "INSERT INTO account_tokens (digest, account_id, purpose, new_email, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token.digest())
        .bind(account)
        .bind(purpose.as_str())
        .bind(new_email.map(Email::as_str))
        .bind(OffsetDateTime::now_utc() + lifetime)
        .execute(self.pool())
        .await?;
        Ok(token)
    }
}

/// The link of `token` for `purpose` (locked for the transaction when `lock`), while it works.
async fn read(
    conn: impl sqlx::PgExecutor<'_>,
    token: &Secret,
    purpose: Purpose,
    lock: bool,
) -> Result<Link> {
    let query = if lock {
        "SELECT account_id, new_email, expires_at, used_at FROM account_tokens
         WHERE digest = $1 AND purpose = $2 FOR UPDATE"
    } else {
        "SELECT account_id, new_email, expires_at, used_at FROM account_tokens
         WHERE digest = $1 AND purpose = $2"
    };
    let link: Link = sqlx::query_as(query)
        .bind(token.digest())
        .bind(purpose.as_str())
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    if link.used_at.is_some() {
        Err(StoreError::LinkGone(Gone::Used))
    } else if link.expires_at <= OffsetDateTime::now_utc() {
        Err(StoreError::LinkGone(Gone::Expired))
    } else {
        Ok(link)
    }
}
