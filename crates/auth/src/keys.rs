//! Access-token signing keys. Several live at once in the secrets provider
//! (one secret, a JSON list): the newest signs, the older ones stay published
//! in the JWKS until every token they signed has expired. `cloudsec keys
//! rotate` adds a key; running services re-read the list every few seconds, so
//! a rotation takes effect without a restart.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::secrets::FileSecrets;
use platform::tokens::{AccessClaims, Jwk, Jwks, KeySet};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// Name of the secret holding the key list.
pub const SECRET: &str = "auth-signing-keys";
const RELOAD_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// Unix seconds.
    created_at: i64,
    /// PKCS#8 document, base64url.
    pkcs8: String,
}

struct Loaded {
    kid: String,
    encoding: EncodingKey,
    jwks: Jwks,
    /// The raw secret, to notice changes cheaply.
    raw: Vec<u8>,
}

/// The signing key in force and the public keys to publish.
#[derive(Clone)]
pub struct SigningKeys {
    store: FileSecrets,
    loaded: Arc<ArcSwap<Loaded>>,
    /// Verification keys, kept equal to the published JWKS.
    verify: KeySet,
}

impl SigningKeys {
    /// Loads the keys, generating the first one on first start.
    pub fn open(store: FileSecrets) -> anyhow::Result<Self> {
        if store.get(SECRET)?.is_none() {
            let first = serde_json::to_vec(&vec![new_key()?])?;
            store.put_new(SECRET, &first)?;
        }
        let raw = read(&store)?;
        let loaded = parse(raw)?;
        let verify = KeySet::default();
        verify.replace(&loaded.jwks);
        Ok(Self {
            store,
            loaded: Arc::new(ArcSwap::from_pointee(loaded)),
            verify,
        })
    }

    pub fn jwks(&self) -> Jwks {
        self.loaded.load().jwks.clone()
    }

    pub fn verification_keys(&self) -> KeySet {
        self.verify.clone()
    }

    /// Signs `claims` with the newest key.
    pub fn sign(&self, claims: &AccessClaims) -> anyhow::Result<String> {
        let loaded = self.loaded.load();
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(platform::tokens::ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(loaded.kid.clone());
        jsonwebtoken::encode(&header, claims, &loaded.encoding).context("signing access token")
    }

    /// Re-reads the key list when it changed.
    pub fn reload(&self) -> anyhow::Result<()> {
        let raw = read(&self.store)?;
        if raw != self.loaded.load().raw {
            let loaded = parse(raw)?;
            tracing::info!(kid = %loaded.kid, keys = loaded.jwks.keys.len(), "signing keys reloaded");
            self.verify.replace(&loaded.jwks);
            self.loaded.store(Arc::new(loaded));
        }
        Ok(())
    }

    /// Reloads every few seconds until `shutdown`.
    pub fn watch(&self, shutdown: CancellationToken) {
        let keys = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(RELOAD_EVERY);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                let keys = keys.clone();
                match tokio::task::spawn_blocking(move || keys.reload()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(
                        error = format!("{e:#}"),
                        "cannot reload signing keys; keeping the current ones"
                    ),
                    Err(e) => tracing::error!(error = %e, "signing key reload task failed"),
                }
            }
        });
    }
}

/// Adds a new signing key and drops keys that have been superseded for longer
/// than `retain` (the longest access-token lifetime plus leeway): nothing they
/// signed is still valid. Returns the new key id.
pub fn rotate(store: &FileSecrets, retain: Duration) -> anyhow::Result<String> {
    let mut keys: Vec<StoredKey> = match store.get(SECRET)? {
        Some(raw) => serde_json::from_slice(raw.expose()).context("parsing signing keys")?,
        None => Vec::new(),
    };
    keys.sort_by_key(|k| k.created_at);
    let new = new_key()?;
    let now = new.created_at;
    let retain = i64::try_from(retain.as_secs()).unwrap_or(i64::MAX);
    // A key is needed while it is the newest, or while its successor is younger than `retain`.
    let successors: Vec<i64> = keys
        .iter()
        .skip(1)
        .map(|k| k.created_at)
        .chain([now])
        .collect();
    let mut kept: Vec<StoredKey> = keys
        .into_iter()
        .zip(successors)
        .filter(|(_, superseded_at)| now - superseded_at < retain)
        .map(|(k, _)| k)
        .collect();
    let kid = new.kid.clone();
    kept.push(new);
    store.replace(SECRET, &serde_json::to_vec(&kept)?)?;
    Ok(kid)
}

/// `(kid, created_at)` of every stored key, oldest first; no key material.
pub fn list(store: &FileSecrets) -> anyhow::Result<Vec<(String, i64)>> {
    let Some(raw) = store.get(SECRET)? else {
        return Ok(Vec::new());
    };
    let mut keys: Vec<StoredKey> =
        serde_json::from_slice(raw.expose()).context("parsing signing keys")?;
    keys.sort_by_key(|k| k.created_at);
    Ok(keys.into_iter().map(|k| (k.kid, k.created_at)).collect())
}

/// How long a superseded key stays published: every token it signed must
/// have expired, and verifiers' cached JWKS must have been refreshed.
pub fn retention(config: &crate::Config) -> Duration {
    Duration::from_secs(config.access_token_ttl_secs + 120)
}

fn new_key() -> anyhow::Result<StoredKey> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("generating an Ed25519 key"))?;
    Ok(StoredKey {
        kid: uuid::Uuid::now_v7().simple().to_string(),
        created_at: crate::clock::now(),
        pkcs8: URL_SAFE_NO_PAD.encode(pkcs8.as_ref()),
    })
}

fn read(store: &FileSecrets) -> anyhow::Result<Vec<u8>> {
    Ok(store
        .get(SECRET)?
        .with_context(|| format!("secret {SECRET} is missing"))?
        .expose()
        .to_vec())
}

fn parse(raw: Vec<u8>) -> anyhow::Result<Loaded> {
    let mut keys: Vec<StoredKey> = serde_json::from_slice(&raw).context("parsing signing keys")?;
    keys.sort_by_key(|k| k.created_at);
    let newest = keys.last().context("no signing key")?;
    let mut jwks = Jwks::default();
    let mut encoding = None;
    for key in &keys {
        let der = URL_SAFE_NO_PAD
            .decode(&key.pkcs8)
            .context("signing key encoding")?;
        let pair = Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|_| anyhow::anyhow!("signing key {} is not an Ed25519 PKCS#8 key", key.kid))?;
        jwks.keys
            .push(Jwk::ed25519(&key.kid, pair.public_key().as_ref()));
        if key.kid == newest.kid {
            encoding = Some(EncodingKey::from_ed_der(&der));
        }
    }
    Ok(Loaded {
        kid: newest.kid.clone(),
        encoding: encoding.context("no signing key")?,
        jwks,
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_recent_predecessors_and_signs_with_the_newest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileSecrets::open(tmp.path()).unwrap();
        let keys = SigningKeys::open(store.clone()).unwrap();
        let first = keys.jwks().keys[0].kid.clone();
        let second = rotate(&store, Duration::from_secs(900)).unwrap();
        keys.reload().unwrap();
        let published: Vec<String> = keys.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(published, vec![first.clone(), second.clone()]);
        assert_eq!(keys.loaded.load().kid, second);
        // With no retention the superseded key goes at the next rotation.
        let third = rotate(&store, Duration::ZERO).unwrap();
        keys.reload().unwrap();
        let published: Vec<String> = keys.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(published, vec![third]);
    }
}
