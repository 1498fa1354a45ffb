//! The RealWorld user routes: `POST /api/users`, `POST /api/users/login`,
//! `GET /api/user`, `PUT /api/user`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cookie;
use crate::audit::{Event, Kind};
use crate::db::{NewUser, UserChanges, UserRow, WriteError};
use crate::error::{Error, Result};
use crate::extract::{AuthUser, ClientIp, UserAgent};
use crate::session::Issued;
use crate::user::{Email, Username, parse_bio, parse_image};
use crate::{State as Auth, clock};
use platform::http::json::{JsonBody, present};
use platform::tokens::Refusal;

pub fn router() -> Router<Auth> {
    Router::new()
        .route("/api/users", post(register))
        .route("/api/users/login", post(login))
        .route("/api/user", get(current).put(update))
}

#[derive(Deserialize)]
struct Envelope<T> {
    user: Option<T>,
}

#[derive(Deserialize, Default)]
struct Registration {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize, Default)]
struct Login {
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize, Default)]
struct Update {
    #[serde(default, deserialize_with = "present")]
    username: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    password: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    image: Option<Option<String>>,
    /// Asked for to change the email or password in a session older than
    /// `auth.recent_login_secs`: a stolen access token alone must not take
    /// the account over.
    current_password: Option<String>,
}

#[derive(Serialize)]
struct UserBody {
    user: UserView,
}

#[derive(Serialize)]
struct UserView {
    email: String,
    token: String,
    username: String,
    bio: Option<String>,
    image: Option<String>,
}

impl Auth {
    fn view(&self, user: UserRow, token: String) -> Result<Json<UserBody>> {
        let email = self
            .inner
            .emails
            .open_for(&user.id, &user.email_ciphertext)?;
        Ok(Json(UserBody {
            user: UserView {
                email,
                token,
                username: user.username,
                bio: user.bio,
                image: user.image,
            },
        }))
    }

    /// The user body plus the refresh cookie of a new session.
    fn signed_in(&self, status: StatusCode, user: UserRow, issued: Issued) -> Result<Response> {
        let secure = self.inner.config.cookie_secure;
        let cookie = cookie::set(
            &issued.refresh_token,
            issued.session_expires_at - clock::now(),
            secure,
        );
        let body = self.view(user, issued.access_token)?;
        Ok((status, [(cookie::header(), cookie)], body).into_response())
    }
}

fn required(value: Option<&str>, field: &'static str) -> Result<()> {
    if value.is_none_or(str::is_empty) {
        Err(Error::invalid(field, "can't be blank"))
    } else {
        Ok(())
    }
}

async fn register(
    State(auth): State<Auth>,
    ClientIp(ip): ClientIp,
    UserAgent(agent): UserAgent,
    JsonBody(body): JsonBody<Envelope<Registration>>,
) -> Result<Response> {
    let input = body.user.unwrap_or_default();
    let username = Username::parse(input.username.as_deref().unwrap_or_default())
        .map_err(|m| Error::invalid("username", m))?;
    let email = Email::parse(input.email.as_deref().unwrap_or_default())
        .map_err(|m| Error::invalid("email", m))?;
    let password = input.password.unwrap_or_default();
    auth.inner
        .policy
        .check(&password)
        .map_err(|m| Error::invalid("password", m))?;
    // The contract answers "email taken" (errors_auth.hurl), which tells that
    // an address has an account; each such answer costs the client as a failed
    // login does, so enumerating addresses runs into the same budget.
    let probe = match auth.inner.brute_force.draw_probe(ip).await? {
        Ok(probe) => probe,
        Err(refused) => return Err(auth.refused(refused, None, ip).await),
    };

    let id = uuid::Uuid::now_v7().to_string();
    let password_hash = auth.inner.hasher.hash(password).await?;
    let email_hash = auth.inner.emails.index(email.as_str());
    let email_ciphertext = auth.inner.emails.seal(&id, email.as_str())?;
    let inserted = auth
        .inner
        .db
        .insert_user(&NewUser {
            id: &id,
            username: &username,
            email_hash: &email_hash,
            email_ciphertext: &email_ciphertext,
            password_hash: &password_hash,
            now: clock::now(),
        })
        .await;
    if !matches!(inserted, Err(WriteError::Taken("email"))) {
        auth.inner.brute_force.probe_told_nothing(probe).await?;
    }
    inserted?;
    auth.inner.brute_force.remember(&email_hash, ip).await?;
    let issued = auth.start_session(&id, agent.as_deref()).await?;
    auth.inner
        .audit
        .record(
            Event::new(Kind::Register)
                .user(&id)
                .session(&issued.session_id)
                .ip(ip),
        )
        .await;
    let user = auth
        .inner
        .db
        .user_by_id(&id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("user vanished after insert"))?;
    auth.signed_in(StatusCode::CREATED, user, issued)
}

