//! Example paths: `/users/:id/{name}/{{var}}/*` parsed once into segments, then matched against
//! request paths without allocating.
//!
//! A path in the example format may carry a query string (`/users?active=true`); [`parse`] splits
//! it off so that its parameters join the example's query conditions. `{{name}}` variables are
//! first replaced from the mock's environment; the ones left are one-segment captures, as in
//! Postman. Literal segments are compared percent-decoded on both sides, so `/a%20b` and an
//! example written `/a b` agree.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::request::parse_urlencoded;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Compared with the percent-decoded request segment.
    Literal(String),
    /// Any one non-empty segment, captured under this name.
    Capture(String),
}

#[derive(Debug, Clone)]
pub(crate) struct PathPattern {
    /// The path as written, variables resolved, without its query string; starts with `/`.
    pub(crate) raw: String,
    pub(crate) segments: Vec<Segment>,
    /// A final `*`: one or more further segments, captured together as `*`.
    pub(crate) rest: bool,
}

/// Longest example path, once the mock's environment variables are replaced in it.
pub const MAX_PATH_BYTES: usize = 8 * 1024;

/// Most bytes of a mock's environment, names and values together: its values are copied into
/// every example path that names them, and into every render that reads `env`.
pub const MAX_ENVIRONMENT_BYTES: usize = 64 * 1024;

/// Refuses an environment larger than [`MAX_ENVIRONMENT_BYTES`].
pub fn check_environment(env: &BTreeMap<String, String>) -> Result<(), String> {
    let bytes: usize = env
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    if bytes > MAX_ENVIRONMENT_BYTES {
        return Err(format!(
            "holds {bytes} bytes; at most {MAX_ENVIRONMENT_BYTES} are kept"
        ));
    }
    Ok(())
}

/// Where a request path first departs from an example path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PathDifference {
    /// 1-based position of the first segment that differs.
    pub(crate) segment: usize,
    pub(crate) expected: String,
    /// `None` when the request path ends before this segment.
    pub(crate) actual: Option<String>,
}

