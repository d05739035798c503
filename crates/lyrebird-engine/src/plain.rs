//! Templates rendered without MiniJinja. Most response templates are text with a few values of
//! the request in it (`{"id": "{{ path.id }}", "at": "{{ now() }}"}`); running them in
//! MiniJinja costs a context of values built for every call and a VM run, several times what
//! copying the text and the values costs. Such a template is recognised once, from the
//! instructions MiniJinja compiled it to, and rendered here straight from the request.
//!
//! What is recognised prints exactly what MiniJinja prints: text (whitespace control and
//! comments already applied by MiniJinja's compiler), string constants, request values that are
//! strings (a value that is missing prints nothing, as the environment's chainable undefined
//! does, or the string given to `default`), and the clock and random functions without
//! arguments, called through the same code as the environment's. Anything else (a filter other
//! than `default`, a test, arithmetic, a tag, a value printed as JSON) leaves the template to
//! MiniJinja. So do the renders whose result MiniJinja decides another way: a value of the
//! body's JSON that is not a string (or a body that is not strict JSON), output past
//! [`MAX_OUTPUT_BYTES`] (MiniJinja then fails with its own error), a template long enough to run
//! out of [`FUEL`], lookups that would scan more than [`MAX_SCANNED`] entries of a large request,
//! and a clock out of range.

use std::borrow::Cow;

use minijinja::machinery::{Instruction, Instructions};
use minijinja::value::ValueKind;
use time::UtcOffset;

use crate::datetime;
use crate::render::{self, RenderContext};
use crate::template::{FUEL, GENERATORS, Generator, MAX_OUTPUT_BYTES, iso_timestamp};

/// Entries of the request's lists (parameters, headers, captures, path segments) one render may
/// look through before it leaves the template to MiniJinja, whose maps answer each lookup
/// without a scan: it keeps a hostile template's thousands of lookups into a request of
/// thousands of parameters from running long.
const MAX_SCANNED: usize = 1 << 20;

/// A template of text and plain lookups, in order.
#[derive(Debug)]
pub(crate) struct Plain {
    pieces: Vec<Piece>,
    /// Bytes reserved at once for the output, as growing it while writing costs more: the
    /// length of the source (a lookup mostly prints less than its `{{ ... }}`) and
    /// [`CALL_BYTES`] for each call.
    capacity: usize,
}

/// About the most a call prints, but for the longer random texts: `now()` prints 30 bytes,
/// `uuid()` 36.
const CALL_BYTES: usize = 40;

#[derive(Debug)]
enum Piece {
    Text(Box<str>),
    /// A value of the request; missing, it prints `default` (or nothing).
    Value {
        source: Source,
        default: Option<Box<str>>,
    },
    Call(Call),
}

/// Where a value comes from, by the names the template context gives it.
#[derive(Debug)]
enum Source {
    /// `path.<name>`: a named path segment.
    Capture(Box<str>),
    /// `env.<name>`: an environment variable of the mock.
    Env(Box<str>),
    /// `request.url`, `request.path`, `request.method`, `request.body`.
    Url,
    Path,
    Method,
    Body,
    /// `request.query.<name>` and the other maps of the request: the first value of the name.
    Param(Params, Box<str>),
    /// `request.segments[index]`, from the end when negative.
    Segment(i64),
    /// `request.json` and steps into it: a string of the body's JSON printed here, any other
    /// value left to MiniJinja, which prints it as it does.
    Json(Box<[Step]>),
}

#[derive(Debug, Clone, Copy)]
enum Params {
    Query,
    Headers,
    Cookies,
    Form,
}

/// A function called without arguments.
#[derive(Debug)]
enum Call {
    Now,
    Timestamp,
    IsoTimestamp,
    Generate(Generator),
}

/// One step of a lookup: `.name`, `['name']` or `[index]`.
#[derive(Debug, Clone)]
enum Step {
    Name(Box<str>),
    Index(i64),
}

