//! Secrets: the file store used on one machine. Secrets live one per file in a
//! 0700 directory, each file 0600, base64url text. A missing secret can be
//! generated from the OS CSPRNG on first use; the write is atomic and never
//! replaces a secret another process created first.
//!
//! Envelope encryption of personal data with keys from here: [`crypto`].

pub mod crypto;

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("invalid secret name {0:?}: use a-z, 0-9, '-', '_' and '.'")]
    InvalidName(String),
    #[error("secret {name}: {source}")]
    Io {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("secret {0} is not valid base64url")]
    Corrupt(String),
    #[error("secret file {0} is readable by group or others; run chmod 600 on it")]
    TooOpen(PathBuf),
}

fn io_error(name: &str, source: std::io::Error) -> SecretsError {
    SecretsError::Io {
        name: name.to_owned(),
        source,
    }
}

/// Client id of the platform's internal services towards auth (introspection, profile lookup).
pub const SERVICE_CLIENT_ID: &str = "cloudsec-internal";
/// The secret (in the secrets provider) those internal clients authenticate with.
pub const SERVICE_CLIENT_SECRET: &str = "service-client-secret";

/// The internal client's password, as sent in HTTP Basic: the secret in base64url.
pub fn service_client_password(secrets: &FileSecrets) -> Result<String, SecretsError> {
    let secret = secrets.get_or_generate(SERVICE_CLIENT_SECRET, 32)?;
    Ok(URL_SAFE_NO_PAD.encode(secret.expose()))
}

/// Secret bytes; `Debug` never prints them.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The local file store (`secrets.provider = "file"`).
#[derive(Debug, Clone)]
pub struct FileSecrets {
    dir: PathBuf,
}

impl FileSecrets {
    /// Opens (creating with mode 0700 if needed) the store at `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> Result<PathBuf, SecretsError> {
        let valid = !name.is_empty()
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if valid {
            Ok(self.dir.join(name))
        } else {
            Err(SecretsError::InvalidName(name.to_owned()))
        }
    }

    /// Reads a secret; `None` when it does not exist.
    pub fn get(&self, name: &str) -> Result<Option<Secret>, SecretsError> {
        let path = self.path(name)?;
        let io = |source| io_error(name, source);
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(SecretsError::TooOpen(path));
        }
        let text = std::fs::read_to_string(&path).map_err(io)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| SecretsError::Corrupt(name.to_owned()))?;
        Ok(Some(Secret(bytes.into())))
    }

    /// Stores `value` under `name` unless it already exists; returns the value
    /// that is stored afterwards (the existing one if another writer won).
    pub fn put_new(&self, name: &str, value: &[u8]) -> Result<Secret, SecretsError> {
        let path = self.path(name)?;
        let file = self.staged(name, value)?;
        match file.persist_noclobber(&path) {
            Ok(_) => Ok(Secret(value.into())),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => self
                .get(name)?
                .ok_or_else(|| io_error(name, std::io::Error::other("vanished after creation"))),
            Err(e) => Err(io_error(name, e.error)),
        }
    }

    /// Replaces `name` atomically: readers see the old or the new value, never a mix.
    pub fn replace(&self, name: &str, value: &[u8]) -> Result<(), SecretsError> {
        let path = self.path(name)?;
        self.staged(name, value)?
            .persist(&path)
            .map(drop)
            .map_err(|e| io_error(name, e.error))
    }

    /// A fully written and synced 0600 temporary file in the store's directory.
    fn staged(&self, name: &str, value: &[u8]) -> Result<tempfile::NamedTempFile, SecretsError> {
        let io = |source| io_error(name, source);
        // tempfile creates the file 0600 before anything is written to it.
        let mut file = tempfile::NamedTempFile::new_in(&self.dir).map_err(io)?;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
        file.write_all(URL_SAFE_NO_PAD.encode(value).as_bytes())
            .map_err(io)?;
        file.as_file().sync_all().map_err(io)?;
        Ok(file)
    }

    /// Returns the secret, generating `len` random bytes on first use.
    pub fn get_or_generate(&self, name: &str, len: usize) -> Result<Secret, SecretsError> {
        if let Some(secret) = self.get(name)? {
            return Ok(secret);
        }
        let mut bytes = vec![0u8; len];
        rand::fill(&mut bytes[..]);
        self.put_new(name, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_persisted_private_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileSecrets::open(tmp.path().join("secrets")).unwrap();
        let first = store.get_or_generate("service-token", 32).unwrap();
        assert_eq!(first.expose().len(), 32);
        let mode = std::fs::metadata(store.dir().join("service-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(store.dir()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let reopened = FileSecrets::open(store.dir()).unwrap();
        let second = reopened.get_or_generate("service-token", 32).unwrap();
        assert_eq!(first.expose(), second.expose());
    }

    #[test]
    fn put_new_never_overwrites() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileSecrets::open(tmp.path()).unwrap();
        store.put_new("k", b"one").unwrap();
        let kept = store.put_new("k", b"two").unwrap();
        assert_eq!(kept.expose(), b"one");
    }

    #[test]
    fn replace_swaps_the_value() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileSecrets::open(tmp.path()).unwrap();
        store.put_new("k", b"one").unwrap();
        store.replace("k", b"two").unwrap();
        assert_eq!(store.get("k").unwrap().unwrap().expose(), b"two");
        let mode = std::fs::metadata(tmp.path().join("k"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn rejects_path_like_names_and_open_files() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileSecrets::open(tmp.path()).unwrap();
        assert!(matches!(
            store.get("../etc/passwd"),
            Err(SecretsError::InvalidName(_))
        ));
        store.put_new("k", b"v").unwrap();
        std::fs::set_permissions(tmp.path().join("k"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        assert!(matches!(store.get("k"), Err(SecretsError::TooOpen(_))));
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret(Arc::from(&b"hunter2"[..]));
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
