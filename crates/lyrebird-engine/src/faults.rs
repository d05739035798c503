//! Serving badly on purpose: waits drawn from a distribution, faults, chaos for a share of a
//! mock's calls, and the checks of those settings. The engine decides; the runtime waits, breaks
//! connections and counts (docs/testing-with-lyrebird.md).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::compile::MAX_DELAY_MS;
use crate::error::ValidationError;
use crate::model::{Chaos, ClientBy, Fault, Latency, MatchSettings, RateLimit};
use crate::path::{self, PathPattern, request_segments};
use crate::select::mix;

/// The most pieces a trickled body is sent in.
pub const MAX_TRICKLE_CHUNKS: u32 = 1_000;
/// The most statuses a `status` fault chooses from.
pub const MAX_FAULT_STATUSES: usize = 20;
/// The most faults one chaos setting chooses from, and the most paths it names.
pub const MAX_CHAOS_FAULTS: usize = 20;
pub const MAX_CHAOS_PATHS: usize = 50;
/// The widest spread of a lognormal wait: e^4 is about 55 times the median.
pub const MAX_SIGMA: f64 = 4.0;
/// Limits of a simulated rate limit: a day's window, a million calls in it.
pub const MAX_RATE_WINDOW_S: u32 = 86_400;
pub const MAX_RATE_LIMIT: u32 = 1_000_000;

/// Chaos shares are counted in calls out of a million.
const MILLION: u64 = 1_000_000;

impl Latency {
    /// A wait in milliseconds from two random numbers, at most [`MAX_DELAY_MS`].
    pub fn sample(&self, draws: [u64; 2]) -> u64 {
        let ms = match *self {
            Latency::Fixed { ms } => ms,
            Latency::Uniform { min_ms, max_ms } => {
                let span = max_ms.saturating_sub(min_ms).saturating_add(1);
                min_ms.saturating_add(draws[0] % span)
            }
            // A float that is too large or not a number converts to u64::MAX or 0.
            Latency::Lognormal { median_ms, sigma } => {
                (median_ms as f64 * (sigma * standard_normal(draws)).exp()).round() as u64
            }
        };
        ms.min(MAX_DELAY_MS)
    }
}

/// A standard normal number from two uniform ones (Box–Muller).
fn standard_normal([a, b]: [u64; 2]) -> f64 {
    // 53 random bits, moved off 0 so that the logarithm is finite: a number in (0, 1).
    let unit = |draw: u64| ((draw >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (-2.0 * unit(a).ln()).sqrt() * (std::f64::consts::TAU * unit(b)).cos()
}

impl Fault {
    /// The status a `status` fault answers with for this random number; `None` for the others.
    pub fn status(&self, draw: u64) -> Option<u16> {
        match self {
            Fault::Status { statuses } if !statuses.is_empty() => {
                Some(statuses[(draw % statuses.len() as u64) as usize])
            }
            _ => None,
        }
    }

    /// Its name as written in the example format (`reset`, `trickle`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Close {} => "close",
            Fault::Reset {} => "reset",
            Fault::Empty {} => "empty",
            Fault::Truncated {} => "truncated",
            Fault::Malformed {} => "malformed",
            Fault::Trickle { .. } => "trickle",
            Fault::Status { .. } => "status",
        }
    }
}

/// A mock's chaos setting, ready to decide calls.
#[derive(Debug)]
pub struct CompiledChaos {
    /// Calls out of a million that get a fault.
    share: u64,
    percent: f64,
    faults: Vec<Fault>,
    seed: Option<u64>,
    paths: Vec<ChaosScope>,
}

#[derive(Debug)]
struct ChaosScope {
    pattern: PathPattern,
    raw: String,
    share: u64,
    percent: f64,
}

/// A fault chaos chose for a call: which, a random number for what it chooses in turn (a
/// `status` fault's status), and why, in words for the call log.
#[derive(Debug)]
pub struct ChaosFault<'a> {
    pub fault: &'a Fault,
    pub draw: u64,
    pub reason: String,
}

impl CompiledChaos {
    pub fn compile(chaos: &Chaos) -> Result<Self, Vec<ValidationError>> {
        let mut errors = Vec::new();
        check_chaos(chaos, "chaos", &mut errors);
        let paths = chaos
            .paths
            .iter()
            .filter_map(|scope| {
                let (pattern, _) = path::parse(&scope.path, &BTreeMap::new()).ok()?;
                Some(ChaosScope {
                    pattern,
                    raw: scope.path.clone(),
                    share: share(scope.percent),
                    percent: scope.percent,
                })
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            share: share(chaos.percent),
            percent: chaos.percent,
            faults: chaos.faults.clone(),
            seed: chaos.seed,
            paths,
        })
    }

