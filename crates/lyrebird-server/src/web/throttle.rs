//! Login throttling, for the log-in page and `POST /api/v1/sessions` alike.
//!
//! Failures are counted per email and per client address, in memory (each process counts its
//! own; a restart forgets). After [`FREE_FAILURES_PER_EMAIL`] failures for an email, or
//! [`FREE_FAILURES_PER_ADDRESS`] from one address (higher: many people can share an address),
//! each further attempt must wait, 30 seconds at first, doubling with every failure, up to 15
//! minutes. A successful login clears the email's count. The address is the TCP peer: behind a
//! proxy that is the proxy, so the per-email limit is the one that holds there.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use lyrebird_store::{Email, Secret, Session, Store, StoreError};

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
    Email(String),
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
    /// `Err(seconds to wait)` when this email or address must wait before trying again.
    pub fn check(&self, email: &Email, address: Option<IpAddr>) -> Result<(), u64> {
        let now = Instant::now();
        let counts = self.counts.lock().expect("throttle lock");
        let wait = subjects(email, address)
            .filter_map(|(subject, free)| counts.get(&subject)?.allowed_at(free))
            .filter_map(|allowed_at| allowed_at.checked_duration_since(now))
            .max();
        match wait {
            // Rounded up: "wait 0 seconds" would invite an attempt that is still refused.
            Some(wait) => Err(wait.as_secs() + 1),
            None => Ok(()),
        }
    }

    pub fn failed(&self, email: &Email, address: Option<IpAddr>) {
        let now = Instant::now();
        let mut counts = self.counts.lock().expect("throttle lock");
        if counts.len() > SWEEP_ABOVE {
            counts.retain(|_, failures| now.duration_since(failures.last) < FORGET_AFTER);
        }
        for (subject, _) in subjects(email, address) {
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

    pub fn succeeded(&self, email: &Email) {
        self.counts
            .lock()
            .expect("throttle lock")
            .remove(&Subject::Email(email.as_str().to_owned()));
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
        .check(email, address)
        .map_err(LoginRefused::Throttled)?;
    match store.log_in(email, password).await? {
        Some(session) => {
            throttle.succeeded(email);
            Ok(session)
        }
        None => {
            throttle.failed(email, address);
            Err(LoginRefused::WrongCredentials)
        }
    }
}

fn subjects(email: &Email, address: Option<IpAddr>) -> impl Iterator<Item = (Subject, u32)> {
    let email = (
        Subject::Email(email.as_str().to_owned()),
        FREE_FAILURES_PER_EMAIL,
    );
    let address = address.map(|ip| (Subject::Address(ip), FREE_FAILURES_PER_ADDRESS));
    std::iter::once(email).chain(address)
}

/// The client's address, when the server was started with connection info (`lyrebird serve`
/// is; tests that serve the bare router are not).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
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
            assert_eq!(throttle.check(&ada, None), Ok(()));
            throttle.failed(&ada, None);
        }
        let wait = throttle.check(&ada, None).unwrap_err();
        assert!((1..=31).contains(&wait), "{wait}");
        assert_eq!(throttle.check(&email("bob@example.com"), None), Ok(()));
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
            throttle.failed(&email(&format!("user{i}@example.com")), address);
        }
        assert!(throttle.check(&email("new@example.com"), address).is_err());
        assert!(throttle.check(&email("new@example.com"), None).is_ok());
    }

    #[test]
    fn success_clears_the_email_count() {
        let throttle = LoginThrottle::default();
        let ada = email("ada@example.com");
        for _ in 0..FREE_FAILURES_PER_EMAIL - 1 {
            throttle.failed(&ada, None);
        }
        throttle.succeeded(&ada);
        throttle.failed(&ada, None);
        assert_eq!(throttle.check(&ada, None), Ok(()));
    }
}
