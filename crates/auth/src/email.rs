//! Email addresses are personal data: stored envelope-encrypted (bound to the
//! user's id) plus a keyed hash of the normalised address for lookup and
//! uniqueness. The raw tables never hold the plaintext.

use anyhow::Context;
use platform::secrets::FileSecrets;
use platform::secrets::crypto::{Envelope, KeyedHash};

pub const KEK_SECRET: &str = "auth-email-kek";
pub const INDEX_SECRET: &str = "auth-email-index-key";

pub struct EmailVault {
    envelope: Envelope,
    index: KeyedHash,
}

impl EmailVault {
    /// Keys come from the secrets store, generated on first start.
    pub fn open(secrets: &FileSecrets) -> anyhow::Result<Self> {
        let kek = secrets.get_or_generate(KEK_SECRET, 32)?;
        let index = secrets.get_or_generate(INDEX_SECRET, 32)?;
        Ok(Self {
            envelope: Envelope::local(kek.expose()).context("email key")?,
            index: KeyedHash::new(index.expose()),
        })
    }

    /// Lookup key: case-insensitive, so `Jake@X.com` and `jake@x.com` are one account.
    pub fn index(&self, email: &str) -> Vec<u8> {
        self.index.hash(email.trim().to_lowercase().as_bytes())
    }

    pub fn seal(&self, user_id: &str, email: &str) -> anyhow::Result<Vec<u8>> {
        Ok(self.envelope.encrypt(email.as_bytes(), &aad(user_id))?)
    }

    pub fn open_for(&self, user_id: &str, sealed: &[u8]) -> anyhow::Result<String> {
        let plain = self.envelope.decrypt(sealed, &aad(user_id))?;
        String::from_utf8(plain).context("stored email is not UTF-8")
    }
}

fn aad(user_id: &str) -> Vec<u8> {
    format!("users.email:{user_id}").into_bytes()
}
