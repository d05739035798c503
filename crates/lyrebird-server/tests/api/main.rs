//! The admin API over real HTTP, against a real PostgreSQL: each test starts the app on a port of
//! its own, on a fresh migrated database.

mod account;
mod accounts;
mod audit;
mod contract;
mod email;
mod errors;
mod examples;
mod health_report;
mod impact;
#[path = "../support/in_process.rs"]
mod in_process;
mod invitations;
mod isolation;
mod keys;
mod mocks;
mod nul;
mod openapi;
mod operator;
mod roles;
#[path = "../support/smtp.rs"]
mod smtp;
mod support;
mod versions;
