//! Postman request URLs, in every shape the files use (a raw string, or `protocol` / `host` /
//! `path` / `query` / `variable` parts with or without `raw`), reduced to what a mock matches:
//! the path after the mock's base, the query and the `:name` path variables.
//!
//! The base is dropped this way: a URL whose host is a variable (`{{baseUrl}}/users/:id`) keeps
//! what follows the variable, whatever its value; a literal URL loses its scheme and host, and
//! also the path of a collection or environment variable whose value is a URL that the literal
//! URL starts with (`https://h/bcl/v1/x` becomes `/x` when `baseUrl` is `https://h/bcl/v1`).

use std::collections::BTreeMap;

use lyrebird_engine::request::percent_decode;
use serde_json::Value;

use super::vars::Variables;
use crate::document::{array_at, str_at, text_of};

/// A URL as the mock sees it.
#[derive(Debug, Default)]
pub(crate) struct PostmanUrl {
    /// Path segments after the base, as written (`:id` and `{{var}}` included); a final empty
    /// segment stands for a trailing slash.
    pub segments: Vec<String>,
    /// Enabled query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// `:name` path variables and the values the file gives them (possibly empty).
    pub path_variables: BTreeMap<String, String>,
}

/// URL prefixes that stand for the mock's base: the values of variables that hold a URL with a
/// path, as a lower-case host and path segments.
#[derive(Debug, Default)]
pub(crate) struct Bases(Vec<(String, Vec<String>)>);

impl Bases {
    pub(crate) fn from_values<'a>(values: impl Iterator<Item = &'a str>) -> Self {
        let mut bases: Vec<(String, Vec<String>)> = values
            .filter_map(|value| {
                let rest = value
                    .strip_prefix("https://")
                    .or_else(|| value.strip_prefix("http://"))?;
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                let segments: Vec<String> = path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                (!segments.is_empty()).then(|| (host.to_ascii_lowercase(), segments))
            })
            .collect();
        bases.sort_by_key(|(_, segments)| std::cmp::Reverse(segments.len()));
        Self(bases)
    }

    /// How many leading path segments of a literal URL on `host` belong to a base.
    fn covered(&self, host: &str, segments: &[String], vars: &Variables) -> usize {
        let host = host_without_userinfo(host).to_ascii_lowercase();
        self.0
            .iter()
            .find(|(base_host, base_segments)| {
                *base_host == host
                    && segments.len() >= base_segments.len()
                    && base_segments
                        .iter()
                        .zip(segments)
                        .all(|(base, segment)| *base == vars.resolve(segment))
            })
            .map_or(0, |(_, base_segments)| base_segments.len())
    }
}

fn host_without_userinfo(host: &str) -> &str {
    host.rsplit_once('@').map_or(host, |(_, host)| host)
}

/// Reads a URL given as a string or as an object; `None` gives the root path.
pub(crate) fn parse(url: Option<&Value>, vars: &Variables, bases: &Bases) -> PostmanUrl {
    let Some(url) = url else {
        return PostmanUrl::default();
    };
    if let Some(raw) = url.as_str() {
        return from_raw(raw, vars, bases);
    }
    let has_parts = url.get("host").is_some() || url.get("path").is_some();
    let mut parsed = match (has_parts, str_at(url, "raw")) {
        (false, Some(raw)) => from_raw(raw, vars, bases),
        _ => {
            let host = match url.get("host") {
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(text_of)
                    .collect::<Vec<_>>()
                    .join("."),
                Some(other) => text_of(other).unwrap_or_default(),
                None => String::new(),
            };
            let segments = match url.get("path") {
                Some(Value::Array(parts)) => parts.iter().map(segment_text).collect(),
                Some(Value::String(path)) => split_path(path),
                _ => Vec::new(),
            };
            let query = url
                .get("query")
                .and_then(Value::as_array)
                .map(|params| enabled_pairs(params))
                .unwrap_or_default();
            PostmanUrl {
                segments: drop_base(&host, segments, vars, bases),
                query,
                path_variables: BTreeMap::new(),
            }
        }
    };
    for variable in array_at(url, "variable") {
        let name = str_at(variable, "key").or_else(|| str_at(variable, "id"));
        if let Some(name) = name {
            let value = variable.get("value").and_then(text_of).unwrap_or_default();
            parsed.path_variables.insert(name.to_owned(), value);
        }
    }
    parsed
}

