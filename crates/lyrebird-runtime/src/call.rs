//! One mock call, start to finish: load, preflight, key, quota, engine, delay, response, call
//! record, callbacks. Every answer, refusals included, is an [`Answer`] that goes out through
//! [`finish`], so each one gets the same headers and the same record.

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use lyrebird_engine::compile::MAX_DELAY_MS;
use lyrebird_engine::render::Callback;
use lyrebird_engine::render::RenderContext;
use lyrebird_engine::state::{State, StateWrite};
use lyrebird_engine::{Explanation, Fault, Latency, Outcome, Request as EngineRequest, Selection};
use lyrebird_store::calls::Header;
use lyrebird_store::{ExampleId, KeyId};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::Inner;
use crate::cache::{Entry, LoadedMock};
use crate::call_log::{
    CallLog, CallOutcome, CallRecord, Miss, RateNote, ServingNote, StateNote, logged_headers,
    plain_headers,
};
use crate::connection::Breaker;
use crate::cors;
use crate::faults::{self, Applied};
use crate::headers;
use crate::quota::{Admission, Limits};
use crate::rate_limit::Count;
use crate::response_headers::{RateHeaders, own_headers, response_headers};
use crate::routing::MockTarget;
use crate::upstream::{self, Forward, Streaming};
use lyrebird_import::contract::Violation;

/// How long a call whose connection a fault ended waits to be dropped (see `serve`).
const BROKEN_PATIENCE: Duration = Duration::from_secs(10);

/// What Postman's clients look for in a 404 without a match, and its advice.
const POSTMAN_NO_MATCH: &str = "mockRequestNotFoundError";
const POSTMAN_NO_MATCH_ADVICE: &str =
    "Double check your method and the request path and try again.";

/// A response before it becomes HTTP, with what the call log keeps of it.
struct Answer {
    status: u16,
    /// The headers the example rendered, as it rendered them.
    headers: Vec<Header>,
    /// Headers of the runtime's own answers (errors, preflights); empty for an example's, so
    /// no allocation.
    added: Vec<headers::Added>,
    body: Bytes,
    outcome: CallOutcome,
    /// A render error.
    error: Option<String>,
    delay_ms: u64,
    /// A wait to draw and add to `delay_ms`.
    latency: Option<Latency>,
    callbacks: Vec<Callback>,
    fault: Option<Applied>,
    /// The example's response passes the call to the mock's upstream.
    to_upstream: bool,
    /// The upstream's body, passed on as it comes (then `body` is empty).
    streaming: Option<Box<Streaming>>,
}

impl Answer {
    /// An answer with nothing around it: no wait, fault or callbacks.
    fn plain(
        status: u16,
        headers: Vec<Header>,
        added: Vec<headers::Added>,
        body: Bytes,
        outcome: CallOutcome,
    ) -> Self {
        Self {
            status,
            headers,
            added,
            body,
            outcome,
            error: None,
            delay_ms: 0,
            latency: None,
            callbacks: Vec::new(),
            fault: None,
            to_upstream: false,
            streaming: None,
        }
    }

    /// An error of ours, with its JSON body ([`json_body`]).
    fn error(status: StatusCode, body: Bytes, outcome: CallOutcome) -> Self {
        let added = vec![(headers::CONTENT_TYPE, headers::JSON)];
        Self::plain(status.as_u16(), Vec::new(), added, body, outcome)
    }
}

/// The request side of a call, as recorded.
struct Call {
    id: Uuid,
    at: OffsetDateTime,
    started: Instant,
    method: Method,
    host: String,
    path: String,
    query: String,
    headers: HeaderMap,
    client_addr: Option<IpAddr>,
    key_id: Option<KeyId>,
    /// Called on its own host name rather than by path (see `response_headers::confine`).
    own_host: bool,
    /// The call as the mock's simulated rate limit counted it.
    rate: Option<Count>,
    /// What the call log says of how the answer was served: a fault, a wait.
    note: Option<Box<ServingNote>>,
}