/// Splits a request path into its segments: `/` has one empty segment, `/a/b/` three.
pub(crate) fn request_segments(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

/// Parses an example path, returning the pattern and the parameters of its query string.
pub(crate) fn parse(
    path: &str,
    env: &BTreeMap<String, String>,
) -> Result<(PathPattern, Vec<(String, String)>), String> {
    let resolved = resolve_variables(path, env, MAX_PATH_BYTES).ok_or_else(|| {
        format!(
            "is longer than {MAX_PATH_BYTES} bytes once the environment's variables are replaced"
        )
    })?;
    let (path, query) = resolved.split_once('?').unwrap_or((resolved.as_str(), ""));
    let raw = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let parts: Vec<&str> = request_segments(&raw).collect();
    let mut segments = Vec::with_capacity(parts.len());
    let mut rest = false;
    for (position, part) in parts.iter().enumerate() {
        let number = position + 1;
        if *part == "*" {
            if position + 1 != parts.len() {
                return Err(format!(
                    "segment {number}: `*` may only be the last segment"
                ));
            }
            rest = true;
        } else if let Some(name) = capture_name(part) {
            if !is_valid_name(name) {
                return Err(format!(
                    "segment {number}: a path parameter needs a name of letters, digits, `_`, `-` or `.`, got `{part}`"
                ));
            }
            segments.push(Segment::Capture(name.to_owned()));
        } else {
            segments.push(Segment::Literal(decode_segment(part).into_owned()));
        }
    }
    Ok((
        PathPattern {
            raw,
            segments,
            rest,
        },
        parse_urlencoded(query),
    ))
}

/// The request an example path names when it captures nothing: the path, the environment's
/// variables replaced, and the parameters of its query string (`/users/1?active=true`). `None`
/// when a segment is a capture (`:id`, `{id}`, an undefined `{{var}}`) or the last is `*`: the
/// path then stands for many requests.
pub fn literal_path(
    path: &str,
    env: &BTreeMap<String, String>,
) -> Option<(String, Vec<(String, String)>)> {
    let (pattern, query) = parse(path, env).ok()?;
    let literal = !pattern.rest
        && pattern
            .segments
            .iter()
            .all(|segment| matches!(segment, Segment::Literal(_)));
    literal.then_some((pattern.raw, query))
}

/// `:id`, `{id}` or `{{id}}` as a whole segment name a capture.
fn capture_name(segment: &str) -> Option<&str> {
    if let Some(name) = segment.strip_prefix(':') {
        return Some(name);
    }
    let inner = segment.strip_prefix('{')?.strip_suffix('}')?;
    let inner = inner
        .strip_prefix('{')
        .and_then(|i| i.strip_suffix('}'))
        .unwrap_or(inner);
    Some(inner.trim())
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Replaces every `{{name}}` that `env` defines, once: a value's own `{{...}}` is not resolved
/// again (a caller that wants nested variables repeats it). Undefined names, and text that only
/// looks like a variable (`{{$guid}}`), stay as they are. The mock's environment resolves paths
/// with it, and the Postman importer its collection's variables, so both read `{{...}}` alike.
///
/// The result is at most `limit` bytes: `None` when it would be longer, found before the text
/// is built, so a short path that names a long value a thousand times costs nothing.
pub fn resolve_variables(
    text: &str,
    env: &BTreeMap<String, String>,
    limit: usize,
) -> Option<String> {
    if env.is_empty() || !text.contains("{{") {
        return (text.len() <= limit).then(|| text.to_owned());
    }
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        pieces.push(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                pieces.push(match env.get(name) {
                    Some(value) => value,
                    None => &rest[start..start + 2 + end + 2],
                });
                rest = &after[end + 2..];
            }
            None => {
                pieces.push(&rest[start..]);
                rest = "";
            }
        }
    }
    pieces.push(rest);
    let length = pieces.iter().map(|piece| piece.len()).sum::<usize>();
    (length <= limit).then(|| pieces.concat())
}

/// Decodes `%XX` escapes of one path segment (`+` stays a plus in paths); borrows when there is
/// nothing to decode.
pub(crate) fn decode_segment(segment: &str) -> Cow<'_, str> {
    if !segment.contains('%') {
        return Cow::Borrowed(segment);
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? << 4 | hex(bytes[i + 2])?))
            .flatten();
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

/// A path's segment count and kind, from which [`PathPattern::distance`] follows once the number
/// of differing segments is known; explanations weigh thousands of examples this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PathShape {
    /// Segments before a final `*`.
    pub(crate) count: usize,
    pub(crate) rest: bool,
    /// The root path `/`, which as a prefix covers every request.
    pub(crate) root: bool,
}

impl PathShape {
    /// The distance of a request path of `len` segments of which `differing` (among the first
    /// `count`) do not fit: 0 when the path fits, else the share of positions that differ.
    pub(crate) fn distance(self, len: usize, differing: usize, prefix: bool) -> f64 {
        let count = self.count;
        let fits = (prefix && self.root)
            || (differing == 0
                && if prefix {
                    len >= count
                } else if self.rest {
                    len > count
                } else {
                    len == count
                });
        if fits {
            return 0.0;
        }
        let extra = if prefix || self.rest {
            count
                .saturating_sub(len)
                .max(usize::from(self.rest && len == count))
        } else {
            count.abs_diff(len)
        };
        let longest = count.max(len).max(1);
        ((differing + extra) as f64 / longest as f64).clamp(f64::MIN_POSITIVE, 1.0)
    }
}

impl Segment {
    fn fits(&self, actual: &str) -> bool {
        match self {
            Self::Literal(expected) => decode_segment(actual) == expected.as_str(),
            Self::Capture(_) => !actual.is_empty(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Literal(text) => text.clone(),
            Self::Capture(name) => format!("{{{name}}}"),
        }
    }
}

impl PathPattern {
    /// `/`, standing in for a path that did not parse while the other errors are collected.
    pub(crate) fn root() -> Self {
        Self {
            raw: "/".to_owned(),
            segments: vec![Segment::Literal(String::new())],
            rest: false,
        }
    }

