//! Checking a password login, shared by `POST /api/users/login` and the
//! `password` grant of `POST /auth/token`. Unknown email and wrong password
//! take the same path, the same time (one Argon2 run either way) and give the
//! same answer; both count towards the lock of that email.

use std::net::IpAddr;

use serde_json::json;

use crate::State;
use crate::audit::{Event, Kind};
use crate::db::UserRow;
use crate::error::{Error, Result};
use crate::session::Issued;

impl State {
    /// A password login: checked, then a new session, audited.
    pub(crate) async fn log_in(
        &self,
        email: &str,
        password: &str,
        ip: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<(UserRow, Issued)> {
        let user = self.authenticate(email, password, ip).await?;
        let issued = self.start_session(&user.id, user_agent).await?;
        self.inner
            .audit
            .record(
                Event::new(Kind::LoginSuccess)
                    .user(&user.id)
                    .session(&issued.session_id)
                    .ip(ip),
            )
            .await;
        Ok((user, issued))
    }

    async fn authenticate(
        &self,
        email: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<UserRow> {
        let inner = &self.inner;
        let account = inner.emails.index(email);
        if let Err(refused) = inner.brute_force.check(&account, ip).await? {
            let kind = if refused.by_ip {
                Kind::IpBlocked
            } else {
                Kind::LoginRefusedLocked
            };
            inner
                .audit
                .record(
                    Event::new(kind)
                        .ip(ip)
                        .detail(json!({"retry_after_secs": refused.retry_after_secs})),
                )
                .await;
            return Err(Error::TooManyAttempts {
                retry_after_secs: refused.retry_after_secs,
            });
        }
        let user = inner.db.user_by_email_hash(&account).await?;
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let matched = inner.hasher.verify(password.to_owned(), stored).await?;
        match user {
            Some(user) if matched => {
                inner.brute_force.succeeded(&account).await?;
                Ok(user)
            }
            user => {
                let user_id = user.as_ref().map(|u| u.id.as_str());
                let mut failure = Event::new(Kind::LoginFailure).ip(ip);
                if let Some(id) = user_id {
                    failure = failure.user(id);
                }
                inner.audit.record(failure).await;
                if let Some(until) = inner.brute_force.failed(&account, ip).await? {
                    let mut locked = Event::new(Kind::AccountLocked)
                        .ip(ip)
                        .detail(json!({"locked_until": until}));
                    if let Some(id) = user_id {
                        locked = locked.user(id);
                    }
                    inner.audit.record(locked).await;
                }
                Err(Error::Credentials)
            }
        }
    }
}
