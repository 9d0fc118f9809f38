//! HTTP: one router, one state. Each area exposes its routes; they are merged here, the
//! layers added once, and the OpenAPI document is generated from the same routes.

mod auth;
mod chat;
mod chat_accounts;
mod cmdb;
mod error;
mod events;
mod explain;
mod incidents;
mod ingest;
mod noise;
mod ops;
mod pagerduty;
mod paging;
mod people;
mod reports;
mod review;
mod ticket_views;
mod tickets;
mod views;

use std::sync::{Arc, RwLock};

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, ApiResult, PagerDutyError, PagerDutyRefusal, Problem};

/// The header carrying each request's id (set when the client sends none, echoed back).
pub const REQUEST_ID: &str = "x-request-id";

use crate::auth::TokenVerifier;
use crate::cmdb::Live;
use crate::ingest::Intake;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::rules::RuleSet;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Swapped whole on reload, so a request sees one consistent rule set.
    pub rules: Arc<RwLock<Arc<RuleSet>>>,
    pub intake: Intake,
    pub metrics: Arc<Metrics>,
    pub tokens: Arc<TokenVerifier>,
    pub body_limit: usize,
    /// The registry and noise controls in memory; refreshed after every change.
    pub live: Arc<Live>,
    pub admin_unit: String,
    /// The service-desk procedure.
    pub desk: crate::desk::Desk,
    /// Each source's credentials (`[intake.sources]`).
    pub sources: Arc<std::collections::BTreeMap<String, crate::ingest::credentials::SourceAuth>>,
    /// PagerDuty Events API v2 integrations.
    pub pagerduty: Arc<crate::ingest::pagerduty::PagerDutyConfig>,
    /// Ingest rate limits.
    pub limits: Arc<crate::ingest::limits::Limits>,
    /// Writes notifications into the outbox of a ticket change's transaction.
    pub notifier: Arc<Notifier>,
    /// The desk's figures for `/metrics`, read from the database.
    pub sla_metrics: crate::sla::metrics::SlaMetrics,
    /// Makes the monthly reports (each unit's calendar and time zone).
    pub reports: crate::report::Reports,
    /// The chat bots' channel.
    pub chat: crate::chat::Chat,
    /// The Kafka intake's settings: a rules reload keeps every topic's source.
    pub kafka: Arc<crate::kafka::KafkaConfig>,
}

impl AppState {
    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigía",
        description = "Monitoring alerts to service-desk events and incidents. Errors are RFC 9457 problem details.",
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // Sources set to `hmac` sign the body instead: header names are configurable.
        components.add_security_scheme(
            "signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Vigia-Signature",
                "HMAC-SHA256 of `<X-Vigia-Timestamp>.<body>`, hex, prefixed `sha256=`",
            ))),
        );
    }
}

/// The routes and their OpenAPI description, from one list.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ingest::routes())
        .merge(pagerduty::routes())
        .merge(events::routes())
        .merge(incidents::routes())
        .merge(tickets::routes())
        .merge(review::routes())
        .merge(people::routes())
        .merge(noise::routes())
        .merge(cmdb::routes())
        .merge(ops::routes())
        .merge(reports::routes())
        .merge(chat::routes())
        .merge(chat_accounts::routes())
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

pub fn router(state: AppState) -> Router {
    let (router, doc) = routes().split_for_parts();
    let doc = Arc::new(doc);
    router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(|| async { ApiError::NotFound("no such endpoint".to_owned()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.body_limit))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(NewRequestId))
        .with_state(state)
}

/// Gives each request without an `x-request-id` a time-ordered one, so audit records and
/// logs of one request can be found together.
#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let id = crate::domain::ids::new("rid");
        axum::http::HeaderValue::from_str(&id)
            .ok()
            .map(RequestId::new)
    }
}
