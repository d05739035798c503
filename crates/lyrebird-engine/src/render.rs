//! Turning an example's response into bytes for one request: fixed parts prepared once when the
//! example is compiled, templates rendered with the request as context, and the effects the
//! template asked for (delay, callbacks) returned as data for the server to perform.
//!
//! Rendering never fails from the caller's point of view: a template that breaks at request time
//! answers 500 with a JSON body naming the problem, and [`Rendered::error`] carries the same
//! message for the call log.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Serde, Value};
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::ValidationError;
use crate::model::{Fault, Latency, ResponseSpec};
use crate::request::Request;
use crate::state::{Seeds, State, StateWrite};
use crate::template::{Effects, NOW_KEY, REQUEST_FIELDS, Reads, RenderError, Template};
use crate::template_state::{STATE_KEY, StateObject};
use crate::{jsonpath, template};

/// What a render reads besides the response itself.
pub struct RenderContext<'a> {
    pub request: &'a Request,
    /// Named path segments the example's path captured (`/users/:id` gives `id`).
    pub captures: &'a [(String, String)],
    /// The mock's environment variables.
    pub env: &'a BTreeMap<String, String>,
    /// The moment `now()` returns; fixed per request so a body agrees with itself.
    pub now: OffsetDateTime,
    /// The mock's state as the call sees it, and its collections' seeds; `None` where there is
    /// none (a fallback response).
    pub state: Option<(&'a Arc<State>, &'a Arc<Seeds>)>,
}

/// The response to send and what to do around it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The example's delay plus any the template asked for.
    pub delay_ms: u64,
    /// A wait to draw and add to `delay_ms`.
    pub latency: Option<Latency>,
    pub fault: Option<Fault>,
    /// The call goes to the mock's upstream, whose answer replaces this one.
    pub proxy: bool,
    pub callbacks: Vec<Callback>,
    /// Why rendering failed, when the response is the 500 that replaced the example's.
    pub error: Option<String>,
}

/// An HTTP request a template asked the server to send after answering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Callback {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Milliseconds to wait after the response before sending.
    pub delay_ms: u64,
}

/// A response compiled once per example.
#[derive(Debug)]
pub struct CompiledResponse {
    status: u16,
    headers: Vec<(String, Part)>,
    body: Part,
    delay_ms: u64,
    latency: Option<Latency>,
    fault: Option<Fault>,
    proxy: bool,
}

#[derive(Debug)]
enum Part {
    Fixed(String),
    Template(Box<Template>),
}

impl Part {
    fn reads(&self) -> Reads {
        match self {
            Part::Fixed(_) => Reads::default(),
            Part::Template(t) => t.reads(),
        }
    }

    /// This part's bytes for one render, adding what a template asks for to `effects`. A fixed
    /// part is borrowed: the caller copies it once, into what it returns. A plain template is
    /// rendered from `ctx`; any other from the template context `context` gives.
    fn render(
        &self,
        ctx: &RenderContext,
        context: impl FnOnce() -> Value,
        effects: &mut Effects,
    ) -> Result<Cow<'_, [u8]>, RenderError> {
        match self {
            Part::Fixed(text) => Ok(Cow::Borrowed(text.as_bytes())),
            Part::Template(t) => {
                if let Some(bytes) = t.plain().and_then(|plain| plain.render(ctx)) {
                    return Ok(Cow::Owned(bytes));
                }
                let (bytes, more) = t.render(context())?;
                effects.delay_ms = effects.delay_ms.saturating_add(more.delay_ms);
                effects.callbacks.extend(more.callbacks);
                effects.values.extend(more.values);
                Ok(Cow::Owned(bytes))
            }
        }
    }
}

/// Whether a body given as text is JSON, so that it is sent as `application/json` when the
/// example declares no type: text that parses as JSON; or, for a template (which only is JSON
/// once rendered), text that opens and closes as a JSON object or array does, such as
/// `{"id": "{{ path.id }}"}`, and does not start with a template tag.
pub fn json_shaped(text: &str, template: bool) -> bool {
    let text = text.trim();
    if !template {
        return (text.starts_with('{') || text.starts_with('['))
            && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    }
    let tag = ["{{", "{%", "{#"].iter().any(|tag| text.starts_with(tag));
    !tag && ((text.starts_with('{') && text.ends_with('}'))
        || (text.starts_with('[') && text.ends_with(']')))
}

