//! A test certificate authority made with rcgen, the server configurations a
//! TLS test needs (a good certificate for `localhost` and 127.0.0.1, one for
//! a wrong name, an expired one, one that requires a client certificate),
//! the client identity to present, PEM files for tests that need paths, and
//! TLS for a server script's [`Conn`].
//!
//! Everything uses rustls with the ring provider, as wstether does.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use super::server::{Conn, Seen};
use super::{TempDir, TempFile};

/// The names a good server certificate covers.
pub const LOCAL_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A name no test connects by.
pub const WRONG_NAME: &str = "wrong.example";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate and its private key, in DER and PEM.
pub struct Identity {
    pub cert: CertificateDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
    key_pkcs8: Vec<u8>,
}

/// The name the brief and the tests use for the client's identity.
pub type ClientIdentity = Identity;

impl Identity {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }

    /// The certificate chain to present: the leaf alone (the peer has the CA).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.clone()]
    }
}

/// A test certificate authority.
pub struct TestCa {
    pub cert: CertificateDer<'static>,
    pub pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().expect("generate a CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-sign the CA");
        TestCa {
            pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn issue(
        &self,
        names: &[&str],
        usage: rcgen::ExtendedKeyUsagePurpose,
        adjust: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> Identity {
        let key = rcgen::KeyPair::generate().expect("generate a key");
        // rcgen makes an IP address SAN of each name that parses as one.
        let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(sans).expect("certificate parameters");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names.first().copied().unwrap_or("test"));
        params.extended_key_usages = vec![usage];
        adjust(&mut params);
        let cert = params.signed_by(&key, &self.issuer).expect("sign a certificate");
        Identity {
            cert_pem: cert.pem(),
            cert: cert.der().clone(),
            key_pem: key.serialize_pem(),
            key_pkcs8: key.serialize_der(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server_identity(&self, names: &[&str]) -> Identity {
        self.issue(names, rcgen::ExtendedKeyUsagePurpose::ServerAuth, |_| {})
    }

    /// A server certificate for `names` that expired in 2001.
    pub fn expired_server_identity(&self, names: &[&str]) -> Identity {
        self.issue(names, rcgen::ExtendedKeyUsagePurpose::ServerAuth, |params| {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        })
    }

    /// A client certificate (for mutual TLS) naming `name`.
    pub fn client_identity(&self, name: &str) -> Identity {
        self.issue(&[name], rcgen::ExtendedKeyUsagePurpose::ClientAuth, |_| {})
    }

    /// A server configuration with a certificate for `names` signed by this
    /// CA.
    pub fn server_config(&self, names: &[&str]) -> Arc<ServerConfig> {
        server_config_for(&self.server_identity(names), None)
    }

    /// A good certificate for [`LOCAL_NAMES`].
    pub fn local_server_config(&self) -> Arc<ServerConfig> {
        self.server_config(&LOCAL_NAMES)
    }

    /// A certificate for [`WRONG_NAME`] only: valid, trusted, not for the
    /// host the client dialled.
    pub fn wrong_name_server_config(&self) -> Arc<ServerConfig> {
        self.server_config(&[WRONG_NAME])
    }

    /// Like [`TestCa::server_config`], with a certificate that expired in 2001.
    pub fn expired_server_config(&self, names: &[&str]) -> Arc<ServerConfig> {
        server_config_for(&self.expired_server_identity(names), None)
    }

    /// A server configuration for `names` that requires a client certificate
    /// signed by this CA (see [`TestCa::client_identity`]).
    pub fn server_config_requiring_client_cert(&self, names: &[&str]) -> Arc<ServerConfig> {
        server_config_for(&self.server_identity(names), Some(self.roots()))
    }

    /// A store holding this CA alone.
    pub fn roots(&self) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.clone()).expect("add the test CA");
        Arc::new(roots)
    }

    /// A client configuration trusting this CA alone, for raw clients.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(self.roots());
        Arc::new(builder.with_no_client_auth())
    }

    /// Like [`TestCa::client_config`], presenting `identity`.
    pub fn client_config_with_identity(&self, identity: &Identity) -> Arc<ClientConfig> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(self.roots());
        Arc::new(
            builder
                .with_client_auth_cert(identity.chain(), identity.key())
                .expect("a client key that matches its certificate"),
        )
    }

    /// The CA certificate in a PEM file, removed when the guard drops.
    pub fn pem_file(&self) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "wstether-test-ca-{}-{}.pem",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, &self.pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        TempFile(path)
    }

    /// The CA, a server certificate for `server_names` and a client
    /// certificate, each with its key, as PEM files in a temporary
    /// directory (removed when the value drops).
    pub fn pem_files(&self, server_names: &[&str]) -> PemFiles {
        let dir = TempDir::new("pem");
        let server = self.server_identity(server_names);
        let client = self.client_identity("wstether-test-client");
        PemFiles {
            ca: dir.write("ca.pem", &self.pem),
            server_cert: dir.write("server.pem", &server.cert_pem),
            server_key: dir.write("server.key", &server.key_pem),
            client_cert: dir.write("client.pem", &client.cert_pem),
            client_key: dir.write("client.key", &client.key_pem),
            server,
            client,
            dir,
        }
    }
}

/// PEM files for tests that need paths (see [`TestCa::pem_files`]).
pub struct PemFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// The identities in the files, for a server that must match them.
    pub server: Identity,
    pub client: Identity,
    pub dir: TempDir,
}

/// A server configuration presenting `identity`; with `client_roots`, every
/// client must present a certificate those roots trust.
pub fn server_config_for(identity: &Identity, client_roots: Option<Arc<RootCertStore>>) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions");
    let builder = match client_roots {
        Some(roots) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots, provider())
                .build()
                .expect("a client verifier for the test CA"),
        ),
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(identity.chain(), identity.key())
        .expect("a server key that matches its certificate");
    Arc::new(config)
}

impl Conn {
    /// Completes a TLS handshake with `config` and returns the connection
    /// speaking through TLS from now on. The handshake is journalled
    /// ([`Seen::Tls`], or [`Seen::TlsFailed`] and `None` when the client
    /// refused our certificate, had none where one is required, …).
    pub fn tls(self, config: Arc<ServerConfig>) -> Option<Conn> {
        let Conn {
            conn,
            stream,
            io,
            journal,
            open,
            ..
        } = self;
        drop(io);
        let failed = |error: String| {
            journal.push(Seen::TlsFailed { conn, error });
            None
        };
        let mut tcp = match stream.try_clone() {
            Ok(tcp) => tcp,
            Err(e) => return failed(e.to_string()),
        };
        let mut tls = match ServerConnection::new(config) {
            Ok(tls) => tls,
            Err(e) => return failed(e.to_string()),
        };
        while tls.is_handshaking() {
            if let Err(e) = tls.complete_io(&mut tcp) {
                return failed(e.to_string());
            }
        }
        // TLS 1.3 session tickets go out now rather than with the first
        // write, so a client that only reads sees them in order.
        while tls.wants_write() {
            if let Err(e) = tls.write_tls(&mut tcp) {
                return failed(e.to_string());
            }
        }
        journal.push(Seen::Tls {
            conn,
            sni: tls.server_name().map(str::to_string),
            client_certs: tls.peer_certificates().map_or(0, <[_]>::len),
        });
        Some(Conn {
            conn,
            stream,
            io: Box::new(StreamOwned::new(tls, tcp)),
            tls: true,
            journal,
            open,
        })
    }
}
