//! A mock's simulated rate limit (docs/testing-with-lyrebird.md, "Rate limits"): `limit` calls
//! per client in each window of `window_s` seconds, counted in this process's memory so that a
//! call never waits for the database. Windows are fixed and aligned to the Unix epoch, so every
//! process starts and ends them at the same moments; each process counts its own calls, so with
//! `n` processes behind a balancer a client is admitted at most `n × limit` times a window.
//! Counting starts again when the mock changes (it is compiled anew).
//!
//! A client is kept as a 64-bit hash of its name, with its count: 16 bytes and a map slot, however
//! long the name. A mock counts at most [`MAX_CLIENTS`] clients a window, and the process at most
//! [`MAX_CLIENTS_IN_ALL`] in all its mocks' windows; past either, new clients share one count, so
//! a stream of made-up client names costs memory within those bounds only.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use lyrebird_engine::{ClientBy, RateLimit};

/// Clients counted per window of one mock, and in all of this process's windows.
const MAX_CLIENTS: usize = 100_000;
const MAX_CLIENTS_IN_ALL: usize = 1_000_000;
/// The count that clients past those bounds share.
const SHARED: u64 = 0;

/// Clients counted in all windows now, against [`MAX_CLIENTS_IN_ALL`].
static CLIENTS_IN_ALL: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) setting: RateLimit,
    hasher: RandomState,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// The window's number: seconds since the epoch divided by its length.
    number: u64,
    /// Calls by client, by the hash of the client's name.
    calls: HashMap<u64, u32>,
}

impl Window {
    /// Starts window `number`, giving back the memory and the count of the last one's clients.
    fn start(&mut self, number: u64) {
        self.give_back();
        self.number = number;
        self.calls = HashMap::new();
    }

    /// Takes this window's clients off the count of all (the shared count was never on it).
    fn give_back(&self) {
        let shared = usize::from(self.calls.contains_key(&SHARED));
        CLIENTS_IN_ALL.fetch_sub(self.calls.len() - shared, Ordering::Relaxed);
    }
}

/// Whether a new client gets a count of its own: there is room in its window (`clients` are
/// counted there already) and in all windows.
fn room_for_one_more(clients: usize) -> bool {
    if clients >= MAX_CLIENTS {
        return false;
    }
    if CLIENTS_IN_ALL.fetch_add(1, Ordering::Relaxed) < MAX_CLIENTS_IN_ALL {
        return true;
    }
    CLIENTS_IN_ALL.fetch_sub(1, Ordering::Relaxed);
    false
}

impl Drop for Limiter {
    fn drop(&mut self) {
        let window = self.window.get_mut().unwrap_or_else(|e| e.into_inner());
        window.give_back();
    }
}

/// One call counted: whether it was admitted, and what the rate-limit headers say.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Count {
    pub admitted: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset: u64,
    pub window_s: u32,
}

impl Limiter {
    pub(crate) fn new(setting: RateLimit) -> Self {
        Self {
            setting,
            hasher: RandomState::new(),
            window: Mutex::default(),
        }
    }

    /// Counts a call of `client` at `now` (seconds since the epoch).
    pub(crate) fn count(&self, client: &str, now: u64) -> Count {
        let window_s = u64::from(self.setting.window_s.max(1));
        let number = now / window_s;
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if window.number != number {
            window.start(number);
        }
        let mut key = self.hasher.hash_one(client);
        if !window.calls.contains_key(&key) && !room_for_one_more(window.calls.len()) {
            key = SHARED;
        }
        let calls = window.calls.entry(key).or_default();
        *calls = calls.saturating_add(1);
        let limit = self.setting.limit;
        Count {
            admitted: *calls <= limit,
            limit,
            remaining: limit.saturating_sub(*calls),
            reset: (number + 1) * window_s - now,
            window_s: self.setting.window_s,
        }
    }

    /// What tells this call's client apart, as the setting says.
    pub(crate) fn client<'a>(
        &self,
        address: Option<std::net::IpAddr>,
        key: Option<&'a str>,
        header: impl FnOnce(&str) -> Option<&'a str>,
    ) -> String {
        match self.setting.by {
            ClientBy::Address => {
                address.map_or_else(|| "unknown address".to_owned(), |a| a.to_string())
            }
            ClientBy::Key => key.unwrap_or_default().to_owned(),
            ClientBy::Header => self
                .setting
                .header
                .as_deref()
                .and_then(header)
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(limit: u32, window_s: u32) -> Limiter {
        Limiter::new(RateLimit {
            limit,
            window_s,
            by: ClientBy::Address,
            header: None,
        })
    }

    #[test]
    fn a_client_gets_the_limit_in_each_window() {
        let limiter = limiter(2, 60);
        let admitted = |now| limiter.count("a", now).admitted;
        assert!(admitted(120) && admitted(130));
        let refused = limiter.count("a", 150);
        assert!(!refused.admitted);
        assert_eq!((refused.remaining, refused.reset), (0, 30));
        assert!(
            limiter.count("b", 150).admitted,
            "another client counts alone"
        );
        assert!(admitted(180), "a new window starts at 180");
    }

    #[test]
    fn clients_past_the_cap_share_one_count() {
        let limiter = limiter(1, 60);
        for n in 0..MAX_CLIENTS {
            limiter.count(&n.to_string(), 0);
        }
        assert!(limiter.count("new", 0).admitted);
        assert!(!limiter.count("newer", 0).admitted);
    }
}
