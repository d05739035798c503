//! Login throttling, for the log-in page and `POST /api/v1/sessions` alike, and for the password
//! asked again to change it or to delete the account ([`throttled`]).
//!
//! Failures are counted per email from one client address, and per client address, in
//! PostgreSQL, so every server on the database counts them together and a restart forgets
//! nothing (`lyrebird_store::throttle`). After [`FREE_FAILURES_PER_EMAIL`] failures
//! for an email from an address, or [`FREE_FAILURES_PER_ADDRESS`] from one address (higher: many
//! people can share an address), each further attempt from there must wait, 30 seconds at first,
//! doubling with every failure, up to 15 minutes. Someone guessing an email's password from
//! elsewhere therefore never locks its owner out; one address guessing many emails is held by
//! the per-address count. An attempt is counted as a failure before the password is checked, so
//! guesses sent in parallel are held like guesses in a row; a success takes its attempt back and
//! clears the email's count. The address is [`ClientAddr`]'s: the TCP peer, or behind a proxy
//! the operator trusts, the client it forwarded for (`--trusted-proxies`); behind a proxy that
//! is not trusted, the proxy, and then both counts hold for everyone behind it.

use std::net::IpAddr;
use std::time::Duration;

use lyrebird_store::throttle::Failures;
use lyrebird_store::{Email, Secret, Session, SessionOrigin, Store, StoreError};

/// What the throttled handlers take the address from.
pub use crate::auth::client_addr::ClientAddr;

pub const FREE_FAILURES_PER_EMAIL: u32 = 5;
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// Password-reset links an email may be sent before further requests must wait.
pub const FREE_RESETS_PER_EMAIL: u32 = 3;
const FIRST_WAIT: Duration = Duration::from_secs(30);
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);
/// A count with no failure for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

/// The throttle, on the store that keeps the counts (added as an extension by [`crate::routes`]).
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    store: Store,
}

/// What is counted: an email from one address, and an address.
fn email_subject(email: &Email, address: Option<IpAddr>) -> String {
    let from = address.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    format!("email:{} {from}", email.as_str())
}

fn address_subject(address: IpAddr) -> String {
    format!("address:{address}")
}

/// How long after the last of these failures another attempt may be made, given the number
/// that are free; `None` while they are.
fn wait_after(failures: &Failures, free: u32) -> Option<Duration> {
    let over = failures.count.checked_sub(free)?;
    Some(
        FIRST_WAIT
            .saturating_mul(2u32.saturating_pow(over))
            .min(LONGEST_WAIT),
    )
}

impl LoginThrottle {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Reserves an attempt: `Ok(Err(seconds to wait))` when this email or address must wait;
    /// otherwise the attempt is counted as a failure at once, under the subjects' row locks,
    /// until [`log_in`] takes it back.
    pub async fn attempt(
        &self,
        email: &Email,
        address: Option<IpAddr>,
    ) -> Result<Result<(), u64>, StoreError> {
        let mut subjects = vec![(email_subject(email, address), FREE_FAILURES_PER_EMAIL)];
        subjects.extend(address.map(|ip| (address_subject(ip), FREE_FAILURES_PER_ADDRESS)));
        self.reserve(&subjects).await
    }

    /// Counts a sign-up against its client address's limit, for good: signing up hashes a
    /// password as logging in does, and makes an account. `Ok(Err(seconds to wait))` when the
    /// address must wait.
    pub async fn sign_up(&self, address: Option<IpAddr>) -> Result<Result<(), u64>, StoreError> {
        let Some(ip) = address else {
            return Ok(Ok(()));
        };
        self.reserve(&[(address_subject(ip), FREE_FAILURES_PER_ADDRESS)])
            .await
    }

