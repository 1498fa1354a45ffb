//! Checking a password login, shared by `POST /api/users/login` and the
//! `password` grant of `POST /auth/token`. Unknown email and wrong password
//! take the same path, the same time (one Argon2 run either way) and give the
//! same answer; both draw on the same budgets (`brute_force`).

use std::net::IpAddr;

use platform::tokens::AccessClaims;
use serde_json::json;

use crate::State;
use crate::audit::{Event, Kind};
use crate::brute_force::{Refused, Scope};
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
        let attempt = match inner.brute_force.begin(&account, ip).await? {
            Ok(attempt) => attempt,
            Err(refused) => return Err(self.refused(refused, Some(&account), ip).await),
        };
        let user = inner.db.user_by_email_hash(&account).await?;
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let matched = inner.hasher.verify(password.to_owned(), stored).await?;
        match user {
            Some(user) if matched => {
                inner.brute_force.succeeded(attempt).await?;
                Ok(user)
            }
            user => {
                let mut failure = Event::new(Kind::LoginFailure).ip(ip);
                if let Some(user) = &user {
                    failure = failure.user(&user.id);
                }
                inner.audit.record(failure).await;
                drop(attempt); // the drawn budgets stay spent
                Err(Error::Credentials)
            }
        }
    }

    /// Audits a refused attempt on `account` (and the hold it set, with the
    /// user it concerns, if any) and answers 429.
    pub(crate) async fn refused(
        &self,
        refused: Refused,
        account: Option<&[u8]>,
        ip: Option<IpAddr>,
    ) -> Error {
        let audit = &self.inner.audit;
        let detail = json!({
            "scope": refused.scope.as_str(),
            "retry_after_secs": refused.retry_after_secs,
        });
        if refused.locked_now {
            let user = match account {
                Some(account) => self
                    .inner
                    .db
                    .user_by_email_hash(account)
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            let mut locked = Event::new(Kind::AccountLocked)
                .ip(ip)
                .detail(detail.clone());
            if let Some(user) = &user {
                locked = locked.user(&user.id);
            }
            audit.record(locked).await;
        }
        let kind = match refused.scope {
            Scope::Ip => Kind::IpBlocked,
            Scope::Client | Scope::Account => Kind::LoginRefusedLocked,
        };
        audit.record(Event::new(kind).ip(ip).detail(detail)).await;
        Error::TooManyAttempts {
            retry_after_secs: refused.retry_after_secs,
        }
    }

    /// Before the email or password changes: a session logged in within
    /// `auth.recent_login_secs` is enough (the RealWorld flow: register, then
    /// update), an older one must give the current password, which draws on
    /// the same budgets as a login, so a stolen token cannot guess it either.
    pub(crate) async fn reauthenticate(
        &self,
        claims: &AccessClaims,
        user: &UserRow,
        account: &[u8],
        current_password: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<()> {
        let inner = &self.inner;
        let now = crate::clock::now();
        let window = i64::try_from(inner.config.recent_login_secs).unwrap_or(i64::MAX);
        let session = inner.db.session(&claims.sid).await?;
        if session.is_some_and(|s| now - s.created_at <= window) {
            return Ok(());
        }
        let Some(password) = current_password.filter(|p| !p.is_empty()) else {
            return Err(Error::invalid(
                "current_password",
                "is required to change the email or password",
            ));
        };
        let attempt = match inner.brute_force.begin(account, ip).await? {
            Ok(attempt) => attempt,
            Err(refused) => return Err(self.refused(refused, Some(account), ip).await),
        };
        let matched = inner
            .hasher
            .verify(password.to_owned(), Some(user.password_hash.clone()))
            .await?;
        let event = Event::new(Kind::Reauthentication)
            .user(&user.id)
            .session(&claims.sid)
            .ip(ip)
            .detail(json!({"succeeded": matched}));
        inner.audit.record(event).await;
        if matched {
            inner.brute_force.succeeded(attempt).await?;
            Ok(())
        } else {
            drop(attempt); // the drawn budgets stay spent
            Err(Error::invalid("current_password", "is invalid"))
        }
    }
}
