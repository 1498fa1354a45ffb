//! Configuration: one schema, layered `defaults < TOML file < CLOUDSEC_* env < CLI flags`.
//!
//! TOML sections map to env prefixes: `[auth.password] reject_common` is
//! `CLOUDSEC_AUTH__PASSWORD__REJECT_COMMON`. Every schema struct denies unknown
//! fields, so a typo fails at start instead of being silently ignored, and every
//! error names the key (and where the bad value came from).

use std::fmt;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Source};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

/// Prefix of every environment variable that sets a configuration key.
pub const ENV_PREFIX: &str = "CLOUDSEC_";
/// `CLOUDSEC_*` variables that are read by the command line, not by the schema.
const CLI_ONLY_ENV: &[&str] = &["config"];

/// A configuration problem, always tied to the key that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key, e.g. `gateway.port`.
    pub key: String,
    pub message: String,
    /// Where the offending value came from (file or env var), when known.
    pub origin: Option<String>,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
            origin: None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}`: {}", self.key, self.message)?;
        if let Some(origin) = &self.origin {
            write!(f, " ({origin})")?;
        }
        Ok(())
    }
}

/// All problems found while loading, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

/// Semantic checks that serde cannot express (ranges, combinations).
pub trait Validate {
    fn validate(&self, errors: &mut Vec<ConfigError>);
}

/// The environment variable that sets `key` (`gateway.port` → `CLOUDSEC_GATEWAY__PORT`).
pub fn env_var_for(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_uppercase().replace('.', "__"))
}

/// The `CLOUDSEC_*` variables that set `key` or keys below it, e.g. an unknown
/// section `no_such` is reported as the variable `CLOUDSEC_NO_SUCH__KEY`.
fn env_vars_under(key: &str) -> String {
    let exact = env_var_for(key);
    let nested = format!("{exact}__");
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| {
            name.eq_ignore_ascii_case(&exact) || name.to_uppercase().starts_with(&nested)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        exact
    } else {
        names.join(", ")
    }
}

/// Loads `T` from its defaults, an optional TOML file, `CLOUDSEC_*` env vars and
/// finally `overrides` (command-line flags, already shaped like the schema).
pub fn load<T>(file: Option<&Path>, overrides: impl Serialize) -> Result<T, ConfigErrors>
where
    T: DeserializeOwned + Validate,
{
    let mut figment = Figment::new();
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ConfigError::new(
                "--config",
                format!("file {} does not exist", path.display()),
            )
            .into());
        }
        figment = figment.merge(Toml::file(path));
    }
    figment = figment
        .merge(Env::prefixed(ENV_PREFIX).split("__").ignore(CLI_ONLY_ENV))
        .merge(Serialized::defaults(overrides));
    let value: T = figment.extract().map_err(from_figment)?;
    let mut errors = Vec::new();
    value.validate(&mut errors);
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn from_figment(error: figment::Error) -> ConfigErrors {
    ConfigErrors(
        error
            .into_iter()
            .map(|e| {
                let mut path = e.path.clone();
                // Figment usually puts the unknown field in the path already.
                if let figment::error::Kind::UnknownField(field, _) = &e.kind
                    && path.last() != Some(field)
                {
                    path.push(field.clone());
                }
                let key = path.join(".");
                let origin = e.metadata.as_ref().map(|m| match &m.source {
                    Some(Source::File(file)) => format!("in {}", file.display()),
                    _ if m.name.contains("environment") => {
                        format!("from env {}", env_vars_under(&key))
                    }
                    _ => format!("from {}", m.name),
                });
                ConfigError {
                    key,
                    message: e.kind.to_string(),
                    origin,
                }
            })
            .collect(),
    )
}

/// Logs and traces. Section `[telemetry]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `tracing` filter directive, e.g. `info` or `info,cloudsec_gateway=debug`.
    pub log_level: String,
    pub log_format: LogFormat,
    /// OTLP/HTTP collector base URL (e.g. `http://127.0.0.1:4318`); unset: no export.
    pub otlp_endpoint: Option<Url>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_level: "info".into(),
            log_format: LogFormat::Json,
            otlp_endpoint: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

impl Validate for TelemetryConfig {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            errors.push(ConfigError::new("telemetry.log_level", e.to_string()));
        }
        if let Some(url) = &self.otlp_endpoint
            && !matches!(url.scheme(), "http" | "https")
        {
            errors.push(ConfigError::new(
                "telemetry.otlp_endpoint",
                "must be an http:// or https:// URL",
            ));
        }
    }
}

/// HTTP serving shared by every service. Section `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            shutdown_grace_secs: 10,
        }
    }
}

impl Validate for ServerConfig {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if !(1..=300).contains(&self.shutdown_grace_secs) {
            errors.push(ConfigError::new(
                "server.shutdown_grace_secs",
                "must be between 1 and 300",
            ));
        }
    }
}

/// Shared Redis for the deny-list and counters across services and replicas.
/// Section `[redis]`; no URL: everything stays in-process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS).
    pub url: Option<String>,
    /// Prefix of every key CloudSec writes, so several deployments can share one Redis.
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "cloudsec:".into(),
        }
    }
}

impl Validate for RedisConfig {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if let Some(url) = &self.url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            errors.push(ConfigError::new(
                "redis.url",
                "must be a redis:// or rediss:// URL",
            ));
        }
    }
}

/// Where secrets come from. Section `[secrets]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    pub provider: SecretsProvider,
    pub file: FileSecretsConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretsProvider {
    /// Files in a 0700 directory, generated on first use (0600).
    #[default]
    File,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileSecretsConfig {
    /// Directory of the file store; default `<data_dir>/secrets`.
    pub dir: Option<PathBuf>,
}

impl Validate for SecretsConfig {
    fn validate(&self, _errors: &mut Vec<ConfigError>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Schema {
        telemetry: TelemetryConfig,
        server: ServerConfig,
    }

    impl Validate for Schema {
        fn validate(&self, errors: &mut Vec<ConfigError>) {
            self.telemetry.validate(errors);
            self.server.validate(errors);
        }
    }

    fn load_toml(toml: &str) -> Result<Schema, ConfigErrors> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).unwrap();
        load::<Schema>(Some(&path), serde_json::json!({}))
    }

    #[test]
    fn env_var_names_follow_sections() {
        assert_eq!(
            env_var_for("auth.password.reject_common"),
            "CLOUDSEC_AUTH__PASSWORD__REJECT_COMMON"
        );
    }

    #[test]
    fn bad_value_names_key_and_file() {
        let err = load_toml("[server]\nshutdown_grace_secs = \"soon\"\n").unwrap_err();
        assert_eq!(err.0[0].key, "server.shutdown_grace_secs");
        assert!(
            err.0[0].origin.as_deref().unwrap().contains("c.toml"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load_toml("[server]\nshutdown_grace = 3\n").unwrap_err();
        assert_eq!(err.0[0].key, "server.shutdown_grace");
    }

    #[test]
    fn out_of_range_is_named() {
        let err = load_toml("[server]\nshutdown_grace_secs = 0\n").unwrap_err();
        assert_eq!(err.0[0].key, "server.shutdown_grace_secs");
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = load::<Schema>(
            Some(Path::new("/nonexistent/x.toml")),
            serde_json::json!({}),
        )
        .unwrap_err();
        assert_eq!(err.0[0].key, "--config");
    }

    #[test]
    fn defaults_apply() {
        let cfg = load_toml("").unwrap();
        assert_eq!(cfg.server.shutdown_grace_secs, 10);
        assert_eq!(cfg.telemetry.log_format, LogFormat::Json);
    }
}
