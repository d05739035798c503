//! The API description, `GET /api/v1/openapi.json`, generated from the handlers themselves:
//! every route is registered with its `#[utoipa::path]` through `utoipa_axum`, so a route and
//! its documentation cannot drift apart (and `tests/api/openapi.rs` walks the app to check).
//!
//! The example format is the engine's, described by the engine's own JSON Schema, served at
//! `GET /api/v1/schemas/example.json` and referenced from the API description.

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Lyrebird",
        description = "Mock servers you run yourself: accounts, keys, mocks and their examples."
    ),
    modifiers(&SharedComponents),
    security(("bearer" = []), ("api_key" = []), ("session" = []))
)]
struct ApiDoc;

/// Where the engine's JSON Schema of an example is served.
const EXAMPLE_SCHEMA_PATH: &str = "/api/v1/schemas/example.json";

/// The three ways to authenticate, as security schemes; and the example format as a reference to
/// the engine's schema.
struct SharedComponents;

impl Modify for SharedComponents {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::cookies::SESSION_COOKIE,
            ))),
        );
        components.schemas.insert(
            "ExampleDocument".to_owned(),
            RefOr::Ref(Ref::new(EXAMPLE_SCHEMA_PATH)),
        );
    }
}

/// Every documented route of the app, with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::api::health::router())
        .merge(crate::api::accounts::router())
        .merge(crate::api::sessions::router())
        .merge(crate::api::keys::router())
        .merge(crate::api::mocks::router())
        .merge(crate::api::examples::router())
        .merge(crate::api::try_request::router())
        .merge(crate::api::imports::router())
        .merge(crate::api::usage::router())
        .merge(crate::api::calls::search::router())
        .routes(routes!(openapi_json))
        .routes(routes!(example_schema))
}

/// The description, built once.
pub fn description() -> &'static utoipa::openapi::OpenApi {
    static DESCRIPTION: LazyLock<utoipa::openapi::OpenApi> =
        LazyLock::new(|| routes().split_for_parts().1);
    &DESCRIPTION
}

/// This API's OpenAPI 3.1 description.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(description())
}

/// The example format as a JSON Schema (draft 2020-12), from the engine's types.
#[utoipa::path(
    get,
    path = "/api/v1/schemas/example.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The JSON Schema of an example", content_type = "application/json"))
)]
async fn example_schema() -> Json<&'static serde_json::Value> {
    static SCHEMA: LazyLock<serde_json::Value> =
        LazyLock::new(lyrebird_engine::example_json_schema);
    Json(&SCHEMA)
}