impl Plain {
    /// The plain form of a compiled template, if it has one.
    pub(crate) fn of(instructions: &Instructions<'_>) -> Option<Plain> {
        let source_bytes = instructions.source().len();
        let instructions: Vec<_> = (0..).map_while(|index| instructions.get(index)).collect();
        // MiniJinja fails at the instruction that spends the last of its fuel; a plain template
        // runs each of its instructions once.
        if instructions.len() as u64 >= FUEL {
            return None;
        }
        let mut instructions = instructions.into_iter().peekable();
        let mut pieces = Vec::new();
        while let Some(instruction) = instructions.next() {
            let piece = match instruction {
                Instruction::EmitRaw(text) => {
                    pieces.push(Piece::Text((*text).into()));
                    continue;
                }
                Instruction::LoadConst(value) if value.kind() == ValueKind::String => {
                    Piece::Text(value.as_str()?.into())
                }
                Instruction::CallFunction(name, Some(0)) => Piece::Call(call(name)?),
                Instruction::Lookup(top) => {
                    let mut steps = Vec::new();
                    let mut default = None;
                    loop {
                        match instructions.peek()? {
                            Instruction::GetAttr(name) => steps.push(Step::Name((*name).into())),
                            Instruction::LoadConst(key) => {
                                instructions.next();
                                match (instructions.peek()?, key.as_str()) {
                                    (Instruction::GetItem, Some(name)) => {
                                        steps.push(Step::Name(name.into()));
                                    }
                                    (Instruction::GetItem, None) => {
                                        steps.push(Step::Index(key.as_i64()?));
                                    }
                                    (
                                        Instruction::ApplyFilter("default", Some(2), _),
                                        Some(text),
                                    ) => {
                                        default = Some(text.into());
                                        instructions.next();
                                        break;
                                    }
                                    _ => return None,
                                }
                            }
                            _ => break,
                        }
                        instructions.next();
                    }
                    Piece::Value {
                        source: source(top, &steps)?,
                        default,
                    }
                }
                _ => return None,
            };
            let Some(Instruction::Emit) = instructions.next() else {
                return None;
            };
            pieces.push(piece);
        }
        let calls = pieces
            .iter()
            .filter(|piece| matches!(piece, Piece::Call(_)))
            .count();
        Some(Plain {
            capacity: source_bytes + calls * CALL_BYTES,
            pieces,
        })
    }

    /// The rendered bytes, or `None` where MiniJinja must decide (see the module's comment).
    pub(crate) fn render(&self, ctx: &RenderContext) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.capacity.min(MAX_OUTPUT_BYTES));
        let mut scanned = 0;
        for piece in &self.pieces {
            let mut write = |bytes: &[u8]| {
                (out.len() + bytes.len() <= MAX_OUTPUT_BYTES).then(|| out.extend_from_slice(bytes))
            };
            match piece {
                Piece::Text(text) => write(text.as_bytes())?,
                Piece::Value { source, default } => {
                    let value = source.value(ctx, &mut scanned)?;
                    if let Some(text) = value.as_deref().or(default.as_deref()) {
                        write(text.as_bytes())?;
                    }
                }
                Piece::Call(call) => write(call.text(ctx)?.as_bytes())?,
            }
        }
        Some(out)
    }
}

/// The function a zero-argument call names, if it is one printed here.
fn call(name: &str) -> Option<Call> {
    Some(match name {
        "now" => Call::Now,
        "timestamp" => Call::Timestamp,
        "iso_timestamp" => Call::IsoTimestamp,
        _ => Call::Generate(GENERATORS.iter().find(|(n, _)| *n == name)?.1),
    })
}

/// The value `top` followed by `steps` looks up, if it is a string or missing (or, in the
/// body's JSON, may be).
fn source(top: &str, steps: &[Step]) -> Option<Source> {
    let name = |step: &Step| match step {
        Step::Name(name) => Some(name.clone()),
        Step::Index(_) => None,
    };
    Some(match (top, steps) {
        ("path", [key]) => Source::Capture(name(key)?),
        ("env", [key]) => Source::Env(name(key)?),
        ("request", [Step::Name(field), rest @ ..]) => match (&**field, rest) {
            ("url", []) => Source::Url,
            ("path", []) => Source::Path,
            ("method", []) => Source::Method,
            ("body", []) => Source::Body,
            ("query", [key]) => Source::Param(Params::Query, name(key)?),
            ("headers", [key]) => Source::Param(Params::Headers, name(key)?),
            ("cookies", [key]) => Source::Param(Params::Cookies, name(key)?),
            ("form", [key]) => Source::Param(Params::Form, name(key)?),
            ("segments", [Step::Index(index)]) => Source::Segment(*index),
            ("json", steps) => Source::Json(steps.into()),
            _ => return None,
        },
        _ => return None,
    })
}