    /// True for the root path `/`, which as a prefix covers every request.
    fn is_root(&self) -> bool {
        !self.rest && self.segments == [Segment::Literal(String::new())]
    }

    /// Whether any segment is a capture or the path ends in `*`.
    pub(crate) fn has_wildcards(&self) -> bool {
        self.rest
            || self
                .segments
                .iter()
                .any(|segment| matches!(segment, Segment::Capture(_)))
    }

    /// The whole request path fits.
    pub(crate) fn matches(&self, segments: &[&str]) -> bool {
        let count = self.segments.len();
        let length_fits = if self.rest {
            segments.len() > count
        } else {
            segments.len() == count
        };
        length_fits && self.leading_fit(segments)
    }

    /// The request path starts with this path, segment by segment.
    pub(crate) fn matches_prefix(&self, segments: &[&str]) -> bool {
        self.is_root() || (segments.len() >= self.segments.len() && self.leading_fit(segments))
    }

    fn leading_fit(&self, segments: &[&str]) -> bool {
        self.segments
            .iter()
            .zip(segments)
            .all(|(pattern, actual)| pattern.fits(actual))
    }

    /// The captured segments of a request path that [`Self::matches`] or
    /// [`Self::matches_prefix`] accepted, decoded.
    pub(crate) fn captures(&self, segments: &[&str]) -> Vec<(String, String)> {
        let mut captures: Vec<(String, String)> = self
            .segments
            .iter()
            .zip(segments)
            .filter_map(|(pattern, actual)| match pattern {
                Segment::Capture(name) => Some((name.clone(), decode_segment(actual).into_owned())),
                Segment::Literal(_) => None,
            })
            .collect();
        if self.rest && segments.len() > self.segments.len() {
            captures.push(("*".to_owned(), segments[self.segments.len()..].join("/")));
        }
        captures
    }

    /// Share of segment positions that differ, 0 (fits) to 1, for ranking near misses.
    pub(crate) fn distance(&self, segments: &[&str], prefix: bool) -> f64 {
        let differing = self
            .segments
            .iter()
            .zip(segments)
            .filter(|(pattern, actual)| !pattern.fits(actual))
            .count();
        self.shape().distance(segments.len(), differing, prefix)
    }

    /// What [`Self::distance`] needs to know of this path besides its segments' text.
    pub(crate) fn shape(&self) -> PathShape {
        PathShape {
            count: self.segments.len(),
            rest: self.rest,
            root: self.is_root(),
        }
    }