async fn login(
    State(auth): State<Auth>,
    ClientIp(ip): ClientIp,
    UserAgent(agent): UserAgent,
    JsonBody(body): JsonBody<Envelope<Login>>,
) -> Result<Response> {
    let input = body.user.unwrap_or_default();
    required(input.email.as_deref().map(str::trim), "email")?;
    required(input.password.as_deref(), "password")?;
    let (email, password) = (
        input.email.unwrap_or_default(),
        input.password.unwrap_or_default(),
    );
    let (user, issued) = auth.log_in(&email, &password, ip, agent.as_deref()).await?;
    auth.signed_in(StatusCode::OK, user, issued)
}

async fn current(State(auth): State<Auth>, user: AuthUser) -> Result<Json<UserBody>> {
    let row = auth
        .inner
        .db
        .user_by_id(&user.claims.sub)
        .await?
        .ok_or(Refusal::Invalid("user deleted".to_owned()))?;
    auth.view(row, user.token)
}

async fn update(
    State(auth): State<Auth>,
    ClientIp(ip): ClientIp,
    user: AuthUser,
    JsonBody(body): JsonBody<Envelope<Update>>,
) -> Result<Json<UserBody>> {
    let input = body.user.unwrap_or_default();
    let id = user.claims.sub.as_str();
    let current = auth
        .inner
        .db
        .user_by_id(id)
        .await?
        .ok_or(Refusal::Invalid("user deleted".to_owned()))?;
    let mut changes = UserChanges::default();
    if let Some(username) = input.username {
        let parsed = Username::parse(username.as_deref().unwrap_or_default())
            .map_err(|m| Error::invalid("username", m))?;
        changes.username = Some(parsed);
    }
    if let Some(email) = input.email {
        let parsed = Email::parse(email.as_deref().unwrap_or_default())
            .map_err(|m| Error::invalid("email", m))?;
        let emails = &auth.inner.emails;
        changes.email = Some((
            emails.index(parsed.as_str()),
            emails.seal(id, parsed.as_str())?,
        ));
    }
    if let Some(bio) = input.bio {
        changes.bio = Some(parse_bio(bio).map_err(|m| Error::invalid("bio", m))?);
    }
    if let Some(image) = input.image {
        changes.image = Some(parse_image(image).map_err(|m| Error::invalid("image", m))?);
    }
    let new_password = match input.password {
        Some(password) => {
            let password = password.unwrap_or_default();
            auth.inner
                .policy
                .check(&password)
                .map_err(|m| Error::invalid("password", m))?;
            Some(password)
        }
        None => None,
    };
    let old_email_index = if changes.email.is_some() || new_password.is_some() {
        let old_email = auth.inner.emails.open_for(id, &current.email_ciphertext)?;
        let old_email_index = auth.inner.emails.index(&old_email);
        auth.reauthenticate(
            &user.claims,
            &current,
            &old_email_index,
            input.current_password.as_deref(),
            ip,
        )
        .await?;
        Some(old_email_index)
    } else {
        None
    };
    // "Email taken" tells that an address has an account, here as at registration.
    let probe = match &changes.email {
        Some(_) => match auth.inner.brute_force.draw_probe(ip).await? {
            Ok(probe) => Some(probe),
            Err(refused) => return Err(auth.refused(refused, None, ip).await),
        },
        None => None,
    };
    let password_changed = new_password.is_some();
    if let Some(password) = new_password {
        changes.password_hash = Some(auth.inner.hasher.hash(password).await?);
    }
    let new_email_index = changes.email.as_ref().map(|(index, _)| index.clone());
    let updated = auth
        .inner
        .db
        .update_user(id, &user.claims.sid, changes, clock::now())
        .await;
    if let Some(probe) = probe
        && !matches!(updated, Err(WriteError::Taken("email")))
    {
        auth.inner.brute_force.probe_told_nothing(probe).await?;
    }
    let updated = updated?;
    if updated.email_changed {
        // The client that just proved itself is known under the new address too.
        if let Some(index) = &new_email_index {
            auth.inner.brute_force.remember(index, ip).await?;
        }
        auth.inner
            .audit
            .record(
                Event::new(Kind::EmailChange)
                    .user(id)
                    .session(&user.claims.sid)
                    .ip(ip)
                    .detail(json!({
                        "old_email_index": old_email_index.as_deref().map(|i| URL_SAFE_NO_PAD.encode(i)),
                        "old_address_notified": "email_outbox",
                    })),
            )
            .await;
    }
    if password_changed {
        for sid in &updated.ended_sessions {
            auth.inner
                .deny
                .deny_session(sid, auth.session_token_ttl())
                .await
                .map_err(anyhow::Error::from)?;
        }
        auth.inner
            .audit
            .record(
                Event::new(Kind::PasswordChange)
                    .user(id)
                    .session(&user.claims.sid)
                    .ip(ip)
                    .detail(json!({"other_sessions_revoked": updated.ended_sessions.len()})),
            )
            .await;
    }
    let row = auth
        .inner
        .db
        .user_by_id(id)
        .await?
        .ok_or(Refusal::Invalid("user deleted".to_owned()))?;
    auth.view(row, user.token)
}
