//! The admin REST API, `/api/v1/...`: one module per resource, each building its own router
//! with its documentation, gathered by [`openapi`] into the routes and the published
//! description.
//!
//! - [`accounts`]: sign-up; [`sessions`]: log in and out with a cookie; [`keys`]: API keys;
//! - [`workspaces`]: the caller's workspaces, the one they act in, and its members;
//! - [`account`]: the caller's own account (password, sessions, deleting it);
//! - [`mocks`] and [`examples`]: what the mocks answer; [`try_request`]: what a mock would answer;
//! - [`imports`]: Postman, OpenAPI, HAR and native files in, and exports out;
//! - [`calls`]: the call log (search, export, live tail); [`usage`]: the monthly quota;
//! - [`verify`]: what a mock received, checked against patterns;
//! - [`versions`] and [`drafts`]: a mock's history, and edits that wait to be published;
//! - [`contract`]: a mock's OpenAPI contract, which examples and calls are checked against;
//! - [`recording`]: examples from the real API, recorded or chosen in the call log;
//! - [`drift`]: a mock's examples checked against the real API behind it;
//! - [`invitations`]: invitations into a workspace; [`email`]: email change and password reset;
//! - [`audit`]: the workspace's audit log (what records it is [`crate::audit`]);
//! - [`health`]: probes for load balancers.
//!
//! Who the caller is comes from [`crate::auth`]; bodies, queries and paths are read by
//! [`crate::extract`]; errors are [`crate::error::ApiError`]. The expensive operations share
//! room per workspace through [`gate`].

pub mod account;
pub mod accounts;
pub mod audit;
pub mod calls;
pub mod contract;
pub mod drafts;
pub mod drift;
pub mod email;
pub mod examples;
mod gate;
pub mod health;
pub mod health_report;
pub mod impact;
pub mod imports;
pub mod invitations;
pub mod keys;
pub mod mocks;
pub mod openapi;
pub mod operator;
pub mod recording;
pub mod sessions;
pub mod state;
pub mod try_request;
pub mod usage;
pub mod verify;
pub mod versions;
pub mod workspaces;
