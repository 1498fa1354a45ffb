//! `GET /api/profiles/{username}`, `POST|DELETE /api/profiles/{username}/follow`.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use super::views::ProfileView;
use crate::error::{Error, Result};
use crate::identity::AuthUser;
use crate::profiles::Profile;
use platform::username::Username;

pub fn router() -> Router<crate::State> {
    Router::new()
        .route("/api/profiles/{username}", get(show))
        .route(
            "/api/profiles/{username}/follow",
            post(follow).delete(unfollow),
        )
}

#[derive(Serialize)]
struct ProfileBody {
    profile: ProfileView,
}

impl crate::State {
    /// A name that could not be registered has no profile: 404 without asking auth.
    async fn profile_named(
        &self,
        username: &str,
        viewer: Option<&str>,
    ) -> Result<std::sync::Arc<Profile>> {
        let username = Username::parse(username).map_err(|_| Error::NotFound("profile"))?;
        self.inner
            .profiles
            .by_username(&username, viewer)
            .await
            .map_err(|_| Error::Unavailable("profile"))?
            .ok_or(Error::NotFound("profile"))
    }
}

async fn show(
    State(state): State<crate::State>,
    viewer: Option<AuthUser>,
    Path(username): Path<String>,
) -> Result<Json<ProfileBody>> {
    let profile = state
        .profile_named(&username, viewer.as_ref().map(|AuthUser(v)| v.as_str()))
        .await?;
    let following = match viewer {
        Some(AuthUser(viewer)) => state
            .inner
            .store
            .following(&viewer, std::slice::from_ref(&profile.id))
            .await?
            .contains(&profile.id),
        None => false,
    };
    Ok(Json(ProfileBody {
        profile: ProfileView::of(Some(&profile), following),
    }))
}

async fn follow(
    State(state): State<crate::State>,
    AuthUser(viewer): AuthUser,
    Path(username): Path<String>,
) -> Result<Json<ProfileBody>> {
    let profile = state.profile_named(&username, Some(&viewer)).await?;
    if profile.id == viewer {
        return Err(Error::invalid("profile", "cannot follow yourself"));
    }
    state.inner.store.follow(&viewer, &profile.id).await?;
    Ok(Json(ProfileBody {
        profile: ProfileView::of(Some(&profile), true),
    }))
}

async fn unfollow(
    State(state): State<crate::State>,
    AuthUser(viewer): AuthUser,
    Path(username): Path<String>,
) -> Result<Json<ProfileBody>> {
    let profile = state.profile_named(&username, Some(&viewer)).await?;
    state.inner.store.unfollow(&viewer, &profile.id).await?;
    Ok(Json(ProfileBody {
        profile: ProfileView::of(Some(&profile), false),
    }))
}
