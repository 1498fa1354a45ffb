//! The current user's sessions: `GET /auth/sessions`, `DELETE /auth/sessions/{id}`.
//! Only one's own: another user's session id is answered like a missing one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::audit::{Event, Kind};
use crate::error::{Error, Result};
use crate::extract::{AuthUser, ClientIp};
use crate::{State as Auth, clock};

pub fn router() -> Router<Auth> {
    Router::new()
        .route("/auth/sessions", get(list))
        .route("/auth/sessions/{id}", delete(revoke))
}

async fn list(State(auth): State<Auth>, user: AuthUser) -> Result<Json<Value>> {
    let sessions = auth
        .inner
        .db
        .active_sessions(&user.claims.sub, clock::now())
        .await?;
    let sessions: Vec<Value> = sessions
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id,
                "createdAt": s.created_at,
                "lastUsedAt": s.last_used_at,
                "expiresAt": s.expires_at,
                "userAgent": s.user_agent,
                "current": s.id == user.claims.sid,
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

async fn revoke(
    State(auth): State<Auth>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let owned = auth
        .inner
        .db
        .session(&id)
        .await?
        .is_some_and(|s| s.user_id == user.claims.sub);
    if !owned {
        return Err(Error::not_found());
    }
    if auth.end_session(&id, "revoked_by_user").await? {
        auth.inner
            .audit
            .record(
                Event::new(Kind::SessionRevoked)
                    .user(&user.claims.sub)
                    .session(&id)
                    .ip(ip),
            )
            .await;
    }
    Ok(StatusCode::NO_CONTENT)
}
