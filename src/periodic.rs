//! Background passes that run every interval until stopped (the sweeper, the desk's
//! timers): a failed pass is logged and tried again at the next tick; a pass that panics
//! restarts the loop after an interval, so one bad row never stops the task for good.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub async fn every<T, F, Fut, E>(
    name: &'static str,
    interval: Duration,
    stop: CancellationToken,
    task: T,
    pass: F,
) where
    T: Clone + Send + Sync + 'static,
    F: Fn(T) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Display + Send + 'static,
{
    loop {
        let running = tokio::spawn(ticks(interval, stop.clone(), task.clone(), pass, name));
        match running.await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, task = name, "background task failed; restarting it");
                tokio::time::sleep(interval).await;
            }
        }
    }
}

async fn ticks<T, F, Fut, E>(
    interval: Duration,
    stop: CancellationToken,
    task: T,
    pass: F,
    name: &'static str,
) where
    T: Clone,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(e) = pass(task.clone()).await {
            tracing::warn!(error = %e, task = name, "pass failed; trying again at the next tick");
        }
    }
}
