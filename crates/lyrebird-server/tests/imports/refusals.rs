//! Bad files, oversized uploads and another workspace's mock: clear errors, nothing created.

use super::*;

/// A Postman collection whose folders nest `depth` deep.
fn nested_collection(depth: usize) -> Value {
    let mut item = json!([{"name": "leaf", "request": {"url": "/x"}, "response": []}]);
    for level in 0..depth {
        item = json!([{"name": format!("folder {level}"), "item": item}]);
    }
    json!({"info": {"name": "deep", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"}, "item": item})
}

#[tokio::test]
async fn bad_files_get_a_clear_error_and_create_nothing() {
    let db = TestDatabase::new().await;
    let server = Server::start(
        &db,
        &[
            ("LYREBIRD_MONTHLY_QUOTA", QUOTA),
            ("LYREBIRD_MAX_IMPORT_BYTES", "2000000"),
        ],
    );
    let user = server.sign_up("bad@example.com").await;
    let openapi = corpus_file("openapi", "microcks__microcks__petstore");
    let v1_collection = json!({"id": "x", "name": "old", "requests": [], "order": []});
    let v3_collection = json!({"info": {"name": "n", "schema": "https://schema.getpostman.com/json/collection/v3.0.0/collection.json"}, "item": []});
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str, &str)> = vec![
        (
            "postman",
            b"\x00\x01 not a file".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_file",
            "JSON or YAML",
        ),
        (
            "openapi",
            b"{\"openapi\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_file",
            "JSON",
        ),
        (
            "postman",
            openapi.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_file_kind",
            "an OpenAPI description",
        ),
        (
            "har",
            openapi,
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_file_kind",
            "an OpenAPI description",
        ),
        (
            "native",
            corpus_file("postman", "grafana"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_file_kind",
            "a Postman collection",
        ),
        (
            "openapi",
            b"openapi: 4.0.0\npaths: {}\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_version",
            "4.0.0",
        ),
        (
            "postman",
            v3_collection.to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_version",
            "3.0.0",
        ),
        (
            "postman",
            v1_collection.to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_version",
            "",
        ),
        (
            "native",
            br#"{"lyrebird": 2, "name": "x", "examples": []}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_version",
            "2",
        ),
        (
            "postman",
            nested_collection(40).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "file_too_deep",
            "deeper than 32 levels at folder 39 / folder 38",
        ),
        (
            "postman",
            nested_collection(500).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid_file",
            "recursion limit",
        ),
        (
            "postman",
            vec![b' '; 2_000_001],
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "LYREBIRD_MAX_IMPORT_BYTES",
        ),
    ];
    for (kind, bytes, status, code, mention) in cases {
        let (got, error) = upload(&server, &user.key, kind, "", bytes).await;
        assert_eq!(got, status, "{kind}: {error}");
        assert_eq!(error["error"]["code"], code, "{kind}: {error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(mention), "{kind}: {message}");
        if status != StatusCode::PAYLOAD_TOO_LARGE {
            assert_eq!(error["error"]["field"], "file", "{kind}: {error}");
        }
    }
    assert_eq!(mock_count(&server, &user).await, 0);
}

#[tokio::test]
async fn a_fifty_megabyte_upload_is_refused_with_a_413_in_the_api_error_shape() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up("huge@example.com").await;
    // A length over the limit is refused from the headers alone, before any of the body is read.
    let answer = raw_upload(
        &server,
        &user.key,
        "/api/v1/imports/postman",
        Framing::Length(50 * 1024 * 1024),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // The rest of the body is not read, so the connection is not reused.
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("\"payload_too_large\""), "{answer}");
    // Without a length announced, the limit is found while reading the chunks.
    let answer = raw_upload(
        &server,
        &user.key,
        "/api/v1/imports/openapi",
        Framing::Chunked { megabytes: 50 },
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("\"payload_too_large\""), "{answer}");
    // Counted on a connection of its own, whatever became of the ones the uploads used.
    let (status, mocks) = json_of(
        reqwest::Client::new()
            .get(server.url("/api/v1/mocks"))
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mocks, json!([]));
}

/// How [`raw_upload`] frames its body.
enum Framing {
    /// Announce this many bytes and send none of them: the server must answer from the headers.
    Length(usize),
    /// Send this many megabytes of spaces with `Transfer-Encoding: chunked`, no length announced.
    Chunked { megabytes: usize },
}

/// Sends an upload on a raw connection and returns the raw answer. The answer is read while
/// the body is still being written, so it is in hand before the server closes a connection
/// whose body it left unread (a close that may reset the connection and drop unread data).
async fn raw_upload(server: &Server, key: &str, path: &str, framing: Framing) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let reading = tokio::spawn(async move {
        let mut answer = Vec::new();
        let _ = reader.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    });
    let framing_header = match framing {
        Framing::Length(bytes) => format!("content-length: {bytes}"),
        Framing::Chunked { .. } => "transfer-encoding: chunked".to_owned(),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {key}\r\n\
         {framing_header}\r\nconnection: close\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    if let Framing::Chunked { megabytes } = framing {
        let chunk = format!("100000\r\n{}\r\n", " ".repeat(0x10_0000));
        for _ in 0..megabytes {
            if reading.is_finished() || writer.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
    }
    reading.await.unwrap()
}

// --- tenancy ---

#[tokio::test]
async fn another_workspaces_mock_can_be_neither_replaced_nor_exported() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let owner = server.sign_up("owner@example.com").await;
    let stranger = server.sign_up("stranger@example.com").await;
    let beer = corpus_file("postman", "microcks__microcks__BeerCatalogAPI");
    let answer = import(&server, &owner.key, "postman", beer.clone()).await;
    let mock = answer["mock"]["id"].as_str().unwrap();
    let before = examples_of(&server, &owner.key, mock).await;

    let petstore = corpus_file("openapi", "microcks__microcks__petstore");
    let (status, error) = upload(
        &server,
        &stranger.key,
        "openapi",
        &format!("?mock={mock}"),
        petstore,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    assert_eq!(error["error"]["code"], "not_found");
    for format in ["native", "postman"] {
        let (status, _, _) = export(&server, &stranger.key, mock, format).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{format}");
    }
    assert_eq!(examples_of(&server, &owner.key, mock).await, before);
    assert_eq!(mock_count(&server, &stranger).await, 0);

    // Without credentials, nothing at all.
    let response = server
        .client
        .post(server.url("/api/v1/imports/postman"))
        .body(beer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
