//! Configuration: embedded defaults, then an optional TOML file, then `VIGIA_*`
//! environment variables (`__` separates sections: `VIGIA_DATABASE__URL`). Validated on
//! load; every error names the key at fault. Nothing here writes files.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub rules: RulesConfig,
    pub intake: IntakeConfig,
    pub cmdb: CmdbConfig,
    pub priority: crate::pipeline::priority::PriorityConfig,
    pub desk: crate::desk::DeskConfig,
    pub sla: crate::sla::SlaConfig,
    pub notify: crate::notify::NotifyConfig,
    pub mailbox: crate::mailbox::MailboxConfig,
    pub chat: crate::chat::ChatConfig,
    pub kafka: crate::kafka::KafkaConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CmdbConfig {
    /// The central desk's unit: it triages incidents no CI owns.
    pub admin_unit: String,
}

impl Default for CmdbConfig {
    fn default() -> Self {
        CmdbConfig {
            admin_unit: "DINAFI".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Seconds in-flight requests get to finish on shutdown, and then the intake writer
    /// to drain its queue.
    pub shutdown_grace_secs: u64,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://FILE` (embedded) or `postgres://…` (production).
    pub url: String,
    pub max_connections: u32,
}

/// Database URLs may carry passwords: never print them whole.
impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// Most alerts written in one transaction (group commit).
    pub max_batch_alerts: usize,
    /// Requests waiting for the writer before new ones are refused with 503; bounds
    /// memory too (each holds its body).
    pub queue_depth: usize,
    /// Seconds between sweeps for events past their timeout or lease, and for held
    /// events to evaluate again when a maintenance window or silence ends.
    pub sweep_interval_secs: u64,
    /// Requests per second per source, per token and in all (429 over them).
    pub rate_limit: crate::ingest::limits::RateLimitConfig,
    /// Source name → its credentials (bearer tokens by default, or an HMAC signature).
    pub sources: std::collections::BTreeMap<String, crate::ingest::credentials::SourceAuth>,
    /// PagerDuty Events API v2 integrations: routing keys, their source and unit.
    pub pagerduty: crate::ingest::pagerduty::PagerDutyConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `vigia=debug,sqlx=warn`.
    pub level: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit: 1024 * 1024,
            shutdown_grace_secs: 10,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://vigia.db".to_owned(),
            max_connections: 8,
        }
    }
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            dir: PathBuf::from("rules"),
        }
    }
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            max_batch_alerts: 2000,
            queue_depth: 2000,
            sweep_interval_secs: 15,
            rate_limit: Default::default(),
            sources: Default::default(),
            pagerduty: Default::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Pretty,
            level: "info".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Read when present and no other file is named.
pub const DEFAULT_FILE: &str = "vigia.toml";

impl Config {
    /// Loads defaults, then `file` if given (else `./vigia.toml` if there is one), then
    /// the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let local = Path::new(DEFAULT_FILE);
        let file = file.or_else(|| local.is_file().then_some(local));
        // Only `VIGIA_SECTION__KEY` variables are settings: orchestrators add others with
        // the same prefix (Kubernetes sets `VIGIA_PORT` for a Service named `vigia`).
        let env = Env::prefixed("VIGIA_")
            .filter(|key| key.as_str().contains("__"))
            .split("__");
        Self::load_from(file, env)
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Invalid(describe_figment_error(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, why: &str| Err(ConfigError::Invalid(format!("`{key}` {why}")));
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return invalid("database.url", "must start with `sqlite:` or `postgres://`");
        }
        crate::sla::Policies::compile(&self.sla).map_err(ConfigError::Invalid)?;
        if self.database.max_connections == 0 {
            return invalid("database.max_connections", "must be at least 1");
        }
        if self.server.body_limit < 1024 {
            return invalid("server.body_limit", "must be at least 1024 bytes");
        }
        if self.intake.max_batch_alerts == 0 {
            return invalid("intake.max_batch_alerts", "must be at least 1");
        }
        if self.intake.queue_depth == 0 {
            return invalid("intake.queue_depth", "must be at least 1");
        }
        if self.intake.sweep_interval_secs == 0 {
            return invalid("intake.sweep_interval_secs", "must be at least 1");
        }
        crate::ingest::credentials::validate(&self.intake.sources).map_err(ConfigError::Invalid)?;
        self.intake
            .pagerduty
            .validate()
            .map_err(ConfigError::Invalid)?;
        if self.sla.metrics_refresh_secs == 0 {
            return invalid("sla.metrics_refresh_secs", "must be at least 1");
        }
        if self.sla.compliance_window_days == 0 {
            return invalid("sla.compliance_window_days", "must be at least 1");
        }
        if self.cmdb.admin_unit.trim().is_empty() {
            return invalid("cmdb.admin_unit", "must name the central desk's unit");
        }
        // Its only errors name a `notify.` key.
        if let Err(crate::notify::NotifyError::Config { key, reason }) = self.notify.validate() {
            return invalid(&key, &reason);
        }
        if let Err((key, reason)) = self.mailbox.validate() {
            return invalid(&key, &reason);
        }
        if let Err((key, reason)) = self.chat.validate() {
            return invalid(&key, &reason);
        }
        if let Err(crate::kafka::config::Invalid { key, reason }) = self.kafka.validate() {
            return invalid(&key, &reason);
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return invalid("log.level", "is not a valid tracing filter (try `info`)");
        }
        Ok(())
    }
}

