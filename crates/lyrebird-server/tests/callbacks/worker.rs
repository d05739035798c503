//! The callback worker on its own: delays, the network guard, timeouts, refusals, redirects,
//! concurrency and capacity in callbacks and bytes, stopping, and invalid requests.

use super::*;

#[tokio::test]
async fn an_allowed_receiver_gets_the_method_headers_and_body_after_the_delay() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    let enqueued = Instant::now();
    let enqueued_at = time::OffsetDateTime::now_utc();
    callbacks.enqueue(
        ours(),
        call,
        vec![Callback {
            method: "PUT".into(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("X-Order".into(), "42".into()),
            ],
            body: r#"{"order":"42","state":"shipped"}"#.into(),
            delay_ms: 300,
            ..post(receiver.url("/hooks/orders"))
        }],
    );

    let received = receiver.requests.recv().await.unwrap();
    assert_eq!(received.method, Method::PUT);
    assert_eq!(received.path, "/hooks/orders");
    assert_eq!(received.headers["x-order"], "42");
    assert_eq!(received.headers["content-type"], "application/json");
    assert_eq!(&received.body[..], br#"{"order":"42","state":"shipped"}"#);
    assert!(
        received.at.duration_since(enqueued) >= Duration::from_millis(300),
        "sent before its delay ran out"
    );

    let result = result_of(call, &mut results).await;
    assert_eq!(result.url, receiver.url("/hooks/orders"));
    assert_eq!(result.method, "PUT");
    assert_eq!(result.status, Some(202));
    assert_eq!(result.error, None);
    assert!(result.at - enqueued_at >= time::Duration::milliseconds(300));
}

#[tokio::test]
async fn a_callback_to_loopback_is_refused_and_recorded_without_the_allow_list() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(CallbackOptions::default());
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post(receiver.url("/hooks"))]);

    let result = result_of(call, &mut results).await;
    assert_eq!(result.status, None);
    let error = result.error.unwrap();
    assert!(
        error.starts_with("refused: 127.0.0.1 is a loopback address"),
        "{error}"
    );
    assert!(
        receiver.requests.try_recv().is_err(),
        "the receiver was reached"
    );
}

#[tokio::test]
async fn an_ipv6_loopback_literal_is_refused() {
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post("http://[::1]:9/hooks".into())]);

    let error = result_of(call, &mut results).await.error.unwrap();
    assert!(
        error.starts_with("refused: ::1 is a loopback address"),
        "{error}"
    );
}

#[tokio::test]
async fn a_host_name_that_resolves_to_loopback_is_refused() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(allowing("10.0.0.0/8"));
    let call = Uuid::now_v7();
    let url = format!("http://localhost:{}/hooks", receiver.address.port());
    callbacks.enqueue(ours(), call, vec![post(url)]);

    let result = result_of(call, &mut results).await;
    assert_eq!(result.status, None);
    let error = result.error.unwrap();
    assert!(
        error.starts_with("refused: localhost resolves to "),
        "{error}"
    );
    assert!(error.contains("a loopback address"), "{error}");
    assert!(
        receiver.requests.try_recv().is_err(),
        "the receiver was reached"
    );
}

#[tokio::test]
async fn a_host_name_on_the_allow_list_may_resolve_to_loopback() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(allowing("LocalHost"));
    let call = Uuid::now_v7();
    let url = format!("http://localhost:{}/ping", receiver.address.port());
    callbacks.enqueue(ours(), call, vec![post(url)]);

    assert_eq!(receiver.requests.recv().await.unwrap().path, "/ping");
    assert_eq!(result_of(call, &mut results).await.status, Some(202));
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_in_time_is_recorded_as_a_timeout() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let (callbacks, mut results) = worker(CallbackOptions {
        timeout: Duration::from_millis(200),
        ..allowing("127.0.0.1")
    });
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post(format!("http://{address}/slow"))]);

    let result = result_of(call, &mut results).await;
    assert_eq!(result.status, None);
    assert_eq!(result.error.as_deref(), Some("timed out after 200 ms"));
}

#[tokio::test]
async fn a_refused_connection_is_recorded_with_its_cause() {
    // A port that was free a moment ago: nothing listens there.
    let address = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post(format!("http://{address}/gone"))]);

    let result = result_of(call, &mut results).await;
    assert_eq!(result.status, None);
    let error = result.error.unwrap();
    assert!(error.contains("Connection refused"), "{error}");
    assert!(error.contains(&format!("http://{address}/gone")), "{error}");
}

#[tokio::test]
async fn redirects_are_recorded_not_followed() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post(receiver.url("/redirect"))]);

    assert_eq!(result_of(call, &mut results).await.status, Some(302));
    assert_eq!(receiver.requests.recv().await.unwrap().path, "/redirect");
    assert!(
        receiver.requests.try_recv().is_err(),
        "the redirect was followed"
    );
}

