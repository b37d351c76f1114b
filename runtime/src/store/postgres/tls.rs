//! TLS to the database. `?sslmode=require` (or libpq's `verify-ca` / `verify-full`) encrypts
//! every connection and verifies the server's certificate and name against the system's
//! trusted roots, plus the PEM certificates of `sslrootcert=PATH` when given. Unlike libpq's
//! `require`, which encrypts without verifying, a certificate that cannot be verified is
//! refused: a store reached over a network is the one named, or none. Without `sslmode` (or
//! with `disable`, `allow`, `prefer`) connections are plain TCP, for a database on a private
//! network or this host.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// Where to connect and how: the URL's own settings, and the TLS connector (used only when the
/// URL asks for TLS).
pub(super) struct Target {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

/// Reads `url`: the two TLS settings tokio-postgres does not know (`sslrootcert`, and
/// `sslmode`'s verify values) are taken out first.
pub(super) fn target(url: &str) -> Result<Target, StoreError> {
    let bad = |what: String| StoreError(format!("--store {}: {what}", redacted(url)));
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = None;
    let mut root_file = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = Some(v.to_string()),
            Some(("sslrootcert", v)) => root_file = Some(v.to_string()),
            _ => rest.push(pair),
        }
    }
    let plain = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config: tokio_postgres::Config = plain.parse().map_err(|e| bad(format!("not a PostgreSQL URL: {e}")))?;
    let tls = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => false,
        Some("require" | "verify-ca" | "verify-full") => true,
        Some(other) => {
            return Err(bad(format!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            )));
        }
    };
    if root_file.is_some() && !tls {
        return Err(bad("sslrootcert is given but sslmode is not require".into()));
    }
    // Never TLS by chance: `prefer` would try it and then fail on a certificate nobody asked
    // to verify.
    config.ssl_mode(if tls { SslMode::Require } else { SslMode::Disable });
    let mut roots = rustls::RootCertStore::empty();
    if tls {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        let mut total = added;
        if let Some(path) = &root_file {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect())
                    .map_err(|e| bad(format!("sslrootcert={path}: cannot read PEM certificates: {e}")))?;
            if certs.is_empty() {
                return Err(bad(format!("sslrootcert={path}: no certificate in the file")));
            }
            let (added, _) = roots.add_parsable_certificates(certs);
            total += added;
        }
        if total == 0 {
            return Err(bad(
                "sslmode=require, but no trusted root certificate was found (give sslrootcert=PATH)".into(),
            ));
        }
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Target {
        config,
        tls: MakeRustlsConnect::new(client),
    })
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((who, host)) => format!("{scheme}://{}@{host}", who.split(':').next().unwrap_or_default()),
        None => url.to_string(),
    }
}
