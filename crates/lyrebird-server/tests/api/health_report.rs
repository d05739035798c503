//! The health report of a mock, on a call log built for it: examples never hit, one shadowed
//! by its twin, a tie-break, and unmatched calls clustered with suggestions that, applied to the
//! draft, make those calls match.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, error_of};

fn example(name: &str, path: &str, query: Value) -> Value {
    json!({
        "name": name,
        "request": {"method": "GET", "path": path, "query": query},
        "response": {"status": 200, "body": {"from": name}}
    })
}

#[tokio::test]
async fn the_report_finds_dead_shadowed_tied_and_clustered_cases_and_suggests_fixes() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let key = user.key.as_str();
    let mock = app.create_mock(key, json!({"name": "Shop"})).await;
    let (status, list) = app
        .call(
            Method::PUT,
            &format!("/api/v1/mocks/{mock}/examples"),
            Some(key),
            Some(json!([
                example("user", "/users/1", json!({})),
                example("user again", "/users/1", json!({})),
                example("dead", "/never", json!({})),
                example("page one", "/items", json!({"page": "1"})),
                example("order", "/orders/1", json!({})),
            ])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let id = |i: usize| list[i]["id"].as_str().unwrap().to_owned();
    let traffic = [
        ("/users/1", 5),
        ("/items?page=1", 2),
        ("/items?page=2", 3),
        ("/items?page=3", 1),
        ("/orders/7", 2),
        ("/orders/8", 2),
    ];
    for (path, times) in traffic {
        for _ in 0..times {
            app.client
                .get(format!("{}/m/{mock}{path}", app.base))
                .send()
                .await
                .unwrap();
        }
    }

    let report_path = format!("/api/v1/mocks/{mock}/health-report");
    let (status, report) = app.get(&report_path, key).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["calls"], 15);
    let uses: Vec<(&str, i64)> = report["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["calls"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        uses,
        [
            ("user", 5),
            ("user again", 0),
            ("dead", 0),
            ("page one", 2),
            ("order", 0)
        ]
    );
    let never: Vec<&str> = report["never_hit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(never, ["user again", "dead", "order"]);
    assert_eq!(
        report["shadowed"],
        json!([{"id": id(1), "name": "user again", "requests": 1, "by_header": false,
                "won_by": [{"id": id(0), "name": "user", "requests": 1}]}])
    );
    assert_eq!(
        report["tie_breaks"],
        json!([{"id": id(0), "name": "user", "calls": 5, "candidates": 2}])
    );

    let clusters = report["unmatched"].as_array().unwrap();
    assert_eq!(clusters.len(), 2, "{report}");
    let page = &clusters[0];
    assert_eq!(page["calls"], 4);
    assert_eq!(page["example"]["name"], "page one");
    assert_eq!(page["condition"], "query page");
    let summary = page["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("4 calls: query page should be") && summary.contains("\"2\", \"3\""),
        "{summary}"
    );
    assert_eq!(page["samples"].as_array().unwrap().len(), 3);
    assert_eq!(page["suggestion"]["kind"], "edit");
    assert_eq!(page["suggestion"]["example_id"], id(3).as_str());
    assert_eq!(page["suggestion"]["example"]["request"].get("query"), None);
    let order = &clusters[1];
    assert_eq!(order["condition"], "path segment 2");
    assert_eq!(
        order["suggestion"]["example"]["request"]["path"],
        "/orders/:id"
    );
    assert_eq!(
        order["suggestion"]["summary"],
        "make path segment 2 (\"1\") the parameter :id"
    );

    // Applied to the draft, the suggestions make every clustered call match.
    let draft = format!("/api/v1/mocks/{mock}/draft");
    assert_eq!(
        app.post(&draft, key, json!(null)).await.0,
        StatusCode::CREATED
    );
    for cluster in clusters {
        let suggestion = &cluster["suggestion"];
        let path = format!(
            "{draft}/examples/{}",
            suggestion["example_id"].as_str().unwrap()
        );
        let (status, body) = app
            .call(
                Method::PUT,
                &path,
                Some(key),
                Some(suggestion["example"].clone()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, impact) = app.post(&format!("{draft}/impact"), key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{impact}");
    assert_eq!(impact["changed"]["newly_matched"], 8);
    assert_eq!(impact["changed"]["no_longer_matched"], 0);

    let (status, body) = app.get(&format!("{report_path}?days=0"), key).await;
    error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
}