    /// The fault for call number `n` (counted from 0 since the mock was loaded) to `path`, if
    /// it gets one. With a seed, the answer depends on `n` and the path alone.
    pub fn decide(&self, path: &str, n: u64) -> Option<ChaosFault<'_>> {
        let scope = if self.paths.is_empty() {
            None
        } else {
            let segments: Vec<&str> = request_segments(path).collect();
            self.paths
                .iter()
                .find(|scope| scope.pattern.matches(&segments))
        };
        let (share, percent) = scope.map_or((self.share, self.percent), |scope| {
            (scope.share, scope.percent)
        });
        if share == 0 {
            return None;
        }
        let draw = self
            .seed
            .map_or_else(rand::random, |seed| mix(seed ^ mix(n)));
        if draw % MILLION >= share {
            return None;
        }
        let next = mix(draw);
        let fault = &self.faults[(next % self.faults.len() as u64) as usize];
        let scope = scope.map_or_else(String::new, |scope| format!(" to {}", scope.raw));
        let seed = self
            .seed
            .map_or_else(String::new, |seed| format!(" (seed {seed}, call {n})"));
        Some(ChaosFault {
            fault,
            draw: mix(next),
            reason: format!("chaos: {percent}% of calls{scope}{seed}"),
        })
    }
}

fn share(percent: f64) -> u64 {
    (percent.clamp(0.0, 100.0) * (MILLION as f64 / 100.0)).round() as u64
}

/// Checks the mock-level serving settings: latency, chaos, the rate limit and the upstream.
pub fn check_settings(settings: &MatchSettings) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    if let Some(latency) = &settings.latency {
        check_latency(latency, "latency", &mut errors);
    }
    if let Some(chaos) = &settings.chaos {
        check_chaos(chaos, "chaos", &mut errors);
    }
    if let Some(limit) = &settings.rate_limit {
        check_rate_limit(limit, &mut errors);
    }
    if let Some(upstream) = &settings.upstream {
        if let Err(message) = upstream_url(&upstream.url) {
            errors.push(ValidationError::new("upstream.url", message));
        }
        if let Err(message) = upstream_timeout(upstream.timeout_ms) {
            errors.push(ValidationError::new("upstream.timeout_ms", message));
        }
    }
    errors
}

/// The longest an upstream may take to answer, and the time it has when its mock sets none.
pub const MAX_UPSTREAM_TIMEOUT_MS: u32 = 30_000;

/// The time an upstream has to answer, its whole answer included; why `timeout_ms` cannot be
/// one.
pub fn upstream_timeout(timeout_ms: Option<u32>) -> Result<Duration, String> {
    match timeout_ms.unwrap_or(MAX_UPSTREAM_TIMEOUT_MS) {
        ms @ 1..=MAX_UPSTREAM_TIMEOUT_MS => Ok(Duration::from_millis(ms.into())),
        ms => Err(format!(
            "an upstream's timeout is 1 to {MAX_UPSTREAM_TIMEOUT_MS} ms, not {ms}"
        )),
    }
}

/// The longest upstream URL.
const MAX_UPSTREAM_URL: usize = 2048;

/// The origin (`https://api.example.com:8443`) of an upstream URL that works.
pub fn upstream_origin(url: &str) -> Option<String> {
    upstream_url(url)
        .ok()
        .map(|url| url.origin().ascii_serialization())
}