impl CompiledResponse {
    /// Checks and compiles `spec`. With `template` set, the body (a string, or any other JSON
    /// value as its compact text) and every header value containing `{{` or `{%` are templates.
    pub fn compile(spec: &ResponseSpec) -> Result<CompiledResponse, Vec<ValidationError>> {
        let mut errors = Vec::new();
        if !(100..=599).contains(&spec.status) {
            errors.push(ValidationError::new(
                "response.status",
                format!("{} is not an HTTP status (100 to 599)", spec.status),
            ));
        }
        let mut headers = Vec::with_capacity(spec.headers.len() + 1);
        for (i, header) in spec.headers.iter().enumerate() {
            let field = format!("response.headers[{i}]");
            if header.name.is_empty() || !header.name.bytes().all(is_token_byte) {
                errors.push(ValidationError::new(
                    format!("{field}.name"),
                    format!("{:?} is not a valid header name", header.name),
                ));
            }
            if header
                .value
                .bytes()
                .any(|b| b == b'\r' || b == b'\n' || b == 0)
            {
                errors.push(ValidationError::new(
                    format!("{field}.value"),
                    "header values cannot contain line breaks or NUL",
                ));
                continue;
            }
            let is_template =
                spec.template && (header.value.contains("{{") || header.value.contains("{%"));
            let part = if is_template {
                match Template::compile(&header.value) {
                    Ok(t) => Part::Template(Box::new(t)),
                    Err(e) => {
                        errors.push(ValidationError::in_source(format!("{field}.value"), e));
                        continue;
                    }
                }
            } else {
                Part::Fixed(header.value.clone())
            };
            headers.push((header.name.clone(), part));
        }
        let (body_text, json) = match &spec.body {
            None => (String::new(), false),
            Some(serde_json::Value::String(text)) => {
                (text.clone(), json_shaped(text, spec.template))
            }
            Some(value) => (value.to_string(), true),
        };
        let declared = spec
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("content-type"));
        if json && !declared {
            headers.push((
                "content-type".to_owned(),
                Part::Fixed("application/json".to_owned()),
            ));
        }
        let body = if spec.template {
            match Template::compile(&body_text) {
                Ok(t) => Part::Template(Box::new(t)),
                Err(e) => {
                    errors.push(ValidationError::in_source("response.body", e));
                    Part::Fixed(String::new())
                }
            }
        } else {
            Part::Fixed(body_text)
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CompiledResponse {
            status: spec.status,
            headers,
            body,
            delay_ms: spec.delay_ms,
            latency: spec.latency,
            fault: spec.fault.clone(),
            proxy: spec.proxy,
        })
    }

    /// Whether a template of this response reads or writes the mock's state.
    pub fn reads_state(&self) -> bool {
        std::iter::once(&self.body)
            .chain(self.headers.iter().map(|(_, part)| part))
            .any(|part| part.reads().state())
    }

    /// Renders the response for one request; the keys a template set go to `writes`.
    pub fn render(&self, ctx: &RenderContext, writes: &mut Vec<StateWrite>) -> Rendered {
        // Built by the first template that MiniJinja renders, if any.
        let context = OnceCell::new();
        let context = || {
            context
                .get_or_init(|| {
                    let parts =
                        std::iter::once(&self.body).chain(self.headers.iter().map(|(_, p)| p));
                    template_context(
                        ctx,
                        parts.map(Part::reads).fold(Reads::default(), |a, b| a | b),
                    )
                })
                .clone()
        };
        let mut effects = Effects::default();
        let mut rendered = || {
            let mut headers = Vec::with_capacity(self.headers.len());
            for (name, part) in &self.headers {
                let value = match part {
                    // Checked for line breaks when the response was compiled.
                    Part::Fixed(text) => text.clone(),
                    Part::Template(_) => {
                        let value = part.render(ctx, context, &mut effects)?;
                        let value = String::from_utf8_lossy(&value).into_owned();
                        if value.contains(['\r', '\n', '\0']) {
                            return Err(RenderError {
                                message: format!("the header {name} rendered with a line break"),
                                limit: false,
                            });
                        }
                        value
                    }
                };
                headers.push((name.clone(), value));
            }
            let body = self.body.render(ctx, context, &mut effects)?.into_owned();
            Ok((body, headers))
        };
        match rendered() {
            Ok((body, headers)) => {
                // Taking apart even an empty map costs a walk: most renders set no key.
                if !effects.values.is_empty() {
                    writes.extend(
                        std::mem::take(&mut effects.values)
                            .into_iter()
                            .map(|(key, value)| StateWrite::Value { key, value }),
                    );
                }
                self.finish(body, headers, effects)
            }
            Err(error) => failure(error),
        }
    }

    fn finish(&self, body: Vec<u8>, headers: Vec<(String, String)>, effects: Effects) -> Rendered {
        Rendered {
            status: self.status,
            headers,
            body,
            delay_ms: self
                .delay_ms
                .saturating_add(effects.delay_ms)
                .min(self.delay_ms.max(template::MAX_DELAY_MS)),
            latency: self.latency,
            fault: self.fault.clone(),
            proxy: self.proxy,
            callbacks: effects.callbacks,
            error: None,
        }
    }
}

