//! Behind reverse proxies, black-box: `lyrebird serve` on a real port, called from 127.0.0.1 with
//! `X-Forwarded-For` as a proxy sends it. With `--trusted-proxies` the client a trusted proxy
//! forwarded for is the one the call log records and login throttling counts; without it, the
//! header is the caller's word and is ignored; a bad setting stops the server before it starts.

#[path = "support/binary.rs"]
mod support;

use std::collections::BTreeMap;

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Server, User, lyrebird};

const TRUSTED_PROXIES: &str = "LYREBIRD_TRUSTED_PROXIES";

/// Calls the mock once per `(path, X-Forwarded-For)` (no header when `None`), and returns the
/// client address the call log recorded for each path.
async fn logged_clients(
    server: &Server,
    user: &User,
    calls: &[(&str, Option<&str>)],
) -> BTreeMap<String, String> {
    // No example: every call is an explained 404, logged like any other.
    let mock = server
        .create_mock(&user.key, json!({"name": "proxied"}), &[])
        .await;
    for (path, forwarded) in calls {
        let mut request = server.by_path(Method::GET, &mock, path);
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", *forwarded);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }
    server
        .logged_calls(&user.key, &mock, calls.len())
        .await
        .iter()
        .map(|call| {
            let client = call["client_addr"].as_str().unwrap_or("(none)");
            (call["path"].as_str().unwrap().to_owned(), client.to_owned())
        })
        .collect()
}

/// A failed log-in as `email`, as forwarded for `client`: 401, or 429 once throttled.
async fn failed_log_in(server: &Server, email: &str, client: &str) -> StatusCode {
    server
        .client
        .post(server.url("/api/v1/sessions"))
        .header("x-forwarded-for", client)
        .json(&json!({"email": email, "password": "wrong horse battery"}))
        .send()
        .await
        .unwrap()
        .status()
}

/// Fails five times (the email's allowance from one address) as forwarded for `client`, and
/// gives the status of the sixth attempt, from `then`.
async fn throttled_after_five(server: &Server, client: &str, then: &str) -> StatusCode {
    for _ in 0..5 {
        let status = failed_log_in(server, "ada@example.com", client).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    failed_log_in(server, "ada@example.com", then).await
}

#[tokio::test]
async fn a_trusted_proxys_client_is_logged_and_throttled_as_itself() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[(TRUSTED_PROXIES, "127.0.0.1")]);
    let user = server.sign_up("ada@example.com").await;

    let clients = logged_clients(
        &server,
        &user,
        &[("/forwarded", Some("198.51.100.7")), ("/direct", None)],
    )
    .await;
    assert_eq!(clients["/forwarded"], "198.51.100.7");
    // No header: the proxy itself is the client.
    assert_eq!(clients["/direct"], "127.0.0.1");

    // One forwarded client used up its allowance; another one behind the same proxy has not.
    let other = throttled_after_five(&server, "198.51.100.7", "198.51.100.8").await;
    assert_eq!(other, StatusCode::UNAUTHORIZED);
    let same = failed_log_in(&server, "ada@example.com", "198.51.100.7").await;
    assert_eq!(same, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("ada@example.com").await;

    let clients = logged_clients(&server, &user, &[("/spoofed", Some("198.51.100.7"))]).await;
    assert_eq!(clients["/spoofed"], "127.0.0.1");

    // A new made-up address for each guess does not escape the throttle.
    let spoofed = throttled_after_five(&server, "198.51.100.7", "198.51.100.8").await;
    assert_eq!(spoofed, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_address() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[(TRUSTED_PROXIES, "127.0.0.1, 10.0.0.0/8")]);
    let user = server.sign_up("ada@example.com").await;

    let clients = logged_clients(
        &server,
        &user,
        &[
            ("/chain", Some("203.0.113.9, 10.0.0.2")),
            // Left of the client's own address is what it wrote itself.
            ("/prefixed", Some("192.0.2.66, 203.0.113.9, 10.0.0.2")),
            ("/port", Some("203.0.113.9:5678, 10.0.0.2")),
            ("/all-trusted", Some("10.0.0.3, 10.0.0.2")),
            // A malformed entry ends the walk at the last trusted address before it.
            ("/malformed", Some("203.0.113.9, unknown, 10.0.0.2")),
            ("/garbage", Some("not an address")),
        ],
    )
    .await;
    assert_eq!(clients["/chain"], "203.0.113.9");
    assert_eq!(clients["/prefixed"], "203.0.113.9");
    assert_eq!(clients["/port"], "203.0.113.9");
    assert_eq!(clients["/all-trusted"], "10.0.0.3");
    assert_eq!(clients["/malformed"], "10.0.0.2");
    assert_eq!(clients["/garbage"], "127.0.0.1");
}

#[tokio::test]
async fn only_the_proxies_trusted_are_believed() {
    let db = TestDatabase::new().await;
    // The tests' own address is not in the list.
    let server = Server::start(&db, &[(TRUSTED_PROXIES, "10.0.0.0/8")]);
    let user = server.sign_up("ada@example.com").await;
    let clients = logged_clients(&server, &user, &[("/untrusted", Some("198.51.100.7"))]).await;
    assert_eq!(clients["/untrusted"], "127.0.0.1");
}

#[test]
fn a_bad_trusted_proxies_setting_stops_the_server_naming_the_option() {
    for (flag, variable) in [
        (Some("10.0.0.0/33"), None),
        (None, Some("127.0.0.1,proxy.internal")),
    ] {
        let mut command = lyrebird();
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        if let Some(value) = flag {
            command.args(["--trusted-proxies", value]);
        }
        if let Some(value) = variable {
            command.env(TRUSTED_PROXIES, value);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--trusted-proxies"), "{stderr}");
        let bad = flag.unwrap_or("proxy.internal");
        assert!(stderr.contains(&format!("{bad:?} is neither")), "{stderr}");
    }
}
