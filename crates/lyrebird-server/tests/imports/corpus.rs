//! The corpus of real files uploaded and replayed, and HAR, native and Postman exports read back.

use super::*;

#[tokio::test]
async fn every_postman_corpus_file_uploads_and_its_mock_answers_each_original_request() {
    let floors: &Floors = &[
        ("Adyen", 40, 40, 40),
        ("RoxyAPI", 25, 25, 25),
        ("Xray-App", 2, 2, 2),
        ("aruba", 96, 96, 96),
        ("docusign", 35, 35, 35),
        ("experiandataquality", 12, 12, 12),
        ("grafana", 6, 6, 6),
        ("joolfe", 5, 4, 5),
        ("kevinswiber", 8, 8, 8),
        ("microcks", 5, 5, 5),
        ("postmanlabs", 2, 2, 2),
        ("twitterdev", 75, 75, 75),
    ];
    replay_corpus("postman", floors).await;
}

#[tokio::test]
async fn every_openapi_corpus_file_uploads_and_its_mock_answers_each_operation_example() {
    let floors: &Floors = &[
        ("Adyen", 278, 278, 0),
        ("OAI", 4, 4, 0),
        ("Redocly", 9, 9, 0),
        ("microcks__microcks__APIPastry", 6, 6, 0),
        ("microcks__microcks__petstore", 5, 5, 0),
        ("moby", 139, 139, 0),
    ];
    replay_corpus("openapi", floors).await;
}

/// Uploads every file of a corpus folder into one workspace and replays each mock with the
/// requests of the engine-level replay; prints the table for `docs/compatibility.md` (with
/// `--nocapture`).
async fn replay_corpus(kind: &str, floors: &Floors) {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up(&format!("{kind}@example.com")).await;
    let postman = kind == "postman";
    let mut table = String::new();
    for (name, bytes) in corpus(kind) {
        let answer = import(&server, &user.key, kind, bytes.clone()).await;
        let mock = answer["mock"]["id"].as_str().unwrap();
        assert_eq!(answer["mock"]["selection"], "postman", "{name}");
        let cases = if postman {
            postman_cases(&serde_json::from_slice(&bytes).unwrap())
        } else {
            openapi_cases(&examples_of(&server, &user.key, mock).await)
        };
        let report = replay(&server, &user.key, mock, &cases, postman).await;
        let (_, examples, by_name, plain) = floors
            .iter()
            .find(|(prefix, ..)| name.starts_with(prefix))
            .unwrap_or_else(|| panic!("{name}: no floor"));
        assert_eq!(answer["counts"]["examples"], report.examples, "{name}");
        assert_eq!(report.examples, *examples, "{name}");
        writeln!(
            table,
            "| `{name}` | {} | {}/{} | {} | {} |",
            report.examples,
            report.by_name,
            report.examples,
            if postman {
                format!("{}/{}", report.plain, report.examples)
            } else {
                "—".to_owned()
            },
            answer["warnings"].as_array().unwrap().len()
        )
        .unwrap();
        assert!(
            report.by_name >= *by_name && report.plain >= *plain,
            "{name}: {} by name, {} plain, of {} over HTTP: {:#?}",
            report.by_name,
            report.plain,
            report.examples,
            report.failures
        );
        for failure in &report.failures {
            writeln!(table, "  - {failure}").unwrap();
        }
    }
    println!("{table}");
}

// --- round trips ---

#[tokio::test]
async fn a_har_export_of_real_calls_imports_as_a_mock_that_gives_the_same_answers() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up("har@example.com").await;
    let beer = corpus_file("postman", "microcks__microcks__BeerCatalogAPI");
    let recorded = import(&server, &user.key, "postman", beer).await;
    let recorded = recorded["mock"]["id"].as_str().unwrap();
    let calls = [
        "/beer/Rodenbach",
        "/beer/Weissbier",
        "/beer?page=0",
        "/beer/Nope",
    ];
    let mut answers = Vec::new();
    for path in calls {
        let response = server
            .by_host(Method::GET, recorded, path)
            .send()
            .await
            .unwrap();
        answers.push((response.status(), response.text().await.unwrap()));
    }
    assert!(
        answers[..3].iter().all(|(status, _)| status.is_success()),
        "{answers:?}"
    );

    // The call log is written in batches: wait until it holds every call.
    let calls_path = format!("/api/v1/mocks/{recorded}/calls");
    let mut logged = 0;
    for _ in 0..100 {
        let (_, page) = server.api(Method::GET, &calls_path, &user.key, None).await;
        logged = page["calls"].as_array().map_or(0, Vec::len);
        if logged == calls.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logged, calls.len(), "calls logged");
    let har = server
        .client
        .get(server.url(&format!("{calls_path}/export?format=har")))
        .bearer_auth(&user.key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let replayed = import(&server, &user.key, "har", har.to_vec()).await;
    assert_eq!(replayed["counts"]["requests"], calls.len(), "{replayed}");
    let replayed = replayed["mock"]["id"].as_str().unwrap();
    for (path, (status, body)) in calls.iter().zip(&answers) {
        let response = server
            .by_host(Method::GET, replayed, path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), *status, "{path}");
        assert_eq!(response.text().await.unwrap(), *body, "{path}");
    }
}

#[tokio::test]
async fn a_native_export_imports_as_exactly_the_same_mock() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up("native@example.com").await;
    for (kind, prefix) in [("postman", "twitterdev"), ("openapi", "moby")] {
        let original = import(&server, &user.key, kind, corpus_file(kind, prefix)).await;
        let original = original["mock"]["id"].as_str().unwrap();
        let (status, disposition, document) = export(&server, &user.key, original, "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            disposition.starts_with("attachment; filename=\"")
                && disposition.ends_with(".lyrebird.json\""),
            "{disposition}"
        );
        assert_eq!(document["lyrebird"], 1);
        let copy = import(
            &server,
            &user.key,
            "native",
            serde_json::to_vec(&document).unwrap(),
        )
        .await;
        assert_eq!(
            copy["counts"]["examples"],
            document["examples"].as_array().unwrap().len()
        );
        let copy = copy["mock"]["id"].as_str().unwrap();
        let (_, _, again) = export(&server, &user.key, copy, "native").await;
        assert_eq!(again, document, "{prefix}");
    }
}
