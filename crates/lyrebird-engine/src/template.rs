//! Response templates (docs/templates.md) in MiniJinja: one shared, sandboxed environment with the
//! helpers mocks need, templates compiled once when an example is saved, and the translation of
//! Postman's `{{...}}` variables for the importer.
//!
//! The sandbox: no loader (so `include`, `import` and `extends` find nothing), no auto-escaping
//! (bodies are JSON, XML or text, not HTML), [`FUEL`] instructions per render, [`RECURSION_LIMIT`]
//! nested calls, output capped at [`MAX_OUTPUT_BYTES`] while it is written, and every render
//! (and every compile, which folds constants) within [`RENDER_BYTES`] of strings and
//! [`RENDER_TIME`], counted as they are made by our MiniJinja's budget. Effects
//! (`delay`, `callback`) are collected per render and returned as data. `docs/templates.md` is
//! the user's guide.

use std::collections::BTreeMap;
use std::io;
use std::sync::LazyLock;

use minijinja::value::{Kwargs, Rest, Serde, Value, ValueKind, ValueOrKwargs};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior, budget};
use time::{Duration, OffsetDateTime};

use crate::error::SourceError;
use crate::plain::Plain;
use crate::render::Callback;
use crate::{datetime, fake, jsonpath, xml};

/// Instructions one render may execute; a typical body uses a few hundred.
pub const FUEL: u64 = 100_000;
/// Nested macro calls.
pub const RECURSION_LIMIT: usize = 32;
/// Longest rendered output; writing past it aborts the render.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Bytes of strings (and repeated lists) one render may build, output included: what keeps
/// `{% set b = a ~ a %}` from doubling its way to gigabytes.
pub const RENDER_BYTES: usize = 32 * 1024 * 1024;
/// How long one render may run, looked at every 256 instructions.
pub const RENDER_TIME: std::time::Duration = std::time::Duration::from_millis(250);
/// Longest template source accepted.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;
/// Most callbacks one render may schedule.
pub const MAX_CALLBACKS: usize = 10;
/// Longest body of one callback: it is held in memory for the callback's whole delay.
pub const MAX_CALLBACK_BODY_BYTES: usize = 256 * 1024;
/// Longest total delay a render may ask for: Postman's own ceiling.
pub const MAX_DELAY_MS: u64 = 180_000;
/// The context key holding the render's clock (Unix nanoseconds), read by `now()` and friends.
pub(crate) const NOW_KEY: &str = "__now";

/// A random-value function taking no arguments.
pub(crate) type Generator = fn() -> String;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(build_environment);

/// The shared environment outlives every template, so it can be borrowed for the source's lifetime.
type Compiled<'source> = minijinja::Template<'source, 'source>;

self_cell::self_cell!(
    /// A compiled template that owns its source text.
    struct Owned {
        owner: Box<str>,
        #[not_covariant]
        dependent: Compiled,
    }
);

/// A template compiled at save time, rendered per request.
pub struct Template {
    compiled: Owned,
    reads: Reads,
    plain: Option<Plain>,
}

/// The fields of `request` in the template context, in the order a template enumerates them.
pub(crate) const REQUEST_FIELDS: [&str; 10] = [
    "body", "cookies", "form", "headers", "json", "method", "path", "query", "segments", "url",
];
const CAPTURES: u16 = 1 << REQUEST_FIELDS.len();
const ENVIRONMENT: u16 = CAPTURES << 1;
const STATE: u16 = ENVIRONMENT << 1;

/// Which parts of the context a template reads, found once when it is compiled, so that a render
/// builds (and parses the body as JSON) only what is used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reads(u16);