/// Answers a request addressed to a mock.
pub(crate) async fn serve(
    runtime: &Inner,
    target: MockTarget,
    client: impl FnOnce(&Parts) -> Option<IpAddr>,
    request: Request,
    breaker: &Breaker,
) -> Response {
    let (mut parts, body) = request.into_parts();
    without_app_cookies(&mut parts.headers, runtime.app_cookies);
    let own_host = target.own_host;
    let Some(id) = target.id else {
        return unrecorded(runtime, &parts.headers, own_host, mock_not_found());
    };
    let entry = match runtime.cache.get(id).await {
        Ok(entry) => entry,
        Err(error) => {
            tracing::error!(%error, mock = %id, "could not load a mock");
            let unavailable = Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                json_body(
                    &json!({"error": {"code": "database_unavailable", "message": "the mock could not be loaded; try again"}}),
                ),
                CallOutcome::Refused {
                    reason: "database_unavailable".to_owned(),
                },
            );
            return unrecorded(runtime, &parts.headers, own_host, unavailable);
        }
    };
    let mock = match &*entry {
        Entry::Ready(mock) => mock,
        Entry::Missing => return unrecorded(runtime, &parts.headers, own_host, mock_not_found()),
        // Why is for the owner (the log, and trying a request through the API); a caller of
        // the mock's URL may be anyone.
        Entry::Broken { .. } => {
            let broken = Answer::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                json_body(
                    &json!({"error": {"code": "mock_broken", "message": "this mock cannot be served: its examples do not compile with this server; its owner can see why by trying a request"}}),
                ),
                CallOutcome::Refused {
                    reason: "mock_broken".to_owned(),
                },
            );
            return unrecorded(runtime, &parts.headers, own_host, broken);
        }
    };
    let mut call = Call {
        id: Uuid::now_v7(),
        at: OffsetDateTime::now_utc(),
        started: Instant::now(),
        host: parts
            .headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        path: target.path,
        query: parts.uri.query().unwrap_or_default().to_owned(),
        client_addr: client(&parts),
        method: parts.method,
        headers: parts.headers,
        key_id: None,
        own_host,
        rate: None,
        note: None,
    };
    if mock.suspended {
        return finish(runtime, mock, call, None, workspace_suspended(), None);
    }
    let body = match Limited::new(body, runtime.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            let too_large = error.is::<LengthLimitError>();
            let answer = body_refused(too_large, runtime.max_body_bytes);
            return finish(runtime, mock, call, None, answer, None);
        }
    };
    let mut request = engine_request(&call, body);
    if cors::is_preflight(call.method.as_str(), &call.headers)
        && !answers_options_itself(mock, &request)
    {
        let preflight = Answer::plain(
            StatusCode::NO_CONTENT.as_u16(),
            Vec::new(),
            cors::preflight_headers(&call.headers),
            Bytes::new(),
            CallOutcome::Preflight,
        );
        return finish(runtime, mock, call, Some(request), preflight, None);
    }
    let presented = call.headers.get("x-api-key");
    let presented_any = presented.is_some();
    call.key_id = presented
        .and_then(|key| key.to_str().ok())
        .and_then(|key| runtime.keys.check(key, mock.workspace));
    if mock.private && call.key_id.is_none() {
        let refused = invalid_credentials(presented_any);
        return finish(runtime, mock, call, Some(request), refused, None);
    }
    if let Some(limiter) = &mock.rate_limit {
        let header = |name: &str| call.headers.get(name).and_then(|v| v.to_str().ok());
        let client = limiter.client(call.client_addr, header("x-api-key"), header);
        let count = limiter.count(&client, call.at.unix_timestamp().unsigned_abs());
        call.rate = Some(count);
        if !count.admitted {
            call.note = Some(Box::new(ServingNote {
                rate_limit: Some(RateNote::new(limiter, client)),
                ..ServingNote::default()
            }));
            let refused = rate_limited(&count);
            return finish(runtime, mock, call, Some(request), refused, None);
        }
    }
    if let Some(contract) = &mock.contract
        && let Some(violations) = contract.check_request(&request)
        && !violations.is_empty()
    {
        let refused = request_invalid(&violations);
        return finish(runtime, mock, call, Some(request), refused, None);
    }
    let limits = match runtime.quotas.admit(mock.workspace).await {
        Admission::Admitted(limits) => limits,
        Admission::Exceeded(limits) => {
            let refused = over_quota(&limits);
            return finish(runtime, mock, call, Some(request), refused, Some(limits));
        }
        Admission::Unavailable(limits) => {
            let refused = quota_unavailable();
            return finish(runtime, mock, call, Some(request), refused, Some(limits));
        }
    };
    let answer = if mock.engine.is_stateful() {
        match state_key(&call.headers) {
            // Boxed: a write of the state holds the store's futures, which would make every
            // call's future (copied into its box per request) many kilobytes larger.
            Ok(key) => Box::pin(answer_in_state(runtime, mock, &mut request, key, call.at)).await,
            Err(message) => state_refusal(StatusCode::BAD_REQUEST, "invalid_state_key", message),
        }
    } else {
        answer(mock, &mut request, call.at, &NO_STATE).0
    };
    let (answer, delay) = as_served(mock, &mut call, answer);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let answer = broken(pass_through(runtime, mock, &call, &request, answer).await);
    let breaks = answer.fault.as_ref().and_then(Applied::breaks);
    let response = finish(runtime, mock, call, Some(request), answer, Some(limits));
    if let Some(how) = breaks {
        // Recorded; now the connection ends without the answer (crate::connection), and this
        // call is dropped with it. Should hyper not read the connection again (a request
        // pipelined behind this one is already in its buffer), the answer goes out after a
        // while, and its first write fails, which ends the connection all the same.
        breaker.trip(how);
        tokio::task::yield_now().await;
        tokio::time::sleep(BROKEN_PATIENCE).await;
    }
    response
}

