//! The request a drift check sends for an example: the one the example describes, when its
//! conditions name a single request (a path without captures, plain values, a written body);
//! else the newest logged call the example answered.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lyrebird_engine::{BodyMatch, Example, PathMatch, ValueMatch, ValueRule, literal_path};
use lyrebird_runtime::call_log::REDACTED;
use lyrebird_runtime::upstream::passes;
use lyrebird_store::calls::NewCall;
use uuid::Uuid;

/// A request to send to the upstream.
pub(super) struct Outgoing {
    pub method: Method,
    /// After the upstream's own path.
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The logged call it repeats, when it repeats one.
    pub from_call: Option<Uuid>,
}

/// What a check does with an example.
pub(super) enum Plan {
    Send(Outgoing),
    /// The example stands for more than one request (the reason says why): the newest logged
    /// call it answered is sent in its place.
    FromCall(String),
    /// Nothing is sent; the reason says why.
    Skip(String),
}

/// Headers of a logged call that are not sent again: the client's cookies (the log keeps their
/// names only) and what proxies on the way to the mock added.
const NOT_REPEATED: [&str; 7] = [
    "cookie",
    "forwarded",
    "via",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// What the check does with `example`, whose paths name the mock's `environment`.
pub(super) fn plan(example: &Example, environment: &BTreeMap<String, String>) -> Plan {
    if example.resource.is_some() {
        return Plan::Skip(
            "it serves a collection: the collection's records answer it, not a written response"
                .to_owned(),
        );
    }
    let method = match example
        .request
        .method
        .as_deref()
        .map(str::to_ascii_uppercase)
    {
        None => Method::GET,
        Some(any) if any == "*" => Method::GET,
        Some(name) => match Method::from_bytes(name.as_bytes()) {
            Ok(method) => method,
            Err(_) => return Plan::Skip(format!("{name:?} is not an HTTP method")),
        },
    };
    if let Err(reason) = sendable(&method, example.drift_check) {
        return Plan::Skip(reason);
    }
    match as_written(example, method, environment) {
        Ok(outgoing) => Plan::Send(outgoing),
        Err(why) => Plan::FromCall(why),
    }
}

/// Whether a request of `method` is sent for an example whose `drift_check` is this: `GET` and
/// `HEAD` unless it opts out, any other method (but `TRACE` and `CONNECT`) only when it opts in.
pub(super) fn sendable(method: &Method, drift_check: Option<bool>) -> Result<(), String> {
    match drift_check {
        Some(false) => Err("the example opts out (drift_check: false)".to_owned()),
        _ if !passes(method) => Err(format!("a {method} is never sent to an upstream")),
        Some(true) => Ok(()),
        None if *method == Method::GET || *method == Method::HEAD => Ok(()),
        None => Err(format!(
            "a {method} may change data upstream: it is sent only when the example opts in \
             (drift_check: true)"
        )),
    }
}

/// The one request the example's conditions describe; why there is none.
fn as_written(
    example: &Example,
    method: Method,
    environment: &BTreeMap<String, String>,
) -> Result<Outgoing, String> {
    let request = &example.request;
    if request.expression.is_some() {
        return Err("an expression decides which requests it answers".to_owned());
    }
    if request.path_match == PathMatch::Prefix {
        return Err(format!("its path {} is a prefix", request.path));
    }
    let (path, mut query) = literal_path(&request.path, environment)
        .ok_or_else(|| format!("its path {} has captures", request.path))?;
    query.extend(
        plain_values(&request.query, "query parameter")?
            .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    let mut headers = HeaderMap::new();
    for (name, value) in plain_values(&request.headers, "header")? {
        add_header(&mut headers, name, value)?;
    }
    let cookies: Vec<String> = plain_values(&request.cookies, "cookie")?
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    if !cookies.is_empty() {
        add_header(&mut headers, "cookie", &cookies.join("; "))?;
    }
    let (body, content_type) = match &request.body {
        BodyMatch::None {} => (String::new(), None),
        BodyMatch::Text { value } => (value.clone(), None),
        BodyMatch::Json { value, .. } => (value.to_string(), Some("application/json")),
        BodyMatch::Xml { value } => (value.clone(), Some("application/xml")),
        BodyMatch::Form { params } => (
            urlencoded(plain_values(params, "form parameter")?),
            Some("application/x-www-form-urlencoded"),
        ),
        BodyMatch::Any {} => {
            return Err("any body will do, and which one is not written".to_owned());
        }
    };
    if let Some(content_type) = content_type {
        headers
            .entry(header::CONTENT_TYPE)
            .or_insert(HeaderValue::from_static(content_type));
    }
    Ok(Outgoing {
        method,
        path,
        query: urlencoded(
            query
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        ),
        headers,
        body: Bytes::from(body),
        from_call: None,
    })
}

/// The names and values that `conditions` ask for, leaving out those that ask for absence; an
/// error when one asks for something no single value stands for (a pattern, any value).
fn plain_values<'a>(
    conditions: &'a BTreeMap<String, ValueMatch>,
    what: &str,
) -> Result<impl Iterator<Item = (&'a str, &'a str)>, String> {
    let mut values = Vec::with_capacity(conditions.len());
    for (name, condition) in conditions {
        match condition {
            ValueMatch::Equals(value) | ValueMatch::Rule(ValueRule::Equals(value)) => {
                values.push((name.as_str(), value.as_str()));
            }
            ValueMatch::Rule(ValueRule::Absent(true) | ValueRule::Present(false)) => {}
            ValueMatch::Rule(_) => return Err(format!("its {what} {name} is no plain value")),
        }
    }
    Ok(values.into_iter())
}

fn add_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), String> {
    let parsed = HeaderName::from_bytes(name.as_bytes())
        .ok()
        .zip(HeaderValue::from_str(value).ok());
    let (name, value) = parsed.ok_or_else(|| format!("its header {name} cannot be sent"))?;
    headers.append(name, value);
    Ok(())
}