impl Reads {
    fn of(variables: &std::collections::HashSet<String>) -> Reads {
        let all_request = (1 << REQUEST_FIELDS.len()) - 1;
        Reads(variables.iter().fold(0, |bits, variable| {
            let mut steps = variable.split('.');
            bits | match (steps.next(), steps.next()) {
                (Some("request"), None) => all_request,
                (Some("request"), Some(field)) => REQUEST_FIELDS
                    .iter()
                    .position(|f| *f == field)
                    .map_or(0, |bit| 1 << bit),
                (Some("path"), _) => CAPTURES,
                (Some("env"), _) => ENVIRONMENT,
                (Some("state" | "collection"), _) => STATE,
                _ => 0,
            }
        }))
    }

    /// Whether `request.<REQUEST_FIELDS[index]>` is read.
    pub(crate) fn request_field(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }

    pub(crate) fn captures(self) -> bool {
        self.0 & CAPTURES != 0
    }

    pub(crate) fn env(self) -> bool {
        self.0 & ENVIRONMENT != 0
    }

    /// Whether the mock's state is read (or written): `state` or `collection()`.
    pub(crate) fn state(self) -> bool {
        self.0 & STATE != 0
    }
}

impl std::ops::BitOr for Reads {
    type Output = Reads;

    fn bitor(self, other: Reads) -> Reads {
        Reads(self.0 | other.0)
    }
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.compiled.borrow_owner())
            .finish_non_exhaustive()
    }
}

/// What a render asked for besides its text.
#[derive(Debug, Default)]
pub struct Effects {
    pub delay_ms: u64,
    pub callbacks: Vec<Callback>,
    /// Keys of the mock's state set (or, without a value, deleted).
    pub values: BTreeMap<String, Option<serde_json::Value>>,
    /// How many keys, and how many bytes of values, `values` adds to the state (negative:
    /// removes), kept as they are set so that each set checks the limits at once.
    pub added_keys: i64,
    pub added_bytes: i64,
}

impl Template {
    /// Compiles `source`; syntax errors come back with line and column.
    pub fn compile(source: &str) -> Result<Template, SourceError> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(SourceError {
                message: format!("templates over {MAX_SOURCE_BYTES} bytes are refused"),
                line: None,
                column: None,
            });
        }
        let compiled = within_budget(|| {
            Owned::try_new(source.into(), |source| {
                let env: &Environment<'_> = &ENV;
                env.template_from_named_str("template", source)
            })
        })
        .map_err(|error| source_error(source, &error))?;
        let (reads, plain) = compiled.with_dependent(|_, template| {
            (
                Reads::of(&template.undeclared_variables(true)),
                Plain::of(&minijinja::machinery::get_compiled_template(template).instructions),
            )
        });
        Ok(Template {
            compiled,
            reads,
            plain,
        })
    }

    /// The parts of the context this template reads.
    pub fn reads(&self) -> Reads {
        self.reads
    }

    /// The template as text and plain lookups, rendered without MiniJinja, when it is one.
    pub(crate) fn plain(&self) -> Option<&Plain> {
        self.plain.as_ref()
    }

    /// Renders with `context`; any failure (a budget, a helper's error) says what went wrong.
    pub fn render(&self, context: Value) -> Result<(Vec<u8>, Effects), RenderError> {
        // Most output is about as long as the source (a JSON body with a few fields filled
        // in): reserved at once rather than grown write by write.
        let mut output = CappedWriter {
            bytes: Vec::with_capacity(self.compiled.borrow_owner().len().min(MAX_OUTPUT_BYTES)),
            exceeded: false,
        };
        let rendered = within_budget(|| {
            self.compiled.with_dependent(|_, template| {
                template
                    .render_captured_to(context, &mut output)
                    .map(|mut captured| {
                        captured
                            .with_state_mut(|state| {
                                state.get_extension_mut::<Effects>().map(std::mem::take)
                            })
                            .unwrap_or_default()
                    })
            })
        });
        let limit = |message: String| RenderError {
            message,
            limit: true,
        };
        match rendered {
            Ok(effects) => Ok((output.bytes, effects)),
            Err(_) if output.exceeded => Err(limit(format!(
                "the rendered body is larger than {MAX_OUTPUT_BYTES} bytes"
            ))),
            Err(error) if error.kind() == ErrorKind::OutOfFuel => Err(limit(format!(
                "the template ran out of fuel ({FUEL} instructions)"
            ))),
            Err(error) if error.detail() == Some(budget::MEMORY_SPENT) => Err(limit(format!(
                "the template built more than {} MiB of strings",
                RENDER_BYTES >> 20
            ))),
            Err(error) if error.detail() == Some(budget::TIME_SPENT) => Err(limit(format!(
                "the template ran for more than {} ms",
                RENDER_TIME.as_millis()
            ))),
            Err(error) => Err(RenderError {
                message: describe(&error),
                limit: false,
            }),
        }
    }
}

