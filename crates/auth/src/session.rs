//! Sessions and their tokens. A login starts a session: a short-lived access
//! token (JWT) and an opaque refresh token. Each refresh spends the refresh
//! token and issues the next one (rotation); presenting a spent one means it
//! was stolen or replayed, so the whole session (the rotation family) and its
//! access tokens are revoked at once.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use platform::tokens::AccessClaims;
use serde_json::json;

use crate::audit::{Event, Kind};
use crate::db::SessionRow;
use crate::error::{Error, Result};
use crate::{State, clock};

/// Tokens handed out at login or refresh.
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: String,
    pub expires_in: u64,
    /// Unix seconds when the session (and so the refresh cookie) ends.
    pub session_expires_at: i64,
}

/// A fresh refresh token (256 bits from the OS CSPRNG) and its stored hash.
fn new_refresh_token() -> (String, Vec<u8>) {
    let token = URL_SAFE_NO_PAD.encode(platform::secrets::crypto::random_bytes::<32>());
    let hash = refresh_hash(&token);
    (token, hash)
}

pub fn refresh_hash(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}

impl State {
    /// Signs an access token for `user_id` in session `sid`.
    pub(crate) fn access_token(&self, user_id: &str, sid: &str) -> Result<(String, AccessClaims)> {
        let config = &self.inner.config;
        let now = clock::now();
        let claims = AccessClaims {
            iss: config.issuer.clone(),
            aud: config.audience.clone(),
            sub: user_id.to_owned(),
            jti: uuid::Uuid::now_v7().to_string(),
            sid: sid.to_owned(),
            iat: now,
            nbf: now,
            exp: now + i64::try_from(config.access_token_ttl_secs).unwrap_or(900),
        };
        Ok((self.inner.keys.sign(&claims)?, claims))
    }

    pub(crate) async fn start_session(
        &self,
        user_id: &str,
        user_agent: Option<&str>,
    ) -> Result<Issued> {
        let now = clock::now();
        let config = &self.inner.config;
        let session = SessionRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.to_owned(),
            created_at: now,
            last_used_at: now,
            expires_at: now
                + i64::try_from(config.refresh.absolute_ttl_secs).unwrap_or(i64::MAX / 4),
            revoked_at: None,
            user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
        };
        let (refresh_token, hash) = new_refresh_token();
        self.inner.db.create_session(&session, &hash).await?;
        let (access_token, _) = self.access_token(user_id, &session.id)?;
        Ok(Issued {
            access_token,
            refresh_token,
            session_id: session.id,
            expires_in: config.access_token_ttl_secs,
            session_expires_at: session.expires_at,
        })
    }

    /// Spends `token` and issues the next pair; `invalid_grant` for anything
    /// but a live, unspent token of a live session.
    pub(crate) async fn refresh(
        &self,
        token: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Issued> {
        let old = refresh_hash(token);
        let Some(row) = self.inner.db.refresh_token(&old).await? else {
            return Err(Error::invalid_grant("refresh token is invalid"));
        };
        let session = row.session;
        if row.used_at.is_some() {
            self.revoke_family(&session, ip).await?;
            return Err(Error::invalid_grant("refresh token is invalid"));
        }
        let now = clock::now();
        let idle = i64::try_from(self.inner.config.refresh.idle_ttl_secs).unwrap_or(i64::MAX / 4);
        if session.revoked_at.is_some()
            || session.expires_at <= now
            || session.last_used_at + idle <= now
        {
            return Err(Error::invalid_grant("refresh token is invalid"));
        }
        let (refresh_token, new) = new_refresh_token();
        if !self
            .inner
            .db
            .rotate_refresh(&old, &new, &session.id, now)
            .await?
        {
            // Spent concurrently: someone else holds a copy.
            self.revoke_family(&session, ip).await?;
            return Err(Error::invalid_grant("refresh token is invalid"));
        }
        let (access_token, _) = self.access_token(&session.user_id, &session.id)?;
        Ok(Issued {
            access_token,
            refresh_token,
            session_id: session.id,
            expires_in: self.inner.config.access_token_ttl_secs,
            session_expires_at: session.expires_at,
        })
    }

    async fn revoke_family(
        &self,
        session: &SessionRow,
        ip: Option<std::net::IpAddr>,
    ) -> Result<()> {
        self.end_session(&session.id, "refresh_reuse").await?;
        self.inner
            .audit
            .record(
                Event::new(Kind::RefreshReuse)
                    .user(&session.user_id)
                    .session(&session.id)
                    .ip(ip)
                    .detail(json!({"action": "session revoked"})),
            )
            .await;
        Ok(())
    }

    /// Revokes a session: its refresh tokens stop at once (database) and its
    /// access tokens too (deny-list).
    pub(crate) async fn end_session(&self, sid: &str, reason: &str) -> Result<bool> {
        self.inner
            .deny
            .deny_session(sid, self.session_token_ttl())
            .await
            .map_err(anyhow::Error::from)?;
        Ok(self
            .inner
            .db
            .revoke_session(sid, reason, clock::now())
            .await?)
    }

    /// Revokes one access token before it expires (RFC 7009): denied for its
    /// remaining life (deny-list), remembered (database) and audited.
    pub(crate) async fn revoke_access_token(
        &self,
        claims: &AccessClaims,
        ip: Option<std::net::IpAddr>,
    ) -> Result<()> {
        let remaining =
            u64::try_from(claims.exp - clock::now()).unwrap_or(0) + platform::tokens::LEEWAY_SECS;
        self.inner
            .deny
            .deny_token(&claims.jti, std::time::Duration::from_secs(remaining))
            .await
            .map_err(anyhow::Error::from)?;
        self.inner
            .db
            .revoke_access_token(&claims.jti, claims.exp)
            .await?;
        self.inner
            .audit
            .record(
                Event::new(Kind::TokenRevoked)
                    .user(&claims.sub)
                    .session(&claims.sid)
                    .ip(ip)
                    .detail(json!({"token_type": "access_token"})),
            )
            .await;
        Ok(())
    }
}
