//! Vigía: monitoring alerts to service-desk events and incidents.
//!
//! The path of one alert: `api` (HTTP ingest) or `kafka` (a consumed topic) → `rules` (payload to signals) →
//! `pipeline::dedup` (what the signal does) → `ingest` (group-committed writes through
//! `store`). `app` wires the pieces; `main.rs` is the command line.

pub mod api;
pub mod app;
pub mod auth;
pub mod chat;
pub mod cmdb;
pub mod config;
pub mod desk;
pub mod domain;
pub mod ingest;
pub mod kafka;
pub mod mailbox;
pub mod metrics;
pub mod notify;
pub mod periodic;
pub mod pipeline;
pub mod report;
pub mod rules;
pub mod sla;
pub mod store;
pub mod telemetry;
