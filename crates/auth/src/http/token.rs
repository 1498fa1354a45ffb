//! The platform's token API, shaped after the RFCs: `POST /auth/token`
//! (RFC 6749 password and refresh_token grants), `POST /auth/token/refresh`
//! (the browser's cookie flow), `POST /auth/logout`, `POST /auth/revoke`
//! (RFC 7009) and `POST /auth/introspect` (RFC 7662).

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::cookie;
use crate::audit::{Event, Kind};
use crate::error::{Error, Result};
use crate::extract::{AuthUser, ClientIp, ServiceClient, UserAgent};
use crate::session::{Issued, refresh_hash};
use crate::{State as Auth, clock};
use platform::tokens::Refusal;

pub fn router() -> Router<Auth> {
    Router::new()
        .route("/auth/token", post(token))
        .route("/auth/token/refresh", post(refresh_with_cookie))
        .route("/auth/logout", post(logout))
        .route("/auth/revoke", post(revoke))
        .route("/auth/introspect", post(introspect))
}

/// Token endpoint parameters, as a form (RFC 6749) or as JSON.
#[derive(Deserialize, Default)]
struct Params {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    token: Option<String>,
}

struct Input(Params);

impl<S: Send + Sync> FromRequest<S> for Input {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let parsed = if is_json {
            Json::<Params>::from_request(req, state)
                .await
                .map(|Json(p)| p)
                .ok()
        } else {
            Form::<Params>::from_request(req, state)
                .await
                .map(|Form(p)| p)
                .ok()
        };
        parsed
            .map(Input)
            .ok_or_else(|| Error::invalid_request("malformed request body"))
    }
}

/// RFC 6749 §5.1 responses must not be cached.
fn no_store(body: Value) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn token_response(issued: &Issued, include_refresh: bool) -> Value {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    });
    if include_refresh {
        body["refresh_token"] = json!(issued.refresh_token);
    }
    body
}

async fn token(
    State(auth): State<Auth>,
    ClientIp(ip): ClientIp,
    UserAgent(agent): UserAgent,
    Input(params): Input,
) -> Result<Response> {
    match params.grant_type.as_deref() {
        Some("password") => {
            let (Some(email), Some(password)) = (params.username, params.password) else {
                return Err(Error::invalid_request("username and password are required"));
            };
            let (_, issued) = match auth.log_in(&email, &password, ip, agent.as_deref()).await {
                Err(Error::Credentials) => {
                    return Err(Error::invalid_grant("invalid username or password"));
                }
                other => other?,
            };
            Ok(no_store(token_response(&issued, true)))
        }
        Some("refresh_token") => {
            let token = params
                .refresh_token
                .ok_or_else(|| Error::invalid_request("refresh_token is required"))?;
            let issued = auth.refresh(&token, ip).await?;
            Ok(no_store(token_response(&issued, true)))
        }
        Some(_) => Err(Error::OAuth {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: "supported: password, refresh_token",
        }),
        None => Err(Error::invalid_request("grant_type is required")),
    }
}

/// Browser flow: the refresh token travels only in the HttpOnly cookie.
async fn refresh_with_cookie(
    State(auth): State<Auth>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Result<Response> {
    let secure = auth.inner.config.cookie_secure;
    let Some(token) = cookie::read(request.headers()) else {
        return Err(Error::invalid_request("no refresh cookie"));
    };
    match auth.refresh(&token, ip).await {
        Ok(issued) => {
            let cookie = cookie::set(
                &issued.refresh_token,
                issued.session_expires_at - clock::now(),
                secure,
            );
            let mut response = no_store(token_response(&issued, false));
            response.headers_mut().insert(cookie::header(), cookie);
            Ok(response)
        }
        // A spent, revoked or unknown token: the cookie is no use any more.
        // Anything else (the database down) leaves it for a later try.
        Err(
            e @ Error::OAuth {
                error: "invalid_grant",
                ..
            },
        ) => {
            let mut response = e.into_response();
            response
                .headers_mut()
                .insert(cookie::header(), cookie::clear(secure));
            Ok(response)
        }
        Err(e) => Err(e),
    }
}

/// Ends the caller's session, refresh tokens and access tokens alike: the
/// session of the access token, or else the one the refresh cookie names (a
/// browser whose access token expired can still sign out for good). The
/// cookie is cleared either way.
async fn logout(
    State(auth): State<Auth>,
    ClientIp(ip): ClientIp,
    user: std::result::Result<AuthUser, Error>,
    headers: axum::http::HeaderMap,
) -> Result<Response> {
    let session = match (user, cookie::read(&headers)) {
        (Ok(user), _) => Some((user.claims.sub.clone(), user.claims.sid.clone())),
        (Err(_), Some(token)) => auth
            .inner
            .db
            .refresh_token(&refresh_hash(&token))
            .await?
            .map(|row| (row.session.user_id, row.session.id)),
        (Err(refused), None) => return Err(refused),
    };
    if let Some((user_id, session_id)) = session
        && auth.end_session(&session_id, "logout").await?
    {
        auth.inner
            .audit
            .record(
                Event::new(Kind::Logout)
                    .user(&user_id)
                    .session(&session_id)
                    .ip(ip),
            )
            .await;
    }
    let clear = cookie::clear(auth.inner.config.cookie_secure);
    Ok((StatusCode::NO_CONTENT, [(cookie::header(), clear)]).into_response())
}

/// RFC 7009: holding a token is the right to revoke it. The answer is 200
/// whether or not the token was valid, so it reveals nothing.
async fn revoke(
    State(auth): State<Auth>,
    ClientIp(ip): ClientIp,
    Input(params): Input,
) -> Result<StatusCode> {
    let Some(token) = params.token else {
        return Err(Error::invalid_request("token is required"));
    };
    if let Some(row) = auth.inner.db.refresh_token(&refresh_hash(&token)).await? {
        if auth.end_session(&row.session.id, "revoked").await? {
            auth.inner
                .audit
                .record(
                    Event::new(Kind::TokenRevoked)
                        .user(&row.session.user_id)
                        .session(&row.session.id)
                        .ip(ip)
                        .detail(json!({"token_type": "refresh_token"})),
                )
                .await;
        }
    } else {
        match auth.verify(token.as_bytes()).await {
            Ok(claims) => auth.revoke_access_token(&claims, ip).await?,
            // Not ours, expired or already revoked: nothing to do, and 200 says nothing.
            Err(Refusal::Missing | Refusal::Invalid(_)) => {}
            // Answered 200, the token would work again once the deny-list is back.
            Err(unavailable @ Refusal::Unavailable(_)) => return Err(unavailable.into()),
        }
    }
    Ok(StatusCode::OK)
}

/// RFC 7662, for the platform's own services only.
async fn introspect(
    State(auth): State<Auth>,
    _client: ServiceClient,
    Input(params): Input,
) -> Result<Response> {
    let Some(token) = params.token else {
        return Err(Error::invalid_request("token is required"));
    };
    let body = match auth.verify(token.as_bytes()).await {
        Ok(c) => json!({
            "active": true,
            "token_type": "access_token",
            "iss": c.iss, "aud": c.aud, "sub": c.sub, "jti": c.jti, "sid": c.sid,
            "iat": c.iat, "nbf": c.nbf, "exp": c.exp,
        }),
        Err(Refusal::Missing | Refusal::Invalid(_)) => json!({"active": false}),
        Err(unavailable @ Refusal::Unavailable(_)) => return Err(unavailable.into()),
    };
    Ok(no_store(body))
}