impl Source {
    /// The value, `Some(None)` when missing; `None` when the scans of this render would pass
    /// [`MAX_SCANNED`].
    fn value<'a>(
        &self,
        ctx: &RenderContext<'a>,
        scanned: &mut usize,
    ) -> Option<Option<Cow<'a, str>>> {
        let request = ctx.request;
        let mut scan = |entries: usize| {
            *scanned += entries;
            (*scanned <= MAX_SCANNED).then_some(())
        };
        let first = |pairs: &'a [(String, String)], name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str().into())
        };
        Some(match self {
            Source::Capture(name) => {
                scan(ctx.captures.len())?;
                first(ctx.captures, name)
            }
            Source::Env(name) => ctx.env.get(&**name).map(|v| v.as_str().into()),
            Source::Url => Some(request.url_text()),
            Source::Path => Some(request.path.as_str().into()),
            Source::Method => Some(request.method.as_str().into()),
            Source::Body => Some(request.body_text()),
            Source::Param(params, name) => {
                let pairs = match params {
                    Params::Query => request.query_params(),
                    Params::Headers => &request.headers,
                    Params::Cookies => request.cookies(),
                    Params::Form => request.form_params().unwrap_or_default(),
                };
                scan(pairs.len())?;
                first(pairs, name)
            }
            Source::Segment(index) => {
                scan(request.path.len())?;
                let mut segments = render::segments(&request.path);
                position(*index, || segments.clone().count())
                    .and_then(|index| segments.nth(index))
                    .map(Cow::Borrowed)
            }
            // Not strict JSON: MiniJinja reads it leniently.
            Source::Json(steps) => json_text(request.json_body()?, steps)?.map(Cow::Borrowed),
        })
    }
}

/// Where `index` points in a list of `len()` items, as MiniJinja indexes: from the end when
/// negative.
fn position(index: i64, len: impl FnOnce() -> usize) -> Option<usize> {
    match usize::try_from(index) {
        Ok(index) => Some(index),
        Err(_) => len().checked_sub(usize::try_from(index.unsigned_abs()).ok()?),
    }
}

/// The string `steps` find in `json`, `Some(None)` when a key or an index is missing; `None` for
/// anything else (a number, a map, a step into a string), which MiniJinja prints its own way.
fn json_text<'a>(json: &'a serde_json::Value, steps: &[Step]) -> Option<Option<&'a str>> {
    let mut value = json;
    for step in steps {
        let found = match (value, step) {
            (serde_json::Value::Object(map), Step::Name(name)) => map.get(&**name),
            (serde_json::Value::Array(items), Step::Index(index)) => {
                position(*index, || items.len()).and_then(|index| items.get(index))
            }
            _ => return None,
        };
        match found {
            Some(found) => value = found,
            None => return Some(None),
        }
    }
    match value {
        serde_json::Value::String(text) => Some(Some(text)),
        _ => None,
    }
}

