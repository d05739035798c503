//! The incoming request as the engine sees it: plain owned data, no HTTP framework types.
//!
//! The server fills a [`Request`] from what it received; everything derived from it (query
//! parameters, cookies, form parameters, the body as text) is parsed here once, on first use.

use std::borrow::Cow;
use std::sync::OnceLock;

/// A request to a mock. `path` is the path after the mock's base (always starting with `/`,
/// percent-encoding kept as sent); `query` is the raw query string without `?`.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names in lower case, in the order received; a name may repeat.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    parsed: Parsed,
}

#[derive(Debug, Clone, Default)]
struct Parsed {
    query: OnceLock<Vec<(String, String)>>,
    cookies: OnceLock<Vec<(String, String)>>,
    form: OnceLock<Option<Vec<(String, String)>>>,
    json: OnceLock<Option<serde_json::Value>>,
    xml: OnceLock<Option<crate::xml::XmlDoc>>,
}

impl Request {
    pub fn new(
        method: impl Into<String>,
        path: impl Into<String>,
        query: impl Into<String>,
        headers: Vec<(String, String)>,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        let mut method = method.into();
        method.make_ascii_uppercase();
        let mut path = path.into();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let headers = headers
            .into_iter()
            .map(|(mut name, value)| {
                name.make_ascii_lowercase();
                (name, value)
            })
            .collect();
        Self {
            method,
            path,
            query: query.into(),
            headers,
            body: body.into(),
            parsed: Parsed::default(),
        }
    }

    /// A request from a URL such as `/users/1?active=true`; handy in tests and the "try a
    /// request" panel.
    pub fn from_url(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> Self {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let headers = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Self::new(method, path, query, headers, body)
    }

    /// The path and query as sent (`/users/1?active=true`): what expressions read as `url`.
    pub fn url(&self) -> String {
        self.url_text().into_owned()
    }

    /// [`Request::url`], borrowed from the path when there is no query (a render reads it on
    /// every call).
    pub fn url_text(&self) -> Cow<'_, str> {
        if self.query.is_empty() {
            Cow::Borrowed(&self.path)
        } else {
            Cow::Owned(format!("{}?{}", self.path, self.query))
        }
    }

    /// The first value of a header; `name` must be lower case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Decoded query parameters in order; a name may repeat.
    pub fn query_params(&self) -> &[(String, String)] {
        self.parsed
            .query
            .get_or_init(|| parse_urlencoded(&self.query))
    }

    /// Cookies from every `Cookie` header, in order.
    pub fn cookies(&self) -> &[(String, String)] {
        self.parsed.cookies.get_or_init(|| {
            self.headers
                .iter()
                .filter(|(n, _)| n == "cookie")
                .flat_map(|(_, v)| v.split(';'))
                .filter_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    Some((name.trim().to_owned(), value.trim().to_owned()))
                })
                .collect()
        })
    }

    /// The media type of the body, lower case, without parameters (`application/json`).
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(media_type)
    }

    /// True when the request is a form post (`application/x-www-form-urlencoded`).
    pub fn is_form(&self) -> bool {
        self.content_type().as_deref() == Some("application/x-www-form-urlencoded")
    }

    /// For a form request, the query and body parameters pooled (docs/matching.md, "Levels with a
    /// form body"); `None` otherwise.
    pub fn form_params(&self) -> Option<&[(String, String)]> {
        self.parsed
            .form
            .get_or_init(|| {
                self.is_form().then(|| {
                    let mut params = self.query_params().to_vec();
                    params.extend(parse_urlencoded(&String::from_utf8_lossy(&self.body)));
                    params
                })
            })
            .as_deref()
    }

    /// The body parsed as JSON, once; `None` when it is not JSON. serde_json's nesting limit
    /// keeps hostile documents from exhausting the stack.
    pub fn json_body(&self) -> Option<&serde_json::Value> {
        self.parsed
            .json
            .get_or_init(|| serde_json::from_slice(&self.body).ok())
            .as_ref()
    }

    /// The body parsed as XML by [`crate::xml::parse`] (which refuses DTDs), once; `None` when it
    /// is not XML.
    pub fn xml_body(&self) -> Option<&crate::xml::XmlDoc> {
        self.parsed
            .xml
            .get_or_init(|| {
                std::str::from_utf8(&self.body)
                    .ok()
                    .and_then(|text| crate::xml::parse(text).ok())
            })
            .as_ref()
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// Parses `a=1&b=two+words&c` into decoded pairs; a name without `=` has an empty value.
pub fn parse_urlencoded(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` as space; malformed escapes are kept as they are.
pub fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// A `Content-Type`'s media type: lower case, without parameters (`application/json`).
pub fn media_type(content_type: &str) -> String {
    let media = content_type.split(';').next().unwrap_or(content_type);
    media.trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parameters_pool_query_and_body() {
        let request = Request::from_url(
            "post",
            "/form?bar=foo",
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            "foo=bar",
        );
        assert_eq!(request.method, "POST");
        let params = request.form_params().expect("a form request");
        assert_eq!(
            params,
            [
                ("bar".to_owned(), "foo".to_owned()),
                ("foo".to_owned(), "bar".to_owned())
            ]
        );
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%20b+c%2"), "a b c%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn cookies_come_from_every_cookie_header() {
        let request =
            Request::from_url("GET", "/", &[("Cookie", "a=1; b=2"), ("cookie", "c=3")], "");
        assert_eq!(request.cookies().len(), 3);
        assert_eq!(request.cookies()[2], ("c".to_owned(), "3".to_owned()));
    }
}
