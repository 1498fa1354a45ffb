//! The edge token check: a request that carries an access token has it
//! verified here (signature, claims, deny-list) before it reaches a service,
//! and an endpoint that needs one (the route table says which) is refused
//! without it. The services
//! verify again (zero trust); this stops forged and revoked tokens at the door.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{HeaderValue, WWW_AUTHENTICATE};
use http::request::Parts;
use platform::jwks::RemoteKeys;
use platform::problem::RealWorldErrors;
use platform::revocation::DenyList;
use platform::tokens::{self, Gate, Refusal, Verifier};

use crate::routes::{Route, Token};

#[derive(Clone)]
pub struct EdgeAuth {
    gate: std::sync::Arc<Gate>,
}

impl EdgeAuth {
    pub fn new(verifier: Verifier, keys: RemoteKeys, deny: DenyList) -> Self {
        Self {
            gate: std::sync::Arc::new(Gate::new(verifier, Some(keys), deny)),
        }
    }
}

fn unauthorized(message: &str, challenge: &'static str) -> Response {
    let mut response =
        RealWorldErrors::one("token", message).into_response_with(StatusCode::UNAUTHORIZED);
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

/// Refuses a request with a bad token, or none where one is needed; the
/// verified claims when there is a good one (for the per-user rate limit).
pub async fn check(
    edge: &EdgeAuth,
    request: &Parts,
    route: Route,
) -> Result<Option<std::sync::Arc<tokens::AccessClaims>>, Response> {
    // Only Token/Bearer credentials are ours to check; Basic (service clients) passes through.
    let token = match tokens::from_authorization(&request.headers) {
        Ok(Some(token)) => Some(token),
        Ok(None) | Err(_) => None,
    };
    let Some(token) = token else {
        if matches!(route, Route::Upstream(e) if e.token == Token::Required) {
            return Err(unauthorized("is missing", "Bearer"));
        }
        return Ok(None);
    };
    let claims = match edge.gate.check(token).await {
        Ok(claims) => claims,
        Err(Refusal::Invalid(reason)) => {
            tracing::info!(%reason, "token refused at the edge");
            return Err(unauthorized(
                "is invalid",
                r#"Bearer error="invalid_token""#,
            ));
        }
        Err(Refusal::Unavailable(reason)) => {
            tracing::error!(%reason, "revocation list unavailable at the edge");
            return Err(
                platform::problem::Problem::new(StatusCode::SERVICE_UNAVAILABLE, None)
                    .into_response(),
            );
        }
    };
    Ok(Some(claims))
}
