//! Load tool for the Alertmanager intake: posts webhook groups (version 4) to
//! `POST {url}/api/v1/ingest/alertmanager` from many concurrent connections for a fixed
//! time (or number of requests) after a short warm-up, then prints throughput, status
//! counts and latency percentiles. See `benches/README.md` for how to run it.
//!
//! It only ever talks to loopback addresses.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, StatusCode, Url};

/// Severities cycled through when `--severity rotate` (fixed per fingerprint).
const SEVERITIES: [&str; 5] = ["critical", "major", "minor", "warning", "info"];

/// Post Alertmanager webhook groups to a local Vigía and measure the intake.
#[derive(Parser, Debug, Clone)]
#[command(name = "load")]
struct Args {
    /// Base URL of the server. Only loopback hosts are accepted.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Bearer token with the `monitor` role.
    #[arg(long, env = "VIGIA_TOKEN", hide_env_values = true)]
    token: String,
    /// Concurrent connections (one task each, one request in flight per task).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured time in seconds (after the warm-up). Also caps `--requests` runs.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Stop after this many measured requests (or at `--duration-secs`, whichever first).
    #[arg(long)]
    requests: Option<u64>,
    /// Warm-up in seconds: requests are sent but not measured.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Distinct alert fingerprints to draw from: fewer means more repeats of open events.
    #[arg(long, default_value_t = 100_000)]
    fingerprints: u64,
    /// Alerts per webhook group (request).
    #[arg(long, default_value_t = 10)]
    alerts_per_request: usize,
    /// `rotate` (fixed per fingerprint, over critical/major/minor/warning/info) or one
    /// severity label value for every alert, e.g. `critical`.
    #[arg(long, default_value = "rotate")]
    severity: String,
    /// Percentage (0-100) of alerts sent as `resolved` instead of `firing`.
    #[arg(long, default_value_t = 0)]
    resolved_percent: u8,
    /// Per-request timeout in seconds; a request that takes longer counts as an error.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// Seed for the fingerprint choice (runs with the same seed send the same sequence
    /// per task).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Do not read `/metrics` before and after the run.
    #[arg(long)]
    no_metrics: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// What one task saw during the measured window.
struct TaskReport {
    /// Latency of 2xx responses, microseconds.
    ok_latency: Histogram<u64>,
    /// Latency of every HTTP response, microseconds.
    all_latency: Histogram<u64>,
    requests: u64,
    ok_requests: u64,
    ok_alerts: u64,
    statuses: BTreeMap<u16, u64>,
    /// First response body seen per non-2xx status, for the report.
    samples: BTreeMap<u16, String>,
    outcomes: BTreeMap<String, u64>,
    transport_errors: u64,
    first_error: Option<String>,
    /// Requests measured but finished after the window closed (not counted).
    late: u64,
    /// When this task's last counted request finished.
    last_done: Option<Instant>,
}

impl TaskReport {
    fn new() -> Self {
        TaskReport {
            ok_latency: new_histogram(),
            all_latency: new_histogram(),
            requests: 0,
            ok_requests: 0,
            ok_alerts: 0,
            statuses: BTreeMap::new(),
            samples: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            transport_errors: 0,
            first_error: None,
            late: 0,
            last_done: None,
        }
    }