/// Why a render failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub message: String,
    /// A budget ran out ([`FUEL`], [`RENDER_BYTES`], [`RENDER_TIME`], [`MAX_OUTPUT_BYTES`]),
    /// rather than the template failing on its own terms.
    pub limit: bool,
}

/// Runs `f` within the byte and time budget of one render.
fn within_budget<R>(f: impl FnOnce() -> R) -> R {
    let budget = budget::Budget {
        bytes: RENDER_BYTES,
        deadline: std::time::Instant::now() + RENDER_TIME,
    };
    budget::scope(budget, f)
}

/// Collects output and fails the write that would pass [`MAX_OUTPUT_BYTES`].
struct CappedWriter {
    bytes: Vec<u8>,
    exceeded: bool,
}

impl io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT_BYTES {
            self.exceeded = true;
            return Err(io::Error::other("output too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn describe(error: &Error) -> String {
    let mut message = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    if let Some(line) = error.line() {
        message.push_str(&format!(" (line {line})"));
    }
    message
}

fn source_error(source: &str, error: &Error) -> SourceError {
    let column = error.range().map(|range| {
        let before = source.get(..range.start).unwrap_or(source);
        before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1
    });
    SourceError {
        message: match error.detail() {
            Some(detail) => format!("{}: {detail}", error.kind()),
            None => error.kind().to_string(),
        },
        line: error.line().map(|l| l as u32),
        column,
    }
}

/// Prints values the way response bodies (mostly JSON) want them: `true`/`false`, `null` for
/// none, and lists and maps as compact JSON rather than Python's spelling.
fn format_value(
    out: &mut minijinja::Output,
    state: &mut State,
    value: &Value,
) -> Result<(), Error> {
    let text = match value.kind() {
        ValueKind::Bool | ValueKind::None | ValueKind::Seq | ValueKind::Map => {
            serde_json::to_string(value).map_err(|e| invalid(e.to_string()))?
        }
        _ => return minijinja::escape_formatter(out, state, value),
    };
    out.write_str(&text)
        .map_err(|_| Error::from(ErrorKind::WriteFailure))
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// The render's clock, from the context.
fn now(state: &State) -> Result<OffsetDateTime, Error> {
    let nanos = state
        .lookup(NOW_KEY)
        .and_then(|value| i128::try_from(value).ok())
        .ok_or_else(|| invalid("the render has no clock"))?;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|e| invalid(e.to_string()))
}

/// A moment from a template value: an RFC 3339 string or Unix seconds.
fn moment(value: &Value) -> Result<OffsetDateTime, Error> {
    let parsed = match value.as_str() {
        Some(text) => datetime::parse(text),
        None => f64::try_from(value.clone())
            .map_err(|_| format!("{value} is not a date"))
            .and_then(datetime::from_unix_seconds),
    };
    parsed.map_err(invalid)
}

fn shift(value: &Value, amount: f64, unit_seconds: f64) -> Result<String, Error> {
    let shifted = moment(value)?
        .checked_add(
            Duration::checked_seconds_f64(amount * unit_seconds)
                .ok_or_else(|| invalid(format!("cannot move a date by {amount}")))?,
        )
        .ok_or_else(|| invalid("the date is out of range"))?;
    Ok(datetime::rfc3339(shifted))
}

fn date(value: &Value, pattern: Option<&str>) -> Result<String, Error> {
    let moment = moment(value)?;
    match pattern {
        Some(pattern) => datetime::format(moment, pattern).map_err(invalid),
        None => Ok(datetime::rfc3339(moment)),
    }
}

fn format_number(value: f64, decimals: Option<usize>, separator: Option<&str>) -> String {
    let text = format!("{value:.*}", decimals.unwrap_or(2).min(20));
    let Some(separator) = separator.filter(|s| !s.is_empty()) else {
        return text;
    };
    let (sign, unsigned) = text.split_at(usize::from(text.starts_with('-')));
    let (whole, fraction) = unsigned.split_at(unsigned.find('.').unwrap_or(unsigned.len()));
    let mut grouped = String::with_capacity(text.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push_str(separator);
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}{fraction}")
}

fn json_path(text: &str, path: &str) -> Result<Value, Error> {
    Ok(jsonpath::select_in_text(text, path)
        .map_err(invalid)?
        .map_or(Value::from(()), |found| Value::from(Serde(found))))
}

fn xpath(text: &str, expr: &str) -> Result<Value, Error> {
    xml::check_xpath(expr).map_err(invalid)?;
    Ok(xml::xpath(text, expr).map_or(Value::from(()), Value::from))
}

fn delay(state: &mut State, ms: u64) -> String {
    let effects = state.get_or_insert_extension(Effects::default());
    effects.delay_ms = effects.delay_ms.saturating_add(ms).min(MAX_DELAY_MS);
    String::new()
}

/// `callback(url, method="POST", body="", delay_ms=0, headers={})`: positional up to `delay_ms`,
/// and any of `method`, `body`, `delay_ms` and `headers` as keywords.
fn callback(state: &mut State, url: String, args: Rest<ValueOrKwargs>) -> Result<String, Error> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid(format!(
            "a callback URL must start with http:// or https://, not {url:?}"
        )));
    }
    let (positional, keywords): (Vec<_>, Vec<_>) = args
        .iter()
        .map(|arg| arg.clone().into_value())
        .partition(|arg| !arg.is_kwargs());
    if positional.len() > 3 {
        return Err(invalid(
            "callback takes url, method, body and delay_ms (and headers=...)",
        ));
    }
    let kwargs = match keywords.into_iter().next() {
        Some(value) => Kwargs::try_from(value)?,
        None => Kwargs::from_iter(std::iter::empty::<(String, Value)>()),
    };
    let keyword_or = |name: &str, index: usize| -> Result<Option<Value>, Error> {
        Ok(kwargs
            .get::<Option<Value>>(name)?
            .or_else(|| positional.get(index).cloned()))
    };
    let method = keyword_or("method", 0)?.map(|m| m.to_string());
    let body = keyword_or("body", 1)?;
    let delay_ms = keyword_or("delay_ms", 2)?
        .map(u64::try_from)
        .transpose()?
        .unwrap_or(0);
    let mut headers = Vec::new();
    if let Some(map) = kwargs.get::<Option<Value>>("headers")? {
        for name in map.try_iter()? {
            let value = map.get_item(&name)?;
            headers.push((name.to_string(), value.to_string()));
        }
    }
    kwargs.assert_all_used()?;
    let body = match body {
        None => String::new(),
        Some(body) => match body.as_str() {
            Some(text) => text.to_owned(),
            None => {
                if !headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("content-type".to_owned(), "application/json".to_owned()));
                }
                serde_json::to_string(&body).map_err(|e| invalid(e.to_string()))?
            }
        },
    };
    if body.len() > MAX_CALLBACK_BODY_BYTES {
        return Err(invalid(format!(
            "a callback body may be at most {MAX_CALLBACK_BODY_BYTES} bytes, this one has {}",
            body.len()
        )));
    }
    let effects = state.get_or_insert_extension(Effects::default());
    if effects.callbacks.len() >= MAX_CALLBACKS {
        return Err(invalid(format!(
            "a response may schedule at most {MAX_CALLBACKS} callbacks"
        )));
    }
    effects.callbacks.push(Callback {
        url,
        method: method
            .unwrap_or_else(|| "POST".to_owned())
            .to_ascii_uppercase(),
        headers,
        body,
        delay_ms: delay_ms.min(MAX_DELAY_MS),
    });
    Ok(String::new())
}

