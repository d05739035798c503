//! A mock's OpenAPI contract, from the mock page: attach (pasted JSON or YAML) or replace it,
//! with what to do with examples and calls that break it, and detach it.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use lyrebird_import::contract::Contract;
use lyrebird_store::MockId;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::csrf::PostedForm;
use super::{Flash, PageError, PagePath, redirect_with};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mocks/{id}/contract", post(attach))
        .route("/mocks/{id}/contract/remove", post(remove))
}

#[derive(Debug, Deserialize)]
struct ContractForm {
    document: String,
    /// `refuse`, or anything else for warn.
    examples: String,
    /// A checkbox: present when ticked.
    requests: Option<String>,
}

/// Examples named in a flash at most; the contract's page in the API lists them all.
const NAMED: usize = 5;

async fn attach(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, form }: PostedForm<ContractForm>,
) -> Result<Response, PageError> {
    let back = format!("/mocks/{id}#contract");
    let contract = match Contract::parse(form.document.as_bytes()) {
        Ok(contract) => contract,
        Err(error) => {
            let refused = format!("The contract was not attached: {error}.");
            return Ok(redirect_with(&back, &[Flash::error(refused)]));
        }
    };
    state
        .store
        .set_contract(
            &session.workspace,
            id,
            contract.document(),
            form.examples == "refuse",
            form.requests.is_some(),
        )
        .await?;
    let examples = state.store.list_examples(&session.workspace, id).await?;
    let breaking: Vec<String> = examples
        .into_iter()
        .filter(|stored| !contract.check_example(&stored.example).is_empty())
        .map(|stored| stored.example.name)
        .collect();
    let (title, version) = contract.title_and_version();
    let mut flashes = vec![Flash::success(format!(
        "Attached {title} {version}: {} operations.",
        contract.operations()
    ))];
    if !breaking.is_empty() {
        let named: Vec<&str> = breaking.iter().take(NAMED).map(String::as_str).collect();
        flashes.push(Flash::warning(format!(
            "{} example(s) break it: {}{}. Check the examples against it to see where.",
            breaking.len(),
            named.join(", "),
            if breaking.len() > NAMED { ", …" } else { "" }
        )));
    }
    Ok(redirect_with(&back, &flashes))
}

async fn remove(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, .. }: PostedForm<IgnoredAny>,
) -> Result<Response, PageError> {
    state.store.remove_contract(&session.workspace, id).await?;
    Ok(redirect_with(
        &format!("/mocks/{id}#contract"),
        &[Flash::success("Detached the OpenAPI contract.")],
    ))
}
