//! One integration-test binary: every module shares one link and one harness.

mod helpers;

mod api;
mod cli;
mod errors;
mod ingest_alertmanager;
mod ingest_webhook;
mod operations;
mod rules;