/// A call sent to the mock's upstream (docs/proxy.md): one no example matched, when the mock
/// passes misses on (or its fallback response says to), or one an example answered whose
/// response says to pass it on. The answer is the upstream's, its body passed on as it comes,
/// or an error of ours saying why there is none; the fault chosen for the call still applies,
/// to the answer read whole. Any other answer is kept, as is the 404 of an `x-mock-response-id`
/// or `-name` that named no example (the caller asked for an example, not for the upstream),
/// and the miss of a `TRACE` or `CONNECT` (which an example cannot pass on either).
async fn pass_through(
    runtime: &Inner,
    mock: &LoadedMock,
    call: &Call,
    request: &EngineRequest,
    answer: Answer,
) -> Answer {
    let passes = upstream::passes(&call.method);
    let upstream = match (&answer.outcome, &mock.upstream) {
        (CallOutcome::Matched { .. }, upstream) if answer.to_upstream => upstream.as_ref(),
        (
            CallOutcome::NoMatch { explanation } | CallOutcome::Fallback { explanation },
            upstream,
        ) if (mock.passes_misses || answer.to_upstream)
            && passes
            && matches!(explanation.0, Selection::NoMatch(_)) =>
        {
            upstream.as_ref()
        }
        _ => return answer,
    };
    let Some(upstream) = upstream.filter(|_| passes) else {
        let (status, code, message) = if passes {
            (
                StatusCode::BAD_GATEWAY,
                "no_upstream",
                "the example passes its calls to the mock's upstream, and the mock has none",
            )
        } else {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_passed",
                "TRACE and CONNECT are never passed to an upstream",
            )
        };
        let body = json_body(&json!({"error": {"code": code, "message": message}}));
        return Answer {
            fault: answer.fault,
            ..Answer::error(status, body, answer.outcome)
        };
    };
    let forward = Forward {
        workspace: mock.workspace,
        method: &call.method,
        path: &call.path,
        query: &call.query,
        headers: &call.headers,
        client_addr: call.client_addr,
        body: Bytes::from(request.body.clone()),
    };
    let upstreams = runtime.callbacks.upstreams();
    // A fault changes the answer as it would an example's, so it needs the body whole; the
    // answer to a HEAD has none.
    let (result, note) = if answer.fault.is_some() || call.method == Method::HEAD {
        let (result, note) = upstreams.forward(upstream, forward).await;
        let answered =
            result.map(|answered| (answered.status, answered.headers, answered.body, None));
        (answered, note)
    } else {
        let keep = runtime.call_log.body_cap();
        let (result, note) = upstreams.stream(upstream, forward, keep).await;
        let streamed = result.map(|streamed| {
            let body = Some(Box::new(streamed.body));
            (streamed.status, streamed.headers, Bytes::new(), body)
        });
        (streamed, note)
    };
    let upstream = Box::new(note);
    let outcome = match answer.outcome {
        CallOutcome::Matched {
            example_id,
            example_name,
            decided_by,
            state,
        } => CallOutcome::ExampleProxied {
            example_id,
            example_name,
            decided_by,
            state,
            upstream,
        },
        CallOutcome::NoMatch { explanation } | CallOutcome::Fallback { explanation } => {
            CallOutcome::Proxied {
                explanation,
                upstream,
            }
        }
        // Not reached: only matches and misses come this far.
        other => other,
    };
    let answered = match result {
        Ok((status, headers, body, streaming)) => Answer {
            streaming,
            ..Answer::plain(status, logged_headers(headers), Vec::new(), body, outcome)
        },
        Err(failure) => Answer::error(
            StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_GATEWAY),
            json_body(&json!({"error": {"code": failure.code, "message": failure.message}})),
            outcome,
        ),
    };
    Answer {
        fault: answer.fault,
        ..answered
    }
}

/// The answer as it is served: with chaos's fault when chaos picks the call (the fault changes
/// it later, [`broken`]); and the whole wait before it, which comes before a call is passed to
/// the upstream. Both are noted on the call when there is more to say than the answer.
fn as_served(mock: &LoadedMock, call: &mut Call, mut answer: Answer) -> (Answer, u64) {
    if let Some((chaos, calls)) = &mock.chaos
        && let Some(chosen) = chaos.decide(&call.path, calls.fetch_add(1, Ordering::Relaxed))
    {
        answer.fault = Some(Applied::of_chaos(chosen));
    }
    let drawn = faults::drawn(mock.latency.as_ref()) + faults::drawn(answer.latency.as_ref());
    let delay = (mock.delay_ms + answer.delay_ms + drawn).min(MAX_DELAY_MS);
    if answer.fault.is_some() || drawn > 0 {
        call.note = Some(Box::new(ServingNote {
            fault: answer.fault.as_ref().map(Applied::note),
            delay_ms: delay,
            rate_limit: None,
        }));
    }
    (answer, delay)
}

