//! A mock's simulated rate limit (docs/testing-with-lyrebird.md, "Rate limits"): `limit` calls
//! per client in each window of `window_s` seconds, counted in this process's memory so that a
//! call never waits for the database. Windows are fixed and aligned to the Unix epoch, so every
//! process starts and ends them at the same moments; each process counts its own calls, so with
//! `n` processes behind a balancer a client is admitted at most `n × limit` times a window.
//! Counting starts again when the mock changes (it is compiled anew).

use std::collections::HashMap;
use std::sync::Mutex;

use lyrebird_engine::{ClientBy, RateLimit};

/// Clients counted per window; past it, new clients share one count.
const MAX_CLIENTS: usize = 100_000;
/// The longest client name kept (a header's value may be long).
const MAX_CLIENT_BYTES: usize = 256;

#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) setting: RateLimit,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// The window's number: seconds since the epoch divided by its length.
    number: u64,
    calls: HashMap<Box<str>, u32>,
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
            window: Mutex::default(),
        }
    }

    /// Counts a call of `client` at `now` (seconds since the epoch).
    pub(crate) fn count(&self, client: &str, now: u64) -> Count {
        let window_s = u64::from(self.setting.window_s.max(1));
        let number = now / window_s;
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if window.number != number {
            window.number = number;
            window.calls.clear();
        }
        let client = truncated(client);
        let shared = window.calls.len() >= MAX_CLIENTS && !window.calls.contains_key(client);
        let calls = window
            .calls
            .entry(Box::from(if shared { "" } else { client }))
            .or_default();
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

fn truncated(client: &str) -> &str {
    let mut end = client.len().min(MAX_CLIENT_BYTES);
    while !client.is_char_boundary(end) {
        end -= 1;
    }
    &client[..end]
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