/// An upstream's URL, parsed, or why it cannot be one: `http` or `https`, a host, and neither
/// credentials (headers carry those), a query nor a fragment.
pub fn upstream_url(url: &str) -> Result<url::Url, String> {
    if url.len() > MAX_UPSTREAM_URL {
        return Err(format!(
            "an upstream URL is at most {MAX_UPSTREAM_URL} bytes"
        ));
    }
    let parsed = url::Url::parse(url).map_err(|error| format!("not a URL: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "an upstream is reached over http or https, not {}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("an upstream URL names a host".to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("an upstream URL carries no credentials".to_owned());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(
            "an upstream URL has no query or fragment: each call's own query is added to it"
                .to_owned(),
        );
    }
    Ok(parsed)
}

pub(crate) fn check_latency(latency: &Latency, field: &str, errors: &mut Vec<ValidationError>) {
    let mut over = |name: &str, ms: u64| {
        if ms > MAX_DELAY_MS {
            errors.push(ValidationError::new(
                format!("{field}.{name}"),
                format!("{ms} ms is longer than the limit of {MAX_DELAY_MS} ms"),
            ));
        }
    };
    match *latency {
        Latency::Fixed { ms } => over("ms", ms),
        Latency::Uniform { min_ms, max_ms } => {
            over("max_ms", max_ms);
            if min_ms > max_ms {
                errors.push(ValidationError::new(
                    format!("{field}.min_ms"),
                    format!("{min_ms} ms is more than max_ms ({max_ms} ms)"),
                ));
            }
        }
        Latency::Lognormal { median_ms, sigma } => {
            over("median_ms", median_ms);
            if !(0.0..=MAX_SIGMA).contains(&sigma) {
                errors.push(ValidationError::new(
                    format!("{field}.sigma"),
                    format!("sigma is from 0 to {MAX_SIGMA}, got {sigma}"),
                ));
            }
        }
    }
}

pub(crate) fn check_fault(fault: &Fault, field: &str, errors: &mut Vec<ValidationError>) {
    match fault {
        Fault::Trickle { chunks, over_ms } => {
            if !(1..=MAX_TRICKLE_CHUNKS).contains(chunks) {
                errors.push(ValidationError::new(
                    format!("{field}.chunks"),
                    format!("a body is trickled in 1 to {MAX_TRICKLE_CHUNKS} chunks"),
                ));
            }
            if *over_ms > MAX_DELAY_MS {
                errors.push(ValidationError::new(
                    format!("{field}.over_ms"),
                    format!("{over_ms} ms is longer than the limit of {MAX_DELAY_MS} ms"),
                ));
            }
        }
        Fault::Status { statuses } => {
            if statuses.is_empty() || statuses.len() > MAX_FAULT_STATUSES {
                errors.push(ValidationError::new(
                    format!("{field}.statuses"),
                    format!("a status fault chooses from 1 to {MAX_FAULT_STATUSES} statuses"),
                ));
            }
            for (i, status) in statuses.iter().enumerate() {
                if !(100..=599).contains(status) {
                    errors.push(ValidationError::new(
                        format!("{field}.statuses[{i}]"),
                        format!("{status} is not an HTTP status (100 to 599)"),
                    ));
                }
            }
        }
        Fault::Close {}
        | Fault::Reset {}
        | Fault::Empty {}
        | Fault::Truncated {}
        | Fault::Malformed {} => {}
    }
}

fn check_percent(percent: f64, field: &str, errors: &mut Vec<ValidationError>) {
    if !(0.0..=100.0).contains(&percent) {
        errors.push(ValidationError::new(
            field,
            format!("a share of calls is from 0 to 100 percent, got {percent}"),
        ));
    }
}

fn check_chaos(chaos: &Chaos, field: &str, errors: &mut Vec<ValidationError>) {
    check_percent(chaos.percent, &format!("{field}.percent"), errors);
    if chaos.faults.is_empty() || chaos.faults.len() > MAX_CHAOS_FAULTS {
        errors.push(ValidationError::new(
            format!("{field}.faults"),
            format!("chaos chooses from 1 to {MAX_CHAOS_FAULTS} faults"),
        ));
    }
    for (i, fault) in chaos.faults.iter().enumerate() {
        check_fault(fault, &format!("{field}.faults[{i}]"), errors);
    }
    if chaos.paths.len() > MAX_CHAOS_PATHS {
        errors.push(ValidationError::new(
            format!("{field}.paths"),
            format!("chaos names at most {MAX_CHAOS_PATHS} paths"),
        ));
    }
    for (i, scope) in chaos.paths.iter().enumerate() {
        let place = format!("{field}.paths[{i}]");
        check_percent(scope.percent, &format!("{place}.percent"), errors);
        if let Err(message) = path::parse(&scope.path, &BTreeMap::new()) {
            errors.push(ValidationError::new(
                format!("{place}.path"),
                format!("the path {message}"),
            ));
        }
    }
}

fn check_rate_limit(limit: &RateLimit, errors: &mut Vec<ValidationError>) {
    if !(1..=MAX_RATE_LIMIT).contains(&limit.limit) {
        errors.push(ValidationError::new(
            "rate_limit.limit",
            format!("a rate limit allows 1 to {MAX_RATE_LIMIT} calls a window"),
        ));
    }
    if !(1..=MAX_RATE_WINDOW_S).contains(&limit.window_s) {
        errors.push(ValidationError::new(
            "rate_limit.window_s",
            format!("a window is 1 to {MAX_RATE_WINDOW_S} seconds"),
        ));
    }
    let header_named = limit.header.as_deref().is_some_and(|name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    });
    match (limit.by, &limit.header) {
        (ClientBy::Header, _) if !header_named => errors.push(ValidationError::new(
            "rate_limit.header",
            "`by: header` needs the name of the header that tells clients apart",
        )),
        (ClientBy::Address | ClientBy::Key, Some(_)) => errors.push(ValidationError::new(
            "rate_limit.header",
            "a header tells clients apart only with `by: header`",
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(count: u64) -> impl Iterator<Item = [u64; 2]> {
        (0..count).map(|n| [mix(2 * n), mix(2 * n + 1)])
    }

    fn median(mut values: Vec<u64>) -> u64 {
        values.sort_unstable();
        values[values.len() / 2]
    }

    #[test]
    fn lognormal_waits_have_the_median_and_spread_asked_for() {
        let latency = Latency::Lognormal {
            median_ms: 200,
            sigma: 0.5,
        };
        let waits: Vec<u64> = draws(20_000).map(|d| latency.sample(d)).collect();
        let middle = median(waits.clone());
        assert!((190..=210).contains(&middle), "median {middle}");
        // e^0.5 = 1.65: about 84% of waits are under 330 ms.
        let under = waits.iter().filter(|ms| **ms < 330).count() as f64 / 20_000.0;
        assert!(
            (0.82..=0.86).contains(&under),
            "share under 330 ms: {under}"
        );
    }

    #[test]
    fn uniform_waits_cover_their_range_and_no_more() {
        let latency = Latency::Uniform {
            min_ms: 10,
            max_ms: 12,
        };
        let mut seen: Vec<u64> = draws(300).map(|d| latency.sample(d)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, [10, 11, 12]);
    }

    #[test]
    fn waits_stop_at_the_limit() {
        let latency = Latency::Lognormal {
            median_ms: MAX_DELAY_MS,
            sigma: 4.0,
        };
        assert!(draws(1_000).all(|d| latency.sample(d) <= MAX_DELAY_MS));
    }

    fn chaos(percent: f64, seed: Option<u64>) -> CompiledChaos {
        CompiledChaos::compile(&Chaos {
            percent,
            faults: vec![
                Fault::Reset {},
                Fault::Status {
                    statuses: vec![500, 503],
                },
            ],
            seed,
            paths: vec![crate::model::ChaosPath {
                path: "/orders/:id".to_owned(),
                percent: 100.0,
            }],
        })
        .unwrap()
    }

    #[test]
    fn seeded_chaos_decides_a_call_by_its_number() {
        let chaos = chaos(30.0, Some(7));
        let run = || -> Vec<Option<&str>> {
            (0..200)
                .map(|n| chaos.decide("/items", n).map(|c| c.fault.kind()))
                .collect()
        };
        assert_eq!(run(), run());
        assert!(run().iter().any(Option::is_some) && run().iter().any(Option::is_none));
        let reason = (0..200)
            .find_map(|n| chaos.decide("/items", n))
            .unwrap()
            .reason;
        assert!(
            reason.starts_with("chaos: 30% of calls (seed 7, call "),
            "{reason}"
        );
    }

    #[test]
    fn a_path_scope_takes_the_place_of_the_overall_share() {
        let chaos = chaos(0.0, None);
        assert!((0..100).all(|n| chaos.decide("/items", n).is_none()));
        let decided = chaos.decide("/orders/7", 0).unwrap();
        assert_eq!(decided.reason, "chaos: 100% of calls to /orders/:id");
    }

    #[test]
    fn bad_settings_are_named_by_field() {
        let settings: MatchSettings = serde_json::from_value(serde_json::json!({
            "latency": {"type": "uniform", "min_ms": 50, "max_ms": 10},
            "chaos": {"percent": 120, "faults": [{"type": "trickle", "chunks": 0, "over_ms": 10}],
                      "paths": [{"path": "/a/*/b", "percent": 5}]},
            "rate_limit": {"limit": 0, "window_s": 60, "by": "header"}
        }))
        .unwrap();
        let fields: Vec<String> = check_settings(&settings)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "latency.min_ms",
                "chaos.percent",
                "chaos.faults[0].chunks",
                "chaos.paths[0].path",
                "rate_limit.limit",
                "rate_limit.header"
            ]
        );
    }
}
