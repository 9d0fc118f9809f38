//! Building and running the service: the store, the rules, the intake writer and the
//! HTTP server, wired once. Takes an already-bound listener so tests can use port 0.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::api::{self, AppState};
use crate::auth::TokenVerifier;
use crate::cmdb::Live;
use crate::config::Config;
use crate::desk::timers::{DeskTimers, SlaTimers};
use crate::desk::Desk;
use crate::domain::to_millis;
use crate::ingest::sweep::Sweeper;
use crate::ingest::{Intake, WriterSetting};
use crate::metrics::{Metrics, MetricsError};
use crate::notify::{Dispatcher, Notifier, NotifyError};
use crate::rules::{LoadError, RuleSet};
use crate::sla::metrics::SlaMetrics;
use crate::store::{sources, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot open the database")]
    Store(#[from] StoreError),
    #[error("the rules do not load:\n{0}")]
    Rules(#[from] LoadError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("notifications cannot start")]
    Notify(#[from] NotifyError),
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    #[error("the {task} failed: {reason}")]
    Panicked { task: &'static str, reason: String },
    #[error("the {0} stopped unexpectedly")]
    Stopped(&'static str),
    #[error("{0}")]
    Config(String),
    #[error("the Kafka settings are refused")]
    Kafka(#[source] rdkafka::error::KafkaError),
}

pub struct App {
    listener: TcpListener,
    state: AppState,
    writer: JoinHandle<()>,
    writer_stop: CancellationToken,
    grace: Duration,
    sweep_interval: Duration,
    desk_interval: Duration,
    sla_interval: Duration,
    /// The desk mailboxes' poller and its interval, when any mailbox is configured.
    mailbox: Option<(crate::mailbox::Poller, Duration)>,
}

/// How long a verified token is trusted before it is looked up again.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);

impl App {
    pub async fn build(config: &Config, listener: TcpListener) -> Result<Self, AppError> {
        let store = Store::connect(&config.database.url, config.database.max_connections).await?;
        store.migrate().await?;
        let rules = RuleSet::load(&config.rules.dir)?;
        for integration in &config.intake.pagerduty.integrations {
            if rules.get(&integration.source).is_none() {
                return Err(AppError::Config(format!(
                    "PagerDuty integration `{}` is read by source `{}`, but there is no rules/{}.yaml",
                    integration.name, integration.source, integration.source
                )));
            }
        }
        for source in config.intake.sources.keys() {
            if rules.get(source).is_none() {
                warn!(source, "`intake.sources` names a source without a rule file; its credentials apply once rules/{source}.yaml exists");
            }
        }
        kafka_sources_exist(&config.kafka, &rules)?;
        crate::kafka::Consumer::check(&config.kafka).map_err(AppError::Kafka)?;
        register_sources(&store, &rules).await?;
        let metrics = Arc::new(Metrics::new()?);
        // The first reading is the baseline the desk's counters grow from.
        let sla_metrics = SlaMetrics::new(store.clone(), &config.sla, &metrics)?;
        sla_metrics.refresh().await?;
        let notifier = Arc::new(Notifier::new(&config.notify)?);
        let writer_stop = CancellationToken::new();
        let live = Arc::new(Live::load(&store).await?);
        let setting = WriterSetting {
            max_batch_alerts: config.intake.max_batch_alerts,
            queue_depth: config.intake.queue_depth,
            live: live.clone(),
            priority: config.priority.clone(),
            admin_unit: config.cmdb.admin_unit.clone(),
        };
        let (intake, writer) =
            Intake::start(store.clone(), metrics.clone(), setting, writer_stop.clone());
        // Validated with the configuration; compiling again cannot fail.
        let policies = Arc::new(
            crate::sla::Policies::compile(&config.sla)
                .map_err(|e| AppError::Config(format!("invalid configuration: {e}")))?,
        );
        let desk = Desk::new(
            store.clone(),
            config.desk.clone(),
            notifier.clone(),
            config.priority.clone(),
            policies.clone(),
            live.clone(),
            config.cmdb.admin_unit.clone(),
        );
        let mailbox = crate::mailbox::Poller::new(&config.mailbox, desk.clone(), metrics.clone())
            .map(|poller| {
                (
                    poller,
                    Duration::from_secs(config.mailbox.poll_interval_secs),
                )
            });
        let chat =
            crate::chat::Chat::new(desk.clone(), store.clone(), &config.chat, metrics.clone())
                .map_err(|e| AppError::Config(format!("the chat channel cannot start: {e}")))?;
        let state = AppState {
            chat,
            desk,
            limits: Arc::new(crate::ingest::limits::Limits::new(
                &config.intake.rate_limit,
            )),
            tokens: Arc::new(TokenVerifier::new(store.clone(), TOKEN_CACHE_TTL)),
            sources: Arc::new(config.intake.sources.clone()),
            pagerduty: Arc::new(config.intake.pagerduty.clone()),
            store,
            rules: Arc::new(RwLock::new(Arc::new(rules))),
            intake,
            metrics,
            body_limit: config.server.body_limit,
            live,
            admin_unit: config.cmdb.admin_unit.clone(),
            notifier,
            sla_metrics,
            reports: crate::report::Reports::new(&config.sla),
            kafka: Arc::new(config.kafka.clone()),
        };
        Ok(App {
            listener,
            state,
            writer,
            writer_stop,
            grace: Duration::from_secs(config.server.shutdown_grace_secs),
            sweep_interval: Duration::from_secs(config.intake.sweep_interval_secs),
            desk_interval: Duration::from_secs(config.desk.timer_interval_secs),
            sla_interval: Duration::from_secs(config.sla.timer_interval_secs),
            mailbox,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets in-flight
    /// requests finish (their batches commit), drains the intake queue and returns.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AppError> {
        let App {
            listener,
            state,
            writer,
            writer_stop,
            grace,
            sweep_interval,
            desk_interval,
            sla_interval,
            mailbox,
        } = self;
        // The handler is in place before the address is announced, so a SIGHUP sent as
        // soon as the service is up reloads rules instead of killing the process.
        let reload = tokio::spawn(reload_on_sighup(hangups(), state.clone(), shutdown.clone()));
        let sweeper = Sweeper {
            store: state.store.clone(),
            intake: state.intake.clone(),
            rules: state.rules.clone(),
            interval: sweep_interval,
        };
        let sweeping = tokio::spawn(sweeper.supervise(shutdown.clone()));
        let timers = DeskTimers {
            desk: state.desk.clone(),
            interval: desk_interval,
        };
        let desk_timers = tokio::spawn(timers.supervise(shutdown.clone()));
        let sla_timers = SlaTimers {
            desk: state.desk.clone(),
            interval: sla_interval,
        };
        let sla_timers = tokio::spawn(sla_timers.supervise(shutdown.clone()));
        let sla_metrics = tokio::spawn(state.sla_metrics.clone().supervise(shutdown.clone()));
        // Its own token: it also stops when the server ends without a shutdown.
        let dispatch_stop = shutdown.child_token();
        let dispatcher = Dispatcher::new(
            state.store.clone(),
            state.notifier.clone(),
            state.metrics.clone(),
        );
        let mut dispatching = tokio::spawn(dispatcher.supervise(dispatch_stop.clone()));
        let reports = crate::report::schedule::Scheduler::from_state(&state);
        let reporting = tokio::spawn(reports.supervise(shutdown.clone()));
        let mailboxes = mailbox
            .map(|(poller, interval)| tokio::spawn(poller.supervise(interval, shutdown.clone())));
        // Its own token: it also stops when the server ends without a shutdown, and
        // commits the offsets it stored before it ends.
        let kafka_stop = shutdown.child_token();
        let consuming = state.kafka.enabled().then(|| {
            let consumer = crate::kafka::Consumer::new(
                (*state.kafka).clone(),
                state.intake.clone(),
                state.metrics.clone(),
                state.rules.clone(),
            );
            tokio::spawn(consumer.supervise(kafka_stop.clone()))
        });
        if let Ok(address) = listener.local_addr() {
            info!(%address, "Vigía listening");
        }
        let store = state.store.clone();
        let router = api::router(state);
        let mut server = tokio::spawn(
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future(),
        );
        let mut writer = writer;
        let ended = tokio::select! {
            biased;
            joined = &mut server => Ended::Server(joined),
            joined = &mut writer => Ended::Writer(joined),
            _ = overdue(&shutdown, grace) => {
                warn!(?grace, "requests still in flight after the grace period; closing them");
                server.abort();
                Ended::Server(Ok(Ok(())))
            }
        };
        let outcome = match ended {
            Ended::Server(joined) => {
                let served =
                    finished("HTTP server", joined).and_then(|r| r.map_err(AppError::Serve));
                writer_stop.cancel();
                if tokio::time::timeout(grace, &mut writer).await.is_err() {
                    warn!("the intake writer did not finish within the grace period");
                }
                served
            }
            // Once the server stops, its last handles to the queue go and the writer ends
            // with it: that is the normal way out.
            Ended::Writer(Ok(())) if shutdown.is_cancelled() => {
                drain(&mut server, grace).await;
                Ok(())
            }
            // Without its writer the service cannot accept alerts: stop, and say why.
            Ended::Writer(joined) => {
                let reason = finished("intake writer", joined)
                    .err()
                    .unwrap_or(AppError::Stopped("intake writer"));
                error!(error = %reason, "stopping");
                shutdown.cancel();
                drain(&mut server, grace).await;
                Err(reason)
            }
        };
        reload.abort();
        sweeping.abort();
        desk_timers.abort();
        sla_timers.abort();
        sla_metrics.abort();
        reporting.abort();
        if let Some(mailboxes) = mailboxes {
            mailboxes.abort();
        }
        // A delivery cut mid-send is sent again after its lease: let the batch in hand
        // finish when it can.
        dispatch_stop.cancel();
        if tokio::time::timeout(grace, &mut dispatching).await.is_err() {
            warn!("the notification dispatcher did not finish within the grace period");
            dispatching.abort();
        }
        kafka_stop.cancel();
        if let Some(mut consuming) = consuming {
            if tokio::time::timeout(grace, &mut consuming).await.is_err() {
                warn!("the Kafka consumer did not finish within the grace period");
                consuming.abort();
            }
        }
        store.close().await;
        outcome
    }
}

enum Ended {
    Server(Result<std::io::Result<()>, tokio::task::JoinError>),
    Writer(Result<(), tokio::task::JoinError>),
}

fn finished<T>(
    task: &'static str,
    joined: Result<T, tokio::task::JoinError>,
) -> Result<T, AppError> {
    joined.map_err(|e| AppError::Panicked {
        task,
        reason: e.to_string(),
    })
}

/// After the stop signal, in-flight requests get `grace` to finish; then they are cut,
/// and their callers (never told 2xx) retry.
async fn overdue(shutdown: &CancellationToken, grace: Duration) {
    shutdown.cancelled().await;
    tokio::time::sleep(grace).await;
}

async fn drain(server: &mut JoinHandle<std::io::Result<()>>, grace: Duration) {
    if tokio::time::timeout(grace, &mut *server).await.is_err() {
        warn!(
            ?grace,
            "requests still in flight after the grace period; closing them"
        );
        server.abort();
    }
}

async fn register_sources(store: &Store, rules: &RuleSet) -> Result<(), StoreError> {
    let now = to_millis(jiff::Timestamp::now());
    for source in rules.sources() {
        sources::register(
            store.pool(),
            &source.source,
            source.description.as_deref(),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Every Kafka topic's source must have its rule file.
fn kafka_sources_exist(kafka: &crate::kafka::KafkaConfig, rules: &RuleSet) -> Result<(), AppError> {
    for (i, topic) in kafka.topics.iter().enumerate() {
        if rules.get(&topic.source).is_none() {
            return Err(AppError::Config(format!(
                "invalid configuration: `kafka.topics[{i}].source` names `{}`, but there is no {}/{}.yaml",
                topic.source,
                rules.dir.display(),
                topic.source
            )));
        }
    }
    Ok(())
}

/// Loads the rules again; on any error the rules in force stay, and the error is logged.
#[tracing::instrument(skip_all)]
pub async fn reload_rules(state: &AppState) -> Result<(), AppError> {
    let dir = state.rules().dir.clone();
    let rules = RuleSet::load(&dir)?;
    kafka_sources_exist(&state.kafka, &rules)?;
    register_sources(&state.store, &rules).await?;
    let count = rules.sources().count();
    *state.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
    info!(sources = count, "rules reloaded");
    Ok(())
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangups() -> Hangups {
    use tokio::signal::unix::{signal, SignalKind};
    let hangups = signal(SignalKind::hangup());
    if hangups.is_err() {
        warn!("cannot listen for SIGHUP; rules reload only on restart");
    }
    hangups.ok()
}

#[cfg(not(unix))]
fn hangups() -> Hangups {
    None
}

#[cfg(unix)]
async fn reload_on_sighup(hangups: Hangups, state: AppState, shutdown: CancellationToken) {
    let Some(mut hangups) = hangups else {
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            received = hangups.recv() => {
                if received.is_none() { return; }
                if let Err(e) = reload_rules(&state).await {
                    error!(error = %e, "rules reload refused; the previous rules stay in force");
                }
            }
        }
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_hangups: Hangups, _state: AppState, shutdown: CancellationToken) {
    shutdown.cancelled().await;
}
