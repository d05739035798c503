//! The headers the runtime adds to a mock's answers (its own errors' type, the quota, CORS, the
//! confinement of answers by path), as types that cannot hold a header HTTP cannot carry.
//!
//! A [`Name`] is made only in a `const` item of this module, where `HeaderName::from_static`
//! runs as the program compiles: a name that is not a valid lower-case header name stops the
//! build. A [`Value`] is a fixed text made the same way, a number, or a text checked when it is
//! made (`None` when HTTP cannot carry it). Each keeps its text for the call log beside its HTTP
//! form, so the fixed ones are logged without a copy and turning them into a response parses
//! nothing.
//!
//! The headers an example renders are any text: [`Headers`] leaves out of the response those HTTP
//! cannot carry, and the call log keeps them as rendered.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use lyrebird_store::calls::Header;

/// A header name the runtime writes.
#[derive(Debug, Clone)]
pub struct Name {
    text: &'static str,
    http: HeaderName,
}

impl Name {
    /// Only ever called in the `const` items below, so an invalid name fails the build.
    const fn new(text: &'static str) -> Self {
        Self {
            text,
            http: HeaderName::from_static(text),
        }
    }

    pub fn as_str(&self) -> &'static str {
        self.text
    }

    pub fn http(&self) -> &HeaderName {
        &self.http
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// A header value the runtime writes.
#[derive(Debug, Clone)]
pub struct Value {
    text: Cow<'static, str>,
    http: HeaderValue,
}

impl Value {
    /// Only ever called in the `const` items below, so an invalid value fails the build.
    const fn fixed(text: &'static str) -> Self {
        Self {
            text: Cow::Borrowed(text),
            http: HeaderValue::from_static(text),
        }
    }

    pub fn number(number: u64) -> Self {
        Self {
            text: Cow::Owned(number.to_string()),
            http: HeaderValue::from(number),
        }
    }

    /// The value as the call log keeps it, and as HTTP sends it.
    pub fn into_parts(self) -> (Cow<'static, str>, HeaderValue) {
        (self.text, self.http)
    }

    /// `text` as a value, if HTTP can carry it.
    pub fn text(text: String) -> Option<Self> {
        let http = HeaderValue::from_str(&text).ok()?;
        Some(Self {
            text: Cow::Owned(text),
            http,
        })
    }
}

/// Values are equal when their texts are: the HTTP form is made from the text.
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// A header the runtime adds.
pub type Added = (Name, Value);

pub const CONTENT_TYPE: Name = Name::new("content-type");
pub const RETRY_AFTER: Name = Name::new("retry-after");
pub const RATELIMIT_LIMIT: Name = Name::new("ratelimit-limit");
pub const RATELIMIT_REMAINING: Name = Name::new("ratelimit-remaining");
pub const RATELIMIT_RESET: Name = Name::new("ratelimit-reset");
pub const RATELIMIT_POLICY: Name = Name::new("ratelimit-policy");
pub const CONTENT_SECURITY_POLICY: Name = Name::new("content-security-policy");
pub const X_CONTENT_TYPE_OPTIONS: Name = Name::new("x-content-type-options");
pub const ALLOW_ORIGIN: Name = Name::new("access-control-allow-origin");
pub const ALLOW_CREDENTIALS: Name = Name::new("access-control-allow-credentials");
pub const ALLOW_METHODS: Name = Name::new("access-control-allow-methods");
pub const ALLOW_HEADERS: Name = Name::new("access-control-allow-headers");
pub const MAX_AGE: Name = Name::new("access-control-max-age");
pub const EXPOSE_HEADERS: Name = Name::new("access-control-expose-headers");
pub const VARY: Name = Name::new("vary");

pub const JSON: Value = Value::fixed("application/json");
pub const SANDBOX: Value = Value::fixed("sandbox");
pub const NOSNIFF: Value = Value::fixed("nosniff");
pub const TRUE: Value = Value::fixed("true");
pub const ANY_ORIGIN: Value = Value::fixed("*");
pub const ORIGIN: Value = Value::fixed("Origin");
pub const PREFLIGHT_VARY: Value =
    Value::fixed("Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
/// Methods a preflight is told are allowed, besides the one it asks for.
pub const METHODS: &str = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS";
pub const ALL_METHODS: Value = Value::fixed(METHODS);
/// How long a browser may cache a preflight's answer, in seconds.
pub const ONE_DAY: Value = Value::fixed("86400");

/// The headers of an answer as HTTP sends them and as the call log keeps them: the rendered
/// ones in order, then the runtime's. The response leaves out the rendered ones HTTP cannot
/// carry and those that describe the connection or the body's framing (HTTP sets those itself).
pub struct Headers {
    http: HeaderMap,
    logged: Vec<Header>,
}

impl Extend<Added> for Headers {
    fn extend<I: IntoIterator<Item = Added>>(&mut self, added: I) {
        for header in added {
            self.add(header);
        }
    }
}

impl Headers {
    /// The rendered headers, with room for `more` of the runtime's.
    pub fn new(rendered: Vec<Header>, more: usize) -> Self {
        let mut http = HeaderMap::with_capacity(rendered.len() + more);
        for (name, value) in &rendered {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            ) && !is_framing(&name)
            {
                http.append(name, value);
            }
        }
        let mut logged = rendered;
        logged.reserve(more);
        Self { http, logged }
    }

    pub fn add(&mut self, (name, value): Added) {
        self.http.append(name.http, value.http);
        self.logged.push((Cow::Borrowed(name.text), value.text));
    }

    /// How many headers so far, those HTTP cannot carry included.
    pub fn len(&self) -> usize {
        self.logged.len()
    }

    /// The names of every header so far, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.logged.iter().map(|(name, _)| &**name)
    }

    /// The headers as HTTP sends them, and as the call log keeps them.
    pub fn into_parts(self) -> (HeaderMap, Vec<Header>) {
        (self.http, self.logged)
    }
}

/// Headers that describe the connection or the body's framing.
fn is_framing(name: &HeaderName) -> bool {
    name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == header::CONNECTION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_headers_http_cannot_carry_are_logged_but_not_sent() {
        let rendered: Vec<Header> = vec![
            ("x-ok".into(), "yes".into()),
            ("bad name".into(), "x".into()),
            ("x-bad-value".into(), "a\nb".into()),
            ("content-length".into(), "3".into()),
        ];
        let mut headers = Headers::new(rendered, 1);
        headers.add((VARY, ORIGIN));
        let (http, logged) = headers.into_parts();
        assert_eq!(http.len(), 2, "{http:?}");
        assert_eq!(http["x-ok"], "yes");
        assert_eq!(http["vary"], "Origin");
        assert_eq!(logged.len(), 5);
        assert_eq!(logged[4], (Cow::Borrowed("vary"), Cow::Borrowed("Origin")));
        assert!(Value::text("a\nb".to_owned()).is_none());
    }
}
