//! `lyrebird verify FILE`: checks of the calls a mock received, written down in a file so that
//! a test suite can end with one command. Each check is one request to the server's verification
//! API; this module reads the file, sends the checks and prints what the server found.

use std::fmt;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Status;
use crate::client::{Client, Connection};
use crate::layout;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The checks, a JSON or YAML file.
    pub file: PathBuf,
    /// The mock's id (over the file's `mock`).
    #[arg(long = "mock", value_name = "ID")]
    pub mock: Option<String>,
    /// Only calls sent with this `x-lyrebird-state` value (over the file's `state`).
    #[arg(long, value_name = "KEY")]
    pub state: Option<String>,
    /// Only calls received at or after this time, RFC 3339 (over the file's `since`).
    #[arg(long, value_name = "TIME", value_parser = rfc3339)]
    pub since: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

fn rfc3339(text: &str) -> Result<String, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|_| text.to_owned())
        .map_err(|error| format!("not an RFC 3339 time such as 2026-12-05T10:00:00Z: {error}"))
}

/// The verify file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plan {
    mock: Option<String>,
    since: Option<String>,
    until: Option<String>,
    state: Option<String>,
    checks: Vec<CheckDocument>,
}

/// Which calls every check looks at: received in a time range, sent with a state key.
#[derive(Debug, Serialize)]
struct Window {
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
}

/// One check as written: a request pattern with how many calls should match it, a list of
/// patterns that calls should match in order, or `unmatched: none`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckDocument {
    name: String,
    request: Option<Value>,
    count: Option<u64>,
    at_least: Option<u64>,
    at_most: Option<u64>,
    order: Option<Vec<Value>>,
    unmatched: Option<NoneLeft>,
}

/// `unmatched: none`, the one thing to say about unmatched calls.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum NoneLeft {
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Calls,
    Order,
    Unmatched,
}

impl Kind {
    fn endpoint(self, mock: &str) -> String {
        match self {
            Kind::Calls => format!("/api/v1/mocks/{mock}/verify"),
            Kind::Order => format!("/api/v1/mocks/{mock}/verify/order"),
            Kind::Unmatched => format!("/api/v1/mocks/{mock}/verify/unmatched"),
        }
    }
}

impl CheckDocument {
    /// What the check asks the server: which endpoint, with which body.
    fn request(self, window: &Window) -> anyhow::Result<(Kind, Value)> {
        let Value::Object(mut body) = serde_json::to_value(window)? else {
            unreachable!("a window is an object");
        };
        let counts = [
            ("count", self.count),
            ("at_least", self.at_least),
            ("at_most", self.at_most),
        ];
        let has_counts = counts.iter().any(|(_, n)| n.is_some());
        let kinds = [
            self.request.is_some(),
            self.order.is_some(),
            self.unmatched.is_some(),
        ];
        match kinds.iter().filter(|given| **given).count() {
            0 => bail!("give one of `request`, `order` or `unmatched`"),
            1 => {}
            _ => bail!("give only one of `request`, `order` or `unmatched`"),
        }
        let kind = if let Some(request) = self.request {
            if self.count.is_some() && (self.at_least.is_some() || self.at_most.is_some()) {
                bail!("`count` goes alone, or give `at_least` and/or `at_most`");
            }
            body.insert("request".to_owned(), request);
            for (field, n) in counts {
                if let Some(n) = n {
                    body.insert(field.to_owned(), n.into());
                }
            }
            Kind::Calls
        } else if has_counts {
            bail!("`count`, `at_least` and `at_most` go with `request` only");
        } else if let Some(order) = self.order {
            body.insert("requests".to_owned(), order.into());
            Kind::Order
        } else {
            Kind::Unmatched
        };
        Ok((kind, Value::Object(body)))
    }
}

/// A call as the verification API summarises it.
#[derive(Debug, Deserialize)]
struct CallSummary {
    method: String,
    path: String,
    #[serde(default)]
    query: Value,
    #[serde(default)]
    status: Option<u16>,
}

/// `GET /orders?page=2 (200)`.
impl fmt::Display for CallSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        match &self.query {
            Value::String(query) if !query.trim_start_matches('?').is_empty() => {
                write!(f, "?{}", query.trim_start_matches('?'))?;
            }
            Value::Object(params) if !params.is_empty() => {
                let pairs: Vec<String> = params
                    .iter()
                    .map(|(name, value)| match value {
                        Value::String(text) => format!("{name}={text}"),
                        other => format!("{name}={other}"),
                    })
                    .collect();
                write!(f, "?{}", pairs.join("&"))?;
            }
            _ => {}
        }
        match self.status {
            Some(status) => write!(f, " ({status})"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Deserialize)]
