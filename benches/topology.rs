//! Benchmark of the CI registry on a large, generated topology: the cost per alert of
//! binding it to a CI and correlating it with the open incidents (what the intake writer
//! does for every alert), and the time to import the whole registry.
//!
//! `cargo bench --bench topology` (see `benches/README.md`). Plain program, no server.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use vigia::cmdb::apply;
use vigia::cmdb::graph::{Node, Registry};
use vigia::cmdb::import::{self, Format};
use vigia::cmdb::model::{ConfigItem, Criticality, Dependency, Unit, DEFAULT_RELATION};
use vigia::domain::Correlation;
use vigia::pipeline::correlate::{Active, ActiveIncident};
use vigia::pipeline::priority::{Level, Priority, PriorityConfig};
use vigia::store::Store;

#[derive(Parser, Debug)]
#[command(name = "topology")]
struct Args {
    /// Configuration items to generate.
    #[arg(long, default_value_t = 100_000)]
    cis: usize,
    /// Dependency edges to generate.
    #[arg(long, default_value_t = 300_000)]
    edges: usize,
    /// Alerts to bind and correlate.
    #[arg(long, default_value_t = 200_000)]
    alerts: usize,
    /// Open incidents (on random CIs) the alerts are correlated against.
    #[arg(long, default_value_t = 500)]
    open_incidents: usize,
    /// Also import the registry into this database (`sqlite://…` or `postgres://…`);
    /// a SQLite file in a temporary directory when absent. `none` skips the import.
    #[arg(long)]
    database: Option<String>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Accepted for `cargo bench`, which passes it to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Layers of the generated ministry, bottom up: each CI depends on CIs of lower layers.
const LAYERS: [(&str, f64, Criticality); 6] = [
    ("facility", 0.005, Criticality::Critical),
    ("network", 0.015, Criticality::Critical),
    ("hardware", 0.03, Criticality::High),
    ("database", 0.15, Criticality::High),
    ("server", 0.60, Criticality::Medium),
    ("service", 0.20, Criticality::High),
];

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let cis = generate(&args, &mut rng);
    let edges: usize = cis.iter().map(|c| c.depends_on.len()).sum();
    println!("registry: {} CIs, {edges} dependency edges", cis.len());

