//! The JWT attack battery: every forged, tampered or out-of-policy token gets
//! 401 from `GET /api/user`. A control token built by the same code and signed
//! correctly gets 200, so each refusal is the attack's doing, not the harness's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Backend, TestAuth};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

struct Forge {
    key: Ed25519KeyPair,
    kid: String,
    public_x: String,
    claims: Value,
}

impl Forge {
    fn header(&self) -> Value {
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": self.kid})
    }

    fn sign_with(key: &Ed25519KeyPair, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let signature = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).as_ref());
        format!("{input}.{signature}")
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        Self::sign_with(&self.key, header, claims)
    }

    fn claims_with(&self, change: impl FnOnce(&mut Value)) -> Value {
        let mut c = self.claims.clone();
        change(&mut c);
        c
    }
}

async fn forge(auth: &TestAuth) -> Forge {
    let token = auth
        .register("mallory", "correct horse battery staple")
        .await;
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let stored: Vec<Value> = serde_json::from_slice(
        auth.secrets
            .get(cloudsec_auth::keys::SECRET)
            .unwrap()
            .unwrap()
            .expose(),
    )
    .unwrap();
    let der = URL_SAFE_NO_PAD
        .decode(stored[0]["pkcs8"].as_str().unwrap())
        .unwrap();
    let key = Ed25519KeyPair::from_pkcs8(&der).unwrap();
    let public_x = URL_SAFE_NO_PAD.encode(key.public_key().as_ref());
    Forge {
        key,
        kid: stored[0]["kid"].as_str().unwrap().to_owned(),
        public_x,
        claims: payload,
    }
}

#[tokio::test]
async fn every_forged_or_out_of_policy_token_is_refused() {
    let auth = TestAuth::start(Backend::Sqlite).await;
    let f = forge(&auth).await;
    let now = f.claims["iat"].as_i64().unwrap();

    let control = f.sign(&f.header(), &f.claims);
    assert_eq!(
        auth.get_user(&control).await,
        StatusCode::OK,
        "control token must pass"
    );

    let attacker = Ed25519KeyPair::from_pkcs8(
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .unwrap()
            .as_ref(),
    )
    .unwrap();
    let attacker_x = URL_SAFE_NO_PAD.encode(attacker.public_key().as_ref());
    let body = f.claims.clone();
    let signed_input = format!("{}.{}", b64(&f.header()), b64(&body));
    let hmac_with = |secret: &[u8], alg: &str| {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": f.kid});
        let input = format!("{}.{}", b64(&header), b64(&body));
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    let public_raw = URL_SAFE_NO_PAD.decode(&f.public_x).unwrap();
    let mut cases: Vec<(String, String)> = Vec::new();
    for none in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": none, "typ": "at+jwt", "kid": f.kid});
        cases.push((
            format!("alg {none}, empty signature"),
            format!("{}.{}.", b64(&header), b64(&body)),
        ));
        cases.push((
            format!("alg {none}, kept signature"),
            format!(
                "{}.{}.{}",
                b64(&header),
                b64(&body),
                control.split('.').nth(2).unwrap()
            ),
        ));
    }
    cases.extend([
        ("stripped signature".into(), format!("{signed_input}.")),
        ("header and payload only".into(), signed_input.clone()),
        ("HS256 keyed with the raw public key".into(), hmac_with(&public_raw, "HS256")),
        ("HS256 keyed with the base64 public key".into(), hmac_with(f.public_x.as_bytes(), "HS256")),
        (
            "HS256 keyed with the JWK JSON".into(),
            hmac_with(json!({"kty": "OKP", "crv": "Ed25519", "x": f.public_x}).to_string().as_bytes(), "HS256"),
        ),
        ("RS256 header on an EdDSA signature".into(), f.sign(&json!({"alg": "RS256", "typ": "at+jwt", "kid": f.kid}), &body)),
        ("foreign key, our kid".into(), Forge::sign_with(&attacker, &f.header(), &body)),
        ("foreign key, unknown kid".into(), Forge::sign_with(&attacker, &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "attacker"}), &body)),
        (
            "embedded jwk of the attacker".into(),
            Forge::sign_with(
                &attacker,
                &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": f.kid, "jwk": {"kty": "OKP", "crv": "Ed25519", "x": attacker_x}}),
                &body,
            ),
        ),
        ("jku pointing elsewhere".into(), f.sign(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": f.kid, "jku": "http://127.0.0.1:1/jwks.json"}), &body)),
        ("x5u pointing elsewhere".into(), f.sign(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": f.kid, "x5u": "http://127.0.0.1:1/cert.pem"}), &body)),
        ("crit extension".into(), f.sign(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": f.kid, "crit": ["exp"]}), &body)),
        ("unknown header field".into(), f.sign(&json!({"alg": "EdDSA", "typ": "at+jwt", "kid": f.kid, "zip": "DEF"}), &body)),
        ("missing kid".into(), f.sign(&json!({"alg": "EdDSA", "typ": "at+jwt"}), &body)),
        ("typ JWT".into(), f.sign(&json!({"alg": "EdDSA", "typ": "JWT", "kid": f.kid}), &body)),
        ("no typ".into(), f.sign(&json!({"alg": "EdDSA", "kid": f.kid}), &body)),
        (
            "tampered payload (other sub)".into(),
            format!("{}.{}.{}", b64(&f.header()), b64(&f.claims_with(|c| c["sub"] = json!("someone-else"))), control.split('.').nth(2).unwrap()),
        ),
        ("expired".into(), f.sign(&f.header(), &f.claims_with(|c| c["exp"] = json!(now - 60)))),
        ("not yet valid".into(), f.sign(&f.header(), &f.claims_with(|c| c["nbf"] = json!(now + 120)))),
        ("no exp".into(), f.sign(&f.header(), &f.claims_with(|c| { c.as_object_mut().unwrap().remove("exp"); }))),
        ("wrong issuer".into(), f.sign(&f.header(), &f.claims_with(|c| c["iss"] = json!("https://evil.example")))),
        ("wrong audience".into(), f.sign(&f.header(), &f.claims_with(|c| c["aud"] = json!("another-api")))),
        (
            "oversized".into(),
            f.sign(&f.header(), &f.claims_with(|c| c["pad"] = json!("x".repeat(5000)))),
        ),
        ("garbage".into(), "garbage".into()),
        ("three dots".into(), "a.b.c".into()),
        ("four segments".into(), format!("{control}.x")),
        ("non-base64 header".into(), format!("!!!.{}", control.split_once('.').unwrap().1)),
        ("header not JSON".into(), format!("{}.{}", URL_SAFE_NO_PAD.encode("not json"), control.split_once('.').unwrap().1)),
    ]);

    for (name, token) in &cases {
        let status = auth.get_user(token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name} was accepted");
        // Bearer spelling too.
        let bearer = auth
            .client
            .get(format!("{}/api/user", auth.url))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            bearer.status(),
            StatusCode::UNAUTHORIZED,
            "{name} was accepted as Bearer"
        );
        assert!(
            bearer.headers().contains_key("www-authenticate"),
            "{name}: no challenge"
        );
    }
    // Control again: the battery did not lock the account or break the key.
    assert_eq!(auth.get_user(&control).await, StatusCode::OK);
}
