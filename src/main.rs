//! The `vigia` command line: parses arguments, loads configuration, starts logging and
//! calls into the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use vigia::app::App;
use vigia::auth::{create_person_token, create_token, Role};
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
    /// The audit trail of ticket changes.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Reports: a unit's monthly report.
    Report {
        #[command(subcommand)]
        command: vigia::report::cli::ReportCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the audit chain and report the first record altered or removed (exit 1), or
    /// print how many records verified and the head hash to keep outside the database.
    Verify,
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
    /// Create a token and print it once (only its hash is stored): for a person of the
    /// registry (`--person`), or for a source or bootstrap admin (`--name` and `--role`).
    Create {
        /// A person's login: the token carries their role, unit and tier.
        #[arg(long, conflicts_with_all = ["name", "role"], required_unless_present = "name")]
        person: Option<String>,
        /// What the token is for, e.g. `alertmanager-prod`.
        #[arg(long, requires = "role")]
        name: Option<String>,
        /// `monitor` (a source that sends alerts) or `admin` (the bootstrap administrator).
        #[arg(long, value_parser = parse_token_role)]
        role: Option<Role>,
    },
    /// Revoke a token by its id (`tok_…`).
    Revoke { id: String },
}

fn parse_token_role(text: &str) -> Result<Role, String> {
    match text.parse::<Role>() {
        Ok(role @ (Role::Monitor | Role::Admin)) => Ok(role),
        Ok(other) => Err(format!(
            "`{other}` tokens belong to people: use `--person LOGIN` (the role comes from the registry)"
        )),
        Err(e) => Err(e.to_string()),
    }
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
        Command::Token { command } => token(command, &config).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => audit_verify(&config).await,
        Command::Ci {
            command: CiCommand::Import { file, dry_run },
        } => ci_import(&config, &file, dry_run).await,
        Command::Report { command } => vigia::report::cli::run(command, &config).await,
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database.url, 1).await?;
    store.migrate().await?;
    Ok(store)
}

async fn token(command: TokenCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let store = open_store(config).await?;
    match command {
        TokenCommand::Create {
            person: Some(login),
            ..
        } => {
            // The one connection goes back to the pool before the token is written.
            let person = {
                let mut conn = store.pool().acquire().await?;
                vigia::store::people::contact(&mut conn, &login).await?
            };
            let Some(person) = person else {
                anyhow::bail!(
                    "no person `{login}` in the registry; import it first (`vigia ci import`)"
                );
            };
            let token = create_person_token(&store, &login, &login).await?;
            eprintln!(
                "token {} for `{login}` ({}, unit {}); it is shown only now:",
                token.id, person.role, person.unit
            );
            println!("{}", token.token);
        }
        TokenCommand::Create {
            name: Some(name),
            role: Some(role),
            ..
        } => {
            let token = create_token(&store, &name, role).await?;
            eprintln!("token for `{name}` ({role}); it is shown only now:");
            println!("{token}");
        }
        TokenCommand::Create { .. } => {
            anyhow::bail!("give `--person LOGIN`, or `--name` and `--role`")
        }
        TokenCommand::Revoke { id } => {
            let now = vigia::domain::to_millis(jiff::Timestamp::now());
            if !vigia::store::tokens::revoke(store.pool(), &id, now).await? {
                anyhow::bail!("no live token `{id}`");
            }
            println!("token {id} revoked");
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn audit_verify(config: &Config) -> anyhow::Result<ExitCode> {
    let store = open_store(config).await?;
    let result = vigia::desk::audit::verify(&store).await?;
    store.close().await;
    match result.broken {
        None => {
            println!(
                "audit chain intact: {} records; head {} {}",
                result.records, result.head_seq, result.head_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(broken) => {
            let ticket = broken
                .ticket_id
                .map(|t| format!(" (ticket {t})"))
                .unwrap_or_default();
            eprintln!(
                "audit chain broken at record {}{ticket}: {}",
                broken.seq, broken.reason
            );
            Ok(ExitCode::FAILURE)
        }
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
