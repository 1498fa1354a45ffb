//! Argon2id hashes per second with the default parameters (m=19456 KiB, t=2,
//! p=1), on one core and on every core: the ceiling for password logins.
//! Run: `bash bench/logins.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn main() {
    let config = cloudsec_auth::config::PasswordConfig::default();
    let params = Params::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
        None,
    )
    .unwrap();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").unwrap();
    let hash = argon2
        .hash_password(b"correct horse battery staple", &salt)
        .unwrap()
        .to_string();
    let verify = |argon2: &Argon2| {
        let parsed = PasswordHash::new(&hash).unwrap();
        argon2
            .verify_password(b"correct horse battery staple", &parsed)
            .unwrap();
    };
    let run = Duration::from_secs(3);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_core = {
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < run {
            verify(&argon2);
            n += 1;
        }
        f64::from(n) / start.elapsed().as_secs_f64()
    };
    let all = {
        let start = Instant::now();
        let total: u32 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..cores)
                .map(|_| {
                    s.spawn(|| {
                        let mut n = 0;
                        while start.elapsed() < run {
                            verify(&argon2);
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        f64::from(total) / start.elapsed().as_secs_f64()
    };
    println!(
        "Argon2id m={} t={} p={}",
        config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism
    );
    println!("verifications, 1 core:      {per_core:>8.1} /s");
    println!("verifications, {cores} cores:     {all:>8.1} /s  (the login ceiling)");
}