/// The request as the engine sees it. Its headers and body also go into the call record, so
/// they are converted once per call.
fn engine_request(call: &Call, body: Bytes) -> EngineRequest {
    EngineRequest::new(
        call.method.as_str(),
        call.path.clone(),
        call.query.clone(),
        header_pairs(&call.headers),
        Vec::from(body),
    )
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// The header that keeps a test run's state apart from others' (docs/state.md, "Isolation").
const STATE_HEADER: &str = "x-lyrebird-state";

/// The state a call reads: the key its `x-lyrebird-state` header names, or the mock's default
/// state (`""`); a key that cannot be one is refused, with why.
fn state_key(headers: &HeaderMap) -> Result<&str, String> {
    let Some(value) = headers.get(STATE_HEADER) else {
        return Ok("");
    };
    let key = value.to_str().ok().map(str::trim).unwrap_or("\u{0}");
    lyrebird_store::state::check_state_key(key)
        .map(|()| key)
        .map_err(|message| format!("{STATE_HEADER}: {message}"))
}

fn state_refusal(status: StatusCode, code: &str, message: String) -> Answer {
    Answer::error(
        status,
        json_body(&json!({"error": {"code": code, "message": message}})),
        CallOutcome::Refused {
            reason: code.to_owned(),
        },
    )
}

/// Answers in the mock's state `key`. An answer that only reads the state is decided from the
/// state kept in memory. One that writes locks the state in the database; when the state
/// changed since the kept copy (another process wrote it), the answer is decided again from
/// the state as locked. Then its writes are stored, and the new state kept, before the answer
/// goes out.
async fn answer_in_state(
    runtime: &Inner,
    mock: &LoadedMock,
    request: &mut EngineRequest,
    key: &str,
    now: OffsetDateTime,
) -> Answer {
    let unavailable = |error: lyrebird_store::StoreError| match error {
        lyrebird_store::StoreError::TooManyStates => state_refusal(
            StatusCode::INSUFFICIENT_STORAGE,
            "state_full",
            error.to_string(),
        ),
        // The mock was deleted while the call was under way.
        lyrebird_store::StoreError::NotFound => mock_not_found(),
        error => {
            tracing::error!(%error, mock = %mock.id, "could not read or write a mock's state");
            state_refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the mock's state could not be read or written; try again".to_owned(),
            )
        }
    };
    let kept = match runtime.states.get(mock.id, key).await {
        Ok(state) => state,
        Err(error) => return unavailable(error),
    };
    // `answer` may read a HEAD as a GET; a decision taken again starts from the request as sent.
    let method = request.method.clone();
    let answer_in = |request: &mut EngineRequest, state: &Arc<State>| {
        request.method.clone_from(&method);
        self::answer(mock, request, now, state)
    };
    let (answer, writes) = answer_in(request, &kept);
    if writes.is_empty() {
        return noted(answer, key, &kept, &writes);
    }
    // One write of this state at a time in this process; the one before may have changed it.
    let _turn = runtime.states.turn(mock.id, key).await;
    let (mut state, mut answer, mut writes) = (kept, answer, writes);
    match runtime.states.get(mock.id, key).await {
        Ok(current) if current.version != state.version => {
            (answer, writes) = answer_in(request, &current);
            state = current;
        }
        Ok(_) => {}
        Err(error) => return unavailable(error),
    }
    if writes.is_empty() {
        return noted(answer, key, &state, &writes);
    }
    let since = Instant::now();
    let mut lock = match runtime.store.lock_state(mock.workspace, mock.id, key).await {
        Ok(lock) => lock,
        Err(error) => return unavailable(error),
    };
    // Another process wrote the state since this one read it.
    if lock.version() != state.version {
        state = match lock.load().await {
            Ok(current) => Arc::new(current),
            Err(error) => return unavailable(error),
        };
        (answer, writes) = answer_in(request, &state);
        if writes.is_empty() {
            return noted(answer, key, &state, &writes);
        }
    }
    let mut next = (*state).clone();
    for write in &writes {
        next.apply(write);
    }
    if let Some(max) = mock.state_max_bytes
        && mock.engine.state_bytes(&next) > max
    {
        // Dropping the lock rolls the write back.
        return state_refusal(
            StatusCode::INSUFFICIENT_STORAGE,
            "state_full",
            format!(
                "this workspace's plan lets one state of a mock hold at most {max} bytes; this call would make it larger (reset the state, or ask the server's operator for a larger plan)"
            ),
        );
    }
    match lock.commit(&writes).await {
        Ok(version) => {
            next.version = version;
            runtime.states.written(mock.id, key, Arc::new(next), since);
            noted(answer, key, &state, &writes)
        }
        Err(error) => unavailable(error),
    }
}

