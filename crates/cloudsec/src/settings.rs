//! The whole configuration schema of the binary: one TOML file / one set of
//! `CLOUDSEC_*` variables for every service. Documented in docs/configuration.md.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use platform::config::{
    ConfigError, ConfigErrors, RedisConfig, SecretsConfig, ServerConfig, TelemetryConfig, Validate,
};
use platform::context::Context;
use platform::secrets::FileSecrets;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// SQLite files and generated development secrets (`--data-dir`).
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub secrets: SecretsConfig,
    pub redis: RedisConfig,
    pub gateway: gateway::Config,
    pub auth: auth::Config,
    pub business: business::Config,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".cloudsec"),
            server: ServerConfig::default(),
            telemetry: TelemetryConfig::default(),
            secrets: SecretsConfig::default(),
            redis: RedisConfig::default(),
            gateway: gateway::Config::default(),
            auth: auth::Config::default(),
            business: business::Config::default(),
        }
    }
}

impl Validate for Settings {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.data_dir.as_os_str().is_empty() {
            errors.push(ConfigError::new("data_dir", "must not be empty"));
        }
        self.server.validate(errors);
        self.telemetry.validate(errors);
        self.secrets.validate(errors);
        self.redis.validate(errors);
        self.gateway.validate(errors);
        self.auth.validate(errors);
        self.business.validate(errors);
    }
}

/// Command-line flags that override configuration keys.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayOverrides>,
}

#[derive(Debug, Default, Serialize)]
pub struct GatewayOverrides {
    pub port: u16,
}

impl Settings {
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigErrors> {
        platform::config::load(file, overrides)
    }

    /// The secrets store (`secrets.file.dir`, default `<data_dir>/secrets`).
    pub fn secrets_store(&self) -> anyhow::Result<FileSecrets> {
        let dir = self
            .secrets
            .file
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secrets"));
        FileSecrets::open(&dir)
            .with_context(|| format!("secrets.file.dir: cannot open {}", dir.display()))
    }

    /// What the services share in this process.
    pub async fn context(&self, shutdown: CancellationToken) -> anyhow::Result<Context> {
        Context::new(
            self.data_dir.clone(),
            self.secrets_store()?,
            &self.redis,
            shutdown,
        )
        .await
    }

    /// The effective configuration as TOML, with credentials inside URLs masked.
    pub fn redacted_toml(&self) -> Result<String, toml::ser::Error> {
        let mut copy = self.clone();
        for url in [copy.auth.database_url.as_mut(), copy.redis.url.as_mut()]
            .into_iter()
            .flatten()
        {
            *url = redact_url_password(url);
        }
        toml::to_string_pretty(&copy)
    }
}

fn redact_url_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("REDACTED"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            redact_url_password("postgres://app:s3cret@db:5432/auth"),
            "postgres://app:REDACTED@db:5432/auth"
        );
        assert_eq!(redact_url_password("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn default_settings_validate() {
        let mut errors = Vec::new();
        Settings::default().validate(&mut errors);
        assert!(errors.is_empty(), "{errors:?}");
    }
}
