//! Envelope encryption and keyed hashes for personal data at rest.
//!
//! Each value gets its own random data key (AES-256-GCM); the data key is
//! wrapped by the key-encryption key (KEK) of the configured provider (here:
//! a local key from the secrets store). The associated data binds a ciphertext
//! to its row, so ciphertexts cannot be swapped between rows. A keyed hash
//! (HMAC-SHA-256) gives a lookup index that reveals nothing without the key.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

const VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const WRAPPED_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key must be 32 bytes")]
    KeyLength,
    #[error("encryption failed")]
    Seal,
    #[error("ciphertext is corrupt, was made for other data, or under another key")]
    Open,
}

/// Envelope encryption under a local KEK (`crypto.provider = "local"`).
pub struct Envelope {
    kek: LessSafeKey,
    rng: SystemRandom,
}

impl Envelope {
    pub fn local(kek: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self {
            kek: aes_key(kek)?,
            rng: SystemRandom::new(),
        })
    }

    /// `version | wrap nonce | wrapped data key | nonce | ciphertext+tag`.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut dek = [0u8; KEY_LEN];
        self.rng.fill(&mut dek).map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(1 + WRAPPED_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(VERSION);
        out.extend(self.seal(&self.kek, &dek, aad)?);
        out.extend(self.seal(&aes_key(&dek)?, plaintext, aad)?);
        Ok(out)
    }

    pub fn decrypt(&self, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (&version, rest) = blob.split_first().ok_or(CryptoError::Open)?;
        if version != VERSION || rest.len() < WRAPPED_LEN + NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Open);
        }
        let (wrapped, sealed) = rest.split_at(WRAPPED_LEN);
        let dek = open(&self.kek, wrapped, aad)?;
        open(&aes_key(&dek)?, sealed, aad)
    }

    fn seal(
        &self,
        key: &LessSafeKey,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Seal)?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| CryptoError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend(buf);
        Ok(out)
    }
}

fn aes_key(bytes: &[u8]) -> Result<LessSafeKey, CryptoError> {
    if bytes.len() != KEY_LEN {
        return Err(CryptoError::KeyLength);
    }
    let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::KeyLength)?;
    Ok(LessSafeKey::new(key))
}

fn open(key: &LessSafeKey, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
    let mut buf = ciphertext.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| CryptoError::Open)?;
    Ok(plain.to_vec())
}

/// HMAC-SHA-256 lookup index ("blind index") for values that must be found
/// by equality but not stored in clear.
pub struct KeyedHash(hmac::Key);

impl KeyedHash {
    pub fn new(key: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    pub fn hash(&self, value: &[u8]) -> Vec<u8> {
        hmac::sign(&self.0, value).as_ref().to_vec()
    }
}

/// `n` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out[..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_aad_and_key() {
        let env = Envelope::local(&[7u8; 32]).unwrap();
        let blob = env.encrypt(b"jake@example.com", b"user:1").unwrap();
        assert!(!blob.windows(4).any(|w| w == b"jake"));
        assert_eq!(env.decrypt(&blob, b"user:1").unwrap(), b"jake@example.com");
        assert!(env.decrypt(&blob, b"user:2").is_err(), "bound to its row");
        let other = Envelope::local(&[8u8; 32]).unwrap();
        assert!(other.decrypt(&blob, b"user:1").is_err(), "bound to its key");
        let mut tampered = blob.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(env.decrypt(&tampered, b"user:1").is_err());
        assert!(env.decrypt(&blob[..10], b"user:1").is_err());
    }

    #[test]
    fn same_plaintext_encrypts_differently() {
        let env = Envelope::local(&[7u8; 32]).unwrap();
        assert_ne!(
            env.encrypt(b"x", b"").unwrap(),
            env.encrypt(b"x", b"").unwrap()
        );
    }

    #[test]
    fn keyed_hash_is_deterministic_per_key() {
        let a = KeyedHash::new(b"k1");
        assert_eq!(a.hash(b"v"), a.hash(b"v"));
        assert_ne!(a.hash(b"v"), KeyedHash::new(b"k2").hash(b"v"));
    }
}
