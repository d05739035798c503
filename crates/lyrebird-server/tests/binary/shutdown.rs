//! Signals: requests already sent are answered before the server stops, and the readiness
//! probes say it is stopping.

use super::support::json_of;
use super::*;

#[tokio::test]
async fn a_request_in_flight_when_sigint_arrives_is_still_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let db = TestDatabase::new().await;
    let server = Server::start_with(&[("DATABASE_URL", &db.url())]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let body = json!({"email": "ada@example.com", "password": "correct horse battery"}).to_string();
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
    connection
        .write_all(
            format!(
                "POST /api/v1/accounts HTTP/1.1\r\nHost: {address}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{first_half}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // Make sure the server has the request's head before it is told to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    signal(server.child.id(), "INT");
    tokio::time::sleep(Duration::from_millis(200)).await;
    connection.write_all(second_half.as_bytes()).await.unwrap();
    let mut answer = String::new();
    connection.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let mut server = server;
    assert!(server.wait().success());
}

/// Reads HTTP/1.1 responses from `connection` until the server closes it; returns each one's
/// status code and whether it says `connection: close`. (The bodies read here never hold
/// `HTTP/1.1 `.)
async fn responses(connection: &mut tokio::net::TcpStream) -> Vec<(String, bool)> {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), connection.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&answer)
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|response| {
            let status = response.split_whitespace().next().unwrap_or_default();
            (status.to_owned(), response.contains("connection: close"))
        })
        .collect()
}

#[tokio::test]
async fn pipelined_requests_on_a_keep_alive_connection_at_sigterm_are_answered_and_readiness_fails()
{
    use tokio::io::AsyncWriteExt;

    let db = TestDatabase::new().await;
    let server = Server::start_with(&[("DATABASE_URL", &db.url())]);
    let key = sign_up(&server, "ada@example.com").await;
    let (status, mock) = server
        .post(
            "/api/v1/mocks",
            Some(&key),
            json!({"name": "Slow", "delay": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mock}");
    let id = mock["id"].as_str().unwrap();
    let (status, _) = server
        .post(
            &format!("/api/v1/mocks/{id}/examples"),
            Some(&key),
            json!({"name": "slow", "request": {"path": "/slow"}, "response": {"status": 200}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
    // A first request answered on the connection, then two more sent together: the first of
    // them is slow (the mock's delay), the second waits behind it, already sent.
    let request = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n");
    connection
        .write_all(request("/healthz").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pipelined = format!(
        "{}{}",
        request(&format!("/m/{id}/slow")),
        request("/healthz")
    );
    connection.write_all(pipelined.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(server.child.id(), "TERM");
    // While it drains, new requests are still answered, but the readiness probes tell a
    // balancer to send no more.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for probe in ["/readyz", "/readyz/mocks"] {
        let (status, refused) = json_of(reqwest::get(server.url(probe)).await.unwrap()).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{probe}: {refused}"
        );
        assert_eq!(refused["error"]["code"], "shutting_down", "{refused}");
    }
    let answers = responses(&mut connection).await;
    let ok = |close| ("200".to_owned(), close);
    // All three are answered, the last closing the connection; then the server stops.
    assert_eq!(answers, [ok(false), ok(false), ok(true)]);
    let mut server = server;
    assert!(server.wait().success());
}
