//! Who is calling: access tokens verified locally against auth's JWKS with the
//! shared verifier and the deny-list (default), or by asking auth (RFC 7662
//! introspection, `business.token_validation = "introspect"`). Zero trust: the
//! gateway checks tokens too, and this service checks them again.

use std::time::Duration;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use platform::tokens::{self, Gate, Refusal, Verifier};
use serde::Deserialize;
use url::Url;

use crate::State;
use crate::error::Error;

pub enum Authenticator {
    Local(Box<Gate>),
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
    pub async fn authenticate(&self, token: &[u8]) -> Result<String, Refusal> {
        match self {
            Self::Local(gate) => Ok(gate.check(token).await?.sub.clone()),
            Self::Introspect {
                client,
                url,
                client_id,
                password,
            } => {
                let token = std::str::from_utf8(token)
                    .map_err(|_| Refusal::Invalid("not UTF-8".to_owned()))?;
                // Cheap local checks first: no network round trip for garbage.
                Verifier::key_id(token)?;
                let answer: Introspection = client
                    .post(url.clone())
                    .basic_auth(client_id, Some(password))
                    .form(&[("token", token)])
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| Refusal::Unavailable(format!("introspection: {e}")))?
                    .json()
                    .await
                    .map_err(|e| Refusal::Unavailable(format!("introspection answer: {e}")))?;
                match (answer.active, answer.sub) {
                    (true, Some(sub)) => Ok(sub),
                    _ => Err(Refusal::Invalid("inactive".to_owned())),
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
            .map_err(Refusal::from)?
            .ok_or(Refusal::Missing)?;
        Ok(Self(state.inner.identity.authenticate(token).await?))
    }
}

/// Optional authentication: anonymous without a header, 401 with a bad one.
impl OptionalFromRequestParts<State> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Option<Self>, Error> {
        match tokens::from_authorization(&parts.headers).map_err(Refusal::from)? {
            Some(token) => Ok(Some(Self(state.inner.identity.authenticate(token).await?))),
            None => Ok(None),
        }
    }
}