/// The answer with the state it was decided in and what it changed, for the call log.
fn noted(mut answer: Answer, key: &str, state: &State, writes: &[StateWrite]) -> Answer {
    if let CallOutcome::Matched { state: note, .. } = &mut answer.outcome {
        *note = Some(Box::new(StateNote {
            key: key.to_owned(),
            version: state.version,
            scenarios: state.scenarios.clone(),
            changed: writes.iter().map(StateWrite::describe).collect(),
        }));
    }
    answer
}

/// True when an example that names `OPTIONS` itself matches this preflight.
fn answers_options_itself(mock: &LoadedMock, request: &EngineRequest) -> bool {
    mock.engine
        .select_in(request, &NO_STATE)
        .matched()
        .is_some_and(|matched| mock.options_examples.contains(&matched.id))
}

/// What a mock would answer, for the web app's "try a request": the same answer as a real call
/// gives, without a key check, the quota, the delay, a call record or callbacks.
#[derive(Debug)]
pub struct TriedAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub outcome: CallOutcome,
    /// A render error.
    pub error: Option<String>,
    /// The delay a real call would wait: the mock's and the example's.
    pub delay_ms: u64,
}

pub(crate) fn try_answer(
    mock: &LoadedMock,
    mut request: EngineRequest,
    key: &str,
    state: &Arc<State>,
) -> TriedAnswer {
    let (answer, writes) = answer(mock, &mut request, OffsetDateTime::now_utc(), state);
    let answer = if mock.engine.is_stateful() {
        noted(answer, key, state, &writes)
    } else {
        answer
    };
    TriedAnswer {
        status: answer.status,
        headers: plain_headers(own_headers(answer.headers, answer.added, 0).into_parts().1),
        body: answer.body,
        outcome: answer.outcome,
        error: answer.error,
        delay_ms: mock.delay_ms.saturating_add(answer.delay_ms),
    }
}

/// A state nothing has written, for the mocks that have none.
static NO_STATE: std::sync::LazyLock<Arc<State>> = std::sync::LazyLock::new(Arc::default);

/// The engine's answer in `state`, and the writes it makes: the matched example, the fallback,
/// or a 404 that explains. `HEAD` answers like `GET` (without the body) unless an example
/// matches `HEAD` itself.
fn answer(
    mock: &LoadedMock,
    request: &mut EngineRequest,
    now: OffsetDateTime,
    state: &Arc<State>,
) -> (Answer, Vec<StateWrite>) {
    let mut outcome = mock.engine.respond_in(request, now, state);
    if request.method == "HEAD" && outcome.selection.matched().is_none() {
        request.method = "GET".to_owned();
        outcome = mock.engine.respond_in(request, now, state);
    }
    let Outcome {
        selection,
        rendered,
        writes,
    } = outcome;
    let answer = match (selection, rendered) {
        (Selection::Matched(matched), Some(rendered)) => Answer {
            status: rendered.status,
            headers: logged_headers(rendered.headers),
            added: Vec::new(),
            body: Bytes::from(rendered.body),
            outcome: CallOutcome::Matched {
                example_id: ExampleId::from(matched.id),
                example_name: matched.name,
                decided_by: matched.decided_by,
                state: None,
            },
            error: rendered.error,
            delay_ms: rendered.delay_ms,
            latency: rendered.latency,
            callbacks: rendered.callbacks,
            fault: rendered
                .fault
                .map(|fault| Applied::of_response(fault, "the example's response")),
            to_upstream: rendered.proxy,
            streaming: None,
        },
        (selection, _) => no_match(mock, request, now, selection),
    };
    (answer, writes)
}