/// `iso_timestamp()`: the moment with milliseconds, as Postman's `$isoTimestamp`.
pub(crate) fn iso_timestamp(moment: OffsetDateTime) -> Result<String, String> {
    datetime::format(moment, "yyyy-MM-dd'T'HH:mm:ss.SSSX")
}

/// The functions of random values taking no arguments, by name.
pub(crate) const GENERATORS: [(&str, Generator); 30] = [
    ("uuid", fake::uuid),
    ("first_name", fake::first_name),
    ("last_name", fake::last_name),
    ("full_name", fake::full_name),
    ("user_name", fake::user_name),
    ("email", fake::email),
    ("domain", fake::domain),
    ("url", fake::url),
    ("word", fake::word),
    ("sentence", fake::sentence),
    ("paragraph", fake::paragraph),
    ("slug", fake::slug),
    ("company", fake::company),
    ("job_title", fake::job_title),
    ("city", fake::city),
    ("street_address", fake::street_address),
    ("country", fake::country),
    ("country_code", fake::country_code),
    ("phone", fake::phone),
    ("color", fake::color),
    ("hex_color", fake::hex_color),
    ("ip", fake::ip),
    ("ipv6", fake::ipv6),
    ("mac_address", fake::mac_address),
    ("password", fake::password),
    ("semver", fake::semver),
    ("currency_code", fake::currency_code),
    ("price", fake::price),
    ("weekday", fake::weekday),
    ("month", fake::month),
];

