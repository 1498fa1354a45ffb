//! HTTPS at the gateway: a self-signed certificate for local use, HTTP/2 by
//! ALPN, TLS 1.2 and 1.3 only, HSTS; certificate files from configuration,
//! with start-up errors that name the key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Running, command, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SELF_SIGNED: (&str, &str) = ("CLOUDSEC_GATEWAY__TLS__SELF_SIGNED", "true");

/// A ClientHello offering TLS 1.1 at most (no supported_versions extension).
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend([7u8; 32]); // random
    body.push(0); // no session id
    // Suites the server has (ECDHE-ECDSA/RSA-AES128-GCM), so that the version is what fails.
    body.extend([0x00, 0x04, 0xc0, 0x2b, 0xc0, 0x2f]);
    body.extend([0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00];
    handshake.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x02];
    record.extend(u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend(handshake);
    record
}

#[tokio::test]
async fn https_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let platform = Running::up(dir.path(), port, &[SELF_SIGNED]).await;
    assert_eq!(platform.url, format!("https://127.0.0.1:{port}"));

    // HTTP/2 through ALPN, with HSTS.
    let client = platform.client().build().unwrap();
    let response = client
        .get(format!("{}/api/tags", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    // HTTP/1.1 and a TLS 1.2-only client are served too.
    let http1 = platform.client().http1_only().build().unwrap();
    let response = http1
        .get(format!("{}/", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    let tls12 = platform
        .client()
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert_eq!(
        tls12
            .get(format!("{}/api/tags", platform.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A TLS 1.1 client gets a fatal alert and no ServerHello (rustls answers
    // handshake_failure, as it does to `openssl s_client -tls1_1`).
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tcp.write_all(&tls11_client_hello()).await.unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer.len(), 7, "one alert record only: {answer:?}");
    assert_eq!(answer[0], 0x15, "alert record: {answer:?}");
    assert_eq!(answer[5], 2, "fatal: {answer:?}");

    // No plain HTTP on the TLS port.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/api/tags"))
            .await
            .is_err()
    );

    // The certificate is generated once and reused on restart.
    let cert = std::fs::read(dir.path().join("gateway-cert.pem")).unwrap();
    drop(platform);
    let again = Running::up(dir.path(), 0, &[SELF_SIGNED]).await;
    assert_eq!(
        std::fs::read(dir.path().join("gateway-cert.pem")).unwrap(),
        cert
    );
    let status = again
        .client()
        .build()
        .unwrap()
        .get(format!("{}/api/tags", again.url))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn certificate_files_from_configuration() {
    // Any PEM pair works; the one `self_signed` generated is at hand.
    let first = tempfile::tempdir().unwrap();
    let generated = Running::up(first.path(), 0, &[SELF_SIGNED]).await;
    drop(generated);
    let secrets = first.path().join("secrets");
    let stored = std::fs::read_to_string(secrets.join("gateway-tls-self-signed")).unwrap();
    let json = base64_decode(stored.trim());
    let pair: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("c.pem"), files.path().join("k.pem"));
    std::fs::write(&cert, pair["cert_pem"].as_str().unwrap()).unwrap();
    std::fs::write(&key, pair["key_pem"].as_str().unwrap()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    // The test client trusts `<data_dir>/gateway-cert.pem`: put the same certificate there.
    std::fs::copy(&cert, dir.path().join("gateway-cert.pem")).unwrap();
    let platform = Running::up(
        dir.path(),
        0,
        &[
            ("CLOUDSEC_GATEWAY__TLS__CERT_FILE", cert.to_str().unwrap()),
            ("CLOUDSEC_GATEWAY__TLS__KEY_FILE", key.to_str().unwrap()),
        ],
    )
    .await;
    assert!(platform.url.starts_with("https://"));
    let response = platform
        .client()
        .build()
        .unwrap()
        .get(format!("{}/api/tags", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(platform);

    // Bad settings stop the start with the key's name.
    let not_pem = files.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    for (env, key_name) in [
        (
            vec![("CLOUDSEC_GATEWAY__TLS__CERT_FILE", cert.to_str().unwrap())],
            "gateway.tls.key_file",
        ),
        (
            vec![
                (
                    "CLOUDSEC_GATEWAY__TLS__CERT_FILE",
                    not_pem.to_str().unwrap(),
                ),
                ("CLOUDSEC_GATEWAY__TLS__KEY_FILE", key.to_str().unwrap()),
            ],
            "gateway.tls.cert_file",
        ),
        (
            vec![
                ("CLOUDSEC_GATEWAY__TLS__CERT_FILE", cert.to_str().unwrap()),
                ("CLOUDSEC_GATEWAY__TLS__KEY_FILE", key.to_str().unwrap()),
                SELF_SIGNED,
            ],
            "gateway.tls.self_signed",
        ),
    ] {
        let bad = tempfile::tempdir().unwrap();
        let output = command(&[
            "up",
            "--data-dir",
            bad.path().to_str().unwrap(),
            "--port",
            &free_port().to_string(),
        ])
        .envs(env)
        .output()
        .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(key_name), "{key_name}: {stderr}");
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}