    let started = Instant::now();
    let registry = Registry::build(1, units(), cis.clone());
    println!(
        "index build: {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    correlate(&args, &registry, &mut rng);

    if args.database.as_deref() != Some("none") {
        import_registry(&args, &cis).await?;
    }
    Ok(())
}

fn units() -> Vec<Unit> {
    ["DINAFI", "DGA", "DGII", "DGT"]
        .iter()
        .map(|code| Unit {
            code: (*code).to_owned(),
            name: format!("Unidad {code}"),
            head: None,
            desk_email: None,
        })
        .collect()
}

/// A layered topology with exactly `args.edges` edges, each from a CI to one of a lower
/// layer (so there is no cycle), with two identifiers per CI as monitoring names them.
fn generate(args: &Args, rng: &mut StdRng) -> Vec<ConfigItem> {
    let mut cis = Vec::with_capacity(args.cis);
    let mut layer_of = Vec::with_capacity(args.cis);
    for (layer, (kind, share, criticality)) in LAYERS.iter().enumerate() {
        let count = ((args.cis as f64) * share).round() as usize;
        let count = if layer == LAYERS.len() - 1 {
            args.cis - cis.len()
        } else {
            count.max(1)
        };
        for _ in 0..count {
            let n = cis.len();
            cis.push(ConfigItem {
                id: format!("{kind}-{n:06}"),
                name: format!("{kind} {n}"),
                kind: (*kind).to_owned(),
                unit: ["DINAFI", "DGA", "DGII", "DGT"][n % 4].to_owned(),
                criticality: *criticality,
                identifiers: vec![format!("host{n}.mh.gob.sv"), ip(n)],
                attributes: Default::default(),
                depends_on: Vec::new(),
            });
            layer_of.push(layer);
        }
    }
    let first_of_layer: Vec<usize> = (0..LAYERS.len())
        .map(|l| layer_of.iter().position(|&x| x == l).unwrap_or(0))
        .collect();
    let mut placed = 0;
    while placed < args.edges {
        let from = rng.random_range(first_of_layer[1]..cis.len());
        // Mostly the layer just below, sometimes any lower one (a server on a switch).
        let below = layer_of[from] - 1;
        let layer = if rng.random_bool(0.8) {
            below
        } else {
            rng.random_range(0..=below)
        };
        let end = first_of_layer.get(layer + 1).copied().unwrap_or(cis.len());
        let to = rng.random_range(first_of_layer[layer]..end);
        let target = cis[to].id.clone();
        let deps = &mut cis[from].depends_on;
        if deps.iter().any(|d| d.ci == target) {
            continue;
        }
        deps.push(Dependency {
            ci: target,
            relation: DEFAULT_RELATION.to_owned(),
        });
        placed += 1;
    }
    cis
}

fn ip(n: usize) -> String {
    format!("10.{}.{}.{}:9100", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// What the intake does for each alert: bind it (by id, identifier or not at all), find
/// the incident it belongs to, look for incidents it reveals to share its cause, and rate
/// its impact.
fn correlate(args: &Args, registry: &Registry, rng: &mut StdRng) {
    let policy = Correlation::default();
    let priority = PriorityConfig::default();
    let relations = registry.relations(&policy.relations);
    let now = 1_000_000_000;
    let mut active = Active::new(
        (0..args.open_incidents)
            .map(|i| {
                let node = rng.random_range(0..registry.len()) as Node;
                open_incident(format!("inc_{i}"), node, now)
            })
            .collect(),
    );
    let candidates: Vec<Vec<String>> = (0..args.alerts)
        .map(|_| {
            let n = rng.random_range(0..registry.len() * 11 / 10);
            match n % 3 {
                _ if n >= registry.len() => vec![format!("unknown-{n}"), ip(n)],
                0 => vec![registry.node(n as Node).id.clone()],
                1 => vec!["no-such-label".to_owned(), ip(n)],
                _ => vec![format!("HOST{n}.MH.GOB.SV")],
            }
        })
        .collect();
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    let (mut bound, mut joined, mut merges) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    for (i, alert) in candidates.iter().enumerate() {
        let t = Instant::now();
        if let Some((node, _)) = registry.bind(alert) {
            bound += 1;
            // As the intake's planner does: join or open, then merge what the CI causes
            // if it is new to the incident.
            let (target, opened) = match active.cause(registry, node, &policy, relations, now) {
                Some(join) => {
                    joined += 1;
                    (join.incident, false)
                }
                None => {
                    let id = format!("new_{i}");
                    active.insert(open_incident(id.clone(), node, now));
                    (id, true)
                }
            };
            let new_member = opened || !active.has_member(&target, node);
            active.touch(&target, Some(node), now);
            if new_member {
                for (from, _) in active.dependants(registry, node, &target, &policy, relations, now)
                {
                    active.merge(&from, &target);
                    merges += 1;
                }
            }
            std::hint::black_box(priority.impact(registry, Some(node)));
        }
        histogram
            .record(t.elapsed().as_nanos() as u64)
            .expect("recorded");
    }
    let total = started.elapsed();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "bind + correlate: {} alerts in {:.0} ms: mean {:.2} µs/alert; \
         p50 {:.2} µs, p99 {:.2} µs, max {:.0} µs",
        args.alerts,
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e6 / args.alerts as f64,
        histogram.value_at_quantile(0.5) as f64 / 1e3,
        histogram.value_at_quantile(0.99) as f64 / 1e3,
        histogram.max() as f64 / 1e3,
    );
    let _ = writeln!(
        report,
        "  {bound} bound, {joined} joined an open incident, {merges} incidents merged, \
         against {} open incidents at the start",
        args.open_incidents
    );
    print!("{report}");
}

fn open_incident(id: String, node: Node, now: i64) -> ActiveIncident {
    ActiveIncident {
        id,
        root: Some(node),
        members: vec![node],
        opened_at: now,
        last_seen: now,
        severity: vigia::domain::Severity::Critical,
        impact: Level::High,
        urgency: Level::High,
        priority: Priority::P1,
    }
}

/// The whole registry as a YAML file, through the same path as `vigia ci import`:
/// parse, validate against the database, write in one transaction; then again, when
/// every CI is unchanged.
async fn import_registry(args: &Args, cis: &[ConfigItem]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = match &args.database {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.path().join("topology.db").display()),
    };
    let text = yaml(cis);
    println!("import file: {:.1} MB of YAML", text.len() as f64 / 1e6);
    let store = Store::connect(&url, 4).await?;
    store.migrate().await?;
    let mut timings = BTreeMap::new();
    for round in ["first import", "re-import"] {
        let started = Instant::now();
        let catalog = import::parse(&text, Format::Yaml)
            .map_err(|e| anyhow::anyhow!("the generated file is refused: {e}"))?;
        let parsed = started.elapsed();
        let report = apply::import(&store, &catalog, 0, false).await?;
        timings.insert(round, (parsed, started.elapsed(), report));
    }
    for (round, (parsed, total, report)) in timings {
        println!(
            "{round}: {:.1} s in all (parse {:.1} s); CIs created {}, updated {}, unchanged {}",
            total.as_secs_f64(),
            parsed.as_secs_f64(),
            report.cis.created,
            report.cis.updated,
            report.cis.unchanged
        );
    }
    store.close().await;
    Ok(())
}

fn yaml(cis: &[ConfigItem]) -> String {
    let mut out = String::from("units:\n");
    for unit in units() {
        let _ = writeln!(out, "  - {{ code: {}, name: {} }}", unit.code, unit.name);
    }
    out.push_str("config_items:\n");
    for ci in cis {
        let deps: Vec<&str> = ci.depends_on.iter().map(|d| d.ci.as_str()).collect();
        let _ = writeln!(
            out,
            "  - {{ id: {}, name: {}, type: {}, unit: {}, criticality: {}, \
             identifiers: [{}, \"{}\"], depends_on: [{}] }}",
            ci.id,
            ci.name,
            ci.kind,
            ci.unit,
            ci.criticality,
            ci.identifiers[0],
            ci.identifiers[1],
            deps.join(", ")
        );
    }
    out
}