fn build_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default syntax with kept trailing newlines is valid"),
    );
    env.remove_global("debug");
    env.set_formatter(format_value);

    env.add_test("json", |value: &Value| {
        value.as_str().is_some_and(jsonpath::is_json)
    });
    env.add_test("xml", |value: &Value| {
        value.as_str().is_some_and(xml::is_xml)
    });
    env.add_function("json_path", json_path);
    env.add_filter("json_path", json_path);
    env.add_function("xpath", xpath);
    env.add_filter("xpath", xpath);

    env.add_function("now", |state: &State| now(state).map(datetime::rfc3339));
    env.add_function("timestamp", |state: &State| {
        now(state).map(|n| n.unix_timestamp())
    });
    env.add_function("iso_timestamp", |state: &State| {
        now(state).and_then(|n| iso_timestamp(n).map_err(invalid))
    });
    let dated: [(&str, i64); 3] = [
        ("date_past", -365),
        ("date_future", 365),
        ("date_recent", -1),
    ];
    for (name, default_days) in dated {
        env.add_function(name, move |state: &State, days: Option<i64>| {
            let days = days.unwrap_or(default_days.abs()).clamp(1, 36_500) * default_days.signum();
            now(state).map(|n| datetime::rfc3339(fake::moment(n, days)))
        });
    }
    env.add_filter("date", |value: &Value, pattern: Option<&str>| {
        date(value, pattern)
    });
    env.add_filter("utc_offset", |value: &Value, offset: &str| {
        let offset = datetime::parse_offset(offset).map_err(invalid)?;
        moment(value).map(|m| datetime::rfc3339(m.to_offset(offset)))
    });
    let shifts = [
        ("add_days", 86_400.0),
        ("add_hours", 3_600.0),
        ("add_minutes", 60.0),
        ("add_seconds", 1.0),
    ];
    for (name, unit) in shifts {
        env.add_filter(name, move |value: &Value, amount: f64| {
            shift(value, amount, unit)
        });
    }
    env.add_filter("format_number", format_number);

    env.add_function("delay", delay);
    env.add_function("callback", callback);
    env.add_function("collection", crate::template_state::collection);

    env.add_function("random_int", |min: Option<i64>, max: Option<i64>| {
        let (min, max) = (min.unwrap_or(0), max.unwrap_or(1000));
        if min > max {
            return Err(invalid(format!("random_int: min {min} is above max {max}")));
        }
        Ok(rand::random_range(min..=max))
    });
    env.add_function("random_float", |min: Option<f64>, max: Option<f64>| {
        let (min, max) = (min.unwrap_or(0.0), max.unwrap_or(1.0));
        if !(min < max && (max - min).is_finite()) {
            return Err(invalid(format!(
                "random_float: need min < max, got {min} and {max}"
            )));
        }
        Ok(rand::random_range(min..max))
    });
    env.add_function("random_bool", || rand::random_bool(0.5));
    env.add_function("words", |count: Option<usize>| {
        fake::words(count.unwrap_or(3))
    });
    env.add_function("random_alphanumeric", |count: Option<usize>| {
        fake::alphanumeric(count.unwrap_or(1))
    });
    env.add_function("latitude", fake::latitude);
    env.add_function("longitude", fake::longitude);
    for (name, generate) in GENERATORS {
        env.add_function(name, generate);
    }
    env
}