/// Figment's messages already name the key and where it came from ("for key
/// `default.server.listen` in vigia.toml TOML file"); keep every one of them.
fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
// figment's `Jail` closures return its own (large) error type; that is its API.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_run_embedded_on_localhost() {
        Jail::expect_with(|_jail| {
            let config = Config::load(None).expect("defaults load");
            assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
            assert_eq!(config.database.url, "sqlite://vigia.db");
            assert_eq!(config.rules.dir, PathBuf::from("rules"));
            assert_eq!(config.server.body_limit, 1024 * 1024);
            Ok(())
        });
    }

    #[test]
    fn file_then_environment_override_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "v.toml",
                "[server]\nlisten = \"0.0.0.0:9000\"\nbody_limit = 2048\n",
            )?;
            jail.set_env("VIGIA_SERVER__BODY_LIMIT", "4096");
            let config = Config::load(Some(Path::new("v.toml"))).expect("loads");
            assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
            assert_eq!(config.server.body_limit, 4096);
            Ok(())
        });
    }

    #[test]
    fn unknown_and_bad_keys_are_named() {
        Jail::expect_with(|jail| {
            jail.create_file("v.toml", "[server]\nlisen = \"0.0.0.0:9000\"\n")?;
            let err = Config::load(Some(Path::new("v.toml"))).expect_err("typo refused");
            assert!(err.to_string().contains("lisen"), "{err}");

            jail.create_file("w.toml", "[server]\nlisten = \"nowhere\"\n")?;
            let err = Config::load(Some(Path::new("w.toml"))).expect_err("bad address refused");
            assert!(err.to_string().contains("server.listen"), "{err}");

            jail.set_env("VIGIA_PORT", "tcp://10.0.0.1:8080");
            assert!(
                Config::load(None).is_ok(),
                "non-setting VIGIA_ variables are ignored"
            );
            jail.set_env("VIGIA_DATABASE__URL", "mysql://x");
            let err = Config::load(None).expect_err("bad scheme refused");
            assert!(err.to_string().contains("database.url"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_vigia_toml_in_the_working_directory_is_read_without_being_named() {
        Jail::expect_with(|jail| {
            jail.create_file("vigia.toml", "[server]\nbody_limit = 4096\n")?;
            assert_eq!(Config::load(None).expect("loads").server.body_limit, 4096);
            Ok(())
        });
    }

    #[test]
    fn the_example_file_loads_and_states_the_defaults() {
        Jail::expect_with(|_jail| {
            let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("vigia.example.toml");
            let config = Config::load(Some(&example)).expect("the example loads");
            let defaults = Config::default();
            assert_eq!(config.priority, defaults.priority);
            assert_eq!(config.cmdb.admin_unit, defaults.cmdb.admin_unit);
            assert_eq!(
                config.intake.sweep_interval_secs,
                defaults.intake.sweep_interval_secs
            );
            assert_eq!(config.notify, defaults.notify);
            assert_eq!(config.desk, defaults.desk);
            assert_eq!(config.intake.rate_limit, defaults.intake.rate_limit);
            assert_eq!(config.sla, defaults.sla);
            assert_eq!(config.mailbox, defaults.mailbox);
            assert_eq!(config.chat, defaults.chat);
            assert_eq!(config.kafka, defaults.kafka);
            Ok(())
        });
    }

    #[test]
    fn an_enabled_telegram_bot_without_its_secret_is_refused_by_name() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "v.toml",
                "[chat.telegram]\nenabled = true\nbot_token = \"123:abc\"\n",
            )?;
            let err = Config::load(Some(Path::new("v.toml"))).expect_err("refused");
            assert!(
                err.to_string().contains("chat.telegram.secret_token"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn kafka_topics_and_settings_load_from_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "v.toml",
                r#"
[kafka]
group_id = "vigia-prod"
[[kafka.topics]]
topic = "monitoring.alerts"
source = "alertmanager"
[kafka.settings]
"bootstrap.servers" = "kafka-1:9093"
"security.protocol" = "sasl_ssl"
"#,
            )?;
            let config = Config::load(Some(Path::new("v.toml"))).expect("loads");
            assert_eq!(
                config.kafka.source_of("monitoring.alerts"),
                Some("alertmanager")
            );
            assert_eq!(config.kafka.settings["security.protocol"], "sasl_ssl");

            jail.create_file(
                "w.toml",
                "[[kafka.topics]]\ntopic = \"a\"\nsource = \"alertmanager\"\n",
            )?;
            let err = Config::load(Some(Path::new("w.toml"))).expect_err("no brokers");
            assert!(err.to_string().contains("bootstrap.servers"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/vigia.toml"))).expect_err("refused");
        assert!(matches!(err, ConfigError::MissingFile(_)));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://vigia.db"), "sqlite://vigia.db");
    }
}
