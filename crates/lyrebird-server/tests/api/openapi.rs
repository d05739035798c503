//! The OpenAPI document describes every route the app serves.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use lyrebird_server::api::openapi;
use lyrebird_server::routes;
use tower::ServiceExt;

use crate::in_process::{self, Options};
use crate::support::TestApp;

/// The paths the router knows, read from its `Debug` output (axum offers no other way to list
/// them), so a route added without documentation cannot hide.
fn routed_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    // The fallback router has paths of its own (`/` and a catch-all); only the main one counts.
    let main_router = debug.split("fallback_router").next().unwrap_or_default();
    main_router
        .split("RouteId(")
        .skip(1)
        .filter_map(|chunk| {
            let start = chunk.find("): \"")? + 4;
            let end = start + chunk[start..].find('"')?;
            Some(chunk[start..end].to_owned())
        })
        .filter(|path| path.starts_with('/') && !path.contains("__private__"))
        .collect()
}

/// The methods the router serves on `path`, from the `Allow` header of a 405 to a method no
/// route uses.
async fn routed_methods(router: &axum::Router, path: &str) -> BTreeSet<String> {
    let concrete = path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "01a1fdf6-0000-7000-8000-000000000000"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let request = Request::builder()
        .method(Method::TRACE)
        .uri(concrete)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
    response.headers()[header::ALLOW]
        .to_str()
        .unwrap()
        .split(',')
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| m != "head")
        .collect()
}

#[tokio::test]
async fn every_route_of_the_app_is_in_the_openapi_document_with_its_methods() {
    let db = lyrebird_store::testing::TestDatabase::new().await;
    let running = in_process::start(db.store().clone(), Options::default()).await;
    let router = routes(running.state);
    let document = serde_json::to_value(openapi::description()).unwrap();
    let documented = document["paths"].as_object().unwrap();

    // The web app's pages (HTML for browsers) are not part of the REST API; everything under
    // /api/ is, and so are the documented probes.
    let paths: BTreeSet<String> = routed_paths(&router)
        .into_iter()
        .filter(|path| path.starts_with("/api/") || documented.contains_key(path))
        .collect();
    assert!(paths.len() >= 10, "the walk found the routes: {paths:?}");
    for path in &paths {
        let operations = documented
            .get(path)
            .unwrap_or_else(|| panic!("{path} is served but not in the OpenAPI document"));
        let documented_methods: BTreeSet<String> =
            operations.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            routed_methods(&router, path).await,
            documented_methods,
            "methods of {path}"
        );
    }
    for path in documented.keys() {
        assert!(paths.contains(path), "{path} is documented but not served");
    }
}

#[tokio::test]
async fn the_openapi_document_is_served_as_json() {
    let app = TestApp::start().await;
    let response = reqwest::get(format!("{}/api/v1/openapi.json", app.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK.as_u16());
    let document: serde_json::Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/api/v1/mocks/{id}/examples"]["put"].is_object());
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn the_example_format_is_the_engines_json_schema_and_the_description_points_to_it() {
    let app = TestApp::start().await;
    let schema: serde_json::Value =
        reqwest::get(format!("{}/api/v1/schemas/example.json", app.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(schema, lyrebird_engine::example_json_schema());
    let document = serde_json::to_value(openapi::description()).unwrap();
    let schemas = &document["components"]["schemas"];
    for (name, required) in [("ExampleView", true), ("ExampleDocument", false)] {
        let properties = &schemas[name]["properties"];
        for field in schema["properties"].as_object().unwrap().keys() {
            assert!(properties[field].is_object(), "{name}.{field}");
        }
        for field in ["id", "position", "created_at", "updated_at"] {
            assert!(properties[field].is_object(), "{name}.{field}");
            let listed = schemas[name]["required"]
                .as_array()
                .unwrap()
                .contains(&field.into());
            assert_eq!(listed, required, "{name} requires {field}");
        }
    }
    assert_eq!(
        schemas["ExampleView"]["properties"]["request"]["$ref"],
        "/api/v1/schemas/example.json#/$defs/RequestPattern"
    );
}
