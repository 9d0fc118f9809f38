//! One integration-test binary: every module shares one link and one harness.

mod helpers;

mod api;
mod bot_api_sink;
mod chat;
mod cli;
mod correlation;
mod desk;
mod errors;
mod ingest_alertmanager;
mod ingest_pagerduty;
mod ingest_webhook;
mod kafka;
mod mailbox;
mod noise;
mod notify;
mod operations;
mod registry;
mod reports;
mod rules;
mod sla;
mod sla_metrics;
mod smtp_sink;
mod source_auth;
mod webhook_sink;