fn urlencoded<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A logged call as it is sent again: its method, path, query, body and headers, but for those
/// the log redacted and [`NOT_REPEATED`]; why it cannot be.
pub(super) fn from_call(call: &NewCall) -> Result<Outgoing, String> {
    let stored = &call.request_body;
    let body = if stored.base64 {
        STANDARD.decode(&stored.text).unwrap_or_default()
    } else {
        stored.text.clone().into_bytes()
    };
    if (body.len() as u64) < stored.size {
        return Err(format!(
            "the newest call it answered ({}) has a body larger than the call log keeps",
            call.id
        ));
    }
    let method = Method::from_bytes(call.method.as_bytes())
        .map_err(|_| format!("the call {} has no HTTP method", call.id))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &call.request_headers {
        let repeated = !NOT_REPEATED
            .iter()
            .any(|not| name.eq_ignore_ascii_case(not))
            && !value.contains(REDACTED);
        if repeated {
            // The log holds what a request carried: a header that does not parse is not one.
            let _ = add_header(&mut headers, name, value);
        }
    }
    Ok(Outgoing {
        method,
        path: call.path.clone(),
        query: call.query.clone(),
        headers,
        body: Bytes::from(body),
        from_call: Some(call.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(value: serde_json::Value) -> Example {
        serde_json::from_value(value).unwrap()
    }

    fn sent(value: serde_json::Value) -> Outgoing {
        match plan(&example(value), &BTreeMap::new()) {
            Plan::Send(outgoing) => outgoing,
            Plan::FromCall(why) | Plan::Skip(why) => panic!("not sent: {why}"),
        }
    }

    fn reason(value: serde_json::Value) -> String {
        match plan(&example(value), &BTreeMap::new()) {
            Plan::Send(_) => panic!("sent"),
            Plan::FromCall(why) | Plan::Skip(why) => why,
        }
    }

    #[test]
    fn plain_conditions_make_the_request() {
        let outgoing = sent(serde_json::json!({
            "name": "search",
            "request": {
                "method": "post",
                "path": "/search?q=a b",
                "query": {"page": "2", "debug": {"absent": true}},
                "headers": {"X-Tenant": {"equals": "acme"}},
                "cookies": {"theme": "dark"},
                "body": {"type": "json", "value": {"term": "lyre"}}
            },
            "drift_check": true
        }));
        assert_eq!(outgoing.method, Method::POST);
        assert_eq!(outgoing.path, "/search");
        assert_eq!(outgoing.query, "q=a+b&page=2");
        assert_eq!(outgoing.headers["x-tenant"], "acme");
        assert_eq!(outgoing.headers["cookie"], "theme=dark");
        assert_eq!(outgoing.headers["content-type"], "application/json");
        assert_eq!(outgoing.body, r#"{"term":"lyre"}"#);
        assert_eq!(outgoing.from_call, None);
    }

    #[test]
    fn an_example_of_many_requests_waits_for_a_logged_call() {
        for (request, why) in [
            (
                serde_json::json!({"path": "/users/:id"}),
                "its path /users/:id has captures",
            ),
            (
                serde_json::json!({"path": "/users", "query": {"id": {"matches": "^\\d+$"}}}),
                "its query parameter id is no plain value",
            ),
            (
                serde_json::json!({"path": "/api", "path_match": "prefix"}),
                "its path /api is a prefix",
            ),
            (
                serde_json::json!({"path": "/x", "body": {"type": "any"}}),
                "any body will do, and which one is not written",
            ),
        ] {
            let example = example(serde_json::json!({"name": "x", "request": request}));
            match plan(&example, &BTreeMap::new()) {
                Plan::FromCall(reason) => assert_eq!(reason, why),
                _ => panic!("{why}: not from a call"),
            }
        }
    }

    #[test]
    fn only_get_and_head_are_sent_unless_the_example_says_otherwise() {
        let post =
            serde_json::json!({"name": "create", "request": {"method": "POST", "path": "/users"}});
        assert!(reason(post.clone()).contains("drift_check: true"));
        let mut opted_in = post;
        opted_in["drift_check"] = true.into();
        assert_eq!(sent(opted_in).method, Method::POST);
        let any = sent(serde_json::json!({"name": "any", "request": {"path": "/"}}));
        assert_eq!(any.method, Method::GET, "any method is sent as a GET");
        let out =
            serde_json::json!({"name": "get", "request": {"path": "/"}, "drift_check": false});
        assert_eq!(reason(out), "the example opts out (drift_check: false)");
        let trace =
            serde_json::json!({"name": "t", "request": {"method": "TRACE"}, "drift_check": true});
        assert_eq!(reason(trace), "a TRACE is never sent to an upstream");
    }
}
