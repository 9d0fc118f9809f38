//! The `vigia` command line: parses arguments, loads configuration, starts logging and
//! calls into the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use vigia::app::App;
use vigia::auth::{create_token, Role};
use vigia::cmdb::apply::{self, ChangeError};
use vigia::cmdb::import::{self, Format};
use vigia::config::Config;
use vigia::rules::{run_tests, RuleSet};
use vigia::store::Store;

/// Vigía turns monitoring alerts into service-desk events and incidents.
#[derive(Parser)]
#[command(name = "vigia", version)]
struct Cli {
    /// Configuration file (TOML); without it, `./vigia.toml` is read if present.
    /// Settings also come from `VIGIA_SECTION__KEY` variables, e.g. `VIGIA_DATABASE__URL`.
    #[arg(long, global = true, env = "VIGIA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: apply migrations, load rules, serve the API until SIGTERM/SIGINT
    /// (SIGHUP reloads the rules).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Rule files: check them, or try one on a payload.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The CI registry.
    Ci {
        #[command(subcommand)]
        command: CiCommand,
    },
}

#[derive(Subcommand)]
enum CiCommand {
    /// Import a registry file (`.yaml`/`.yml`, `.json` or `.csv`): all of it, or nothing
    /// with every problem and its line. Importing the same file again changes nothing.
    Import {
        file: PathBuf,
        /// Check and count, but write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Compile every rule file and run its tests; fails with file, line and reason.
    Check,
    /// Print the signals a payload becomes and the rule that matched. Stores nothing.
    Test {
        /// Source name (the rule file `rules/<source>.yaml`).
        source: String,
        /// JSON payload file.
        payload: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// Who or what the token is for, e.g. `alertmanager-prod` or `ana.lopez`.
        #[arg(long)]
        name: String,
        /// `monitor` (a source that sends alerts) or `admin` (a person).
        #[arg(long)]
        role: Role,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => return fail(e),
    };
    vigia::telemetry::init(&config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let result = runtime.block_on(run(cli.command, config));
    match result {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

fn fail(e: impl Into<anyhow::Error>) -> ExitCode {
    eprintln!("error: {:#}", e.into());
    ExitCode::FAILURE
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let store = Store::connect(&config.database.url, 1).await?;
            store.migrate().await?;
            println!(
                "migrations applied to {}",
                vigia::config::redact_url(&config.database.url)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules {
            command: RulesCommand::Check,
        } => rules_check(&config),
        Command::Rules {
            command: RulesCommand::Test { source, payload },
        } => rules_test(&config, &source, &payload),
        Command::Token {
            command: TokenCommand::Create { name, role },
        } => {
            let store = Store::connect(&config.database.url, 1).await?;
            store.migrate().await?;
            let token = create_token(&store, &name, role).await?;
            eprintln!("token for `{name}` ({role}); it is shown only now:");
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Ci {
            command: CiCommand::Import { file, dry_run },
        } => ci_import(&config, &file, dry_run).await,
    }
}

async fn ci_import(config: &Config, file: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let format = Format::from_path(file).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: the file name must end in .yaml, .yml, .json or .csv",
            file.display()
        )
    })?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let store = Store::connect(&config.database.url, 1).await?;
    store.migrate().await?;
    let now = vigia::domain::to_millis(jiff::Timestamp::now());
    let outcome = match import::parse(&text, format) {
        Ok(catalog) => apply::import(&store, &catalog, now, dry_run).await,
        Err(problems) => Err(ChangeError::Invalid(problems)),
    };
    store.close().await;
    match outcome {
        Ok(report) => {
            let verb = if dry_run { "would be" } else { "were" };
            let c = |c: apply::Counts| {
                format!(
                    "{} created, {} updated, {} unchanged",
                    c.created, c.updated, c.unchanged
                )
            };
            println!(
                "{}: units {verb} {}; people {verb} {}; CIs {verb} {}",
                file.display(),
                c(report.units),
                c(report.people),
                c(report.cis)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ChangeError::Invalid(problems)) => {
            eprintln!("{}: refused, nothing was imported:", file.display());
            for problem in &problems.0 {
                eprintln!("  {}: {problem}", file.display());
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e @ (ChangeError::Exists(_) | ChangeError::Concurrent)) => Err(e.into()),
        Err(ChangeError::Store(e)) => Err(e.into()),
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(config.server.listen).await?;
    let app = App::build(&config, listener).await?;
    tracing::info!(database = %vigia::config::redact_url(&config.database.url), "database ready");
    let shutdown = CancellationToken::new();
    watch_stop_signals(shutdown.clone())?;
    app.run_until_stopped(shutdown).await?;
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// Installs the SIGTERM/SIGINT handlers now (not later in a task), so a signal that
/// arrives early still stops the service gracefully.
fn watch_stop_signals(shutdown: CancellationToken) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
                _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
            }
            shutdown.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        shutdown.cancel();
    });
    Ok(())
}

fn rules_check(config: &Config) -> anyhow::Result<ExitCode> {
    let rules = RuleSet::load(&config.rules.dir)?;
    let (passed, failures) = run_tests(&rules);
    for failure in &failures {
        eprintln!("{failure}");
    }
    let files = rules.sources().count();
    if failures.is_empty() {
        println!("{files} rule file(s) compiled, {passed} test(s) passed");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{files} rule file(s) compiled, {passed} test(s) passed, {} failed",
            failures.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn rules_test(
    config: &Config,
    source: &str,
    payload: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let rules = RuleSet::load(&config.rules.dir)?;
    let source_rules = rules
        .get(source)
        .ok_or_else(|| anyhow::anyhow!("no source `{source}` in {}", config.rules.dir.display()))?;
    let text = std::fs::read_to_string(payload)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", payload.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", payload.display()))?;
    match source_rules.evaluate(&value) {
        Ok(evaluated) => {
            println!("{}", serde_json::to_string_pretty(&evaluated)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(rejection) => {
            eprintln!("{rejection}");
            Ok(ExitCode::FAILURE)
        }
    }
}
