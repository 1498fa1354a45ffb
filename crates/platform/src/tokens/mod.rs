//! Access-token verification, shared by every service that accepts tokens.
//!
//! The platform's access tokens are JWTs signed with Ed25519 (`alg: EdDSA`),
//! `typ: at+jwt`, identified by `kid`. Verification is deliberately narrow
//! (RFC 8725): the header may contain exactly `alg`, `typ` and `kid`, so
//! `none`, HMAC or RSA confusion, `jku`/`x5u`/`jwk` key injection and `crit`
//! extensions are refused before any cryptography runs; the key comes only
//! from our own key set; `iss`, `aud`, `exp`, `nbf` are checked with a small
//! explicit leeway; oversized tokens are refused unread.
//!
//! The issuer's keys, when another service publishes them: [`jwks`]; the
//! deny-list of revoked sessions and tokens: [`revocation`]; both meet in
//! [`Gate`].

pub mod jwks;
pub mod revocation;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// The `typ` header of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// Longest token accepted; ours are ~400 bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 5;

/// Claims of a platform access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Token id, for revocation of this token.
    pub jti: String,
    /// Session id, for revocation of the whole session.
    pub sid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Why a token was refused. The variants are for logs and metrics; clients
/// only ever learn that the token is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token too large")]
    TooLarge,
    #[error("token malformed")]
    Malformed,
    #[error("token header not allowed: {0}")]
    Header(&'static str),
    #[error("unknown signing key")]
    UnknownKey,
    #[error("token rejected: {0}")]
    Rejected(String),
}

/// One public key as published in a JWKS (RFC 8037 OKP key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// base64url public key.
    pub x: String,
    pub kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    pub fn ed25519(kid: impl Into<String>, public_key: &[u8]) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(public_key),
            kid: kid.into(),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// The verification keys in force, replaceable while requests read them.
#[derive(Clone, Default)]
pub struct KeySet(Arc<ArcSwap<Keys>>);

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    /// `kid:x` of every key, sorted: what the set is.
    fingerprint: Vec<String>,
    /// Bumped whenever the set changes; verification results cached under
    /// an older generation are void.
    generation: u64,
}

impl KeySet {
    /// Replaces the keys with the Ed25519 keys of `jwks`; other key types are
    /// ignored, so a key can never be used with an algorithm it was not made for.
    pub fn replace(&self, jwks: &Jwks) {
        let usable: Vec<&Jwk> = jwks
            .keys
            .iter()
            .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
            .filter(|k| URL_SAFE_NO_PAD.decode(&k.x).is_ok_and(|x| x.len() == 32))
            .collect();
        let mut fingerprint: Vec<String> = usable
            .iter()
            .map(|k| format!("{}:{}", k.kid, k.x))
            .collect();
        fingerprint.sort_unstable();
        let current = self.0.load();
        if current.fingerprint == fingerprint && !fingerprint.is_empty() {
            return;
        }
        let by_kid = usable
            .iter()
            .filter_map(|k| {
                DecodingKey::from_ed_components(&k.x)
                    .ok()
                    .map(|d| (k.kid.clone(), d))
            })
            .collect();
        self.0.store(Arc::new(Keys {
            by_kid,
            fingerprint,
            generation: current.generation + 1,
        }));
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.0.load().by_kid.contains_key(kid)
    }
}

/// What the platform's access tokens must say: the auth service's `iss` and `aud`.
#[derive(Debug, Clone)]
pub struct Expectations {
    pub issuer: String,
    pub audience: String,
}

/// Verifies access tokens for one issuer and audience.
///
/// Successful verifications are remembered (the whole token compared) so
/// that a client sending the same token on every request costs one
/// signature check, not one per request. A remembered result is only used
/// while its `exp` has not passed, for at most [`VERIFIED_TTL_SECS`], and
/// while the key set is the one it was verified under (any change —
/// rotation, removal — voids it). Revocation is not remembered: callers
/// consult the deny-list on every request.
#[derive(Clone)]
pub struct Verifier {
    keys: KeySet,
    validation: Arc<Validation>,
    /// Tells this verifier's (and its clones') results from another's in
    /// the threads' caches.
    id: u64,
    /// Seeded per verifier: hashes the end of a token for the cache.
    hasher: foldhash::fast::RandomState,
}

