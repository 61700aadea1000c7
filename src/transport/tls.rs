//! Which servers a `wss://` link trusts. There is deliberately no way to
//! switch certificate checks off: tests and private deployments give a root CA.

use std::path::PathBuf;
use std::string::ToString;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use super::error::TransportError;

/// The trust anchors for `wss://`.
#[derive(Clone, Debug, Default)]
pub enum TlsConfig {
    /// The Mozilla root store from `webpki-roots` (the default).
    #[default]
    WebPkiRoots,
    /// These roots only.
    Roots(Arc<RootCertStore>),
    /// The certificates in this PEM file only (read once, when the client is built).
    CaFile(PathBuf),
    /// A complete rustls configuration, for client certificates or pinning.
    Client(Arc<ClientConfig>),
}

impl TlsConfig {
    /// The rustls configuration, with the ring provider and TLS 1.2 and 1.3.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TransportError> {
        let roots = match self {
            TlsConfig::Client(config) => return Ok(Arc::clone(config)),
            TlsConfig::WebPkiRoots => return mozilla_roots_config().map_err(TransportError::TlsSetup),
            TlsConfig::Roots(roots) => RootCertStore::clone(roots),
            TlsConfig::CaFile(path) => {
                let mut roots = RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path).map_err(|e| TransportError::CaFile {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                for cert in certs {
                    let cert = cert.map_err(|e| TransportError::CaFile {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                    roots.add(cert).map_err(|e| TransportError::CaFile {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                }
                if roots.is_empty() {
                    return Err(TransportError::CaFile {
                        path: path.clone(),
                        reason: "no certificate in the file".into(),
                    });
                }
                roots
            }
        };
        build(roots).map_err(TransportError::TlsSetup)
    }
}

fn build(roots: RootCertStore) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The default configuration, built once per process and shared: its root
/// store is the largest part of a client's TLS memory.
fn mozilla_roots_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, rustls::Error>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            build(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        })
        .clone()
}