fn no_match(
    mock: &LoadedMock,
    request: &EngineRequest,
    now: OffsetDateTime,
    selection: Selection,
) -> Answer {
    let message = match &selection {
        Selection::NoMatch(explanation) => no_match_message(explanation),
        Selection::UnknownResponseId { id } => format!(
            "x-mock-response-id {id:?} names no example of this mock for {}",
            request.method
        ),
        Selection::UnknownResponseName { name } => format!(
            "x-mock-response-name {name:?} names no example of this mock for {}",
            request.method
        ),
        Selection::Matched(_) => "the example could not be rendered".to_owned(),
    };
    let explanation = Miss(selection);
    if let Some(fallback) = &mock.fallback {
        let rendered = fallback.render(
            &RenderContext {
                request,
                captures: &[],
                env: &mock.environment,
                now,
                state: None,
            },
            &mut Vec::new(),
        );
        return Answer {
            status: rendered.status,
            headers: logged_headers(rendered.headers),
            added: Vec::new(),
            body: Bytes::from(rendered.body),
            outcome: CallOutcome::Fallback { explanation },
            error: rendered.error,
            delay_ms: rendered.delay_ms,
            latency: rendered.latency,
            callbacks: rendered.callbacks,
            fault: rendered
                .fault
                .map(|fault| Applied::of_response(fault, "the fallback response")),
            to_upstream: rendered.proxy,
            streaming: None,
        };
    }
    let body = NoMatch {
        error: NoMatchError {
            code: "no_match",
            name: POSTMAN_NO_MATCH,
            message: &message,
            header: "No matching requests",
        },
        explanation: &explanation,
    };
    let body = json_body(&body);
    Answer::error(
        StatusCode::NOT_FOUND,
        body,
        CallOutcome::NoMatch { explanation },
    )
}

/// The 404 without a match, written from the typed explanation (no JSON tree in between).
#[derive(Serialize)]
struct NoMatch<'a> {
    error: NoMatchError<'a>,
    explanation: &'a Miss,
}

#[derive(Serialize)]
struct NoMatchError<'a> {
    code: &'static str,
    name: &'static str,
    message: &'a str,
    header: &'static str,
}

/// The body of an error of ours: `{"error": {"code", "message", ...more}, ...}`.
fn json_body(body: &impl Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(body).unwrap_or_default())
}

/// The 404's message: the nearest miss and what it failed, in one sentence.
fn no_match_message(explanation: &Explanation) -> String {
    let request = format!("{} {}", explanation.method, explanation.url);
    match explanation.near_misses.first() {
        Some(nearest) => format!(
            "No matching example for {request}; the closest, {:?}, failed because {}. {POSTMAN_NO_MATCH_ADVICE}",
            nearest.name, nearest.message
        ),
        None => format!(
            "No matching example for {request}: this mock has no examples. {POSTMAN_NO_MATCH_ADVICE}"
        ),
    }
}

fn mock_not_found() -> Answer {
    Answer::error(
        StatusCode::NOT_FOUND,
        json_body(&json!({"error": {
            "code": "mock_not_found",
            "name": "mockNotFoundError",
            "message": "no mock has this id: check the mock's URL (the mock may have been deleted)",
        }})),
        CallOutcome::Refused {
            reason: "mock_not_found".to_owned(),
        },
    )
}

fn invalid_credentials(presented: bool) -> Answer {
    let message = if presented {
        "this mock is private and the x-api-key is not a live key of its workspace"
    } else {
        "this mock is private: send a key of its workspace in the x-api-key header"
    };
    Answer::error(
        StatusCode::UNAUTHORIZED,
        json_body(
            &json!({"error": {"code": "invalid_credentials", "name": "invalidCredentialsError", "message": message}}),
        ),
        CallOutcome::Refused {
            reason: "invalid_credentials".to_owned(),
        },
    )
}

fn over_quota(limits: &Limits) -> Answer {
    let resets_at = limits.resets_at().format(&Rfc3339).unwrap_or_default();
    let mut answer = Answer::error(
        StatusCode::TOO_MANY_REQUESTS,
        json_body(&json!({"error": {
            "code": "monthly_quota_exceeded",
            "name": "monthlyQuotaExceededError",
            "message": format!(
                "this workspace has used its monthly quota of {} mock calls (this is the monthly quota, not a rate limit); it resets at {resets_at}",
                limits.limit
            ),
            "limit": limits.limit,
            "used": limits.used,
            "resets_at": resets_at,
        }})),
        CallOutcome::OverQuota,
    );
    let retry_after = limits.reset_seconds(OffsetDateTime::now_utc());
    let retry_after = headers::Value::number(retry_after);
    answer.added.push((headers::RETRY_AFTER, retry_after));
    answer
}

/// The server's operator suspended the mock's workspace.
fn workspace_suspended() -> Answer {
    Answer::error(
        StatusCode::FORBIDDEN,
        json_body(&json!({"error": {
            "code": "workspace_suspended",
            "name": "workspaceSuspendedError",
            "message": "this mock's workspace is suspended by the server's operator: its mocks answer no calls until it is unsuspended",
        }})),
        CallOutcome::Refused {
            reason: "workspace_suspended".to_owned(),
        },
    )
}

/// The workspace's quota cannot be checked: the lease this process held is spent and the
/// database does not grant another (it is away, or stalled).
fn quota_unavailable() -> Answer {
    let mut answer = Answer::error(
        StatusCode::SERVICE_UNAVAILABLE,
        json_body(&json!({"error": {
            "code": "quota_unavailable",
            "message": "this workspace's monthly quota cannot be checked right now (the database is unavailable and this server has used the calls it had reserved); try again in a moment",
        }})),
        CallOutcome::Refused {
            reason: "quota_unavailable".to_owned(),
        },
    );
    answer
        .added
        .push((headers::RETRY_AFTER, headers::Value::number(1)));
    answer
}

