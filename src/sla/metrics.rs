//! The desk's figures on `/metrics`, read from the database. Tickets change through many
//! code paths and several replicas share one database, so no process can count them as
//! they happen; instead every replica reads a few grouped counts (`store::desk_metrics`)
//! every `[sla] metrics_refresh_secs`, and before a scrape when its last reading is
//! older than 2 s (less often on a database so large that a reading takes long: see
//! `IDLE_PER_BUSY`). Every replica then exports the same figures: dashboards aggregate
//! across replicas with `max by (…)`, never `sum`.
//!
//! Gauges (`vigia_tickets_open`, `…_backlog_age`, `…_at_risk`,
//! `vigia_sla_compliance_ratio`) are the database's figures as read. Counters and the
//! two histograms cannot be: the database holds how many tickets are *now* in a label
//! set, and that number goes down when a ticket leaves it (its priority is raised, a
//! reopen clears its resolution, a clock restarts). Prometheus takes any decrease for a
//! restart and `increase()` would then add the whole count. So each replica exports
//! what the database's counts *grew* by since the replica started: a counter starts at
//! 0 at start-up (a restart is then the reset Prometheus expects), adds every rise of
//! its label set's count between two readings and ignores the falls. A ticket raised
//! from P3 to P2 therefore adds to P2 and leaves P3 as it was; a ticket resolved again
//! after a reopen counts again. Within one reading's interval, a ticket entering a label
//! set and another leaving it cancel out; the interval keeps that rare.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use tokio_util::sync::CancellationToken;

use super::SlaConfig;
use crate::domain::to_millis;
use crate::metrics::{self as names, DbFamily, Metrics, MetricsError, TICKET_SECONDS_BUCKETS};
use crate::store::desk_metrics as db;
use crate::store::{Store, StoreResult};

mod figures;

use figures::{Figures, Reading};

/// A scrape reads the database again when the figures are older than this: cheap
/// enough for a scrape every few seconds, fresh enough for what a person just did.
const SCRAPE_FRESHNESS: Duration = Duration::from_secs(2);

/// The readings scan every ticket and clock: on a large database they wait at least
/// this many times as long as the last one took, so they never use more than a tenth
/// of the time (a 2 s reading runs at most every 20 s, whatever the scrapes).
const IDLE_PER_BUSY: u32 = 10;

const DAY_MS: i64 = 86_400_000;

/// The collector registered with the other metrics; clones share one set of figures.
#[derive(Clone)]
pub struct SlaMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    interval: Duration,
    window_ms: i64,
    descs: Vec<Desc>,
    figures: Mutex<Figures>,
    /// Held while reading, so one reading runs at a time.
    last: tokio::sync::Mutex<LastRead>,
}

#[derive(Debug, Default, Clone, Copy)]
struct LastRead {
    ended: Option<Instant>,
    took: Duration,
}

impl LastRead {
    fn recent(&self, freshness: Duration) -> bool {
        let wait = freshness.max(self.took * IDLE_PER_BUSY);
        self.ended.is_some_and(|at| at.elapsed() < wait)
    }
}

impl SlaMetrics {
    /// Registers the desk's families with `metrics`. They stay empty until `refresh`,
    /// whose first reading is the baseline counters grow from.
    pub fn new(store: Store, config: &SlaConfig, metrics: &Metrics) -> Result<Self, MetricsError> {
        let descs = FAMILIES
            .iter()
            .map(|f| {
                let labels = f.labels.iter().map(|l| l.to_string()).collect();
                Desc::new(f.name.into(), f.help.into(), labels, Default::default())
            })
            .collect::<Result<_, _>>()?;
        let days = i64::try_from(config.compliance_window_days).unwrap_or(i64::MAX);
        let collector = SlaMetrics {
            inner: Arc::new(Inner {
                store,
                interval: Duration::from_secs(config.metrics_refresh_secs),
                window_ms: days.saturating_mul(DAY_MS),
                descs,
                figures: Mutex::new(Figures::default()),
                last: tokio::sync::Mutex::new(LastRead::default()),
            }),
        };
        metrics.register(Box::new(collector.clone()))?;
        Ok(collector)
    }

    /// Reads the figures from the database now.
    pub async fn refresh(&self) -> StoreResult<()> {
        let mut last = self.inner.last.lock().await;
        self.read(&mut last).await
    }

    /// Before a scrape: reads the figures again unless they are fresh. A failure keeps
    /// the previous figures (and is logged): the scrape still answers.
    pub async fn refresh_if_stale(&self) {
        if let Err(e) = self.refresh_unless_read_within(SCRAPE_FRESHNESS).await {
            tracing::warn!(error = %e, "the desk's metrics could not be read; showing the previous figures");
        }
    }

    async fn refresh_unless_read_within(&self, freshness: Duration) -> StoreResult<()> {
        let mut last = self.inner.last.lock().await;
        if last.recent(freshness) {
            return Ok(());
        }
        self.read(&mut last).await
    }

    /// Reads the figures every interval until `stop`.
    pub async fn supervise(self, stop: CancellationToken) {
        let interval = self.inner.interval;
        crate::periodic::every(
            "SLA metrics",
            interval,
            stop,
            self,
            |m: SlaMetrics| async move { m.refresh_unless_read_within(Duration::ZERO).await },
        )
        .await;
    }

    async fn read(&self, last: &mut LastRead) -> StoreResult<()> {
        let started = Instant::now();
        let now = to_millis(jiff::Timestamp::now());
        let pool = self.inner.store.pool();
        let bounds_ms = TICKET_SECONDS_BUCKETS.map(|s| s * 1000);
        let reading = Reading {
            tickets: db::ticket_groups(pool, [1, 3, 7].map(|d| now - d * DAY_MS)).await?,
            stopped: db::stopped_clocks(pool, &bounds_ms).await?,
            breached: db::breached_clocks(pool).await?,
            at_risk: db::tickets_at_risk(pool).await?,
            compliance: db::compliance(pool, now.saturating_sub(self.inner.window_ms)).await?,
        };
        self.inner
            .figures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .apply(reading);
        *last = LastRead {
            ended: Some(Instant::now()),
            took: started.elapsed(),
        };
        Ok(())
    }
}

impl Collector for SlaMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.inner.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.inner
            .figures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .families()
    }
}

const FAMILIES: [DbFamily; 9] = [
    names::TICKETS_OPENED,
    names::TICKETS_RESOLVED,
    names::TICKETS_BREACHED,
    names::TICKETS_OPEN,
    names::TICKETS_BACKLOG_AGE,
    names::TICKETS_AT_RISK,
    names::ACKNOWLEDGE_SECONDS,
    names::RESOLVE_SECONDS,
    names::SLA_COMPLIANCE,
];