impl Call {
    /// What the call prints; `None` for a clock out of range, whose error MiniJinja words.
    fn text(&self, ctx: &RenderContext) -> Option<String> {
        // The moment in UTC, as the environment's clock reads it back from the context's Unix
        // nanoseconds.
        let now = || ctx.now.checked_to_offset(UtcOffset::UTC);
        Some(match self {
            Call::Now => datetime::rfc3339(now()?),
            Call::Timestamp => now()?.unix_timestamp().to_string(),
            Call::IsoTimestamp => iso_timestamp(now()?).ok()?,
            Call::Generate(generate) => generate(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use time::OffsetDateTime;
    use time::macros::datetime;

    use super::*;
    use crate::render::template_context;
    use crate::request::Request;
    use crate::template::{RenderError, Template};

    /// Names a template can write after a dot, present in the requests below or not.
    const IDENTS: [&str; 5] = ["id", "a", "x_1", "Id", "items"];
    /// Names a template can write between quotes.
    const KEYS: [&str; 7] = ["id", "a", "x-trace", "a b", "é", "", "Content-Type"];

    /// A template piece: its source and whether it is one a plain template may have.
    fn piece() -> impl Strategy<Value = (String, bool)> {
        let ident = proptest::sample::select(IDENTS.to_vec());
        let key = proptest::sample::select(KEYS.to_vec());
        let plain = prop_oneof![
            ident.clone().prop_map(|n| format!("path.{n}")),
            key.clone().prop_map(|k| format!("path['{k}']")),
            ident.clone().prop_map(|n| format!("env.{n}")),
            key.clone().prop_map(|k| format!("env[\"{k}\"]")),
            proptest::sample::select(vec![
                "request.url",
                "request.path",
                "request.method",
                "request.body",
                "request['url']",
                "request[\"method\"]",
                "now()",
                "timestamp()",
                "iso_timestamp()",
                "\"{{ \\\"<&>\"",
                "'é'",
            ])
            .prop_map(str::to_owned),
            (
                proptest::sample::select(vec!["query", "headers", "cookies", "form"]),
                key.clone()
            )
                .prop_map(|(map, k)| format!("request.{map}['{k}']")),
            (
                proptest::sample::select(vec!["query", "headers", "cookies", "form"]),
                ident.clone()
            )
                .prop_map(|(map, n)| format!("request.{map}.{n}")),
            (-4i64..5).prop_map(|i| format!("request.segments[{i}]")),
            proptest::collection::vec(
                prop_oneof![
                    ident.clone().prop_map(|n| format!(".{n}")),
                    key.clone().prop_map(|k| format!("['{k}']")),
                    (-3i64..4).prop_map(|i| format!("[{i}]")),
                ],
                0..4
            )
            .prop_map(|steps| format!("request.json{}", steps.concat())),
            (key.clone(), key.clone())
                .prop_map(|(k, d)| format!("env['{k}'] | default(\"{{{{{d}}}}}\")")),
            (ident.clone(), key.clone())
                .prop_map(|(n, d)| format!("request.query.{n}|default('{d}')")),
        ];
        let other = proptest::sample::select(vec![
            "path.id | upper",
            "request.query",
            "request.headers",
            "request.segments",
            "request.json | length",
            "request.nothing",
            "request",
            "path",
            "path.id.x",
            "path[0]",
            "request.query[0]",
            "request.segments['0']",
            "1",
            "1.5",
            "true",
            "none",
            "uuid",
            "foo",
            "now() | date('%Y')",
            "env.a | default(1)",
            "request.query.a | default('x', true)",
            "'a' ~ path.id",
            "request.url == '/'",
            "request.url | trim('/')",
            "env.a | d('x')",
            "path.id | default('x') | upper",
            "range(2)",
        ])
        .prop_map(str::to_owned);
        let trim = || proptest::sample::select(vec!["", "-"]);
        prop_oneof![
            3 => "[a-z \"'<>&\\\\é😀}\n\t]{0,12}".prop_map(|text| (text, true)),
            6 => (trim(), plain, trim()).prop_map(|(l, e, r)| (format!("{{{{{l} {e} {r}}}}}"), true)),
            2 => (trim(), other, trim()).prop_map(|(l, e, r)| (format!("{{{{{l}{e}{r}}}}}"), false)),
            1 => proptest::sample::select(vec![
                ("{# a comment #}", true),
                ("{%- raw %}{{ path.id }}{% endraw -%}", true),
                ("{% if true %}x{% endif %}", false),
                ("{% set a = 1 %}", false),
                ("{{ delay(1) }}", false),
            ])
            .prop_map(|(source, plain)| (source.to_owned(), plain)),
        ]
    }

    /// A body of JSON with the names templates look up, every kind of value, or JSON with bare
    /// keys (which only MiniJinja's lenient reading takes).
    fn json() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => json_tree().prop_map(|json| json.to_string()),
            1 => value().prop_map(|v| format!("{{a: {v:?}, id: [\"x\"]}}")),
        ]
    }

    /// JSON of every kind of value, keyed with the names templates look up.
    fn json_tree() -> impl Strategy<Value = serde_json::Value> {
        let name = proptest::sample::select([IDENTS.to_vec(), KEYS.to_vec()].concat());
        let leaf = prop_oneof![
            value().prop_map(serde_json::Value::from),
            proptest::num::i64::ANY.prop_map(serde_json::Value::from),
            proptest::num::f64::NORMAL.prop_map(serde_json::Value::from),
            proptest::bool::ANY.prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
        ];
        leaf.prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::vec((name.clone(), inner), 0..4).prop_map(|entries| {
                    serde_json::Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect(),
                    )
                }),
            ]
        })
    }

    /// Every lookup into `json` from `path`, with lookups of a missing key and of indices past
    /// either end, each with whether the plain template prints it (a string, or nothing for what
    /// is missing) rather than leave it to MiniJinja.
    fn lookups(json: &serde_json::Value, path: String, out: &mut Vec<(String, bool)>) {
        out.push((path.clone(), json.is_string()));
        match json {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let step = if IDENTS.contains(&key.as_str()) {
                        format!(".{key}")
                    } else {
                        format!("['{key}']")
                    };
                    lookups(value, format!("{path}{step}"), out);
                }
                out.push((format!("{path}.nothing"), true));
            }
            serde_json::Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    lookups(item, format!("{path}[{index}]"), out);
                    lookups(item, format!("{path}[-{}]", items.len() - index), out);
                }
                out.push((format!("{path}[{}]", items.len()), true));
                out.push((format!("{path}[-{}]", items.len() + 1), true));
            }
            _ => {}
        }
    }

    /// Values with the characters that matter: quotes, HTML, backslashes, non-ASCII.
    fn value() -> impl Strategy<Value = String> {
        "[a-z0-9 \"'<>&\\\\é😀{}]{0,8}"
    }

    /// A request with repeated names and names that differ only in case, its captures, the
    /// mock's environment, and the moment of the call (Unix nanoseconds and offset in seconds).
    type Case = (
        Request,
        Vec<(String, String)>,
        BTreeMap<String, String>,
        i128,
        i32,
    );

    fn case() -> impl Strategy<Value = Case> {
        // Few names, so that they repeat and templates find them.
        let name = || proptest::sample::select(vec!["id", "a", "Id", "x-trace", "é", "a b"]);
        let pairs =
            move || proptest::collection::vec((name().prop_map(str::to_owned), value()), 0..4);
        let encoded = move || {
            proptest::collection::vec((name(), "[a-z0-9+%é ]{0,4}"), 0..4).prop_map(|pairs| {
                let pairs: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
                pairs.join("&")
            })
        };
        (
            proptest::sample::select(vec!["GET", "post", "PUT"]),
            proptest::collection::vec("[a-z0-9%é]{0,4}", 0..4),
            encoded(),
            pairs(),
            proptest::option::of(value()),
            proptest::bool::ANY,
            prop_oneof![value(), encoded(), json()],
            pairs(),
            pairs(),
            (
                -2_000_000_000_000_000_000i128..4_000_000_000_000_000_000,
                -50_000i32..50_000,
            ),
        )
            .prop_map(
                |(
                    method,
                    segments,
                    query,
                    headers,
                    cookie,
                    form,
                    body,
                    captures,
                    env,
                    (now, offset),
                )| {
                    let mut headers = headers;
                    if let Some(cookie) = cookie {
                        headers.push(("Cookie".to_owned(), format!("id={cookie}; a=2")));
                    }
                    if form {
                        headers.push((
                            "content-type".to_owned(),
                            "application/x-www-form-urlencoded".to_owned(),
                        ));
                    }
                    let request = Request::new(
                        method,
                        format!("/{}", segments.join("/")),
                        query,
                        headers,
                        body,
                    );
                    (request, captures, env.into_iter().collect(), now, offset)
                },
            )
    }

    /// A template rendered both ways.
    struct Both {
        /// What MiniJinja renders.
        expected: Result<Vec<u8>, RenderError>,
        /// What the plain template renders, if the template is one.
        actual: Option<Option<Vec<u8>>>,
    }

    fn both(source: &str, case: &Case) -> Both {
        let (request, captures, env, now, offset) = case;
        let ctx = RenderContext {
            request,
            captures,
            env,
            now: OffsetDateTime::from_unix_timestamp_nanos(*now)
                .expect("the moment is in range")
                .to_offset(
                    time::UtcOffset::from_whole_seconds(*offset).expect("the offset is valid"),
                ),
            state: None,
        };
        let template = Template::compile(source).expect("the template compiles");
        let expected = template
            .render(template_context(&ctx, template.reads()))
            .map(|(bytes, effects)| {
                // A plain template asks for nothing but its text.
                let none = effects.callbacks.is_empty() && effects.delay_ms == 0;
                assert!(template.plain().is_none() || none && effects.values.is_empty());
                bytes
            });
        Both {
            expected,
            actual: template.plain().map(|plain| plain.render(&ctx)),
        }
    }

    proptest::proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn a_plain_template_renders_what_minijinja_renders(
            pieces in proptest::collection::vec(piece(), 0..8),
            case in case(),
        ) {
            let source: String = pieces.iter().map(|(source, _)| source.as_str()).collect();
            let plain = pieces.iter().all(|(_, plain)| *plain);
            let Both { expected, actual } = both(&source, &case);
            prop_assert_eq!(actual.is_some(), plain, "recognised as plain: {:?}", source);
            if let Some(actual) = actual {
                // Only a value of the body's JSON other than a string is left to MiniJinja.
                let Some(actual) = actual else {
                    prop_assert!(source.contains("request.json"), "left to MiniJinja: {:?}", source);
                    return Ok(());
                };
                prop_assert_eq!(
                    Ok(String::from_utf8_lossy(&actual).into_owned()),
                    expected.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
                    "{:?}", source
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn a_lookup_into_the_body_renders_what_minijinja_renders(json in json_tree()) {
            let mut case = some_case();
            case.0 = Request::new("POST", "/", "", Vec::new(), json.to_string());
            let mut all = Vec::new();
            lookups(&json, String::new(), &mut all);
            for (path, printed) in all {
                let source = format!("<{{{{ request.json{path} }}}}>");
                let Both { expected, actual } = both(&source, &case);
                let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
                match actual.expect("a lookup into the body is plain") {
                    Some(actual) => prop_assert_eq!(Ok(text(actual)), expected.map(text), "{}", source),
                    None => prop_assert!(!printed, "left to MiniJinja: {}", source),
                }
            }
        }
    }

    fn some_case() -> Case {
        (
            Request::from_url(
                "GET",
                "/orders/42?q=1",
                &[("X-Trace", "t")],
                "x".repeat(600_000),
            ),
            vec![("id".to_owned(), "42".to_owned())],
            BTreeMap::from([("a".to_owned(), "b".to_owned())]),
            datetime!(2026-12-06 08:46:03.792917763 UTC).unix_timestamp_nanos(),
            0,
        )
    }

    #[test]
    fn output_past_the_limit_is_left_to_minijinja_which_fails() {
        let Both { expected, actual } = both("{{ request.body }} {{ request.body }}", &some_case());
        assert_eq!(actual, Some(None));
        assert_eq!(
            expected,
            Err(RenderError {
                message: format!("the rendered body is larger than {MAX_OUTPUT_BYTES} bytes"),
                limit: true,
            })
        );
        let Both { expected, actual } = both("{{ request.body }}", &some_case());
        assert_eq!(actual, Some(Some(expected.expect("one body fits"))));
    }

    #[test]
    fn a_template_that_would_run_out_of_fuel_is_left_to_minijinja() {
        // Three instructions for each lookup and one for each text between them.
        let fits = format!("{}{{{{env.a}}}}", "{{env.a}}x".repeat(24_999));
        let Both { expected, actual } = both(&fits, &some_case());
        assert_eq!(
            actual,
            Some(Some(expected.expect("the template has enough fuel")))
        );
        let Both { expected, actual } = both(&format!("{fits}x"), &some_case());
        assert_eq!(actual, None);
        assert_eq!(
            expected,
            Err(RenderError {
                message: format!("the template ran out of fuel ({FUEL} instructions)"),
                limit: true,
            })
        );
    }

    #[test]
    fn long_scans_of_a_large_request_are_left_to_minijinja() {
        let query: Vec<String> = (0..2_000).map(|i| format!("p{i}=v")).collect();
        let mut case = some_case();
        case.0 = Request::new("GET", "/", query.join("&"), Vec::new(), "");
        let few = "{{ request.query.p1999 }}".repeat(500);
        let Both { expected, actual } = both(&few, &case);
        assert_eq!(actual, Some(Some(expected.expect("MiniJinja renders"))));
        let Both { expected, actual } = both(&few.repeat(2), &case);
        assert_eq!(actual, Some(None));
        assert_eq!(
            expected.expect("MiniJinja renders"),
            "v".repeat(1_000).into_bytes()
        );
    }

    #[test]
    fn a_clock_out_of_range_is_left_to_minijinja() {
        let (request, captures, env, _, _) = &some_case();
        let ctx = RenderContext {
            request,
            captures,
            env,
            // In range with its offset, past the last year there is in UTC.
            now: datetime!(9999-12-31 23:00 -05:00),
            state: None,
        };
        let template = Template::compile("{{ now() }}").expect("the template compiles");
        assert_eq!(
            template
                .plain()
                .expect("the template is plain")
                .render(&ctx),
            None
        );
        assert!(
            template
                .render(template_context(&ctx, template.reads()))
                .is_err()
        );
    }

    #[test]
    fn every_random_function_without_arguments_is_plain() {
        for (name, _) in GENERATORS {
            let template = Template::compile(&format!("{{{{ {name}() }}}}")).expect("it compiles");
            assert!(template.plain().is_some(), "{name}");
        }
        let Both { expected, actual } = both("{{ uuid() }}", &some_case());
        let (expected, actual) = (expected.unwrap(), actual.unwrap().unwrap());
        assert_eq!((expected.len(), actual.len()), (36, 36));
        assert_eq!(actual[14], b'4');
    }
}
