//! Login throttling, for the log-in page and `POST /api/v1/sessions` alike.
//!
//! Failures are counted per email from one client address, and per client address, in memory
//! (each process counts its own; a restart forgets). After [`FREE_FAILURES_PER_EMAIL`] failures
//! for an email from an address, or [`FREE_FAILURES_PER_ADDRESS`] from one address (higher: many
//! people can share an address), each further attempt from there must wait, 30 seconds at first,
//! doubling with every failure, up to 15 minutes. Someone guessing an email's password from
//! elsewhere therefore never locks its owner out; one address guessing many emails is held by
//! the per-address count. An attempt is counted as a failure before the password is checked, so
//! guesses sent in parallel are held like guesses in a row; a success takes its attempt back and
//! clears the email's count. The address is [`ClientAddr`]'s: the TCP peer, or behind a proxy
//! the operator trusts, the client it forwarded for (`--trusted-proxies`); behind a proxy that
//! is not trusted, the proxy, and then both counts hold for everyone behind it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lyrebird_store::{Email, Secret, Session, Store, StoreError};

/// What the throttled handlers take the address from.
pub use crate::auth::client_addr::ClientAddr;

pub const FREE_FAILURES_PER_EMAIL: u32 = 5;
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;
const FIRST_WAIT: Duration = Duration::from_secs(30);
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);
/// A count with no failure for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Above this many entries, forgotten ones are swept out on the next failure.
const SWEEP_ABOVE: usize = 10_000;

/// Failure counts, shared by every clone (one per app, added as an extension by [`crate::app`]).
#[derive(Debug, Clone, Default)]
pub struct LoginThrottle {
    counts: Arc<Mutex<HashMap<Subject, Failures>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Email(String, Option<IpAddr>),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// When another attempt may be made, given the number of failures that are free.
    fn allowed_at(&self, free: u32) -> Option<Instant> {
        let over = self.count.checked_sub(free)?;
        let wait = FIRST_WAIT
            .saturating_mul(2u32.saturating_pow(over))
            .min(LONGEST_WAIT);
        Some(self.last + wait)
    }
}

impl LoginThrottle {
    /// Reserves an attempt: `Err(seconds to wait)` when this email or address must wait;
    /// otherwise the attempt is counted as a failure at once, in the same lock, until
    /// [`Self::succeeded`] takes it back.
    pub fn attempt(&self, email: &Email, address: Option<IpAddr>) -> Result<(), u64> {
        self.reserve(subjects(email, address))
    }

    /// Counts a sign-up against its client address's limit, for good: signing up hashes a
    /// password as logging in does, and makes an account. `Err(seconds to wait)` when the
    /// address must wait.
    pub fn sign_up(&self, address: Option<IpAddr>) -> Result<(), u64> {
        self.reserve(
            address
                .map(|ip| (Subject::Address(ip), FREE_FAILURES_PER_ADDRESS))
                .into_iter(),
        )
    }

    fn reserve(&self, subjects: impl Iterator<Item = (Subject, u32)> + Clone) -> Result<(), u64> {
        let now = Instant::now();
        let mut counts = self.counts.lock().expect("throttle lock");
        let wait = subjects
            .clone()
            .filter_map(|(subject, free)| counts.get(&subject)?.allowed_at(free))
            .filter_map(|allowed_at| allowed_at.checked_duration_since(now))
            .max();
        if let Some(wait) = wait {
            // Rounded up: "wait 0 seconds" would invite an attempt that is still refused.
            return Err(wait.as_secs() + 1);
        }
        Self::count(&mut counts, subjects, now);
        Ok(())
    }

    fn count(
        counts: &mut HashMap<Subject, Failures>,
        subjects: impl Iterator<Item = (Subject, u32)>,
        now: Instant,
    ) {
        if counts.len() > SWEEP_ABOVE {
            counts.retain(|_, failures| now.duration_since(failures.last) < FORGET_AFTER);
        }
        for (subject, _) in subjects {
            let failures = counts.entry(subject).or_insert(Failures {
                count: 0,
                last: now,
            });
            if now.duration_since(failures.last) >= FORGET_AFTER {
                failures.count = 0;
            }
            failures.count += 1;
            failures.last = now;
        }
    }

    /// Takes back an attempt that did not fail (the password was right, or the database did not
    /// answer); a right password also clears the email's count.
    fn take_back(&self, email: &Email, address: Option<IpAddr>, right_password: bool) {
        let mut counts = self.counts.lock().expect("throttle lock");
        for (subject, _) in subjects(email, address) {
            let clear = right_password && matches!(subject, Subject::Email(..));
            if clear {
                counts.remove(&subject);
            } else if let Some(failures) = counts.get_mut(&subject) {
                failures.count = failures.count.saturating_sub(1);
            }
        }
    }
}

/// Why a login attempt got no session.
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

