//! The revocation deny-list: sessions (`sid`) and single access tokens (`jti`)
//! that must stop working before their tokens expire. Entries only need to
//! outlive the longest access token, so they expire on their own.
//!
//! This is the in-process adapter (the embedded default).

use std::time::Duration;

use moka::sync::Cache;

use crate::tokens::AccessClaims;

/// Longest access-token lifetime the deny-list must cover (the config allows up to 1 h).
const MAX_ENTRY_LIFETIME: Duration = Duration::from_secs(3600 + 60);

#[derive(Clone)]
pub struct DenyList {
    entries: Cache<String, ()>,
}

impl Default for DenyList {
    fn default() -> Self {
        Self::new()
    }
}

impl DenyList {
    pub fn new() -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(MAX_ENTRY_LIFETIME)
                .build(),
        }
    }

    pub fn deny_session(&self, sid: &str) {
        self.entries.insert(format!("s:{sid}"), ());
    }

    pub fn deny_token(&self, jti: &str) {
        self.entries.insert(format!("t:{jti}"), ());
    }

    pub fn is_revoked(&self, claims: &AccessClaims) -> bool {
        self.entries.contains_key(&format!("s:{}", claims.sid))
            || self.entries.contains_key(&format!("t:{}", claims.jti))
    }
}