/// The 500 that replaces a response whose template failed: `code` tells a budget that ran out
/// (`render_limit`) from a template that failed on its own terms (`template_error`).
fn failure(error: RenderError) -> Rendered {
    let RenderError { message, limit } = error;
    let body = serde_json::json!({
        "error": "response template failed",
        "code": if limit { "render_limit" } else { "template_error" },
        "message": message,
    });
    Rendered {
        status: 500,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: body.to_string().into_bytes(),
        delay_ms: 0,
        latency: None,
        fault: None,
        proxy: false,
        callbacks: Vec::new(),
        error: Some(message),
    }
}

/// RFC 9110 token characters, the only ones allowed in a header name.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A map where a name that repeats keeps its first value.
fn first_wins(pairs: &[(String, String)]) -> Value {
    map_of(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
}

/// A template map (what `Value::from_pairs` makes) of these entries; of a key that repeats,
/// the first is kept. Inserted one by one: collecting copies and sorts the entries first, and
/// a render builds several of these small maps on every call.
fn map_of<K: Into<Value>, V: Into<Value>>(entries: impl IntoIterator<Item = (K, V)>) -> Value {
    let mut map = BTreeMap::new();
    for (key, value) in entries {
        if let Entry::Vacant(slot) = map.entry(key.into()) {
            slot.insert(value.into());
        }
    }
    Value::from_object(map)
}

/// `request.json`: the body read leniently ([`jsonpath::parse_lenient`]). Strict JSON comes from
/// the request, which parsed it once (a condition on the body may have already); what parses
/// strictly there parses to the same value as text, since JSON that parses is valid UTF-8.
fn json(request: &Request) -> Value {
    match request.json_body() {
        Some(json) => Value::from(Serde(json)),
        None => jsonpath::parse_lenient(&request.body_text())
            .map_or(Value::from(()), |v| Value::from(Serde(v))),
    }
}

/// `request.segments`: the path's segments, empty ones left out.
pub(crate) fn segments(path: &str) -> impl Iterator<Item = &str> + Clone {
    path.split('/').filter(|segment| !segment.is_empty())
}

/// The names of the context's top level, sorted as a map's keys enumerate.
const TOP: [&str; 5] = [NOW_KEY, "env", "path", "request", STATE_KEY];

/// A map of a fixed set of names (sorted), each present or not: the context's top level and
/// its `request`. Made on every render, so made in one allocation, where a map value costs a
/// node, an `Arc` and a comparison of keys for every insert.
#[derive(Debug)]
struct Fields<const N: usize> {
    names: &'static [&'static str; N],
    values: [Option<Value>; N],
}

impl<const N: usize> Object for Fields<N> {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        let index = self.names.iter().position(|name| *name == key)?;
        self.values[index].clone()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.names
                .iter()
                .zip(&self.values)
                .filter(|(_, value)| value.is_some())
                .map(|(name, _)| Value::from(*name))
                .collect(),
        )
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.values.iter().flatten().count())
    }
}

