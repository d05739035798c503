//! A small client for the admin API: a base URL, the admin key from the environment, and JSON
//! in and out, with the server's refusals kept as [`ServerError`] so that callers can tell which
//! file a refused field came from.

use std::fmt;

use anyhow::{Context, anyhow};
use clap::Args;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

/// The environment variable holding the admin key. There is no option for it: a key given on the
/// command line stays in shell history and in the process list.
pub const API_KEY_VAR: &str = "LYREBIRD_API_KEY";

/// Where the server is.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The server's base URL. The admin key is read from LYREBIRD_API_KEY.
    #[arg(
        long,
        env = "LYREBIRD_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub url: String,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// An answer of the server other than 2xx, as its `{"error": {...}}` body says.
#[derive(Debug, Deserialize)]
pub struct ServerError {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub field: Option<String>,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        match &self.field {
            Some(field) => write!(f, " ({field})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ServerError {}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ServerError,
}

impl Client {
    /// A client of the server at `connection.url`, with the key from [`API_KEY_VAR`].
    pub fn new(connection: &Connection) -> anyhow::Result<Self> {
        let key = std::env::var(API_KEY_VAR)
            .ok()
            .filter(|key| !key.trim().is_empty())
            .ok_or_else(|| {
                anyhow!("{API_KEY_VAR} is not set; set it to an admin key of your workspace")
            })?;
        Ok(Self {
            http: reqwest::Client::new(),
            base: connection.url.trim_end_matches('/').to_owned(),
            key,
        })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Method::GET, path, None).await
    }

    /// Sends one request to the admin API. Errors name the request: the server could not be
    /// reached, or it refused (a [`ServerError`] underneath, for `downcast_ref`).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let what = format!("{method} {path}");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{what}: cannot reach the server at {}", self.base))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("{what}: the answer broke off"))?;
        if !status.is_success() {
            let error = match serde_json::from_str::<ErrorEnvelope>(&text) {
                Ok(envelope) => anyhow::Error::new(envelope.error),
                Err(_) => anyhow!("the server answered {status}: {}", text.trim()),
            };
            return Err(error.context(what));
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{what}: the answer is not JSON"))
    }
}