/// Postman's dynamic variables and the template expression each becomes.
const POSTMAN_DYNAMIC: &[(&str, &str)] = &[
    ("$guid", "{{ uuid() }}"),
    ("$randomUUID", "{{ uuid() }}"),
    ("$timestamp", "{{ timestamp() }}"),
    ("$isoTimestamp", "{{ iso_timestamp() }}"),
    ("$randomInt", "{{ random_int(0, 1000) }}"),
    ("$randomBoolean", "{{ random_bool() }}"),
    ("$randomAlphaNumeric", "{{ random_alphanumeric() }}"),
    ("$randomFirstName", "{{ first_name() }}"),
    ("$randomLastName", "{{ last_name() }}"),
    ("$randomFullName", "{{ full_name() }}"),
    ("$randomUserName", "{{ user_name() }}"),
    ("$randomEmail", "{{ email() }}"),
    ("$randomExampleEmail", "{{ email() }}"),
    ("$randomDomainName", "{{ domain() }}"),
    ("$randomUrl", "{{ url() }}"),
    ("$randomWord", "{{ word() }}"),
    ("$randomWords", "{{ words(3) }}"),
    ("$randomLoremWord", "{{ word() }}"),
    ("$randomLoremWords", "{{ words(3) }}"),
    ("$randomLoremSentence", "{{ sentence() }}"),
    ("$randomLoremParagraph", "{{ paragraph() }}"),
    ("$randomLoremSlug", "{{ slug() }}"),
    ("$randomCompanyName", "{{ company() }}"),
    ("$randomJobTitle", "{{ job_title() }}"),
    ("$randomCity", "{{ city() }}"),
    ("$randomStreetAddress", "{{ street_address() }}"),
    ("$randomCountry", "{{ country() }}"),
    ("$randomCountryCode", "{{ country_code() }}"),
    ("$randomLatitude", "{{ latitude() }}"),
    ("$randomLongitude", "{{ longitude() }}"),
    ("$randomPhoneNumber", "{{ phone() }}"),
    ("$randomColor", "{{ color() }}"),
    ("$randomHexColor", "{{ hex_color() }}"),
    ("$randomIP", "{{ ip() }}"),
    ("$randomIPV6", "{{ ipv6() }}"),
    ("$randomMACAddress", "{{ mac_address() }}"),
    ("$randomPassword", "{{ password() }}"),
    ("$randomSemver", "{{ semver() }}"),
    ("$randomCurrencyCode", "{{ currency_code() }}"),
    ("$randomPrice", "{{ price() }}"),
    ("$randomWeekday", "{{ weekday() }}"),
    ("$randomMonth", "{{ month() }}"),
    ("$randomDatePast", "{{ date_past() }}"),
    ("$randomDateFuture", "{{ date_future() }}"),
    ("$randomDateRecent", "{{ date_recent() }}"),
];