    fn merge(&mut self, other: TaskReport) {
        self.ok_latency
            .add(&other.ok_latency)
            .expect("same histogram bounds");
        self.all_latency
            .add(&other.all_latency)
            .expect("same histogram bounds");
        self.requests += other.requests;
        self.ok_requests += other.ok_requests;
        self.ok_alerts += other.ok_alerts;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (status, body) in other.samples {
            self.samples.entry(status).or_insert(body);
        }
        for (outcome, n) in other.outcomes {
            *self.outcomes.entry(outcome).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.late += other.late;
        self.last_done = self.last_done.max(other.last_done);
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Shared, read-only run settings.
struct Plan {
    ingest_url: Url,
    auth: String,
    fingerprints: u64,
    alerts_per_request: usize,
    severity: Option<String>,
    resolved_percent: u64,
    starts_at: String,
    ends_at: String,
    measure_from: Instant,
    measure_until: Instant,
    request_limit: Option<u64>,
    issued: AtomicU64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match check(&args) {
        Ok(url) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run(args, url)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Validates the arguments; returns the base URL.
fn check(args: &Args) -> Result<Url, String> {
    let url =
        Url::parse(&args.url).map_err(|e| format!("--url `{}` is not a URL: {e}", args.url))?;
    if url.scheme() != "http" {
        return Err(format!("--url must be http:// (got `{}`)", url.scheme()));
    }
    if !is_loopback(&url) {
        return Err(format!(
            "refusing to send load to `{}`: only loopback hosts are allowed \
             (127.x.x.x, localhost or [::1])",
            url.host_str().unwrap_or("")
        ));
    }
    if args.token.trim().is_empty() {
        return Err("--token (or VIGIA_TOKEN) is empty".into());
    }
    if args.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if args.duration_secs == 0 {
        return Err("--duration-secs must be at least 1".into());
    }
    if args.requests == Some(0) {
        return Err("--requests must be at least 1".into());
    }
    if args.alerts_per_request == 0 {
        return Err("--alerts-per-request must be at least 1".into());
    }
    if args.fingerprints < args.alerts_per_request as u64 {
        return Err(format!(
            "--fingerprints ({}) must be at least --alerts-per-request ({}): the alerts of one \
             group have distinct fingerprints",
            args.fingerprints, args.alerts_per_request
        ));
    }
    if args.resolved_percent > 100 {
        return Err("--resolved-percent must be between 0 and 100".into());
    }
    if args.timeout_secs == 0 {
        return Err("--timeout-secs must be at least 1".into());
    }
    if args.severity.is_empty()
        || args.severity.contains(['"', '\\'])
        || args.severity.chars().any(char::is_control)
    {
        return Err("--severity must be `rotate` or a plain label value".into());
    }
    Ok(url)
}

/// `localhost`, 127.0.0.0/8 or `::1`. The URL parser has already normalised the host
/// (`127.1` reads as `127.0.0.1`), so the text is checked as written.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => ip == Ipv6Addr::LOCALHOST,
        Err(_) => false,
    }
}

async fn run(args: Args, base: Url) -> Result<(), String> {
    let ingest_url = base
        .join("/api/v1/ingest/alertmanager")
        .map_err(|e| format!("cannot build the ingest URL: {e}"))?;
    let metrics_url = base
        .join("/metrics")
        .map_err(|e| format!("cannot build the metrics URL: {e}"))?;
    let client = Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(args.timeout_secs))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;

    let now = jiff::Timestamp::now();
    let severity = (args.severity != "rotate").then(|| args.severity.clone());
    let mut plan = Plan {
        ingest_url,
        auth: format!("Bearer {}", args.token.trim()),
        fingerprints: args.fingerprints,
        alerts_per_request: args.alerts_per_request,
        severity,
        resolved_percent: u64::from(args.resolved_percent),
        starts_at: now.to_string(),
        ends_at: now.to_string(),
        measure_from: Instant::now(),
        measure_until: Instant::now(),
        request_limit: args.requests,
        issued: AtomicU64::new(0),
    };

    preflight(&client, &plan).await?;
    let metrics_before = if args.no_metrics {
        None
    } else {
        batch_metrics(&client, &metrics_url).await
    };

    println!(
        "target {}  concurrency {}  warm-up {} s  measure {} s{}  {} alerts/request over {} fingerprints  severity {}{}",
        plan.ingest_url,
        args.concurrency,
        args.warmup_secs,
        args.duration_secs,
        args.requests.map(|n| format!(" (or {n} requests)")).unwrap_or_default(),
        args.alerts_per_request,
        args.fingerprints,
        args.severity,
        if args.resolved_percent > 0 { format!("  {}% resolved", args.resolved_percent) } else { String::new() },
    );

    let start = Instant::now();
    plan.measure_from = start + Duration::from_secs(args.warmup_secs);
    plan.measure_until = plan.measure_from + Duration::from_secs(args.duration_secs);
    let plan = Arc::new(plan);

    let mut tasks = Vec::with_capacity(args.concurrency);
    for id in 0..args.concurrency {
        let seed = splitmix64(args.seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        tasks.push(tokio::spawn(worker(
            client.clone(),
            Arc::clone(&plan),
            seed,
        )));
    }
    let mut total = TaskReport::new();
    for task in tasks {
        match task.await {
            Ok(report) => total.merge(report),
            Err(e) => return Err(format!("a load task failed: {e}")),
        }
    }

    // Throughput over the window: the whole window for duration runs; up to the last
    // counted response when a request limit ended the run first.
    let window_end = match (plan.request_limit, total.last_done) {
        (Some(limit), Some(last)) if total.requests + total.late >= limit => {
            last.min(plan.measure_until)
        }
        _ => plan.measure_until,
    };
    let elapsed = window_end
        .saturating_duration_since(plan.measure_from)
        .as_secs_f64();

    let metrics_after = if args.no_metrics {
        None
    } else {
        batch_metrics(&client, &metrics_url).await
    };
    print_report(&total, elapsed, metrics_before.zip(metrics_after));
    Ok(())
}

/// One request before the run, so a bad token or a missing rule stops it with a clear
/// message instead of a table of errors.
async fn preflight(client: &Client, plan: &Plan) -> Result<(), String> {
    let mut rng = Rng(0x5EED);
    let body = webhook_body(plan, &mut rng);
    let response = client
        .post(plan.ingest_url.clone())
        .header(AUTHORIZATION, &plan.auth)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {}", plan.ingest_url, error_chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    let hint = match status {
        StatusCode::UNAUTHORIZED => {
            " (is the token right? create one with `vigia token create --role monitor`)"
        }
        StatusCode::FORBIDDEN => " (the token needs the `monitor` role)",
        StatusCode::NOT_FOUND => " (is `rules/alertmanager.yaml` in the server's rules directory?)",
        _ => "",
    };
    Err(format!(
        "the first request got {status}{hint}: {}",
        excerpt(&text)
    ))
}

async fn worker(client: Client, plan: Arc<Plan>, seed: u64) -> TaskReport {
    let mut report = TaskReport::new();
    let mut rng = Rng(seed);
    loop {
        let started = Instant::now();
        if started >= plan.measure_until {
            break;
        }
        let measured = started >= plan.measure_from;
        if measured {
            if let Some(limit) = plan.request_limit {
                if plan.issued.fetch_add(1, Ordering::Relaxed) >= limit {
                    break;
                }
            }
        }
        let body = webhook_body(&plan, &mut rng);
        let sent = client
            .post(plan.ingest_url.clone())
            .header(AUTHORIZATION, &plan.auth)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        // Read the whole body: the latency is the time to the full answer.
        let result = match sent {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|bytes| (status, bytes))
            }
            Err(e) => Err(e),
        };
        let done = Instant::now();
        if !measured {
            continue;
        }
        if done > plan.measure_until {
            report.late += 1;
            continue;
        }
        report.last_done = Some(done);
        let (status, bytes) = match result {
            Ok(answer) => answer,
            Err(e) => {
                report.transport_errors += 1;
                report.first_error.get_or_insert_with(|| error_chain(&e));
                if e.is_connect() {
                    // Do not spin on a refused connection.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        let micros = u64::try_from(done.duration_since(started).as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        report.requests += 1;
        report.all_latency.saturating_record(micros);
        *report.statuses.entry(status.as_u16()).or_default() += 1;
        if status.is_success() {
            report.ok_requests += 1;
            report.ok_latency.saturating_record(micros);
            count_outcomes(&bytes, &mut report);
        } else {
            report
                .samples
                .entry(status.as_u16())
                .or_insert_with(|| excerpt(&String::from_utf8_lossy(&bytes)));
        }
    }
    report
}

/// Counts the alerts of a 2xx answer by outcome (`created`, `updated`, ...).
fn count_outcomes(bytes: &[u8], report: &mut TaskReport) {
    let parsed: Result<serde_json::Value, _> = serde_json::from_slice(bytes);
    let alerts = match parsed {
        Ok(serde_json::Value::Object(mut answer)) => match answer.remove("alerts") {
            Some(serde_json::Value::Array(alerts)) => Some(alerts),
            _ => None,
        },
        _ => None,
    };
    match alerts {
        Some(alerts) => {
            report.ok_alerts += alerts.len() as u64;
            for alert in alerts {
                let outcome = alert
                    .get("outcome")
                    .and_then(|o| o.as_str())
                    .unwrap_or("?")
                    .to_owned();
                *report.outcomes.entry(outcome).or_default() += 1;
            }
        }
        None => {
            *report
                .outcomes
                .entry("unreadable answer".to_owned())
                .or_default() += 1;
        }
    }
}

/// A webhook group of `alerts_per_request` alerts with distinct fingerprints drawn
/// uniformly from the pool. Everything about an alert except its status follows from its
/// fingerprint, so a repeat looks like Alertmanager re-sending the same alert.
fn webhook_body(plan: &Plan, rng: &mut Rng) -> String {
    let n = plan.alerts_per_request;
    let mut picked: Vec<u64> = Vec::with_capacity(n);
    while picked.len() < n {
        let index = rng.below(plan.fingerprints);
        if !picked.contains(&index) {
            picked.push(index);
        }
    }
    let mut body = String::with_capacity(200 + n * 520);
    body.push_str(r#"{"receiver":"vigia","status":"firing","alerts":["#);
    for (i, &index) in picked.iter().enumerate() {
        let resolved = plan.resolved_percent > 0 && rng.below(100) < plan.resolved_percent;
        let (status, ends_at) = if resolved {
            ("resolved", plan.ends_at.as_str())
        } else {
            ("firing", "0001-01-01T00:00:00Z")
        };
        let severity = match &plan.severity {
            Some(s) => s.as_str(),
            None => SEVERITIES[(index % SEVERITIES.len() as u64) as usize],
        };
        let fingerprint = splitmix64(index);
        let host = index % 5000;
        let rule = index % 40;
        if i > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            r#"{{"status":"{status}","labels":{{"alertname":"LoadTest{rule}","ci":"srv-load-{host:04}","instance":"10.99.{}.{}:9100","job":"node","severity":"{severity}","unit":"LOAD"}},"annotations":{{"summary":"Load test alert {index} on srv-load-{host:04}","description":"Synthetic alert from benches/load.rs"}},"startsAt":"{}","endsAt":"{ends_at}","generatorURL":"http://prometheus.load/graph?g0.expr=load{rule}","fingerprint":"{fingerprint:016x}"}}"#,
            host / 256,
            host % 256,
            plan.starts_at,
        );
    }
    body.push_str(
        r#"],"groupLabels":{"unit":"LOAD"},"commonLabels":{"unit":"LOAD"},"commonAnnotations":{},"externalURL":"http://alertmanager.load","version":"4","groupKey":"{}:{unit=\"LOAD\"}","truncatedAlerts":0}"#,
    );
    body
}

/// `vigia_intake_batch_alerts` sum and count, if `/metrics` answers.
async fn batch_metrics(client: &Client, url: &Url) -> Option<(f64, f64)> {
    let text = client
        .get(url.clone())
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |name: &str| {
        text.lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
    };
    Some((
        value("vigia_intake_batch_alerts_sum")?,
        value("vigia_intake_batch_alerts_count")?,
    ))
}

fn print_report(total: &TaskReport, elapsed: f64, batches: Option<((f64, f64), (f64, f64))>) {
    let non_2xx: u64 = total
        .statuses
        .iter()
        .filter(|(s, _)| !(200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    let statuses: Vec<String> = total
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!();
    println!("measured       {elapsed:.2} s");
    println!(
        "requests       {} answered ({:.1}/s), {} non-2xx, {} transport errors, {} finished after the window",
        total.requests,
        total.requests as f64 / elapsed,
        non_2xx,
        total.transport_errors,
        total.late,
    );
    println!(
        "statuses       {}",
        if statuses.is_empty() {
            "-".to_owned()
        } else {
            statuses.join(", ")
        }
    );
    println!(
        "accepted       {} alerts in 2xx answers = {:.1} alerts/s",
        total.ok_alerts,
        total.ok_alerts as f64 / elapsed
    );
    if !total.outcomes.is_empty() {
        let outcomes: Vec<String> = total
            .outcomes
            .iter()
            .map(|(o, n)| format!("{o} {n}"))
            .collect();
        println!("outcomes       {}", outcomes.join(", "));
    }
    println!("latency 2xx    {}", percentiles(&total.ok_latency));
    if non_2xx > 0 {
        println!("latency all    {}", percentiles(&total.all_latency));
    }
    if let Some(((sum0, count0), (sum1, count1))) = batches {
        let (sum, count) = (sum1 - sum0, count1 - count0);
        if count > 0.0 {
            println!(
                "server batches {count:.0} group commits, {sum:.0} alerts, {:.1} alerts/commit \
                 (vigia_intake_batch_alerts, warm-up and late requests included)",
                sum / count
            );
        }
    }
    for (status, body) in &total.samples {
        println!("first {status}      {body}");
    }
    if let Some(error) = &total.first_error {
        println!("first error    {error}");
    }
}

fn percentiles(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "-".to_owned();
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    format!(
        "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (mean {:.2} ms)",
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.90)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
        h.mean() / 1000.0,
    )
}

fn excerpt(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Small deterministic generator (splitmix64); no need for `rand` here.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform enough in `0..n` for a load generator.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// A bijection on u64: pool index -> fingerprint, so fingerprints look random but each
/// index always gives the same one.
fn splitmix64(x: u64) -> u64 {
    mix(x.wrapping_add(0x9E37_79B9_7F4A_7C15))
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
