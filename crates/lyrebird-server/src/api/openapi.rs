//! The API description, `GET /api/v1/openapi.json`, generated from the handlers themselves:
//! every route is registered with its `#[utoipa::path]` through `utoipa_axum`, so a route and
//! its documentation cannot drift apart (and `tests/api/openapi.rs` walks the app to check).
//!
//! The example format is the engine's, described by the engine's own JSON Schema, served at
//! `GET /api/v1/schemas/example.json`; the API's `ExampleView` (read) and `ExampleDocument`
//! (write) schemas are its fields, referring into it, with the fields the API adds.

use std::sync::LazyLock;

use axum::Json;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::schema::{Object, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
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
pub(crate) const EXAMPLE_SCHEMA_PATH: &str = "/api/v1/schemas/example.json";

/// The three ways to authenticate, as security schemes.
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
    }
}

/// Every documented route of the app, with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::api::health::router())
        .merge(crate::api::accounts::router())
        .merge(crate::api::sessions::router())
        .merge(crate::api::account::router())
        .merge(crate::api::keys::router())
        .merge(crate::api::workspaces::router())
        .merge(crate::api::mocks::router())
        .merge(crate::api::examples::router())
        .merge(crate::api::state::router())
        .merge(crate::api::try_request::router())
        .merge(crate::api::imports::router())
        .merge(crate::api::usage::router())
        .merge(crate::api::verify::router())
        .merge(crate::api::versions::router())
        .merge(crate::api::drafts::router())
        .merge(crate::api::recording::router())
        .merge(crate::api::contract::router())
        .merge(crate::api::impact::router())
        .merge(crate::api::health_report::router())
        .merge(crate::api::drift::router())
        .merge(crate::api::calls::search::router())
        .merge(crate::api::invitations::router())
        .merge(crate::api::email::router())
        .merge(crate::api::audit::router())
        .merge(crate::api::operator::router())
        .routes(routes!(openapi_json))
        .routes(routes!(example_schema))
}

/// The description, built once: the routes' own, with the errors every operation shares.
pub fn description() -> &'static utoipa::openapi::OpenApi {
    static DESCRIPTION: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| {
        let mut description = routes().split_for_parts().1;
        CommonErrors.modify(&mut description);
        Limits.modify(&mut description);
        description
    });
    &DESCRIPTION
}

/// The operations of a path, whatever their method.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// The error answers that come from the extractors rather than from a handler, added to every
/// operation that can give them (an operation's own description of a status is kept), each a
/// shared response with the one `ErrorBody` schema. It runs on the merged routes: the
/// `#[openapi]` modifiers run before the routes are added.
struct CommonErrors;

impl CommonErrors {
    /// Shared responses, by name: the status and what it means.
    const RESPONSES: [(&str, &str, &str); 8] = [
        (
            "BadRequest",
            "400",
            "The body is not JSON (`malformed_json`), or the query cannot be read (`bad_request`)",
        ),
        (
            "Unauthorized",
            "401",
            "No credentials, or ones that are wrong, expired or revoked (`invalid_credentials`)",
        ),
        (
            "Forbidden",
            "403",
            "A mock-scoped key (`admin_scope_required`), or a change with the session cookie without its `x-csrf-token` (`csrf_token_invalid`)",
        ),
        (
            "NotFound",
            "404",
            "Not in this workspace, or not a valid id (`not_found`)",
        ),
        (
            "PayloadTooLarge",
            "413",
            "The body is over the server's limit (`payload_too_large`)",
        ),
        (
            "UnsupportedMediaType",
            "415",
            "The body's Content-Type is not the one documented (`unsupported_media_type`)",
        ),
        (
            "Unprocessable",
            "422",
            "A value that is not accepted, a NUL character among them; `field` names it (`invalid_field`, `invalid_example`...)",
        ),
        (
            "Unavailable",
            "503",
            "The database does not answer (`database_unavailable`)",
        ),
    ];