struct CallsAnswer {
    held: bool,
    message: String,
    #[serde(default)]
    near_misses: Vec<NearMiss>,
}

#[derive(Debug, Deserialize)]
struct NearMiss {
    call: CallSummary,
    #[serde(default)]
    failed: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct OrderAnswer {
    held: bool,
    message: String,
    /// The calls found for the patterns, in order, up to the one not found.
    #[serde(default)]
    calls: Vec<CallSummary>,
}

#[derive(Debug, Deserialize)]
struct UnmatchedAnswer {
    count: u64,
    #[serde(default)]
    calls: Vec<CallSummary>,
}

/// The lines a check prints: `ok   <name>`, or `FAIL <name>: <message>` and the calls that
/// explain it; and whether it held.
fn report(name: &str, kind: Kind, answer: Value) -> anyhow::Result<(bool, String)> {
    let (held, message, details) = match kind {
        Kind::Calls => {
            let answer: CallsAnswer = serde_json::from_value(answer)?;
            let details = answer
                .near_misses
                .iter()
                .map(|miss| format!("nearest: {}: {}", miss.call, miss.failed.join("; ")))
                .collect();
            (answer.held, answer.message, details)
        }
        Kind::Order => {
            let answer: OrderAnswer = serde_json::from_value(answer)?;
            let details = answer
                .calls
                .iter()
                .map(|call| format!("found: {call}"))
                .collect();
            (answer.held, answer.message, details)
        }
        Kind::Unmatched => {
            let answer: UnmatchedAnswer = serde_json::from_value(answer)?;
            let mut details: Vec<String> = answer
                .calls
                .iter()
                .map(|call| format!("unmatched: {call}"))
                .collect();
            let listed = answer.calls.len() as u64;
            if answer.count > listed {
                details.push(format!("and {} more", answer.count - listed));
            }
            let message = match answer.count {
                1 => "1 call matched no example".to_owned(),
                n => format!("{n} calls matched no example"),
            };
            (answer.count == 0, message, details)
        }
    };
    if held {
        return Ok((true, format!("ok   {name}\n")));
    }
    let mut text = format!("FAIL {name}: {message}\n");
    for line in details {
        text.push_str(&format!("  {line}\n"));
    }
    Ok((false, text))
}

pub async fn run(args: VerifyArgs) -> anyhow::Result<Status> {
    let file = args.file.display().to_string();
    let plan: Plan = serde_json::from_value(layout::read_document(&args.file)?)
        .with_context(|| format!("{file} is not a verify file"))?;
    let mock = args
        .mock
        .or(plan.mock)
        .ok_or_else(|| anyhow!("which mock? give `mock: <id>` in {file}, or --mock ID"))?;
    let window = Window {
        since: args.since.or(plan.since),
        until: plan.until,
        state: args.state.or(plan.state),
    };
    let checks = plan
        .checks
        .into_iter()
        .map(|check| {
            let name = check.name.clone();
            let request = check
                .request(&window)
                .with_context(|| format!("{file}: check `{name}`"))?;
            Ok((name, request))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = Client::new(&args.connection)?;
    let mut status = Status::Clean;
    for (name, (kind, body)) in checks {
        let answer = client
            .send(Method::POST, &kind.endpoint(&mock), Some(&body))
            .await
            .with_context(|| format!("check `{name}`"))?;
        let (held, text) = report(&name, kind, answer)
            .with_context(|| format!("check `{name}`: the server's answer is not understood"))?;
        print!("{text}");
        if !held {
            status = Status::Flagged;
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(document: Value) -> anyhow::Result<(Kind, Value)> {
        serde_json::from_value::<CheckDocument>(document)?.request(&Window {
            since: Some("2026-12-05T10:00:00Z".to_owned()),
            until: None,
            state: Some("run-42".to_owned()),
        })
    }

    #[test]
    fn a_count_check_asks_the_calls_endpoint() {
        let (kind, body) = check(json!({"name": "one order", "request": {"method": "POST", "path": "/orders"}, "count": 1})).unwrap();
        assert_eq!(kind, Kind::Calls);
        assert_eq!(
            body,
            json!({"request": {"method": "POST", "path": "/orders"}, "count": 1,
                   "since": "2026-12-05T10:00:00Z", "state": "run-42"})
        );
        assert_eq!(kind.endpoint("m1"), "/api/v1/mocks/m1/verify");
    }

    #[test]
    fn order_and_unmatched_checks_ask_their_endpoints() {
        let (kind, body) =
            check(json!({"name": "o", "order": [{"path": "/a"}, {"path": "/b"}]})).unwrap();
        assert_eq!(kind, Kind::Order);
        assert_eq!(body["requests"], json!([{"path": "/a"}, {"path": "/b"}]));
        let (kind, body) = check(json!({"name": "u", "unmatched": "none"})).unwrap();
        assert_eq!(kind, Kind::Unmatched);
        assert_eq!(
            body,
            json!({"since": "2026-12-05T10:00:00Z", "state": "run-42"})
        );
    }

    #[test]
    fn checks_that_say_too_little_or_too_much_are_refused() {
        let refusal = |document| check(document).unwrap_err().to_string();
        assert_eq!(
            refusal(json!({"name": "x"})),
            "give one of `request`, `order` or `unmatched`"
        );
        assert_eq!(
            refusal(json!({"name": "x", "request": {}, "order": []})),
            "give only one of `request`, `order` or `unmatched`"
        );
        assert_eq!(
            refusal(json!({"name": "x", "order": [], "count": 2})),
            "`count`, `at_least` and `at_most` go with `request` only"
        );
        assert_eq!(
            refusal(json!({"name": "x", "request": {}, "count": 2, "at_most": 3})),
            "`count` goes alone, or give `at_least` and/or `at_most`"
        );
        assert!(check(json!({"name": "x", "unmatched": "some"})).is_err());
    }

    #[test]
    fn a_failed_count_shows_the_nearest_calls() {
        let answer = json!({
            "held": false,
            "message": "expected exactly 1 matching call, found 0",
            "matched": 0,
            "examined": 3,
            "calls": [],
            "near_misses": [{
                "call": {"id": "c1", "at": "2026-12-05T10:00:01Z", "method": "GET",
                         "path": "/orders", "query": "page=2", "status": 200},
                "failed": ["query `page` should be `1`, got `2`", "header `accept` is missing"]
            }]
        });
        let (held, text) = report("first page read", Kind::Calls, answer).unwrap();
        assert!(!held);
        assert_eq!(
            text,
            "FAIL first page read: expected exactly 1 matching call, found 0\n  \
             nearest: GET /orders?page=2 (200): query `page` should be `1`, got `2`; \
             header `accept` is missing\n"
        );
    }

    #[test]
    fn a_held_check_prints_ok() {
        let answer = json!({"held": true, "message": "found 1", "matched": 1, "examined": 1,
                            "calls": [], "near_misses": []});
        assert_eq!(
            report("one order", Kind::Calls, answer).unwrap(),
            (true, "ok   one order\n".to_owned())
        );
    }

    #[test]
    fn a_broken_order_shows_the_calls_found() {
        let answer = json!({
            "held": false,
            "message": "request 2 of 2 (GET /orders) not found after call c1",
            "calls": [{"id": "c1", "at": "2026-12-05T10:00:01Z", "method": "POST",
                       "path": "/login", "query": null, "status": 204}],
            "failed_at": 1
        });
        let (held, text) = report("login first", Kind::Order, answer).unwrap();
        assert!(!held);
        assert_eq!(
            text,
            "FAIL login first: request 2 of 2 (GET /orders) not found after call c1\n  \
             found: POST /login (204)\n"
        );
    }

    #[test]
    fn unmatched_calls_are_listed() {
        let answer = json!({"count": 3, "calls": [
            {"id": "c1", "at": "2026-12-05T10:00:01Z", "method": "GET", "path": "/nope",
             "query": {"a": "1"}, "status": 404},
            {"id": "c2", "at": "2026-12-05T10:00:02Z", "method": "PUT", "path": "/x",
             "query": "", "status": 404}
        ]});
        let (held, text) = report("all matched", Kind::Unmatched, answer).unwrap();
        assert!(!held);
        assert_eq!(
            text,
            "FAIL all matched: 3 calls matched no example\n  unmatched: GET /nope?a=1 (404)\n  \
             unmatched: PUT /x (404)\n  and 1 more\n"
        );
        let (held, text) = report(
            "all matched",
            Kind::Unmatched,
            json!({"count": 0, "calls": []}),
        )
        .unwrap();
        assert!(held);
        assert_eq!(text, "ok   all matched\n");
    }

    #[test]
    fn a_verify_file_reads_from_yaml() {
        let plan: Plan = serde_json::from_value(
            serde_norway::from_str(
                "mock: abc\nsince: 2026-12-05T10:00:00Z\nstate: run-42\nchecks:\n  \
                 - name: one order placed\n    request: {method: POST, path: /orders}\n    count: 1\n",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(plan.mock.as_deref(), Some("abc"));
        assert_eq!(plan.since.as_deref(), Some("2026-12-05T10:00:00Z"));
        assert_eq!(plan.checks.len(), 1);
    }
}
