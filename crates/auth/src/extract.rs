//! Extractors that carry authentication into handlers, so no handler parses headers.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::request::Parts;
use platform::tokens::{self, AccessClaims, Refusal};

use crate::State;
use crate::error::Error;

/// A request with a valid, unrevoked access token.
pub struct AuthUser {
    pub claims: std::sync::Arc<AccessClaims>,
    /// The token as presented, echoed back by the RealWorld user endpoints.
    pub token: String,
}

impl FromRequestParts<State> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Error> {
        let token = tokens::from_authorization(&parts.headers)
            .map_err(Refusal::from)?
            .ok_or(Refusal::Missing)?;
        let claims = state.verify(token).await?;
        // Verified, so text.
        let token = std::str::from_utf8(token).map_err(|e| Refusal::Invalid(e.to_string()))?;
        Ok(Self {
            claims,
            token: token.to_owned(),
        })
    }
}

/// The client's IP (as a trusted gateway states it), for brute-force limits and audit.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<State> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        Ok(Self(platform::http::client_ip::from_gateway(
            &parts.extensions,
            &parts.headers,
            &state.inner.trusted_peers,
        )))
    }
}

/// A caller that authenticated as the platform's internal service client
/// (HTTP Basic, RFC 7662 §2.1), e.g. the business service.
pub struct ServiceClient;

impl FromRequestParts<State> for ServiceClient {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Error> {
        let unauthorized = || {
            Error::Problem(platform::http::problem::Problem::new(
                http::StatusCode::UNAUTHORIZED,
                Some("service client authentication required".to_owned()),
            ))
        };
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthorized)?;
        let (scheme, encoded) = header.split_once(' ').ok_or_else(unauthorized)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(unauthorized());
        }
        let decoded = STANDARD
            .decode(encoded.trim())
            .map_err(|_| unauthorized())?;
        let expected = format!(
            "{}:{}",
            crate::SERVICE_CLIENT_ID,
            state.inner.service_secret
        );
        aws_lc_rs::constant_time::verify_slices_are_equal(&decoded, expected.as_bytes())
            .map_err(|_| unauthorized())?;
        Ok(Self)
    }
}

/// The `User-Agent`, for the session list.
pub struct UserAgent(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
    }
}
