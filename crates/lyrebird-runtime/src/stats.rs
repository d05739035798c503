//! What the runtime counts for the server's metrics (`GET /metrics`, docs/operations.md,
//! "Metrics"): plain atomics, added to on the request path without a lock or a lookup, and read
//! whole when metrics are scraped. The server names and encodes them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::call_log::CallOutcome;

/// The outcomes calls are counted by: the call log's kinds, and each reason of a refusal.
pub const OUTCOMES: [&str; 16] = [
    "matched",
    "no_match",
    "fallback",
    "preflight",
    "over_quota",
    "proxied",
    "invalid_credentials",
    "rate_limited",
    "payload_too_large",
    "bad_request",
    "invalid_state_key",
    "state_full",
    "database_unavailable",
    "mock_broken",
    "mock_not_found",
    "refused_other",
];

/// The faults counted, as the example format names them.
pub const FAULTS: [&str; 7] = [
    "close",
    "reset",
    "empty",
    "truncated",
    "malformed",
    "trickle",
    "status",
];

/// Upper bounds of the call duration histogram, in seconds: from 250 µs, doubling, to 16 s (a
/// call waits out its delays, so the long ones are there), then everything.
pub const DURATION_BUCKETS: [f64; 17] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024,
    2.048, 4.096, 8.192, 16.384,
];

/// The runtime's counters.
#[derive(Debug, Default)]
pub struct Stats {
    calls: [AtomicU64; OUTCOMES.len()],
    faults: [AtomicU64; FAULTS.len()],
    /// Calls by the first bucket whose bound holds their duration; the last: longer than all.
    durations: [AtomicU64; DURATION_BUCKETS.len() + 1],
    duration_sum_us: AtomicU64,
}

/// The counters as read at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// By [`OUTCOMES`].
    pub calls: Vec<u64>,
    /// By [`FAULTS`].
    pub faults: Vec<u64>,
    /// Calls by duration: in each of [`DURATION_BUCKETS`] (above the bound before it), then
    /// longer than the last bound.
    pub durations: Vec<u64>,
    pub duration_sum: Duration,
    /// Calls that found their mock compiled in memory, and those that loaded it.
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Compiled mocks held.
    pub cache_mocks: u64,
    /// Quota leases taken from the database.
    pub quota_leases: u64,
    /// The call log: calls waiting for the writer, written, dropped (queue full, or lost), and
    /// how long the oldest call of the last batch written waited.
    pub log_queued: u64,
    pub log_written: u64,
    pub log_dropped: u64,
    pub log_lag: Duration,
    /// Callback results: answered (any status), and failed or not sent.
    pub callbacks_answered: u64,
    pub callbacks_failed: u64,
}

impl Stats {
    /// Counts an answered call: its outcome, its fault and how long it took.
    pub(crate) fn call(&self, outcome: &CallOutcome, fault: Option<&str>, took: Duration) {
        self.outcome(outcome);
        if let Some(index) = fault.and_then(|fault| FAULTS.iter().position(|f| *f == fault)) {
            self.faults[index].fetch_add(1, Ordering::Relaxed);
        }
        let seconds = took.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(DURATION_BUCKETS.len());
        self.durations[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.duration_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a call by its outcome alone: one refused before it was timed (an unknown or
    /// broken mock, or one the database could not load).
    pub(crate) fn outcome(&self, outcome: &CallOutcome) {
        let name = match outcome {
            CallOutcome::Refused { reason } => reason.as_str(),
            other => other.kind().as_str(),
        };
        let index = OUTCOMES
            .iter()
            .position(|known| *known == name)
            .unwrap_or(OUTCOMES.len() - 1);
        self.calls[index].fetch_add(1, Ordering::Relaxed);
    }

    /// The calls' counts in `snapshot`.
    pub(crate) fn read_into(&self, snapshot: &mut Snapshot) {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        snapshot.calls = self.calls.iter().map(read).collect();
        snapshot.faults = self.faults.iter().map(read).collect();
        snapshot.durations = self.durations.iter().map(read).collect();
        snapshot.duration_sum = Duration::from_micros(read(&self.duration_sum_us));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_lands_in_its_outcome_its_fault_and_its_bucket() {
        let stats = Stats::default();
        let refused = CallOutcome::Refused {
            reason: "rate_limited".to_owned(),
        };
        stats.call(&refused, None, Duration::from_micros(300));
        stats.call(
            &CallOutcome::OverQuota,
            Some("reset"),
            Duration::from_secs(60),
        );
        let mut taken = Snapshot::default();
        stats.read_into(&mut taken);
        assert_eq!(taken.calls[7], 1, "rate_limited");
        assert_eq!(taken.calls[4], 1, "over_quota");
        assert_eq!(taken.faults[1], 1, "reset");
        assert_eq!(taken.durations[0], 0);
        assert_eq!(taken.durations[1], 1, "300 µs is under the 500 µs bound");
        assert_eq!(taken.durations.len(), DURATION_BUCKETS.len() + 1);
        assert_eq!(
            *taken.durations.last().unwrap(),
            1,
            "60 s is past the last bound"
        );
        assert_eq!(taken.duration_sum, Duration::from_micros(60_000_300));
    }
}
