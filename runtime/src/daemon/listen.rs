//! Accepting connections: HTTP/1.1 and HTTP/2 with limits a stranger cannot outlast. Headers
//! must arrive within a time limit (a client that sends half a header and waits is dropped),
//! a connection serves a bounded number of requests before it is closed, HTTP/2 streams per
//! connection and connections at once are capped, and stopping drains what is in flight.
//! Bodies have their own size and time limits where they are read (`api/`). With a certificate
//! configured, connections are TLS (rustls), the handshake bounded like the headers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// What one client may ask of the daemon.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time to send a request's headers.
    pub header_read: Duration,
    /// Requests on one connection before the daemon closes it.
    pub requests_per_connection: usize,
    /// Concurrent HTTP/2 streams on one connection.
    pub streams_per_connection: u32,
    /// Connections open at once; more are refused at accept.
    pub connections: usize,
    /// How long stopping waits for requests in flight.
    pub drain: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read: Duration::from_secs(10),
            requests_per_connection: 10_000,
            streams_per_connection: 128,
            connections: 4096,
            drain: Duration::from_secs(10),
        }
    }
}

/// The address a request came from, for the handlers (`Extension<Peer>`).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Loads a PEM certificate chain and private key into a TLS acceptor (HTTP/2 and HTTP/1.1
/// offered by ALPN).
pub fn tls_acceptor(certificate: &Path, private_key: &Path) -> Result<TlsAcceptor, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read the certificate {}: {e}", certificate.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no PEM certificate", certificate.display()));
    }
    let key = PrivateKeyDer::from_pem_file(private_key)
        .map_err(|e| format!("cannot read the private key {}: {e}", private_key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            format!(
                "the certificate {} and key {} do not make a TLS identity: {e}",
                certificate.display(),
                private_key.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.streams_per_connection);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(AtomicUsize::new(0));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        if open.fetch_add(1, Ordering::AcqRel) >= limits.connections {
            open.fetch_sub(1, Ordering::AcqRel);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let served = Arc::new(AtomicUsize::new(0));
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let app = app.clone();
            let n = served.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(Peer(peer));
                let mut resp = match app.oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                if n >= limits.requests_per_connection {
                    resp.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(resp)
            }
        });
        let open = open.clone();
        let builder = builder.clone();
        match &tls {
            None => {
                let conn = graceful.watch(
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned(),
                );
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    open.fetch_sub(1, Ordering::AcqRel);
                });
            }
            Some(acceptor) => {
                // The handshake has the same time limit as a request's headers.
                let handshake = tokio::time::timeout(limits.header_read, acceptor.accept(stream));
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    match handshake.await {
                        Ok(Ok(tls_stream)) => {
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(tls_stream), service)
                                .into_owned();
                            if let Err(e) = watcher.watch(conn).await {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            }
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                    open.fetch_sub(1, Ordering::AcqRel);
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {:?}; stopping anyway", limits.drain);
    }
    Ok(())
}
