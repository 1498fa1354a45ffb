//! Audit events: every authentication attempt, lock, refresh-token reuse,
//! logout, password change and session revocation is stored in the database
//! and logged as one JSON line (target `audit`). Never a password or token.

use serde_json::Value;

use crate::clock;
use crate::db::{AuditRow, Database};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Register,
    LoginSuccess,
    LoginFailure,
    AccountLocked,
    LoginRefusedLocked,
    IpBlocked,
    RefreshReuse,
    Logout,
    PasswordChange,
    EmailChange,
    Reauthentication,
    SessionRevoked,
    TokenRevoked,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::LoginSuccess => "login_success",
            Self::LoginFailure => "login_failure",
            Self::AccountLocked => "account_locked",
            Self::LoginRefusedLocked => "login_refused_locked",
            Self::IpBlocked => "ip_blocked",
            Self::RefreshReuse => "refresh_reuse",
            Self::Logout => "logout",
            Self::PasswordChange => "password_change",
            Self::EmailChange => "email_change",
            Self::Reauthentication => "reauthentication",
            Self::SessionRevoked => "session_revoked",
            Self::TokenRevoked => "token_revoked",
        }
    }
}

/// One event under construction.
pub struct Event<'a> {
    pub kind: Kind,
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub ip: Option<String>,
    pub detail: Value,
}

impl<'a> Event<'a> {
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            user_id: None,
            session_id: None,
            ip: None,
            detail: Value::Object(Default::default()),
        }
    }

    pub fn user(mut self, id: &'a str) -> Self {
        self.user_id = Some(id);
        self
    }

    pub fn session(mut self, id: &'a str) -> Self {
        self.session_id = Some(id);
        self
    }

    pub fn ip(mut self, ip: Option<std::net::IpAddr>) -> Self {
        self.ip = ip.map(|ip| ip.to_string());
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

#[derive(Clone)]
pub struct Audit {
    db: Database,
}

impl Audit {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Persists and logs `event`. A failed write is logged, not returned: the
    /// outcome of the request it describes has already been decided.
    pub async fn record(&self, event: Event<'_>) {
        let row = AuditRow {
            at_ms: clock::now_ms(),
            kind: event.kind.as_str().to_owned(),
            user_id: event.user_id.map(str::to_owned),
            session_id: event.session_id.map(str::to_owned),
            ip: event.ip,
            detail: event.detail.to_string(),
        };
        tracing::info!(
            target: "audit",
            kind = %row.kind,
            user_id = row.user_id.as_deref(),
            session_id = row.session_id.as_deref(),
            ip = row.ip.as_deref(),
            detail = %row.detail,
            "audit event"
        );
        if let Err(e) = self.db.insert_audit(&row).await {
            tracing::error!(error = %e, kind = %row.kind, "cannot persist audit event");
        }
    }
}