#[derive(Clone)]
struct Verified {
    token: Arc<str>,
    claims: Arc<AccessClaims>,
    generation: u64,
    /// Unix seconds after which the result is not used: `exp` (with the
    /// leeway) or [`VERIFIED_TTL_SECS`] after the check, whichever is sooner.
    until: i64,
}

/// Distinct tokens remembered per thread (about 0.5 KiB each); when full,
/// all are forgotten together.
const VERIFIED_PER_THREAD: usize = 4_096;
/// Upper bound on how long a verification result is reused.
const VERIFIED_TTL_SECS: i64 = 300;
/// Bytes at the end of a token (its signature's) hashed for the cache; the
/// whole token is compared anyway (docs/performance.md, "Verified tokens, per thread").
const HASHED_TAIL: usize = 32;

static NEXT_VERIFIER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// The verifications this thread remembers, by verifier and the hash
    /// of the token's end. Per thread rather than one shared cache: a hit
    /// takes no lock, no atomic and no shared cache line; each thread
    /// checks a token's signature once (docs/performance.md).
    static VERIFIED: std::cell::RefCell<HashMap<(u64, u64), Verified, foldhash::fast::RandomState>> =
        std::cell::RefCell::new(HashMap::default());
}

impl Verifier {
    pub fn new(issuer: &str, audience: &str, keys: KeySet) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self {
            keys,
            validation: Arc::new(validation),
            id: NEXT_VERIFIER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The `kid` a token names, after the header checks; for key refresh on a miss.
    pub fn key_id(token: &str) -> Result<String, TokenError> {
        check_header(token)
    }

    /// The token's claims, shared with the cache rather than copied. The
    /// token as the header carried it: bytes that are not UTF-8 are
    /// [`TokenError::Malformed`].
    pub fn verify(&self, token: impl AsRef<[u8]>) -> Result<Arc<AccessClaims>, TokenError> {
        use std::hash::BuildHasher as _;
        let keys = self.keys.0.load();
        let tail = token.as_ref();
        let key = (
            self.id,
            self.hasher
                .hash_one(&tail[tail.len().saturating_sub(HASHED_TAIL)..]),
        );
        let now = now_secs();
        let hit = VERIFIED.with_borrow(|verified| {
            verified
                .get(&key)
                .filter(|hit| {
                    hit.generation == keys.generation
                        && hit.until > now
                        && hit.token.as_bytes() == token.as_ref()
                })
                .map(|hit| hit.claims.clone())
        });
        if let Some(claims) = hit {
            return Ok(claims);
        }
        let token = std::str::from_utf8(token.as_ref()).map_err(|_| TokenError::Malformed)?;
        let kid = check_header(token)?;
        let key_of_kid = keys.by_kid.get(&kid).ok_or(TokenError::UnknownKey)?;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, key_of_kid, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Rejected(e.to_string()))?;
        let claims = Arc::new(claims);
        let verified = Verified {
            token: Arc::from(token),
            claims: claims.clone(),
            generation: keys.generation,
            until: (claims.exp + LEEWAY_SECS.cast_signed()).min(now + VERIFIED_TTL_SECS),
        };
        VERIFIED.with_borrow_mut(|cache| {
            if cache.len() >= VERIFIED_PER_THREAD {
                cache.clear();
            }
            cache.insert(key, verified);
        });
        Ok(claims)
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().cast_signed())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// Checks size, shape and header; returns the `kid`.
fn check_header(token: &str) -> Result<String, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(TokenError::Malformed);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    let value: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed)?;
    if let Some(object) = value.as_object() {
        for forbidden in ["jku", "x5u", "jwk", "x5c", "crit"] {
            if object.contains_key(forbidden) {
                return Err(TokenError::Header(forbidden));
            }
        }
    }
    let header: Header =
        serde_json::from_value(value).map_err(|_| TokenError::Header("unexpected field"))?;
    if header.alg != "EdDSA" {
        return Err(TokenError::Header("alg"));
    }
    if !(header.typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
        || header.typ.eq_ignore_ascii_case("application/at+jwt"))
    {
        return Err(TokenError::Header("typ"));
    }
    if header.kid.is_empty() || header.kid.len() > 128 {
        return Err(TokenError::Header("kid"));
    }
    Ok(header.kid)
}