    /// Counts a request for a password-reset link against the email's limit and the client
    /// address's, for good (each may mail someone). `Ok(Err(seconds to wait))` when either
    /// must wait.
    pub async fn password_reset(
        &self,
        email: &Email,
        address: Option<IpAddr>,
    ) -> Result<Result<(), u64>, StoreError> {
        let mut subjects = vec![(format!("reset:{}", email.as_str()), FREE_RESETS_PER_EMAIL)];
        subjects.extend(address.map(|ip| (format!("reset-from:{ip}"), FREE_FAILURES_PER_ADDRESS)));
        self.reserve(&subjects).await
    }

    async fn reserve(&self, subjects: &[(String, u32)]) -> Result<Result<(), u64>, StoreError> {
        let names: Vec<String> = subjects.iter().map(|(name, _)| name.clone()).collect();
        let forget = time::Duration::try_from(FORGET_AFTER).unwrap_or(time::Duration::HOUR);
        self.store
            .count_attempt(&names, forget, |failures| {
                let wait = failures
                    .iter()
                    .zip(subjects)
                    .filter_map(|(failures, (_, free))| {
                        let wait = time::Duration::try_from(wait_after(failures, *free)?).ok()?;
                        Some(wait - failures.since_last)
                    })
                    .filter(|wait| wait.is_positive())
                    .max()?;
                // Rounded up: "wait 0 seconds" would invite an attempt that is still refused.
                Some(wait.whole_seconds().unsigned_abs() + 1)
            })
            .await
    }

    /// Takes back an attempt that did not fail (the password was right, or the database did not
    /// answer); a right password also clears the email's count.
    async fn take_back(
        &self,
        email: &Email,
        address: Option<IpAddr>,
        right_password: bool,
    ) -> Result<(), StoreError> {
        let email = email_subject(email, address);
        let mut subjects: Vec<String> = address.map(address_subject).into_iter().collect();
        let clear = if right_password {
            vec![email]
        } else {
            subjects.push(email);
            Vec::new()
        };
        self.store.take_back_attempt(&subjects, &clear).await
    }
}