/// A path element: a string, or the `{ "value": ... }` object of the v2 schema.
fn segment_text(part: &Value) -> String {
    match part {
        Value::Object(_) => part.get("value").and_then(text_of).unwrap_or_default(),
        other => text_of(other).unwrap_or_default(),
    }
}

fn split_path(path: &str) -> Vec<String> {
    path.strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .map(str::to_owned)
        .collect()
}

fn from_raw(raw: &str, vars: &Variables, bases: &Bases) -> PostmanUrl {
    let without_fragment = raw.split('#').next().unwrap_or_default().trim();
    let (before_query, query) = without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""));
    let after_scheme = before_query
        .find("://")
        .map_or(before_query, |index| &before_query[index + 3..]);
    let (host, path) = if after_scheme.starts_with('/') {
        ("", after_scheme)
    } else {
        after_scheme.split_once('/').unwrap_or((after_scheme, ""))
    };
    let segments = if path.is_empty() {
        Vec::new()
    } else {
        split_path(path)
    };
    PostmanUrl {
        segments: drop_base(host, segments, vars, bases),
        query: lyrebird_engine::request::parse_urlencoded(query),
        path_variables: BTreeMap::new(),
    }
}

fn drop_base(host: &str, segments: Vec<String>, vars: &Variables, bases: &Bases) -> Vec<String> {
    if host.contains("{{") {
        return segments;
    }
    let covered = bases.covered(&vars.resolve(host), &segments, vars);
    segments.into_iter().skip(covered).collect()
}

/// The enabled `key` / `value` pairs of a Postman list, values decoded as a URL would be.
fn enabled_pairs(params: &[Value]) -> Vec<(String, String)> {
    params
        .iter()
        .filter(|param| param.get("disabled") != Some(&Value::Bool(true)))
        .filter_map(|param| {
            let key = param.get("key").and_then(text_of)?;
            let value = param.get("value").and_then(text_of).unwrap_or_default();
            Some((percent_decode(&key), percent_decode(&value)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn no_vars() -> Variables {
        Variables::new(BTreeMap::new())
    }

    #[test]
    fn a_variable_host_is_the_base() {
        let url = parse(
            Some(&json!("{{baseUrl}}/users/:id?x=1")),
            &no_vars(),
            &Bases::default(),
        );
        assert_eq!(url.segments, ["users", ":id"]);
        assert_eq!(url.query, [("x".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn a_literal_host_is_dropped_with_scheme_userinfo_port_and_fragment() {
        let url = parse(
            Some(&json!(
                "http://user:pass@echo.example.com:9443/status/400/?query=string&abcd#{{search}}"
            )),
            &no_vars(),
            &Bases::default(),
        );
        assert_eq!(url.segments, ["status", "400", ""]);
        assert_eq!(url.query.len(), 2);
        assert_eq!(url.query[1], ("abcd".to_owned(), String::new()));
    }

    #[test]
    fn a_literal_url_under_a_base_variable_loses_the_base_path() {
        let vars = Variables::new(BTreeMap::from([(
            "baseUrl".to_owned(),
            "https://h.example/bcl/v1".to_owned(),
        )]));
        let bases = Bases::from_values(["https://h.example/bcl/v1"].into_iter());
        let url = parse(
            Some(&json!({"host": ["h", "example"], "path": ["bcl", "v1", "things", ":id"]})),
            &vars,
            &bases,
        );
        assert_eq!(url.segments, ["things", ":id"]);
    }

    #[test]
    fn parts_win_over_raw_and_disabled_query_parameters_are_skipped() {
        let url = parse(
            Some(&json!({
                "raw": "https://x/api/v1/users/",
                "host": ["x"],
                "path": ["api", "v1", "users", "100"],
                "query": [{"key": "a", "value": "1"}, {"key": "b", "value": "2", "disabled": true}],
                "variable": [{"key": "id", "value": "7"}]
            })),
            &no_vars(),
            &Bases::default(),
        );
        assert_eq!(url.segments, ["api", "v1", "users", "100"]);
        assert_eq!(url.query, [("a".to_owned(), "1".to_owned())]);
        assert_eq!(url.path_variables["id"], "7");
    }

    #[test]
    fn a_path_given_as_a_string_is_split() {
        let url = parse(
            Some(&json!({"host": "sub.example.com.", "path": "path/to/document"})),
            &no_vars(),
            &Bases::default(),
        );
        assert_eq!(url.segments, ["path", "to", "document"]);
    }
}