fn rate_limited(count: &Count) -> Answer {
    let mut answer = Answer::error(
        StatusCode::TOO_MANY_REQUESTS,
        json_body(&json!({"error": {
            "code": "rate_limited",
            "message": format!(
                "this mock allows {} calls per {} s per client (a simulated rate limit); try again in {} s",
                count.limit, count.window_s, count.reset
            ),
            "limit": count.limit,
            "window_s": count.window_s,
            "retry_after": count.reset,
        }})),
        CallOutcome::Refused {
            reason: "rate_limited".to_owned(),
        },
    );
    answer
        .added
        .push((headers::RETRY_AFTER, headers::Value::number(count.reset)));
    answer
}

/// A call that breaks the mock's OpenAPI contract, answered as Prism answers it: 422 with
/// every violation.
fn request_invalid(violations: &[Violation]) -> Answer {
    let first = &violations[0];
    Answer::error(
        StatusCode::UNPROCESSABLE_ENTITY,
        json_body(&json!({"error": {
            "code": "request_invalid",
            "message": format!(
                "the request breaks the mock's OpenAPI contract: {} ({})",
                first.message, first.at
            ),
            "violations": violations,
        }})),
        CallOutcome::Refused {
            reason: "request_invalid".to_owned(),
        },
    )
}

fn body_refused(too_large: bool, limit: usize) -> Answer {
    let (status, code, message) = if too_large {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request body is larger than the limit of {limit} bytes (LYREBIRD_MOCK_MAX_BODY_BYTES)"
            ),
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request body could not be read".to_owned(),
        )
    };
    Answer::error(
        status,
        json_body(&json!({"error": {"code": code, "message": message}})),
        CallOutcome::Refused {
            reason: code.to_owned(),
        },
    )
}

/// An answer that is not logged: the call names no mock, so no workspace owns it.
/// Counted in the metrics, by its outcome.
fn unrecorded(
    runtime: &Inner,
    request_headers: &HeaderMap,
    own_host: bool,
    answer: Answer,
) -> Response {
    runtime.stats.outcome(&answer.outcome);
    let Answer {
        status,
        headers,
        added,
        body,
        ..
    } = answer;
    let (headers, _) = response_headers(request_headers, own_host, headers, added, None);
    to_response(status, &body, headers, false, None)
}