/// Why a login attempt got no session, or a password check failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginRefused {
    #[error("wrong email or password")]
    WrongCredentials,
    /// Too many failures; the seconds to wait.
    #[error("too many failed attempts; wait {0} seconds")]
    Throttled(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Logs in from `origin` unless the email or its address must wait, counting the outcome.
pub async fn log_in(
    store: &Store,
    throttle: &LoginThrottle,
    email: &Email,
    password: Secret,
    origin: &SessionOrigin,
) -> Result<Session, LoginRefused> {
    throttled(
        throttle,
        email,
        origin.address,
        store.log_in(email, password, origin),
    )
    .await
}

/// Runs `check`, a check of `email`'s password that gives `None` when the password is wrong
/// (logging in, or confirming a change to the account), as one attempt of the throttle: refused
/// while the email or address must wait, and counted as a failure unless it succeeds. A
/// signed-in person guessing their own password is held like anyone guessing it at the log-in
/// form.
pub async fn throttled<T>(
    throttle: &LoginThrottle,
    email: &Email,
    address: Option<IpAddr>,
    check: impl Future<Output = Result<Option<T>, StoreError>>,
) -> Result<T, LoginRefused> {
    throttle
        .attempt(email, address)
        .await?
        .map_err(LoginRefused::Throttled)?;
    match check.await {
        Ok(Some(done)) => {
            // It is done: a count left standing must not fail it.
            if let Err(error) = throttle.take_back(email, address, true).await {
                tracing::warn!(%error, "a right password's attempt was not taken back");
            }
            Ok(done)
        }
        Ok(None) => Err(LoginRefused::WrongCredentials),
        Err(error) => {
            // Best effort: the database that failed the check may fail this too.
            let _ = throttle.take_back(email, address, false).await;
            Err(error.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use lyrebird_store::testing::TestDatabase;

    use super::*;

    fn email(text: &str) -> Email {
        Email::parse(text).unwrap()
    }

    fn allowed(result: Result<Result<(), u64>, StoreError>) -> bool {
        result.unwrap().is_ok()
    }

    #[test]
    fn the_wait_doubles_with_each_failure_up_to_fifteen_minutes() {
        let at = |count| {
            let failures = Failures {
                count,
                since_last: time::Duration::ZERO,
            };
            wait_after(&failures, 5).map(|wait| wait.as_secs())
        };
        assert_eq!(at(4), None);
        assert_eq!(at(5), Some(30));
        assert_eq!(at(6), Some(60));
        assert_eq!(at(7), Some(120));
        assert_eq!(at(40), Some(900));
    }

    #[tokio::test]
    async fn an_email_may_fail_five_times_then_must_wait() {
        let db = TestDatabase::new().await;
        let throttle = LoginThrottle::new(db.store().clone());
        let ada = email("ada@example.com");
        for _ in 0..FREE_FAILURES_PER_EMAIL {
            assert!(allowed(throttle.attempt(&ada, None).await));
        }
        let wait = throttle.attempt(&ada, None).await.unwrap().unwrap_err();
        assert!((1..=31).contains(&wait), "{wait}");
        assert!(allowed(
            throttle.attempt(&email("bob@example.com"), None).await
        ));
    }

    #[tokio::test]
    async fn one_address_trying_many_emails_is_throttled_too_and_sign_ups_with_it() {
        let db = TestDatabase::new().await;
        let throttle = LoginThrottle::new(db.store().clone());
        let address = Some(IpAddr::from([192, 0, 2, 7]));
        for i in 0..FREE_FAILURES_PER_ADDRESS {
            let guess = email(&format!("user{i}@example.com"));
            assert!(allowed(throttle.attempt(&guess, address).await));
        }
        let new = email("new@example.com");
        assert!(!allowed(throttle.attempt(&new, address).await));
        assert!(!allowed(throttle.sign_up(address).await));
        assert!(allowed(throttle.attempt(&new, None).await));
        assert!(allowed(
            throttle.sign_up(Some(IpAddr::from([192, 0, 2, 8]))).await
        ));
    }

    #[tokio::test]
    async fn success_clears_the_email_count() {
        let db = TestDatabase::new().await;
        let throttle = LoginThrottle::new(db.store().clone());
        let ada = email("ada@example.com");
        for _ in 0..FREE_FAILURES_PER_EMAIL {
            assert!(allowed(throttle.attempt(&ada, None).await));
        }
        throttle.take_back(&ada, None, true).await.unwrap();
        for _ in 0..FREE_FAILURES_PER_EMAIL {
            assert!(allowed(throttle.attempt(&ada, None).await));
        }
    }

    /// Two servers on one database, as two throttles on one store: attempts sent at once on
    /// both are counted one after the other, so together they admit the free failures once.
    #[tokio::test]
    async fn guesses_in_flight_at_once_on_two_servers_share_one_allowance() {
        let db = TestDatabase::new().await;
        let first = LoginThrottle::new(db.store().clone());
        let second = LoginThrottle::new(db.store().clone());
        let ada = email("ada@example.com");
        let address = Some(IpAddr::from([192, 0, 2, 7]));
        let attempts = (0..FREE_FAILURES_PER_EMAIL * 4).map(|i| {
            let throttle = if i % 2 == 0 { &first } else { &second };
            throttle.attempt(&ada, address)
        });
        let admitted = futures_util::future::join_all(attempts)
            .await
            .into_iter()
            .filter(|result| result.as_ref().unwrap().is_ok())
            .count();
        assert_eq!(admitted, FREE_FAILURES_PER_EMAIL as usize);
    }

    #[tokio::test]
    async fn failures_from_elsewhere_do_not_lock_out_the_owner() {
        let db = TestDatabase::new().await;
        let throttle = LoginThrottle::new(db.store().clone());
        let ada = email("ada@example.com");
        let attacker = Some(IpAddr::from([198, 51, 100, 1]));
        let owner = Some(IpAddr::from([192, 0, 2, 7]));
        while allowed(throttle.attempt(&ada, attacker).await) {}
        assert!(allowed(throttle.attempt(&ada, owner).await));
    }
}
