//! Discovery: `GET /.well-known/jwks.json` (the public keys that verify our
//! access tokens) and `GET /.well-known/openid-configuration` (where the token
//! endpoints are).

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::State as Auth;

pub fn router() -> Router<Auth> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(configuration))
}

async fn jwks(State(auth): State<Auth>) -> Response {
    let mut response = Json(auth.inner.keys.jwks()).into_response();
    // Short: verifiers also refetch on an unknown `kid`, and rotation must show up quickly.
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

async fn configuration(State(auth): State<Auth>) -> Json<Value> {
    let base = auth
        .inner
        .config
        .public_url
        .as_ref()
        .map_or("http://127.0.0.1:8080", |u| u.as_str())
        .trim_end_matches('/');
    Json(json!({
        "issuer": auth.inner.config.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/auth/token"),
        "revocation_endpoint": format!("{base}/auth/revoke"),
        "introspection_endpoint": format!("{base}/auth/introspect"),
        "grant_types_supported": ["password", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "response_types_supported": [],
        "access_token_signing_alg_values_supported": ["EdDSA"],
    }))
}
