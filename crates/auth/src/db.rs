//! The auth database: SQLite (embedded default) or PostgreSQL, through sqlx's
//! `Any` driver so that one set of queries serves both; each backend has its
//! own migrations. Queries use `$n` placeholders, which both accept.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor, Row};

use crate::Config;
use crate::user::Username;

#[derive(Clone)]
pub struct Database {
    pool: AnyPool,
}

/// A unique constraint a write ran into, by RealWorld field name.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0} already taken")]
    Taken(&'static str),
    #[error(transparent)]
    Other(#[from] sqlx::Error),
}

fn taken(e: sqlx::Error) -> WriteError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        let what = format!("{} {}", db.message(), db.constraint().unwrap_or_default());
        if what.contains("username") {
            return WriteError::Taken("username");
        }
        if what.contains("email") {
            return WriteError::Taken("email");
        }
    }
    WriteError::Other(e)
}

pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email_ciphertext: Vec<u8>,
    pub password_hash: String,
    pub bio: Option<String>,
    pub image: Option<String>,
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a Username,
    pub email_hash: &'a [u8],
    pub email_ciphertext: &'a [u8],
    pub password_hash: &'a str,
    pub now: i64,
}

/// Fields of `PUT /api/user`; `None` leaves a column unchanged, `Some(None)` clears it.
#[derive(Default)]
pub struct UserChanges {
    pub username: Option<Username>,
    pub email: Option<(Vec<u8>, Vec<u8>)>,
    pub password_hash: Option<String>,
    pub bio: Option<Option<String>>,
    pub image: Option<Option<String>>,
}

/// What [`Database::update_user`] changed that others must hear of.
pub struct Updated {
    /// The email changed (the old address has an outbox message).
    pub email_changed: bool,
    /// Sessions the new password ended.
    pub ended_sessions: Vec<String>,
}

pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub user_agent: Option<String>,
}

pub struct RefreshRow {
    pub used_at: Option<i64>,
    pub session: SessionRow,
}

pub struct AuditRow {
    pub at_ms: i64,
    pub kind: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
}

const USER_COLUMNS: &str = "id, username, email_ciphertext, password_hash, bio, image";
const SESSION_COLUMNS: &str =
    "s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.revoked_at, s.user_agent";

fn user_row(row: &sqlx::any::AnyRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email_ciphertext: row.try_get("email_ciphertext")?,
        password_hash: row.try_get("password_hash")?,
        bio: row.try_get("bio")?,
        image: row.try_get("image")?,
    })
}

fn session_row(row: &sqlx::any::AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        user_agent: row.try_get("user_agent")?,
    })
}