/// The one token check, used by every service: verify the token (asking
/// for the issuer's keys again, rate-limited, when its key is unknown), then
/// the deny-list. Every service answers a [`Refusal`] the same way.
pub struct Gate {
    verifier: Verifier,
    /// The issuer's published keys, when they come from another service
    /// (the gateway, business); the issuer itself has its own at hand.
    remote: Option<crate::tokens::jwks::RemoteKeys>,
    deny: crate::tokens::revocation::DenyList,
}

/// Why a request's token was refused, and the one answer every service
/// gives for it (RealWorld's error body, with the RFC 6750 challenge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No token where one is required: 401.
    #[error("token missing")]
    Missing,
    /// Malformed, forged, expired, out of policy or revoked: 401.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token could not be checked (deny-list or introspection down):
    /// 503, as a revoked token must not pass.
    #[error("token check unavailable: {0}")]
    Unavailable(String),
}

impl From<TokenError> for Refusal {
    fn from(e: TokenError) -> Self {
        Self::Invalid(e.to_string())
    }
}

impl axum::response::IntoResponse for Refusal {
    fn into_response(self) -> axum::response::Response {
        use http::StatusCode;
        let (status, message, challenge) = match &self {
            Self::Missing => (StatusCode::UNAUTHORIZED, "is missing", Some("Bearer")),
            Self::Invalid(reason) => {
                tracing::info!(%reason, "access token refused");
                (
                    StatusCode::UNAUTHORIZED,
                    "is invalid",
                    Some(r#"Bearer error="invalid_token""#),
                )
            }
            Self::Unavailable(reason) => {
                tracing::error!(%reason, "access token could not be checked");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily unavailable",
                    None,
                )
            }
        };
        let mut response =
            crate::http::problem::RealWorldErrors::one("token", message).into_response_with(status);
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl Gate {
    pub fn new(
        verifier: Verifier,
        remote: Option<crate::tokens::jwks::RemoteKeys>,
        deny: crate::tokens::revocation::DenyList,
    ) -> Self {
        Self {
            verifier,
            remote,
            deny,
        }
    }

    /// The claims of a valid, unrevoked token.
    pub async fn check(&self, token: &[u8]) -> Result<Arc<AccessClaims>, Refusal> {
        let verified = match self.verifier.verify(token) {
            // Boxed, as rare: the refresh's HTTP call would otherwise size every check's future.
            Err(TokenError::UnknownKey) => match &self.remote {
                Some(remote) if Box::pin(remote.refresh_for_unknown_kid()).await => {
                    self.verifier.verify(token)
                }
                _ => Err(TokenError::UnknownKey),
            },
            other => other,
        };
        let claims = verified?;
        match self.deny.is_revoked(&claims).await {
            Ok(false) => Ok(claims),
            Ok(true) => Err(Refusal::Invalid("revoked".to_owned())),
            Err(e) => Err(Refusal::Unavailable(e.to_string())),
        }
    }
}

/// The token of an `Authorization: Token <jwt>` (RealWorld) or
/// `Authorization: Bearer <jwt>` header. `Ok(None)`: no such header;
/// `Err`: a header that is not one of those two forms. The token comes as
/// bytes: a token this thread has verified before is compared as bytes, and
/// only a new one is read as text ([`Verifier::verify`]); a UTF-8 check of
/// every token was a tenth of the edge token check on a cache hit.
pub fn from_authorization(headers: &http::HeaderMap) -> Result<Option<&[u8]>, TokenError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let mut parts = value.as_bytes().splitn(2, |&b| b == b' ');
    let (Some(scheme), Some(token)) = (parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let token = token.trim_ascii();
    if (scheme.eq_ignore_ascii_case(b"token") || scheme.eq_ignore_ascii_case(b"bearer"))
        && !token.is_empty()
    {
        Ok(Some(token))
    } else {
        Err(TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

    fn key_pair() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    fn token(pair: &Ed25519KeyPair, kid: &str, exp_in: i64) -> String {
        let now = now_secs();
        let claims = serde_json::json!({
            "iss": "iss", "aud": "aud", "sub": "user", "jti": "j", "sid": "s",
            "iat": now, "nbf": now, "exp": now + exp_in,
        });
        let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = pair.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    fn jwks(keys: &[(&str, &Ed25519KeyPair)]) -> Jwks {
        Jwks {
            keys: keys
                .iter()
                .map(|(kid, pair)| Jwk::ed25519(*kid, pair.public_key().as_ref()))
                .collect(),
        }
    }

    /// A verifier that knows `pair`'s public key as `k`.
    fn verifier_of(pair: &Ed25519KeyPair) -> Verifier {
        let keys = KeySet::default();
        keys.replace(&jwks(&[("k", pair)]));
        Verifier::new("iss", "aud", keys)
    }

    #[tokio::test]
    async fn the_gate_lets_valid_tokens_through_and_refuses_revoked_ones() {
        let pair = key_pair();
        let deny = crate::tokens::revocation::DenyList::new(None);
        let gate = Gate::new(verifier_of(&pair), None, deny.clone());
        let valid = token(&pair, "k", 60);
        let claims = gate.check(valid.as_bytes()).await.unwrap();
        assert_eq!(claims.sub, "user");

        let forged = token(&key_pair(), "k", 60);
        assert!(matches!(
            gate.check(forged.as_bytes()).await,
            Err(Refusal::Invalid(_))
        ));
        let unknown_key = token(&pair, "other", 60);
        assert!(matches!(
            gate.check(unknown_key.as_bytes()).await,
            Err(Refusal::Invalid(_))
        ));

        // Revoked after it was let through once (and remembered as verified).
        deny.deny_session("s", std::time::Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            gate.check(valid.as_bytes()).await.unwrap_err(),
            Refusal::Invalid("revoked".to_owned())
        );
    }

    #[tokio::test]
    async fn every_refusal_has_one_answer_and_never_echoes_its_reason() {
        use axum::response::IntoResponse;
        let cases = [
            (Refusal::Missing, 401, "is missing", Some("Bearer")),
            (
                Refusal::Invalid("signature mismatch".to_owned()),
                401,
                "is invalid",
                Some(r#"Bearer error="invalid_token""#),
            ),
            (
                Refusal::Unavailable("redis: connection refused".to_owned()),
                503,
                "temporarily unavailable",
                None,
            ),
        ];
        for (refusal, status, message, challenge) in cases {
            let response = refusal.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response
                    .headers()
                    .get(http::header::WWW_AUTHENTICATE)
                    .map(|v| v.to_str().unwrap()),
                challenge
            );
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body, serde_json::json!({"errors": {"token": [message]}}));
        }
    }

    #[test]
    fn a_cached_verification_dies_with_its_key() {
        let (old, new) = (key_pair(), key_pair());
        let keys = KeySet::default();
        keys.replace(&jwks(&[("old", &old), ("new", &new)]));
        let verifier = Verifier::new("iss", "aud", keys.clone());
        let t = token(&old, "old", 900);
        assert_eq!(verifier.verify(&t).unwrap().sub, "user");
        assert_eq!(verifier.verify(&t).unwrap().sub, "user");
        // The same set again (a periodic refresh) keeps the cache.
        let generation = keys.0.load().generation;
        keys.replace(&jwks(&[("new", &new), ("old", &old)]));
        assert_eq!(keys.0.load().generation, generation);
        // The old key withdrawn: its tokens fail at once, cached or not.
        keys.replace(&jwks(&[("new", &new)]));
        assert_eq!(verifier.verify(&t), Err(TokenError::UnknownKey));
        assert!(verifier.verify(token(&new, "new", 900)).is_ok());
    }

    #[test]
    fn a_cached_verification_ends_at_exp() {
        let pair = key_pair();
        let verifier = verifier_of(&pair);
        // Valid now only thanks to the leeway, which runs out within two seconds.
        let t = token(&pair, "k", -(LEEWAY_SECS.cast_signed()) + 1);
        assert!(verifier.verify(&t).is_ok());
        std::thread::sleep(std::time::Duration::from_millis(2200));
        assert!(matches!(verifier.verify(&t), Err(TokenError::Rejected(_))));
    }

    #[test]
    fn a_verification_remembered_for_one_verifier_is_not_taken_by_another() {
        let pair = key_pair();
        let keys = KeySet::default();
        keys.replace(&jwks(&[("k", &pair)]));
        let ours = Verifier::new("iss", "aud", keys.clone());
        let elsewhere = Verifier::new("iss", "another-audience", keys);
        let t = token(&pair, "k", 900);
        // Same thread, same token: the second verifier judges it by its own rules.
        assert!(ours.verify(&t).is_ok());
        assert!(matches!(elsewhere.verify(&t), Err(TokenError::Rejected(_))));
        assert!(
            ours.clone().verify(&t).is_ok(),
            "a clone shares its results"
        );
    }

    #[test]
    fn failures_are_not_cached_and_forgeries_stay_forgeries() {
        let (pair, other) = (key_pair(), key_pair());
        let verifier = verifier_of(&pair);
        let good = token(&pair, "k", 900);
        assert!(verifier.verify(&good).is_ok());
        // Same header and claims, another key's signature: a different token string.
        let forged = token(&other, "k", 900);
        assert!(verifier.verify(&forged).is_err());
        assert!(verifier.verify(&forged).is_err());
    }

    #[test]
    fn the_authorization_header_gives_the_token_of_either_scheme_only() {
        let pair = key_pair();
        let verifier = verifier_of(&pair);
        let t = token(&pair, "k", 900);
        let with = |value: &[u8]| {
            let mut headers = http::HeaderMap::new();
            let value = http::HeaderValue::from_bytes(value).unwrap();
            headers.insert(http::header::AUTHORIZATION, value);
            headers
        };
        for scheme in ["Token", "Bearer", "bearer"] {
            let headers = with(format!("{scheme} {t}").as_bytes());
            let found = from_authorization(&headers).unwrap().unwrap();
            assert_eq!(verifier.verify(found).unwrap().sub, "user");
        }
        assert_eq!(from_authorization(&http::HeaderMap::new()), Ok(None));
        for malformed in [&b"Basic dXNlcjpwdw=="[..], b"Token", b"Token  "] {
            assert_eq!(
                from_authorization(&with(malformed)),
                Err(TokenError::Malformed),
                "{}",
                String::from_utf8_lossy(malformed)
            );
        }
        // Text that is not base64url, or bytes that are not UTF-8, get past
        // the header parsing, not the verifier.
        let headers = with(format!("Token \u{e9}{t}").as_bytes());
        let found = from_authorization(&headers).unwrap().unwrap();
        assert_eq!(verifier.verify(found), Err(TokenError::Malformed));
        let headers = with(b"Token \xff\xfe");
        let found = from_authorization(&headers).unwrap().unwrap();
        assert_eq!(verifier.verify(found), Err(TokenError::Malformed));
    }
}
