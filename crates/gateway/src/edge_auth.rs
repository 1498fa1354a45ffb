//! The edge token check: a request that carries an access token has it
//! verified here (signature, claims, deny-list) before it reaches a service,
//! and an endpoint that needs one (the route table says which) is refused
//! without it. The services
//! verify again (zero trust); this stops forged and revoked tokens at the door.

use axum::response::{IntoResponse, Response};
use http::request::Parts;
use platform::tokens::jwks::RemoteKeys;
use platform::tokens::revocation::DenyList;
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

/// Refuses a request with a bad token, or none where one is needed; the
/// verified claims when there is a good one (for the per-user rate limit).
pub async fn check(
    edge: &EdgeAuth,
    request: &Parts,
    route: Route,
) -> Result<Option<std::sync::Arc<tokens::AccessClaims>>, Response> {
    // Only Token/Bearer credentials are ours to check; Basic (service clients) passes through.
    let Ok(Some(token)) = tokens::from_authorization(&request.headers) else {
        if matches!(route, Route::Upstream(e) if e.token == Token::Required) {
            return Err(Refusal::Missing.into_response());
        }
        return Ok(None);
    };
    match edge.gate.check(token).await {
        Ok(claims) => Ok(Some(claims)),
        Err(refusal) => Err(refusal.into_response()),
    }
}
