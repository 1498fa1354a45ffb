//! Access-token verifications per second on one core, against the ceiling of
//! the Ed25519 signature check alone. Run: `bash bench/tokens.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudsec_platform::tokens::{AccessClaims, Jwk, Jwks, KeySet, Verifier};
use serde_json::json;

fn rate(run: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up, then count whole iterations within `run`.
    for _ in 0..1000 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < run {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = AccessClaims {
        iss: "cloudsec-auth".into(),
        aud: "cloudsec".into(),
        sub: "0193f1c2-7d1a-7000-8000-000000000001".into(),
        jti: "0193f1c2-7d1a-7000-8000-000000000002".into(),
        sid: "7c1e3d7e-2b9a-4f3e-9d55-000000000003".into(),
        iat: now,
        nbf: now,
        exp: now + 900,
    };
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let input = format!("{header}.{payload}");
    let signature = pair.sign(input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));

    let keys = KeySet::default();
    keys.replace(&Jwks {
        keys: vec![Jwk::ed25519("k1", pair.public_key().as_ref())],
    });
    let verifier = Verifier::new("cloudsec-auth", "cloudsec", keys);
    assert_eq!(*verifier.verify(&token).unwrap(), claims);

    let public = UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref().to_vec());
    let run = Duration::from_secs(3);
    let ceiling = rate(run, || {
        public.verify(input.as_bytes(), signature.as_ref()).unwrap()
    });
    // A token seen for the first time is fully checked; a fresh verifier
    // per round keeps every check a first one.
    let first = rate(run, || {
        Verifier::new("cloudsec-auth", "cloudsec", verifier.keys().clone())
            .verify(&token)
            .unwrap();
    });
    let repeated = rate(run, || {
        verifier.verify(&token).unwrap();
    });
    println!("token bytes:                         {}", token.len());
    println!("Ed25519 verify (ceiling), 1 core:    {ceiling:>10.0} /s");
    println!(
        "Verifier::verify, first sight, 1 core: {first:>8.0} /s  ({:.0}% of ceiling, incl. a new cache)",
        100.0 * first / ceiling
    );
    println!("Verifier::verify, same token again:   {repeated:>8.0} /s  (cached result)");
}