    /// The statuses `operation` can answer whatever its handler does.
    fn statuses(operation: &Operation) -> Vec<&'static str> {
        let authenticated = operation
            .security
            .as_ref()
            .is_none_or(|requirements| !requirements.contains(&SecurityRequirement::default()));
        let parameters = operation.parameters.iter().flatten();
        let located = |place: ParameterIn| {
            parameters
                .clone()
                .any(|parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == place))
        };
        let mut statuses = Vec::new();
        if authenticated {
            statuses.extend(["401", "403"]);
        }
        // Everything but the probes and the documents reads or writes the database.
        if authenticated || operation.request_body.is_some() {
            statuses.push("503");
        }
        if located(ParameterIn::Path) {
            statuses.push("404");
        }
        if located(ParameterIn::Query) {
            statuses.extend(["400", "422"]);
        }
        if operation.request_body.is_some() {
            statuses.extend(["400", "413", "415", "422"]);
        }
        statuses
    }
}

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, _, description) in Self::RESPONSES {
            let body = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", body)
                .build();
            components
                .responses
                .insert(name.to_owned(), response.into());
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                for status in Self::statuses(operation) {
                    let (name, ..) = Self::RESPONSES
                        .iter()
                        .find(|(_, code, _)| *code == status)
                        .expect("every status has a shared response");
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
                }
            }
        }
    }
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

/// The limits the server checks, from its own constants, on the properties and query parameters
/// that have them. Names are trimmed and must keep a character that is not a space.
struct Limits;

/// What a text must be: at least one character besides spaces, and at most `max` characters.
fn limit_text(schema: &mut Object, max: usize) {
    schema.max_length = Some(max);
    schema.pattern = Some(r"\S".to_owned());
}

impl Limits {
    /// Texts of request bodies: schema, property, most characters.
    const PROPERTIES: [(&str, &str, usize); 3] = [
        ("MockFields", "name", crate::api::mocks::MAX_NAME_CHARS),
        (
            "MockFields",
            "version_tag",
            crate::api::mocks::MAX_VERSION_TAG_CHARS,
        ),
        ("NewKey", "name", crate::api::keys::MAX_NAME_CHARS),
    ];

    /// Fits the query parameter to what the server accepts, if it is one with a limit.
    fn limit_parameter(path: &str, parameter: &mut Parameter) {
        let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() else {
            return;
        };
        match (
            path.starts_with("/api/v1/imports/"),
            parameter.name.as_str(),
        ) {
            (true, "name") => limit_text(schema, crate::api::mocks::MAX_NAME_CHARS),
            (false, "q") => schema.max_length = Some(crate::api::calls::search::MAX_TEXT_CHARS),
            (false, "format") if path.ends_with("/export") && !path.contains("/calls/") => {
                // Left out or empty, the export is native.
                schema.enum_values = Some(["", "native", "postman"].map(Into::into).to_vec());
            }
            (false, "action") if path == "/api/v1/audit" => {
                let groups = crate::audit::action_groups()
                    .into_iter()
                    .map(|(group, _)| group);
                let mut values: Vec<&str> = groups.chain(crate::audit::action_names()).collect();
                values.sort_unstable();
                values.dedup();
                // Left out or empty, any action.
                values.insert(0, "");
                schema.enum_values = Some(values.into_iter().map(Into::into).collect());
            }
            (false, "limit") => {
                schema.schema_type = Type::Integer.into();
                schema.minimum = Some(1.into());
                schema.maximum = Some(crate::api::calls::search::MAX_LIMIT.into());
            }
            _ => {}
        }
    }
}

impl Modify for Limits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let schemas = &mut openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas;
        for (schema, property, max) in Self::PROPERTIES {
            let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(schema) else {
                panic!("{schema} is an object of the description");
            };
            let Some(RefOr::T(Schema::Object(text))) = object.properties.get_mut(property) else {
                panic!("{schema}.{property} is a text of the description");
            };
            limit_text(text, max);
        }
        if let Some(RefOr::T(Schema::Object(credentials))) = schemas.get_mut("Credentials")
            && let Some(RefOr::T(Schema::Object(password))) =
                credentials.properties.get_mut("password")
        {
            password.min_length = Some(lyrebird_store::accounts::MIN_PASSWORD_CHARS);
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let RefOr::T(parameter) = parameter {
                        Self::limit_parameter(path, parameter);
                    }
                }
            }
        }
    }
}