    /// Where the request path departs from this one; `None` if it fits.
    pub(crate) fn difference(&self, segments: &[&str], prefix: bool) -> Option<PathDifference> {
        if self.distance(segments, prefix) == 0.0 {
            return None;
        }
        let count = self.segments.len();
        let first = self
            .segments
            .iter()
            .zip(segments)
            .position(|(pattern, actual)| !pattern.fits(actual));
        Some(match first {
            Some(index) => PathDifference {
                segment: index + 1,
                expected: self.segments[index].describe(),
                actual: Some(segments[index].to_owned()),
            },
            None if segments.len() < count || (self.rest && segments.len() == count) => {
                PathDifference {
                    segment: segments.len() + 1,
                    expected: self
                        .segments
                        .get(segments.len())
                        .map_or_else(|| "*".to_owned(), Segment::describe),
                    actual: None,
                }
            }
            None => PathDifference {
                segment: count + 1,
                expected: "(end of path)".to_owned(),
                actual: Some(segments[count].to_owned()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(path: &str) -> PathPattern {
        parse(path, &BTreeMap::new()).expect("valid path").0
    }

    fn segments(path: &str) -> Vec<&str> {
        request_segments(path).collect()
    }

    #[test]
    fn named_segments_capture_in_all_three_spellings() {
        let path = pattern("/users/:id/{kind}/{{token}}");
        let request = segments("/users/42/admin/x%20y");
        assert!(path.matches(&request));
        assert_eq!(
            path.captures(&request),
            [
                ("id".to_owned(), "42".to_owned()),
                ("kind".to_owned(), "admin".to_owned()),
                ("token".to_owned(), "x y".to_owned())
            ]
        );
    }

    #[test]
    fn only_a_path_without_captures_is_a_literal_request_path() {
        let env = BTreeMap::from([("version".to_owned(), "v2".to_owned())]);
        assert_eq!(
            literal_path("/{{version}}/users/1?active=true", &env),
            Some((
                "/v2/users/1".to_owned(),
                vec![("active".to_owned(), "true".to_owned())]
            ))
        );
        for captured in ["/users/:id", "/users/{id}", "/{{tenant}}/users", "/files/*"] {
            assert_eq!(literal_path(captured, &env), None, "{captured}");
        }
    }

    #[test]
    fn a_path_without_leading_slash_is_rooted() {
        let path = pattern("foo/bar");
        assert_eq!(path.raw, "/foo/bar");
        assert!(path.matches(&segments("/foo/bar")));
        assert!(!path.matches(&segments("/bar/foo")));
    }

    #[test]
    fn the_query_string_of_a_path_becomes_parameters() {
        let (path, query) = parse("/search?q=a+b&page=2", &BTreeMap::new()).expect("valid");
        assert_eq!(path.raw, "/search");
        assert_eq!(query[0], ("q".to_owned(), "a b".to_owned()));
        assert_eq!(query.len(), 2);
    }

    #[test]
    fn environment_variables_resolve_before_parsing() {
        let env = BTreeMap::from([("version".to_owned(), "v2".to_owned())]);
        let (path, _) = parse("/{{version}}/users/{{id}}", &env).expect("valid");
        assert_eq!(path.segments[0], Segment::Literal("v2".to_owned()));
        assert_eq!(path.segments[2], Segment::Capture("id".to_owned()));
    }

    #[test]
    fn a_trailing_star_needs_at_least_one_more_segment() {
        let path = pattern("/files/*");
        assert!(!path.matches(&segments("/files")));
        let request = segments("/files/a/b.txt");
        assert!(path.matches(&request));
        assert_eq!(
            path.captures(&request),
            [("*".to_owned(), "a/b.txt".to_owned())]
        );
    }

    #[test]
    fn a_star_in_the_middle_is_refused() {
        let error = parse("/a/*/b", &BTreeMap::new()).expect_err("star in the middle");
        assert!(error.contains("segment 2"), "{error}");
    }

    #[test]
    fn an_unnamed_parameter_is_refused() {
        let error = parse("/users/:", &BTreeMap::new()).expect_err("no name");
        assert!(error.contains("needs a name"), "{error}");
    }

    #[test]
    fn prefixes_compare_whole_segments() {
        let path = pattern("/api");
        assert!(path.matches_prefix(&segments("/api/user/1")));
        assert!(!path.matches_prefix(&segments("/apiary")));
        assert!(pattern("/").matches_prefix(&segments("/anything/at/all")));
    }

    #[test]
    fn the_difference_names_the_first_segment_that_differs() {
        let difference = pattern("/users/:id/orders")
            .difference(&segments("/users/1/invoices"), false)
            .expect("differs");
        assert_eq!(difference.segment, 3);
        assert_eq!(difference.expected, "orders");
        assert_eq!(difference.actual.as_deref(), Some("invoices"));

        let shorter = pattern("/users/:id")
            .difference(&segments("/users"), false)
            .expect("differs");
        assert_eq!((shorter.segment, shorter.actual), (2, None));
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(decode_segment("a%2"), "a%2");
        assert_eq!(decode_segment("%zz%41"), "%zzA");
        assert_eq!(decode_segment("%"), "%");
    }
}