/// Logs in unless the email or address must wait, counting the outcome.
pub async fn log_in(
    store: &Store,
    throttle: &LoginThrottle,
    email: &Email,
    password: Secret,
    address: Option<IpAddr>,
) -> Result<Session, LoginRefused> {
    throttle
        .attempt(email, address)
        .map_err(LoginRefused::Throttled)?;
    let logged_in = store.log_in(email, password).await;
    match logged_in {
        Ok(Some(session)) => {
            throttle.take_back(email, address, true);
            Ok(session)
        }
        Ok(None) => Err(LoginRefused::WrongCredentials),
        Err(error) => {
            throttle.take_back(email, address, false);
            Err(error.into())
        }
    }
}

fn subjects(
    email: &Email,
    address: Option<IpAddr>,
) -> impl Iterator<Item = (Subject, u32)> + Clone {
    let email = (
        Subject::Email(email.as_str().to_owned(), address),
        FREE_FAILURES_PER_EMAIL,
    );
    let address = address.map(|ip| (Subject::Address(ip), FREE_FAILURES_PER_ADDRESS));
    std::iter::once(email).chain(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(text: &str) -> Email {
        Email::parse(text).unwrap()
    }

    #[test]
    fn an_email_may_fail_five_times_then_must_wait() {
        let throttle = LoginThrottle::default();
        let ada = email("ada@example.com");
        for _ in 0..FREE_FAILURES_PER_EMAIL {
            assert_eq!(throttle.attempt(&ada, None), Ok(()));
        }
        let wait = throttle.attempt(&ada, None).unwrap_err();
        assert!((1..=31).contains(&wait), "{wait}");
        assert_eq!(throttle.attempt(&email("bob@example.com"), None), Ok(()));
    }

    #[test]
    fn the_wait_doubles_with_each_failure_up_to_fifteen_minutes() {
        let now = Instant::now();
        let at = |count| {
            Failures { count, last: now }
                .allowed_at(5)
                .map(|t| t.duration_since(now).as_secs())
        };
        assert_eq!(at(4), None);
        assert_eq!(at(5), Some(30));
        assert_eq!(at(6), Some(60));
        assert_eq!(at(7), Some(120));
        assert_eq!(at(40), Some(900));
    }

    #[test]
    fn one_address_trying_many_emails_is_throttled_too() {
        let throttle = LoginThrottle::default();
        let address = Some(IpAddr::from([192, 0, 2, 7]));
        for i in 0..FREE_FAILURES_PER_ADDRESS {
            let guess = email(&format!("user{i}@example.com"));
            assert_eq!(throttle.attempt(&guess, address), Ok(()));
        }
        assert!(
            throttle
                .attempt(&email("new@example.com"), address)
                .is_err()
        );
        assert!(throttle.attempt(&email("new@example.com"), None).is_ok());
    }

    #[test]
    fn success_clears_the_email_count() {
        let throttle = LoginThrottle::default();
        let ada = email("ada@example.com");
        for _ in 0..FREE_FAILURES_PER_EMAIL - 1 {
            throttle.attempt(&ada, None).unwrap();
        }
        throttle.attempt(&ada, None).unwrap();
        throttle.take_back(&ada, None, true);
        for _ in 0..FREE_FAILURES_PER_EMAIL {
            assert_eq!(throttle.attempt(&ada, None), Ok(()));
        }
    }

    #[test]
    fn guesses_in_flight_at_once_count_before_any_is_checked() {
        let throttle = LoginThrottle::default();
        let ada = email("ada@example.com");
        let address = Some(IpAddr::from([192, 0, 2, 7]));
        // No attempt has finished: every reservation is still outstanding.
        let admitted = (0..FREE_FAILURES_PER_EMAIL * 4)
            .filter(|_| throttle.attempt(&ada, address).is_ok())
            .count();
        assert_eq!(admitted, FREE_FAILURES_PER_EMAIL as usize);
    }

    #[test]
    fn sign_ups_from_one_address_are_held_with_its_log_ins() {
        let throttle = LoginThrottle::default();
        let address = Some(IpAddr::from([192, 0, 2, 7]));
        for _ in 0..FREE_FAILURES_PER_ADDRESS {
            assert_eq!(throttle.sign_up(address), Ok(()));
        }
        assert!(throttle.sign_up(address).is_err());
        assert!(
            throttle
                .attempt(&email("ada@example.com"), address)
                .is_err()
        );
        assert_eq!(throttle.sign_up(Some(IpAddr::from([192, 0, 2, 8]))), Ok(()));
    }

    #[test]
    fn failures_from_elsewhere_do_not_lock_out_the_owner() {
        let throttle = LoginThrottle::default();
        let ada = email("ada@example.com");
        let attacker = Some(IpAddr::from([198, 51, 100, 1]));
        let owner = Some(IpAddr::from([192, 0, 2, 7]));
        while throttle.attempt(&ada, attacker).is_ok() {}
        assert_eq!(throttle.attempt(&ada, owner), Ok(()));
    }
}
