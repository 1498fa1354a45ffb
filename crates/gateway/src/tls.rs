//! TLS termination at the gateway with rustls: TLS 1.2 and 1.3 only (rustls
//! has no older versions to switch off), HTTP/2 or HTTP/1.1 by ALPN, keys from
//! PEM files or — for local use — a self-signed certificate generated once
//! and kept in the secrets store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use platform::secrets::FileSecrets;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::config::TlsConfig;

/// Secret holding the generated certificate and its key (JSON, both PEM).
const SELF_SIGNED_SECRET: &str = "gateway-tls-self-signed";

#[derive(Serialize, Deserialize)]
struct SelfSigned {
    cert_pem: String,
    key_pem: String,
}

/// The rustls configuration `config` asks for, `None` for plain HTTP.
/// A generated certificate is also written to [`self_signed_cert_path`]
/// so clients can choose to trust it.
pub fn server_config(
    config: &TlsConfig,
    secrets: &FileSecrets,
    data_dir: &Path,
) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    let (certs, key) = match (&config.cert_file, &config.key_file, config.self_signed) {
        (Some(cert), Some(key), false) => (read_certs(cert)?, read_key(key)?),
        (None, None, true) => self_signed(secrets, data_dir)?,
        (None, None, false) => return Ok(None),
        _ => anyhow::bail!(
            "gateway.tls: set cert_file and key_file together, or self_signed = true alone"
        ),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("gateway.tls: TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("gateway.tls: the key does not match the certificate")?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Arc::new(server)))
}

/// Where `self_signed = true` publishes its certificate (PEM).
pub fn self_signed_cert_path(data_dir: &Path) -> PathBuf {
    data_dir.join("gateway-cert.pem")
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| anyhow::anyhow!("gateway.tls.cert_file: {}: {e}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "gateway.tls.cert_file: {} holds no certificate",
        path.display()
    );
    Ok(certs)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| anyhow::anyhow!("gateway.tls.key_file: {}: {e}", path.display()))
}

/// The stored self-signed pair, generated on first use for `localhost`,
/// `127.0.0.1` and `::1`.
fn self_signed(
    secrets: &FileSecrets,
    data_dir: &Path,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let stored = match secrets.get(SELF_SIGNED_SECRET)? {
        Some(secret) => secret,
        None => {
            let names = ["localhost", "127.0.0.1", "::1"].map(str::to_owned);
            let generated = rcgen::generate_simple_self_signed(names)
                .context("gateway.tls.self_signed: generating a certificate")?;
            let pair = SelfSigned {
                cert_pem: generated.cert.pem(),
                key_pem: generated.key_pair.serialize_pem(),
            };
            secrets.put_new(SELF_SIGNED_SECRET, &serde_json::to_vec(&pair)?)?
        }
    };
    let pair: SelfSigned = serde_json::from_slice(stored.expose())
        .context("gateway.tls.self_signed: the stored certificate is corrupt")?;
    std::fs::write(self_signed_cert_path(data_dir), &pair.cert_pem)
        .context("gateway.tls.self_signed: publishing the certificate")?;
    let certs = CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("gateway.tls.self_signed: certificate")?;
    let key = PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes())
        .context("gateway.tls.self_signed: key")?;
    Ok((certs, key))
}