/// The template expression for one of Postman's dynamic variables (`$guid` → `{{ uuid() }}`).
pub fn postman_dynamic_to_template(name: &str) -> Option<&'static str> {
    POSTMAN_DYNAMIC
        .iter()
        .find(|(postman, _)| *postman == name)
        .map(|(_, template)| *template)
}

/// Translates a Postman string into a template that renders the same way: dynamic variables,
/// request data (`{{$body 'a.b'}}`, `{{$queryParams 'q'}}`, `{{$pathSegments '0'}}`,
/// `{{$headers 'name'}}`) and environment variables (`{{var}}`, printed as written when the
/// mock's environment lacks it). Everything else, including text that happens to look like
/// template syntax, comes out literally. Unchanged output means no template is needed.
pub fn translate_postman_template(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let translated = after
            .find("}}")
            .and_then(|end| translate_variable(&rest[start..start + end + 4]).map(|t| (t, end)));
        match translated {
            Some((template, end)) => {
                escape_literal(&rest[..start], &mut out);
                out.push_str(&template);
                rest = &after[end + 2..];
            }
            None => {
                escape_literal(&rest[..start + 2], &mut out);
                rest = after;
            }
        }
    }
    escape_literal(rest, &mut out);
    out
}

/// The template for one `{{...}}` of a Postman string, if it is a variable Postman resolves.
fn translate_variable(original: &str) -> Option<String> {
    let inner = original[2..original.len() - 2].trim();
    if let Some(template) = postman_dynamic_to_template(inner) {
        return Some(template.to_owned());
    }
    if let Some(dynamic) = inner.strip_prefix('$') {
        let (name, argument) = dynamic.split_once(char::is_whitespace)?;
        let argument = argument.trim();
        let argument = argument
            .strip_prefix('\'')
            .and_then(|a| a.strip_suffix('\''))
            .or_else(|| argument.strip_prefix('"').and_then(|a| a.strip_suffix('"')))?;
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
        return match name {
            "body" => Some(format!(
                "{{{{ json_path(request.body, {}) }}}}",
                quoted(&format!("$.{argument}"))
            )),
            "queryParams" => Some(format!("{{{{ request.query[{}] }}}}", quoted(argument))),
            "headers" => Some(format!(
                "{{{{ request.headers[{}] }}}}",
                quoted(&argument.to_ascii_lowercase())
            )),
            "pathSegments" => argument
                .parse::<usize>()
                .ok()
                .map(|index| format!("{{{{ request.segments[{index}] }}}}")),
            _ => None,
        };
    }
    let is_variable = !inner.is_empty()
        && inner
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    is_variable.then(|| {
        let name = serde_json::to_string(inner).unwrap_or_default();
        let literal = serde_json::to_string(original).unwrap_or_default();
        format!("{{{{ env[{name}] | default({literal}) }}}}")
    })
}

/// Appends `text` so that it renders as itself: each `{{`, `{%` and `{#` becomes an expression
/// printing it, and so does a final `{`, which could otherwise pair with what follows.
fn escape_literal(text: &str, out: &mut String) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('{', Some(&next @ ('{' | '%' | '#'))) => {
                chars.next();
                out.push_str(&format!("{{{{ \"{{{next}\" }}}}"));
            }
            ('{', None) => out.push_str("{{ \"{\" }}"),
            _ => out.push(c),
        }
    }
}