#[tokio::test]
async fn no_more_callbacks_than_the_concurrency_are_sent_at_once() {
    let mut receiver = Receiver::start().await;
    receiver.hold();
    let (callbacks, mut results) = worker(CallbackOptions {
        concurrency: 2,
        ..allowing("127.0.0.1")
    });
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post(receiver.url("/hooks")); 5]);

    receiver.requests.recv().await.unwrap();
    receiver.requests.recv().await.unwrap();
    // Time for any callback beyond the bound to arrive too, were it sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    receiver.release();
    for _ in 0..5 {
        assert_eq!(result_of(call, &mut results).await.status, Some(202));
    }
    assert_eq!(receiver.hub.most_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn past_the_capacity_a_callback_is_recorded_as_not_sent() {
    let receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(CallbackOptions {
        capacity: 1,
        ..allowing("127.0.0.1")
    });
    let call = Uuid::now_v7();
    let waiting = Callback {
        delay_ms: 60_000,
        ..post(receiver.url("/later"))
    };
    callbacks.enqueue(ours(), call, vec![waiting, post(receiver.url("/now"))]);

    let overflow = result_of(call, &mut results).await;
    assert_eq!(overflow.url, receiver.url("/now"));
    assert_eq!(
        overflow.error.as_deref(),
        Some("not sent: 1 callbacks are already waiting")
    );
}

#[tokio::test]
async fn past_the_bytes_of_a_workspace_or_of_all_a_callback_is_recorded_as_not_sent() {
    let receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(CallbackOptions {
        capacity_bytes: 3_000,
        workspace_bytes: 2_000,
        ..allowing("127.0.0.1")
    });
    let call = Uuid::now_v7();
    let waiting = |path: &str| Callback {
        delay_ms: 60_000,
        body: "x".repeat(900),
        ..post(receiver.url(path))
    };
    let other = WorkspaceId::generate();
    // Two of 900 bytes and their URLs fit in the workspace's 2,000; a third does not.
    callbacks.enqueue(
        ours(),
        call,
        vec![waiting("/a"), waiting("/b"), waiting("/c")],
    );
    let refused = result_of(call, &mut results).await;
    assert_refused(
        &refused,
        &receiver.url("/c"),
        "not sent: the workspace's callbacks waiting already hold ",
        " of 2000 bytes",
    );
    // Another workspace has room of its own, up to what all may hold.
    callbacks.enqueue(other, call, vec![waiting("/d"), waiting("/e")]);
    let refused = result_of(call, &mut results).await;
    assert_refused(
        &refused,
        &receiver.url("/e"),
        "not sent: the callbacks waiting already hold ",
        " of 3000 bytes",
    );
    assert!(
        results.try_recv().is_err(),
        "the others wait out their delay"
    );
}

/// `result` is the callback to `url`, not sent, for the reason that starts and ends so.
fn assert_refused(result: &CallbackResult, url: &str, starts: &str, ends: &str) {
    assert_eq!(result.url, url);
    let error = result.error.as_deref().expect("refused");
    assert!(
        error.starts_with(starts) && error.ends_with(ends),
        "{error}"
    );
}

#[tokio::test]
async fn stopping_records_the_callbacks_still_waiting_out_their_delay() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    let waiting = Callback {
        delay_ms: 60_000,
        ..post(receiver.url("/later"))
    };
    callbacks.enqueue(ours(), call, vec![waiting]);

    callbacks.shutdown().await;
    let result = results
        .try_recv()
        .expect("recorded before shutdown returned");
    assert_eq!(result.0, call);
    assert_eq!(
        result.1.error.as_deref(),
        Some("not sent: the server stopped during its delay")
    );
    assert!(receiver.requests.try_recv().is_err());
}

#[tokio::test]
async fn an_invalid_method_or_header_is_recorded_as_an_error() {
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    callbacks.enqueue(
        ours(),
        call,
        vec![Callback {
            method: "NOT A METHOD".into(),
            ..post("http://127.0.0.1:9/".into())
        }],
    );
    assert_eq!(
        result_of(call, &mut results).await.error.as_deref(),
        Some(r#"invalid method "NOT A METHOD""#)
    );
    callbacks.enqueue(
        ours(),
        call,
        vec![Callback {
            headers: vec![("bad header".into(), "x".into())],
            ..post("http://127.0.0.1:9/".into())
        }],
    );
    assert_eq!(
        result_of(call, &mut results).await.error.as_deref(),
        Some(r#"invalid header name "bad header""#)
    );
}
