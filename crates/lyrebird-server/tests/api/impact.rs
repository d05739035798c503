//! The impact of a draft: the mock's logged calls replayed through the live mock and the draft
//! predict exactly what re-sending them to the published draft changes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, error_of};

fn example(name: &str, method: &str, path: &str, status: u16) -> Value {
    json!({
        "name": name,
        "request": {"method": method, "path": path},
        "response": {"status": status, "body": {"from": name}}
    })
}

/// The requests the clients send, with how many times each.
const TRAFFIC: [(&str, &str, usize); 6] = [
    ("GET", "/users/1", 30),
    ("GET", "/users/2", 20),
    ("GET", "/users", 10),
    ("POST", "/orders", 5),
    ("GET", "/health", 8),
    ("GET", "/nothing", 4),
];

/// Sends the traffic; the answers (status, body) in order.
async fn send_traffic(app: &TestApp, mock: &str) -> Vec<(StatusCode, String)> {
    let mut answers = Vec::new();
    for (method, path, times) in TRAFFIC {
        for _ in 0..times {
            let response = app
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    format!("{}/m/{mock}{path}", app.base),
                )
                .send()
                .await
                .unwrap();
            answers.push((response.status(), response.text().await.unwrap()));
        }
    }
    answers
}

#[tokio::test]
async fn a_replay_predicts_exactly_what_publishing_the_draft_changes() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let key = user.key.as_str();
    let mock = app.create_mock(key, json!({"name": "Shop"})).await;
    let examples = format!("/api/v1/mocks/{mock}/examples");
    let (status, list) = app
        .call(
            Method::PUT,
            &examples,
            Some(key),
            Some(json!([
                example("one user", "GET", "/users/1", 200),
                example("users", "GET", "/users", 200),
                example("order", "POST", "/orders", 201),
                example("health", "GET", "/health", 200),
            ])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let id = |i: usize| list[i]["id"].as_str().unwrap().to_owned();
    let before = send_traffic(&app, &mock).await;

    let draft = format!("/api/v1/mocks/{mock}/draft");
    assert_eq!(
        app.post(&draft, key, json!(null)).await.0,
        StatusCode::CREATED
    );
    let (status, report) = app.post(&format!("{draft}/impact"), key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["calls"], 77);
    assert_eq!(
        report["changed"]["any"], 0,
        "an unchanged draft changes nothing"
    );

    let edits = [
        (
            Method::PUT,
            format!("{draft}/examples/{}", id(0)),
            example("one user", "GET", "/users/:id", 200),
        ),
        (
            Method::PUT,
            format!("{draft}/examples/{}", id(1)),
            example("users", "GET", "/users", 206),
        ),
        (
            Method::POST,
            format!("{draft}/examples"),
            example("nothing", "GET", "/nothing", 200),
        ),
    ];
    for (method, path, body) in edits {
        let (status, answer) = app.call(method, &path, Some(key), Some(body)).await;
        assert!(status.is_success(), "{answer}");
    }
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("{draft}/examples/{}", id(2)),
            Some(key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let response = app
        .client
        .post(format!("{}{draft}/impact", app.base))
        .bearer_auth(key)
        .header("accept", "application/x-ndjson")
        .json(&json!({"days": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let report = &last["report"];
    assert_eq!(report["calls"], 77, "{text}");
    assert_eq!(
        report["changed"],
        json!({"example": 29, "status": 39, "body": 29, "any": 39,
               "newly_matched": 24, "no_longer_matched": 5})
    );
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 4, "{report}");
    assert_eq!(groups[0]["before"], Value::Null);
    assert_eq!(groups[0]["after"]["name"], "one user");
    assert_eq!(groups[0]["calls"], 20);
    assert_eq!(groups[0]["samples"].as_array().unwrap().len(), 5);
    assert_eq!(groups[0]["samples"][0]["path"], "/users/2");
    let (status, kept) = app.get(&format!("{draft}/impact"), key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&kept, report, "the report is kept with the draft");

    let (status, published) = app.post(&format!("{draft}/publish"), key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{published}");
    let after = send_traffic(&app, &mock).await;
    let differ = |pick: fn(&(StatusCode, String)) -> String| {
        before
            .iter()
            .zip(&after)
            .filter(|(a, b)| pick(a) != pick(b))
            .count()
    };
    let statuses = differ(|(status, _)| status.to_string());
    let bodies = differ(|(_, body)| body.clone());
    let any = differ(|answer| format!("{answer:?}"));
    assert_eq!(statuses, 39, "re-sent calls whose status changed");
    assert_eq!(bodies, 29, "re-sent calls whose body changed");
    assert_eq!(any, 39, "re-sent calls answered otherwise");
}

#[tokio::test]
async fn an_edit_drops_the_kept_report_and_bad_periods_are_refused() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let key = user.key.as_str();
    let mock = app.create_mock(key, json!({"name": "Shop"})).await;
    let draft = format!("/api/v1/mocks/{mock}/draft");
    let (status, body) = app.post(&format!("{draft}/impact"), key, json!({})).await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    app.post(&draft, key, json!(null)).await;
    for days in [0, 91] {
        let (status, body) = app
            .post(&format!("{draft}/impact"), key, json!({"days": days}))
            .await;
        let error = error_of(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );
        assert_eq!(error["field"], "days");
    }
    let (status, _) = app.post(&format!("{draft}/impact"), key, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("{draft}/impact"), key).await.0,
        StatusCode::OK
    );
    app.call(
        Method::PATCH,
        &draft,
        Some(key),
        Some(json!({"name": "Shop 2"})),
    )
    .await;
    let (status, body) = app.get(&format!("{draft}/impact"), key).await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
}
