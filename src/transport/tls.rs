//! Which servers a `wss://` link trusts, and what certificate it shows. There
//! is deliberately no way to switch certificate checks off: tests and private
//! deployments give a root CA.

use std::path::{Path, PathBuf};
use std::string::ToString;
use std::sync::{Arc, OnceLock};
use std::vec::Vec;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::error::TransportError;

/// The trust anchors for `wss://`, and the client certificate if the server
/// asks for one.
#[derive(Clone, Debug, Default)]
pub enum TlsConfig {
    /// The Mozilla root store from `webpki-roots` (the default).
    #[default]
    WebPkiRoots,
    /// These roots only.
    Roots(Arc<RootCertStore>),
    /// The certificates in this PEM file only (read once, when the client is built).
    CaFile(PathBuf),
    /// Mutual TLS: present the certificate chain in `chain` (PEM) with the
    /// private key in `key` (PEM: PKCS #8, PKCS #1 or SEC1), and trust the
    /// roots in `ca` (PEM) or, without one, the Mozilla roots. Files are read
    /// once, when the client is built.
    ClientCert {
        /// The client's certificate chain, leaf first.
        chain: PathBuf,
        /// The client's private key.
        key: PathBuf,
        /// The roots to trust for the server; `None` for the Mozilla roots.
        ca: Option<PathBuf>,
    },
    /// A complete rustls configuration, for pinning or anything else.
    Client(Arc<ClientConfig>),
}

impl TlsConfig {
    /// The rustls configuration, with the ring provider and TLS 1.2 and 1.3.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TransportError> {
        match self {
            TlsConfig::Client(config) => Ok(Arc::clone(config)),
            TlsConfig::WebPkiRoots => mozilla_roots_config().map_err(TransportError::TlsSetup),
            TlsConfig::Roots(roots) => build(RootCertStore::clone(roots), None),
            TlsConfig::CaFile(path) => build(roots_from(path)?, None),
            TlsConfig::ClientCert { chain, key, ca } => {
                let roots = match ca {
                    Some(path) => roots_from(path)?,
                    None => mozilla_roots(),
                };
                let chain = read_certs(chain)?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
                build(roots, Some((chain, key)))
            }
        }
    }
}

fn file_error(path: &Path, error: impl ToString) -> TransportError {
    TransportError::TlsFile {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no certificate in the file"));
    }
    Ok(certs)
}

fn roots_from(path: &Path) -> Result<RootCertStore, TransportError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert).map_err(|e| file_error(path, e))?;
    }
    Ok(roots)
}

fn mozilla_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn build(
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, TransportError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TransportError::TlsSetup)?
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(TransportError::TlsSetup)?,
    };
    Ok(Arc::new(config))
}

/// The default configuration, built once per process and shared: its root
/// store is the largest part of a client's TLS memory.
fn mozilla_roots_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, rustls::Error>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            build(mozilla_roots(), None).map_err(|e| match e {
                TransportError::TlsSetup(e) => e,
                other => rustls::Error::General(other.to_string()),
            })
        })
        .clone()
}