/// Removes the app's own cookies from the `Cookie` headers, keeping the mock's.
fn without_app_cookies(headers: &mut HeaderMap, app_cookies: &[&str]) {
    if !headers.contains_key(header::COOKIE) {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .map(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split(';')
                .map(str::trim)
                .filter(|pair| {
                    let name = pair.split_once('=').map_or(*pair, |(name, _)| name).trim();
                    !pair.is_empty() && !app_cookies.contains(&name)
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|value| !value.is_empty())
        .collect();
    headers.remove(header::COOKIE);
    for value in kept {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(header::COOKIE, value);
        }
    }
}

/// Adds the quota and CORS headers, records the call, queues its callbacks, and makes the
/// HTTP response.
fn finish(
    runtime: &Inner,
    mock: &LoadedMock,
    call: Call,
    request: Option<EngineRequest>,
    mut answer: Answer,
    limits: Option<Limits>,
) -> Response {
    let rendered = std::mem::take(&mut answer.headers);
    let added = std::mem::take(&mut answer.added);
    let rate = match (call.rate, limits) {
        (Some(count), _) => Some(RateHeaders {
            limit: count.limit.into(),
            remaining: count.remaining.into(),
            reset: count.reset,
            window_s: Some(count.window_s),
        }),
        (None, Some(limits)) => Some(RateHeaders {
            limit: limits.limit,
            remaining: limits.remaining(),
            reset: limits.reset_seconds(call.at),
            window_s: None,
        }),
        (None, None) => None,
    };
    let (headers, logged) = response_headers(&call.headers, call.own_host, rendered, added, rate);
    let head = call.method == Method::HEAD;
    let fault = answer.fault.as_ref().map(|applied| &applied.fault);
    let response = to_response(answer.status, &answer.body, headers, head, fault);
    let callbacks = std::mem::take(&mut answer.callbacks);
    let streaming = answer.streaming.take();
    let fault = answer.fault.as_ref().map(|applied| applied.fault.kind());
    let took = call.started.elapsed();
    runtime.stats.call(&answer.outcome, fault, took);
    let (call_id, started) = (call.id, call.started);
    let record = call_record(mock, call, request, answer, logged, callbacks.len(), took);
    let response = match streaming {
        // Recorded once the answer is over.
        Some(streaming) => response.map(|_| {
            Body::new(Passed {
                streaming,
                record: Some(record),
                log: runtime.call_log.clone(),
                started,
            })
        }),
        None => {
            runtime.call_log.record(record);
            response
        }
    };
    if !callbacks.is_empty() {
        runtime
            .callbacks
            .enqueue(mock.workspace, call_id, callbacks);
    }
    response
}

/// The upstream's answer as the client gets it, passed on as it comes. Its call is recorded
/// once the answer is over, with the start the call log keeps, its size and the whole time it
/// took; or when the client goes away before, which drops it.
struct Passed {
    streaming: Box<Streaming>,
    /// The call, until it is recorded.
    record: Option<CallRecord>,
    log: CallLog,
    started: Instant,
}

impl Passed {
    /// Records the call: the answer is over, whole or with the `error` that stopped it.
    fn end(&mut self, error: Option<String>) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        let ended = self.streaming.ended();
        if let CallOutcome::Proxied { upstream, .. }
        | CallOutcome::ExampleProxied { upstream, .. } = &mut record.outcome
        {
            upstream.latency_ms = ended.latency_ms;
            upstream.error = error;
        }
        record.response_body = ended.start;
        record.latency_us = micros(self.started.elapsed());
        let size = usize::try_from(ended.size).unwrap_or(usize::MAX);
        self.log.record_passed(record, size);
    }
}

impl HttpBody for Passed {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        match ready!(this.streaming.poll_piece(cx)) {
            Some(Ok(piece)) => Poll::Ready(Some(Ok(Frame::data(piece)))),
            // The server ends the connection: the client sees the answer is not whole.
            Some(Err(error)) => {
                let why = this.streaming.broke_off(&error);
                this.end(Some(why.clone()));
                Poll::Ready(Some(Err(std::io::Error::other(why))))
            }
            None => {
                this.end(None);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.streaming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.streaming.size_hint()
    }
}

impl Drop for Passed {
    fn drop(&mut self) {
        if self.record.is_none() {
            return;
        }
        // The server drops a body whose end it knows without asking for it.
        let error = (!self.streaming.is_end_stream()).then(|| {
            format!(
                "the client went away after {} bytes of the answer",
                self.streaming.size()
            )
        });
        self.end(error);
    }
}

/// The call as the call log keeps it; the request's headers and body are the engine's (none
/// when the body could not be read).
fn call_record(
    mock: &LoadedMock,
    call: Call,
    request: Option<EngineRequest>,
    answer: Answer,
    response_headers: Vec<Header>,
    callbacks: usize,
    latency: Duration,
) -> CallRecord {
    let (request_headers, request_body) = match request {
        Some(request) => (request.headers, Bytes::from(request.body)),
        None => (header_pairs(&call.headers), Bytes::new()),
    };
    let request_headers = logged_headers(request_headers);
    CallRecord {
        id: call.id,
        workspace_id: mock.workspace,
        mock_id: mock.id,
        at: call.at,
        method: call.method.as_str().to_owned(),
        host: call.host,
        path: call.path,
        query: call.query,
        request_headers,
        request_body,
        status: answer.status,
        response_headers,
        response_body: answer.body,
        outcome: answer.outcome,
        error: answer.error,
        latency_us: micros(latency),
        client_addr: call.client_addr,
        key_id: call.key_id,
        callbacks,
        note: call.note,
        version: mock.version,
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The answer's body as a status, `empty` or `malformed` fault changes it.
fn broken(mut answer: Answer) -> Answer {
    let Some(applied) = &answer.fault else {
        return answer;
    };
    match &applied.fault {
        Fault::Status { .. } => {
            let status = applied.fault.status(applied.draw).unwrap_or(500);
            answer.body = json_body(&faults::status_body(status, &applied.reason));
            answer.status = status;
            answer.headers = Vec::new();
            answer.added = vec![(headers::CONTENT_TYPE, headers::JSON)];
        }
        Fault::Empty {} => answer.body = Bytes::new(),
        Fault::Malformed {} => answer.body = faults::malformed(&answer.body),
        Fault::Close {} | Fault::Reset {} | Fault::Truncated {} | Fault::Trickle { .. } => {}
    }
    answer
}

/// The HTTP response; a `truncated` or `trickle` fault changes how its body is sent.
fn to_response(
    status: u16,
    body: &Bytes,
    mut headers: HeaderMap,
    head: bool,
    fault: Option<&Fault>,
) -> Response {
    let body = if head {
        Body::empty()
    } else if let Some(fault @ (Fault::Truncated {} | Fault::Trickle { .. })) = fault {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        faults::body(Some(fault), body.clone())
    } else {
        Body::from(body.clone())
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    *response.headers_mut() = headers;
    response
}
