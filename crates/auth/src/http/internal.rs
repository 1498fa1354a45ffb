//! `GET /internal/profiles?ids=…` or `?usernames=…`: the batch profile lookup
//! for the business service. Service-authenticated and never routed by the
//! gateway. Returns public profile fields only (no email).

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::State as Auth;
use crate::db::ProfileKey;
use crate::error::{Error, Result};
use crate::extract::ServiceClient;

const MAX_BATCH: usize = 100;

pub fn router() -> Router<Auth> {
    Router::new().route("/internal/profiles", get(profiles))
}

#[derive(Deserialize)]
struct Lookup {
    ids: Option<String>,
    usernames: Option<String>,
}

async fn profiles(
    State(auth): State<Auth>,
    _client: ServiceClient,
    Query(lookup): Query<Lookup>,
) -> Result<Json<Value>> {
    let (key, raw) = match (lookup.ids, lookup.usernames) {
        (Some(ids), None) => (ProfileKey::Id, ids),
        (None, Some(names)) => (ProfileKey::Username, names),
        _ => return Err(Error::invalid("ids", "give either ids or usernames")),
    };
    let values: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if values.len() > MAX_BATCH {
        return Err(Error::invalid(
            "ids",
            format!("at most {MAX_BATCH} per request"),
        ));
    }
    let users = auth.inner.db.users_where(key, &values).await?;
    let profiles: Vec<Value> = users
        .into_iter()
        .map(|u| json!({"id": u.id, "username": u.username, "bio": u.bio, "image": u.image}))
        .collect();
    Ok(Json(json!({ "profiles": profiles })))
}
