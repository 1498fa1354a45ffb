//! Who is calling: access tokens verified locally against auth's JWKS with the
//! shared verifier and the deny-list (default), or by asking auth (RFC 7662
//! introspection, `business.token_validation = "introspect"`). Zero trust: the
//! gateway checks tokens too, and this service checks them again.

use std::time::Duration;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use platform::jwks::RemoteKeys;
use platform::revocation::DenyList;
use platform::tokens::{self, TokenError, Verifier};
use serde::Deserialize;
use url::Url;

use crate::State;
use crate::error::Error;

pub enum Authenticator {
    Local {
        verifier: Box<Verifier>,
        keys: RemoteKeys,
        deny: DenyList,
    },
    Introspect {
        client: reqwest::Client,
        url: Url,
        client_id: String,
        password: String,
    },
}

#[derive(Deserialize)]
struct Introspection {
    active: bool,
    sub: Option<String>,
}

impl Authenticator {
    /// The user id of a valid, unrevoked token (as it came in the header).
    pub async fn authenticate(&self, token: &[u8]) -> Result<String, Error> {
        match self {
            Self::Local {
                verifier,
                keys,
                deny,
            } => {
                let claims = match verifier.verify(token) {
                    Err(TokenError::UnknownKey) if keys.refresh_for_unknown_kid().await => {
                        verifier.verify(token)
                    }
                    other => other,
                }
                .map_err(|e| {
                    tracing::debug!(reason = %e, "access token refused");
                    Error::TokenInvalid
                })?;
                if deny
                    .is_revoked(&claims)
                    .await
                    .map_err(|_| Error::Unavailable("token"))?
                {
                    return Err(Error::TokenInvalid);
                }
                Ok(claims.sub.clone())
            }
            Self::Introspect {
                client,
                url,
                client_id,
                password,
            } => {
                let token = std::str::from_utf8(token).map_err(|_| Error::TokenInvalid)?;
                // Cheap local checks first: no network round trip for garbage.
                Verifier::key_id(token).map_err(|_| Error::TokenInvalid)?;
                let answer: Introspection = client
                    .post(url.clone())
                    .basic_auth(client_id, Some(password))
                    .form(&[("token", token)])
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| {
                        tracing::warn!(error = %e, "introspection failed");
                        Error::Unavailable("token")
                    })?
                    .json()
                    .await
                    .map_err(|_| Error::Unavailable("token"))?;
                match (answer.active, answer.sub) {
                    (true, Some(sub)) => Ok(sub),
                    _ => Err(Error::TokenInvalid),
                }
            }
        }
    }
}

/// A request with a valid access token: the caller's user id.
pub struct AuthUser(pub String);

impl FromRequestParts<State> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Error> {
        let token = tokens::from_authorization(&parts.headers)
            .map_err(|_| Error::TokenInvalid)?
            .ok_or(Error::TokenMissing)?;
        Ok(Self(state.inner.identity.authenticate(token).await?))
    }
}

/// Optional authentication: anonymous without a header, 401 with a bad one.
impl OptionalFromRequestParts<State> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Option<Self>, Error> {
        match tokens::from_authorization(&parts.headers).map_err(|_| Error::TokenInvalid)? {
            Some(token) => Ok(Some(Self(state.inner.identity.authenticate(token).await?))),
            None => Ok(None),
        }
    }
}
