//! Probes for load balancers and orchestrators: `GET /healthz` (the process answers),
//! `GET /readyz` (the database answers too) and `GET /readyz/mocks` (mock calls are answered,
//! warm mocks from memory even while the database is away).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(serving_mocks))
}

/// How long `/readyz/mocks` waits for the database before it says it does not answer.
const DATABASE_GLANCE: Duration = Duration::from_millis(500);

#[derive(Debug, Serialize, ToSchema)]
pub struct Serving {
    #[schema(example = "serving")]
    pub status: &'static str,
    /// `ok`, or `unavailable`: then warm mocks answer from memory, while the admin API, the
    /// web pages and mocks not in memory answer 503 until the database is back.
    #[schema(example = "ok")]
    pub database: &'static str,
}

/// The process answers mock calls: warm mocks from memory even while the database is away.
/// For a load balancer of mock traffic, which should keep sending then (docs/operations.md,
/// "Health probes").
#[utoipa::path(
    get,
    path = "/readyz/mocks",
    tag = "health",
    security(()),
    responses(
        (status = 200, body = Serving),
        (status = 503, description = "The server is shutting down (`shutting_down`)", body = ErrorBody),
    )
)]
async fn serving_mocks(State(state): State<AppState>) -> Result<Json<Serving>, ApiError> {
    if state.is_stopping() {
        return Err(ApiError::ShuttingDown);
    }
    let answers = tokio::time::timeout(DATABASE_GLANCE, state.store.ping()).await;
    let database = match answers {
        Ok(Ok(())) => "ok",
        _ => "unavailable",
    };
    Ok(Json(Serving {
        status: "serving",
        database,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    security(()),
    responses((status = 200, body = Status))
)]
async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// The process is up and its database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    security(()),
    responses(
        (status = 200, body = Status),
        (status = 503, description = "The server is shutting down (`shutting_down`) or the database does not answer (`database_unavailable`)", body = ErrorBody),
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    if state.is_stopping() {
        return Err(ApiError::ShuttingDown);
    }
    state.store.ping().await.map_err(ApiError::Unavailable)?;
    Ok(Json(Status { status: "ready" }))
}
