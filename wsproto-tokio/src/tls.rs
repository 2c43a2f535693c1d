//! TLS helpers, one set per backend, each behind its Cargo feature:
//!
//! - `rustls` (default): rustls with the ring provider, trusting the webpki root certificates.
//! - `rustls-platform-verifier`: rustls verifying with the operating system's verifier and roots
//!   (`platform_client_config`). With both rustls features, the default client config is this one.
//! - `native-tls`: the platform's TLS library (OpenSSL on Linux, Security.framework, SChannel) through
//!   `tokio-native-tls` (`native_connector_trusting_pem`, `native_acceptor_from_pem`).
//!
//! Without any of them no TLS crate is built, and [`connect`](crate::connect) refuses a `wss://` URL with
//! [`Error::TlsUnavailable`](crate::Error::TlsUnavailable). The server side is always yours: accept the TLS
//! stream with any backend, then hand it to [`accept`](crate::accept) or [`accept_with`](crate::accept_with).

#[cfg(any(feature = "rustls", feature = "rustls-platform-verifier"))]
pub use self::rustls_backend::*;

#[cfg(feature = "native-tls")]
pub use self::native::*;

#[cfg(any(feature = "rustls", feature = "rustls-platform-verifier"))]
mod rustls_backend {
    use std::io;
    use std::path::Path;
    use std::sync::Arc;

    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;

    fn invalid(e: impl ToString) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e.to_string())
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn certs_from_pem(pem: &[u8]) -> io::Result<Vec<CertificateDer<'static>>> {
        CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>().map_err(invalid)
    }

    /// The client config `wss://` uses when [`ConnectOptions::tls`](crate::ConnectOptions::tls) is `None`:
    /// the operating system's verifier with feature `rustls-platform-verifier`, else the webpki root
    /// certificates (feature `rustls`).
    pub fn default_client_config() -> io::Result<Arc<rustls::ClientConfig>> {
        #[cfg(feature = "rustls-platform-verifier")]
        return platform_client_config();
        #[cfg(not(feature = "rustls-platform-verifier"))]
        Ok(webpki_client_config())
    }

    /// A client config trusting the webpki root certificates (Mozilla's list, compiled in).
    #[cfg(feature = "rustls")]
    pub fn webpki_client_config() -> Arc<rustls::ClientConfig> {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        client_config_with_roots(roots)
    }

    /// A client config verifying with the operating system's verifier and root certificates
    /// (rustls-platform-verifier: Security.framework on Apple systems, CryptoAPI on Windows, the Android
    /// trust store; on Linux the system's CA bundle, checked by webpki).
    #[cfg(feature = "rustls-platform-verifier")]
    pub fn platform_client_config() -> io::Result<Arc<rustls::ClientConfig>> {
        platform_client_config_with(Vec::new())
    }

    /// [`platform_client_config`], also trusting the certificates in PEM `pem` (a private CA, or a
    /// self-signed certificate in tests). Not on Android, where the platform verifier takes no extra roots.
    #[cfg(all(feature = "rustls-platform-verifier", not(target_os = "android")))]
    pub fn platform_client_config_trusting_pem(pem: &[u8]) -> io::Result<Arc<rustls::ClientConfig>> {
        platform_client_config_with(certs_from_pem(pem)?)
    }

    #[cfg(feature = "rustls-platform-verifier")]
    fn platform_client_config_with(
        #[allow(unused_variables)] extra: Vec<CertificateDer<'static>>,
    ) -> io::Result<Arc<rustls::ClientConfig>> {
        #[cfg(not(target_os = "android"))]
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider());
        #[cfg(target_os = "android")]
        let verifier = rustls_platform_verifier::Verifier::new(provider());
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .dangerous() // a custom verifier: the platform's, which does verify
            .with_custom_certificate_verifier(Arc::new(verifier.map_err(invalid)?))
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// A client config trusting exactly `roots` (e.g. a self-signed certificate in tests).
    pub fn client_config_with_roots(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// A client config trusting the certificates in PEM `pem`.
    pub fn client_config_trusting_pem(pem: &[u8]) -> io::Result<Arc<rustls::ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs_from_pem(pem)? {
            roots.add(cert).map_err(invalid)?;
        }
        Ok(client_config_with_roots(roots))
    }

    /// A server config from a PEM certificate chain and a PEM private key.
    pub fn server_config_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<Arc<rustls::ServerConfig>> {
        let certs = certs_from_pem(cert_pem)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(invalid)?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(invalid)?;
        Ok(Arc::new(config))
    }

    /// A server config from PEM files (the examples' `--cert` and `--key`).
    pub fn server_config_from_files(cert: &Path, key: &Path) -> io::Result<Arc<rustls::ServerConfig>> {
        server_config_from_pem(&std::fs::read(cert)?, &std::fs::read(key)?)
    }

    /// A TLS acceptor for a server config.
    pub fn acceptor(config: Arc<rustls::ServerConfig>) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(config)
    }
}

#[cfg(feature = "native-tls")]
mod native {
    use std::io;

    use tokio_native_tls::native_tls;

    fn tls_error(e: native_tls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    /// The native-tls connector `wss://` uses when [`ConnectOptions::native_tls`](crate::ConnectOptions::native_tls)
    /// is set, or when native-tls is the only TLS backend built: the platform's roots.
    pub fn native_connector() -> io::Result<native_tls::TlsConnector> {
        native_tls::TlsConnector::new().map_err(tls_error)
    }

    /// A native-tls connector that also trusts the certificates in PEM `pem` (a private CA, or a self-signed
    /// certificate in tests).
    pub fn native_connector_trusting_pem(pem: &[u8]) -> io::Result<native_tls::TlsConnector> {
        let mut builder = native_tls::TlsConnector::builder();
        for block in pem_blocks(pem) {
            builder.add_root_certificate(native_tls::Certificate::from_pem(block).map_err(tls_error)?);
        }
        builder.build().map_err(tls_error)
    }

    /// A native-tls acceptor from a PEM certificate chain and a PEM PKCS #8 private key.
    pub fn native_acceptor_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<tokio_native_tls::TlsAcceptor> {
        let identity = native_tls::Identity::from_pkcs8(cert_pem, key_pem).map_err(tls_error)?;
        Ok(native_tls::TlsAcceptor::new(identity).map_err(tls_error)?.into())
    }

    /// The `-----BEGIN CERTIFICATE-----` blocks of `pem`, each with its end line.
    fn pem_blocks(pem: &[u8]) -> impl Iterator<Item = &[u8]> {
        const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
        const END: &[u8] = b"-----END CERTIFICATE-----";
        let mut rest = pem;
        std::iter::from_fn(move || {
            let begin = rest.windows(BEGIN.len()).position(|w| w == BEGIN)?;
            let end = rest[begin..].windows(END.len()).position(|w| w == END)? + begin + END.len();
            let block = &rest[begin..end];
            rest = &rest[end..];
            Some(block)
        })
    }
}
