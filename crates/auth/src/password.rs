//! Passwords: the NIST 800-63B policy (length only, counted in characters,
//! no composition rules, optional common-password list) and Argon2id hashing.
//!
//! Hashing is deliberately expensive, so it runs on the blocking pool behind a
//! semaphore sized to the cores: a login flood queues here instead of
//! starving every other request of async worker threads.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .collect()
});

/// Length and common-password rules.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    min_chars: usize,
    max_chars: usize,
    reject_common: bool,
}

impl PasswordPolicy {
    pub fn new(config: &PasswordConfig) -> Self {
        if config.reject_common {
            LazyLock::force(&COMMON);
        }
        Self {
            min_chars: config.min_chars,
            max_chars: config.max_chars,
            reject_common: config.reject_common,
        }
    }

    /// The RealWorld-style message when `password` breaks the policy.
    pub fn check(&self, password: &str) -> Result<(), String> {
        let chars = password.chars().count();
        if chars == 0 {
            return Err("can't be blank".into());
        }
        if chars < self.min_chars {
            return Err(format!(
                "is too short (minimum is {} characters)",
                self.min_chars
            ));
        }
        if chars > self.max_chars {
            return Err(format!(
                "is too long (maximum is {} characters)",
                self.max_chars
            ));
        }
        if self.reject_common && COMMON.contains(password.to_lowercase().as_str()) {
            return Err("is too common".into());
        }
        Ok(())
    }
}

/// Argon2id hashing with bounded concurrency.
#[derive(Clone)]
pub struct PasswordHasherPool {
    argon2: Arc<Argon2<'static>>,
    permits: Arc<Semaphore>,
    /// Verified against when the account does not exist, so that an unknown
    /// email costs the same time as a wrong password.
    dummy: Arc<str>,
}

impl PasswordHasherPool {
    pub fn new(config: &PasswordConfig) -> anyhow::Result<Self> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("auth.password argon2 parameters: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon2
            .hash_password(b"not a real password", &salt)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            argon2: Arc::new(argon2),
            permits: Arc::new(Semaphore::new(cores)),
            dummy: dummy.into(),
        })
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let argon2 = self.argon2.clone();
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))
        })
        .await
    }

    /// Checks `password` against `stored` (a PHC string), or against a dummy
    /// hash when there is no account, always spending one Argon2 run.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let argon2 = self.argon2.clone();
        let exists = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.to_string());
        let matched = self
            .run(move || {
                let parsed =
                    PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
                Ok(argon2.verify_password(password.as_bytes(), &parsed).is_ok())
            })
            .await?;
        Ok(exists && matched)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        tokio::task::spawn_blocking(work)
            .await
            .context("hashing task")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(reject_common: bool) -> PasswordPolicy {
        PasswordPolicy::new(&PasswordConfig {
            reject_common,
            ..PasswordConfig::default()
        })
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let p = policy(false);
        assert_eq!(p.check("").unwrap_err(), "can't be blank");
        assert!(p.check("short7c").unwrap_err().contains("too short"));
        assert!(p.check("bonjour1").is_ok());
        // 8 characters, 24 bytes.
        assert!(p.check("éééééééé").is_ok());
        assert!(p.check("ü".repeat(7).as_str()).is_err());
        assert!(p.check(&"a".repeat(128)).is_ok());
        assert!(p.check(&"a".repeat(129)).unwrap_err().contains("too long"));
    }

    #[test]
    fn common_passwords_are_refused_when_switched_on() {
        assert_eq!(
            policy(true).check("Password123").unwrap_err(),
            "is too common"
        );
        assert!(policy(false).check("password123").is_ok());
        assert!(
            policy(true)
                .check("correct horse battery staple 42")
                .is_ok()
        );
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let pool = PasswordHasherPool::new(&PasswordConfig {
            argon2_memory_kib: 8192,
            argon2_iterations: 1,
            ..PasswordConfig::default()
        })
        .unwrap();
        let hash = pool.hash("hunter2hunter2".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"));
        assert!(
            pool.verify("hunter2hunter2".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify("wrong password".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify("not a real password".into(), None)
                .await
                .unwrap()
        );
    }
}
