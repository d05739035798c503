//! Which requests are mock calls: `Host: <mock-id>.mock.<base-host>` (any letter case, ports
//! ignored on both sides) or the path `/m/<mock-id>/<path>`, and the path the engine sees, which
//! is the same in both forms.

use lyrebird_store::MockId;

/// A request addressed to a mock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockTarget {
    /// `None` when the id is not a UUID: such a mock cannot exist.
    pub id: Option<MockId>,
    /// The path after the mock's base, always starting with `/`, percent-encoding as sent.
    pub path: String,
    /// True for `<mock-id>.mock.<base-host>`; false for `/m/<mock-id>/` on any host, which may
    /// be the app's own origin, so its answers are confined (`docs/serving.md`, Security).
    pub own_host: bool,
}

/// The mock a request is for, or `None` when it is for the admin API or the web pages.
/// The host form wins, so a mock's own path may start with `/m/`.
pub fn mock_target(base_host: &str, host: Option<&str>, path: &str) -> Option<MockTarget> {
    if let Some(label) = host.and_then(|host| mock_label(base_host, host)) {
        return Some(MockTarget {
            id: label.parse().ok(),
            path: path.to_owned(),
            own_host: true,
        });
    }
    let rest = path.strip_prefix("/m/")?;
    let (id, inner) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    Some(MockTarget {
        id: id.parse().ok(),
        path: inner.to_owned(),
        own_host: false,
    })
}

/// The `<label>` of `<label>.mock.<base-host>`, in any letter case (a mock id parses in any).
/// Compared without copying: this runs on every request.
fn mock_label<'h>(base_host: &str, host: &'h str) -> Option<&'h str> {
    let host = without_port(host.trim());
    let label = strip_suffix_any_case(host, without_port(base_host))?;
    let label = strip_suffix_any_case(label, ".mock.")?;
    (!label.is_empty() && !label.contains('.')).then_some(label)
}

fn strip_suffix_any_case<'t>(text: &'t str, suffix: &str) -> Option<&'t str> {
    let split = text.len().checked_sub(suffix.len())?;
    (text.is_char_boundary(split) && text[split..].eq_ignore_ascii_case(suffix))
        .then(|| &text[..split])
}

/// `example.com:8080` -> `example.com`, `[::1]:8080` -> `[::1]`.
fn without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6";

    fn target(base: &str, host: &str, path: &str) -> Option<MockTarget> {
        mock_target(base, Some(host), path)
    }

    #[test]
    fn both_forms_give_the_engine_the_same_path() {
        let by_host = target(
            "localhost:8080",
            &format!("{ID}.mock.localhost:8080"),
            "/a/b",
        );
        let by_path = target("localhost:8080", "localhost:8080", &format!("/m/{ID}/a/b")).unwrap();
        let by_host = by_host.unwrap();
        assert_eq!((&by_host.id, &by_host.path), (&by_path.id, &by_path.path));
        assert_eq!(by_host.path, "/a/b");
        assert!(by_host.own_host && !by_path.own_host);
        let root = target("localhost:8080", "localhost:8080", &format!("/m/{ID}")).unwrap();
        assert_eq!(root.path, "/");
        assert_eq!(root.id.unwrap().to_string(), ID);
    }

    #[test]
    fn the_host_is_recognised_in_any_case_and_with_or_without_ports() {
        let upper = format!("{}.MOCK.Mocks.Example.COM", ID.to_uppercase());
        for (base, host) in [
            ("mocks.example.com", upper.as_str()),
            (
                "mocks.example.com:8443",
                &format!("{ID}.mock.mocks.example.com"),
            ),
            (
                "mocks.example.com",
                &format!("{ID}.mock.mocks.example.com:8080"),
            ),
        ] {
            let found = target(base, host, "/").unwrap_or_else(|| panic!("{host}"));
            assert_eq!(found.id.unwrap().to_string(), ID, "{host}");
        }
    }

    #[test]
    fn other_hosts_and_paths_are_not_mock_calls() {
        assert_eq!(
            target("localhost:8080", "localhost:8080", "/api/v1/mocks"),
            None
        );
        assert_eq!(
            target("localhost", &format!("{ID}.mock.other.com"), "/"),
            None
        );
        assert_eq!(
            target("localhost", &format!("x.{ID}.mock.localhost"), "/"),
            None
        );
        assert_eq!(target("localhost", "localhost", "/mx/1"), None);
    }

    #[test]
    fn a_malformed_id_is_a_mock_call_that_names_no_mock() {
        let found = target("localhost", "not-a-uuid.mock.localhost", "/x").unwrap();
        assert_eq!(found.id, None);
        assert_eq!(
            target("localhost", "localhost", "/m/123/x").unwrap().id,
            None
        );
    }
}