/// The template context, with only the parts some template of the response reads.
pub(crate) fn template_context(ctx: &RenderContext, reads: Reads) -> Value {
    let request = ctx.request;
    let fields = std::array::from_fn(|index| {
        reads
            .request_field(index)
            .then(|| match REQUEST_FIELDS[index] {
                "url" => Value::from(request.url_text().as_ref()),
                "path" => Value::from(request.path.as_str()),
                "method" => Value::from(request.method.as_str()),
                "query" => first_wins(request.query_params()),
                "headers" => first_wins(&request.headers),
                "cookies" => first_wins(request.cookies()),
                "form" => first_wins(request.form_params().unwrap_or_default()),
                "body" => Value::from(request.body_text().as_ref()),
                "json" => json(request),
                _ => Value::from_iter(segments(&request.path).map(Value::from)),
            })
    });
    let env = reads
        .env()
        .then(|| map_of(ctx.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
    let state = ctx.state.filter(|_| reads.state()).map(|(state, seeds)| {
        Value::from_object(StateObject {
            state: Arc::clone(state),
            seeds: Arc::clone(seeds),
        })
    });
    Value::from_object(Fields {
        names: &TOP,
        values: [
            Some(Value::from(ctx.now.unix_timestamp_nanos())),
            env,
            reads.captures().then(|| first_wins(ctx.captures)),
            Some(Value::from_object(Fields {
                names: &REQUEST_FIELDS,
                values: fields,
            })),
            state,
        ],
    })
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy;
    use serde_json::json;

    use super::*;

    fn render(body: &str, request: &Request, captures: &[(String, String)]) -> String {
        let spec = ResponseSpec {
            body: Some(json!(body)),
            template: true,
            ..ResponseSpec::default()
        };
        let rendered = CompiledResponse::compile(&spec)
            .expect("the response compiles")
            .render(
                &RenderContext {
                    request,
                    captures,
                    env: &BTreeMap::new(),
                    now: OffsetDateTime::UNIX_EPOCH,
                    state: None,
                },
                &mut Vec::new(),
            );
        assert_eq!(rendered.error, None);
        String::from_utf8(rendered.body).unwrap()
    }

    proptest::proptest! {
        #[test]
        fn the_json_of_a_request_is_its_body_read_leniently(
            body in proptest::prop_oneof![
                r#"[{}\[\]":,a-z0-9 .eé\\-]{0,24}"#.prop_map(String::into_bytes),
                proptest::sample::select(vec![
                    r#"{"a": 1, "b": [1.5, -2, 1e400, "x\u00e9"], "a": null}"#,
                    r#"{a: 1, "b": {c: true}}"#,
                    "[1, 2] [3]",
                    "18446744073709551616",
                ])
                .prop_map(|text| text.as_bytes().to_vec()),
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
            ]
        ) {
            let request = Request::new("POST", "/", "", Vec::new(), body);
            let lenient = jsonpath::parse_lenient(&request.body_text())
                .map_or(Value::from(()), |v| Value::from(Serde(v)));
            proptest::prop_assert_eq!(
                serde_json::to_string(&json(&request)).ok(),
                serde_json::to_string(&lenient).ok()
            );
        }
    }

    #[test]
    fn plain_templates_and_others_render_side_by_side() {
        use crate::model::Header;
        let request = Request::from_url("get", "/orders/7?q=1", &[], "");
        let captures = [("id".to_owned(), "7".to_owned())];
        let render = |header: &str, body: &str| {
            let spec = ResponseSpec {
                headers: vec![Header {
                    name: "x-h".to_owned(),
                    value: header.to_owned(),
                }],
                body: Some(json!(body)),
                template: true,
                ..ResponseSpec::default()
            };
            let response = CompiledResponse::compile(&spec).expect("the response compiles");
            let ctx = RenderContext {
                request: &request,
                captures: &captures,
                env: &BTreeMap::new(),
                now: OffsetDateTime::UNIX_EPOCH,
                state: None,
            };
            let rendered = response.render(&ctx, &mut Vec::new());
            (rendered.headers, String::from_utf8(rendered.body).unwrap())
        };
        let header = |value: &str| vec![("x-h".to_owned(), value.to_owned())];
        assert_eq!(
            render(
                "{{ path.id }}",
                "{{ request.method }} {{ request.query | length }}"
            ),
            (header("7"), "GET 1".to_owned())
        );
        assert_eq!(
            render(
                "{{ request.query | length }}",
                "{{ request.url }} at {{ now() }}"
            ),
            (
                header("1"),
                "/orders/7?q=1 at 1970-01-01T00:00:00Z".to_owned()
            )
        );
        assert_eq!(
            render("{{ path.id }}", "{{ request.body }}{{ request.url }}"),
            (header("7"), "/orders/7?q=1".to_owned())
        );
    }

    #[test]
    fn a_repeated_query_parameter_or_header_renders_its_first_value() {
        let request = Request::from_url(
            "GET",
            "/x?a=1&b=2&a=3",
            &[("X-N", "first"), ("x-n", "second")],
            "",
        );
        assert_eq!(
            render(
                "{{ request.query.a }} {{ request.headers['x-n'] }} {{ request.query | length }}",
                &request,
                &[]
            ),
            "1 first 2"
        );
    }

    #[test]
    fn the_request_is_a_map_of_its_fields_in_name_order() {
        let request = Request::from_url("POST", "/orders/7?x=1", &[("a", "b")], "{\"n\": 2}");
        let captures = [("id".to_owned(), "7".to_owned())];
        assert_eq!(
            render(
                "{% for k in request %}{{ k }} {% endfor %}{{ request | length }}",
                &request,
                &captures
            ),
            "body cookies form headers json method path query segments url 10"
        );
        assert_eq!(
            render(
                "{{ request.method }} {{ request['url'] }} {{ request.json.n }} {{ path.id }} {{ request.nothing is undefined }}",
                &request,
                &captures
            ),
            "POST /orders/7?x=1 2 7 true"
        );
        assert_eq!(
            render("{{ request | tojson }}", &request, &captures),
            r#"{"body": "{\"n\": 2}", "cookies": {}, "form": {}, "headers": {"a": "b"}, "json": {"n": 2}, "method": "POST", "path": "/orders/7", "query": {"x": "1"}, "segments": ["orders", "7"], "url": "/orders/7?x=1"}"#
        );
    }
}