impl Database {
    /// Connects to `auth.database_url` (default `<data_dir>/auth.db`) and migrates.
    pub async fn open(config: &Config, data_dir: &Path) -> anyhow::Result<Self> {
        install_default_drivers();
        let url = config
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("auth.db").display()));
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = PathBuf::from(path);
            let pool = AnyPoolOptions::new()
                .max_connections(8)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                            .await
                            .map(drop)
                    })
                })
                .connect(&format!("sqlite://{}?mode=rwc", path.display()))
                .await
                .with_context(|| format!("opening auth database {}", path.display()))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("restricting {}", path.display()))?;
            sqlx::migrate!("./migrations/sqlite")
                .run(&pool)
                .await
                .context("migrating auth database")?;
            let db = Self { pool };
            db.fill_username_skeletons().await?;
            Ok(db)
        } else {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .connect(&url)
                .await
                .context("connecting to the auth database (auth.database_url)")?;
            sqlx::migrate!("./migrations/postgres")
                .run(&pool)
                .await
                .context("migrating auth database")?;
            let db = Self { pool };
            db.fill_username_skeletons().await?;
            Ok(db)
        }
    }

    /// Users from before skeletons were kept get theirs (once, at start). A
    /// name that looks like an earlier user's keeps none and is logged: both
    /// accounts stay, and no new look-alike can join them.
    async fn fill_username_skeletons(&self) -> anyhow::Result<()> {
        let rows = sqlx::query(
            "SELECT id, username FROM users WHERE username_skeleton IS NULL ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading users without a username skeleton")?;
        for row in rows {
            let id: String = row.try_get("id")?;
            let name: String = row.try_get("username")?;
            let Ok(username) = Username::parse(&name) else {
                tracing::warn!(user_id = %id, "stored username no longer parses; no skeleton kept");
                continue;
            };
            let filled = sqlx::query("UPDATE users SET username_skeleton = $1 WHERE id = $2")
                .bind(username.skeleton())
                .bind(&id)
                .execute(&self.pool)
                .await;
            if let Err(e) = filled {
                tracing::warn!(user_id = %id, error = %e, "username looks like an earlier user's; no skeleton kept");
            }
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)
    }

    pub async fn insert_user(&self, user: &NewUser<'_>) -> Result<(), WriteError> {
        sqlx::query(
            "INSERT INTO users (id, username, username_skeleton, email_hash, email_ciphertext, password_hash, created_at, updated_at)
             VALUES ($1, $2, $7, $3, $4, $5, $6, $6)",
        )
        .bind(user.id)
        .bind(user.username.as_str())
        .bind(user.email_hash)
        .bind(user.email_ciphertext)
        .bind(user.password_hash)
        .bind(user.now)
        .bind(user.username.skeleton())
        .execute(&self.pool)
        .await
        .map_err(taken)?;
        Ok(())
    }

    pub async fn user_by_email_hash(&self, hash: &[u8]) -> Result<Option<UserRow>, sqlx::Error> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_hash = $1");
        let row = sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>, sqlx::Error> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// Users by id or by username, for the internal profile lookup.
    pub async fn users_where(
        &self,
        column: ProfileKey,
        values: &[String],
    ) -> Result<Vec<UserRow>, sqlx::Error> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (1..=values.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let column = match column {
            ProfileKey::Id => "id",
            ProfileKey::Username => "username",
        };
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} IN ({placeholders})");
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_row)
            .collect()
    }

    /// Applies `changes` in one transaction: a new password also ends every
    /// session but `session` (whoever knew the old one is out), an email
    /// change queues a message to the old address.
    pub async fn update_user(
        &self,
        id: &str,
        session: &str,
        changes: UserChanges,
        now: i64,
    ) -> Result<Updated, WriteError> {
        let mut tx = self.pool.begin().await?;
        let mut email_changed = false;
        if let Some(username) = &changes.username {
            sqlx::query("UPDATE users SET username = $1, username_skeleton = $2 WHERE id = $3")
                .bind(username.as_str())
                .bind(username.skeleton())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(taken)?;
        }
        if let Some((hash, ciphertext)) = &changes.email {
            // The old address is told, in the same transaction as the change:
            // an outbox row for the mailer, the address still sealed.
            email_changed = sqlx::query(
                "INSERT INTO email_outbox (id, user_id, kind, recipient_ciphertext, created_at)
                 SELECT $1, id, 'email_changed', email_ciphertext, $2 FROM users
                 WHERE id = $3 AND email_hash <> $4",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(now)
            .bind(id)
            .bind(hash.as_slice())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            sqlx::query("UPDATE users SET email_hash = $1, email_ciphertext = $2 WHERE id = $3")
                .bind(hash.as_slice())
                .bind(ciphertext.as_slice())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(taken)?;
        }
        let mut ended_sessions = Vec::new();
        if let Some(password_hash) = &changes.password_hash {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            ended_sessions = sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_reason = 'password_change'
                 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL RETURNING id",
            )
            .bind(now)
            .bind(id)
            .bind(session)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        }
        if let Some(bio) = &changes.bio {
            sqlx::query("UPDATE users SET bio = $1 WHERE id = $2")
                .bind(bio.as_deref())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(image) = &changes.image {
            sqlx::query("UPDATE users SET image = $1 WHERE id = $2")
                .bind(image.as_deref())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE users SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Updated {
            email_changed,
            ended_sessions,
        })
    }

    /// A new session with its first refresh token.
    pub async fn create_session(
        &self,
        session: &SessionRow,
        refresh_hash: &[u8],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.id)
        .bind(&session.user_id)
        .bind(session.created_at)
        .bind(session.last_used_at)
        .bind(session.expires_at)
        .bind(session.user_agent.as_deref())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)",
        )
        .bind(refresh_hash)
        .bind(&session.id)
        .bind(session.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    pub async fn refresh_token(&self, hash: &[u8]) -> Result<Option<RefreshRow>, sqlx::Error> {
        let sql = format!(
            "SELECT r.used_at, {SESSION_COLUMNS} FROM refresh_tokens r
             JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1"
        );
        let row = sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(RefreshRow {
                used_at: row.try_get("used_at")?,
                session: session_row(&row)?,
            })
        })
        .transpose()
    }

    /// Spends `old` and issues `new` in one transaction. `false` when `old`
    /// was spent concurrently (the caller treats that as reuse).
    pub async fn rotate_refresh(
        &self,
        old: &[u8],
        new: &[u8],
        session_id: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(old)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)",
        )
        .bind(new)
        .bind(session_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn session(&self, id: &str) -> Result<Option<SessionRow>, sqlx::Error> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_row).transpose()
    }

    /// Active sessions of a user, newest first.
    pub async fn active_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<SessionRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s
             WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
             ORDER BY s.created_at DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(session_row).collect()
    }

    /// Revokes one session; `false` if it was already revoked.
    pub async fn revoke_session(
        &self,
        id: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes every active session of `user_id` except `keep`; returns their ids.
    /// Sessions revoked since `since`, to seed the deny-list after a restart.
    pub async fn sessions_revoked_since(&self, since: i64) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query("SELECT id FROM sessions WHERE revoked_at >= $1")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| r.try_get("id")).collect()
    }

    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    /// Revoked access tokens that have not expired yet: `(jti, expires_at)`.
    pub async fn revoked_access_tokens(&self, now: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
        let rows =
            sqlx::query("SELECT jti, expires_at FROM revoked_access_tokens WHERE expires_at > $1")
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("jti")?, r.try_get("expires_at")?)))
            .collect()
    }

    /// Takes one attempt from `key`'s budget of `budget` attempts, before the
    /// password is checked: a failure keeps it, a success clears the key. An
    /// attempt beyond the budget locks the key for `base * 2^(locks so far)`
    /// seconds (at most `max`), and attempts while locked take nothing. One
    /// statement, so concurrent attempts cannot overdraw the budget.
    pub async fn reserve_attempt(
        &self,
        key: &[u8],
        now: i64,
        budget: u32,
        base_secs: u64,
        max_secs: u64,
    ) -> Result<Reservation, sqlx::Error> {
        let row = sqlx::query(
            "INSERT INTO account_lockouts (account_key, failures, locks, updated_at) VALUES ($1, 1, 0, $2)
             ON CONFLICT (account_key) DO UPDATE
                SET failures = account_lockouts.failures + 1, updated_at = $2
                WHERE account_lockouts.locked_until IS NULL OR account_lockouts.locked_until <= $2
             RETURNING failures, locks",
        )
        .bind(key)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(Reservation::Refused {
                until: self.locked_until(key).await?.max(now + 1),
                locked_now: false,
            });
        };
        let failures: i64 = row.try_get("failures")?;
        let locks: i64 = row.try_get("locks")?;
        if failures <= i64::from(budget) {
            return Ok(Reservation::Granted);
        }
        let factor = 1u64 << locks.clamp(0, 20);
        let secs = base_secs.saturating_mul(factor).min(max_secs);
        let until = now + i64::try_from(secs).unwrap_or(i64::MAX / 2);
        // Of the attempts that overdrew the budget at once, one sets the lock.
        let locked = sqlx::query(
            "UPDATE account_lockouts SET failures = 0, locks = locks + 1, locked_until = $1, updated_at = $2
             WHERE account_key = $3 AND (locked_until IS NULL OR locked_until <= $2)",
        )
        .bind(until)
        .bind(now)
        .bind(key)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        Ok(Reservation::Refused {
            until: if locked {
                until
            } else {
                self.locked_until(key).await?.max(now + 1)
            },
            locked_now: locked,
        })
    }

    /// Gives back an attempt taken by [`Self::reserve_attempt`] that was not made.
    pub async fn release_attempt(&self, key: &[u8]) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE account_lockouts SET failures = failures - 1 WHERE account_key = $1 AND failures > 0",
        )
        .bind(key)
        .execute(&self.pool)
        .await
        .map(drop)
    }

    async fn locked_until(&self, key: &[u8]) -> Result<i64, sqlx::Error> {
        let row = sqlx::query("SELECT locked_until FROM account_lockouts WHERE account_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        let until: Option<i64> = row
            .map(|r| r.try_get("locked_until"))
            .transpose()?
            .flatten();
        Ok(until.unwrap_or(0))
    }

    /// Whether the client of `pair_key` logged in to its account since `since`.
    pub async fn is_known_client(&self, pair_key: &[u8], since: i64) -> Result<bool, sqlx::Error> {
        let row = sqlx::query(
            "SELECT 1 AS known FROM known_clients WHERE pair_key = $1 AND last_success_at >= $2",
        )
        .bind(pair_key)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub async fn remember_client(&self, pair_key: &[u8], now: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO known_clients (pair_key, last_success_at) VALUES ($1, $2)
             ON CONFLICT (pair_key) DO UPDATE SET last_success_at = $2",
        )
        .bind(pair_key)
        .bind(now)
        .execute(&self.pool)
        .await
        .map(drop)
    }

    /// Deletes what is past its retention: audit events older than
    /// `audit_before_ms`, budgets untouched since `budgets_before` and not
    /// locked now, clients not seen since `known_before`. Returns the rows deleted.
    pub async fn prune(
        &self,
        now: i64,
        audit_before_ms: i64,
        budgets_before: i64,
        known_before: i64,
    ) -> Result<u64, sqlx::Error> {
        let mut deleted = 0;
        deleted += sqlx::query("DELETE FROM audit_events WHERE at_ms < $1")
            .bind(audit_before_ms)
            .execute(&self.pool)
            .await?
            .rows_affected();
        deleted += sqlx::query(
            "DELETE FROM account_lockouts WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until <= $2)",
        )
        .bind(budgets_before)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        deleted += sqlx::query("DELETE FROM known_clients WHERE last_success_at < $1")
            .bind(known_before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted)
    }

    pub async fn clear_failures(&self, key: &[u8]) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM account_lockouts WHERE account_key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    pub async fn insert_audit(&self, event: &AuditRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit_events (at_ms, kind, user_id, session_id, ip, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(event.at_ms)
        .bind(&event.kind)
        .bind(event.user_id.as_deref())
        .bind(event.session_id.as_deref())
        .bind(event.ip.as_deref())
        .bind(&event.detail)
        .execute(&self.pool)
        .await
        .map(drop)
    }
}

/// What [`Database::reserve_attempt`] gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    Granted,
    /// Locked until `until`; `locked_now` when this attempt set the lock.
    Refused {
        until: i64,
        locked_now: bool,
    },
}

#[derive(Debug, Clone, Copy)]
pub enum ProfileKey {
    Id,
    Username,
}
