//! How connections are made: TLS (rustls) and proxies, and the dialer that opens a TCP
//! connection only once its origin has a free slot, holds the slot for the connection's life and
//! watches the stream for a server's silent close.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Uri};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tower_service::Service;

use crate::config::{ConfigError, ProxySettings};
use crate::log::warn_once;
use crate::stats::Stats;

use super::origin::{Origin, Origins, SILENT_CLOSE_WINDOW};
use super::BoxError;

/// rustls with the bundled Mozilla roots and, like Node, the certificates of
/// `NODE_EXTRA_CA_CERTS` (a file that cannot be read is a warning, not a failure).
pub(super) fn tls_config(
    extra_ca_certs: Option<&str>,
) -> Result<rustls::ClientConfig, ConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca_certs {
        let loaded = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|pem| {
                CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())
            });
        match loaded {
            Ok(certificates) if !certificates.is_empty() => {
                let (_added, ignored) = roots.add_parsable_certificates(certificates);
                if ignored > 0 {
                    warn_once(&format!(
                        "ignored {ignored} unusable certificate(s) in NODE_EXTRA_CA_CERTS ({path})"
                    ));
                }
            }
            Ok(_) => warn_once(&format!(
                "ignoring NODE_EXTRA_CA_CERTS ({path}): no PEM certificate in it"
            )),
            Err(reason) => warn_once(&format!(
                "ignoring extra CA certificates from NODE_EXTRA_CA_CERTS ({path}): {reason}"
            )),
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Proxies from the usual variables; loopback is never proxied, whatever `NO_PROXY` says.
pub(super) fn proxy_matcher(settings: &ProxySettings) -> Result<Option<Matcher>, ConfigError> {
    if settings.http.is_none() && settings.https.is_none() {
        return Ok(None);
    }
    for (value, name) in [
        (&settings.http, "HTTP_PROXY"),
        (&settings.https, "HTTPS_PROXY"),
    ] {
        let usable = value.as_deref().is_none_or(|url| {
            url.parse::<Uri>()
                .is_ok_and(|uri| uri.host().is_some() && uri.scheme_str().is_some())
        });
        if !usable {
            return Err(ConfigError(format!("{name} is not a valid proxy URL")));
        }
    }
    let bypass = format!(
        "localhost,127.0.0.0/8,::1,{}",
        settings.no_proxy.as_deref().unwrap_or("")
    );
    let mut builder = Matcher::builder().no(bypass);
    if let Some(http) = &settings.http {
        builder = builder.http(http.clone());
    }
    if let Some(https) = &settings.https {
        builder = builder.https(https.clone());
    }
    Ok(Some(builder.build()))
}

/// How a connection to an origin is made.
pub(super) enum Route {
    Direct,
    /// Plain http through the proxy: requests go to it in absolute form.
    HttpProxy {
        proxy: Uri,
        auth: Option<HeaderValue>,
    },
    /// https through the proxy: a CONNECT tunnel, then TLS end to end.
    Tunnel {
        proxy: Uri,
        auth: Option<HeaderValue>,
    },
}

impl Route {
    pub(super) fn proxy_auth(self) -> Option<HeaderValue> {
        match self {
            Route::HttpProxy { auth, .. } => auth,
            _ => None,
        }
    }
}

pub(super) fn route(proxies: Option<&Matcher>, uri: &Uri) -> Route {
    let Some(intercept) = proxies.and_then(|m| m.intercept(uri)) else {
        return Route::Direct;
    };
    let proxy = intercept.uri().clone();
    let auth = intercept.basic_auth().cloned();
    if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        Route::Tunnel { proxy, auth }
    } else {
        Route::HttpProxy { proxy, auth }
    }
}

/// Opens TCP connections (directly or through a proxy), each once a slot of its origin is
/// free and only while a request to that origin is in flight, and counts them.
#[derive(Clone)]
pub(super) struct Dialer {
    tcp: HttpConnector,
    origins: Arc<Origins>,
    proxies: Option<Arc<Matcher>>,
    stats: Arc<Stats>,
}

impl Dialer {
    pub(super) fn new(
        tcp: HttpConnector,
        origins: Arc<Origins>,
        proxies: Option<Arc<Matcher>>,
        stats: Arc<Stats>,
    ) -> Self {
        Dialer {
            tcp,
            origins,
            proxies,
            stats,
        }
    }
}

impl Service<Uri> for Dialer {
    type Response = SlotHoldingConnection;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<SlotHoldingConnection, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        let origin = self.origins.of(&uri);
        let route = route(self.proxies.as_deref(), &uri);
        let stats = self.stats.clone();
        Box::pin(async move {
            let slot = origin.slot_while_in_demand().await?;
            let generation = origin.generation.load(Relaxed);
            let (io, proxied) = match route {
                Route::Direct => (tcp.call(uri).await?, false),
                Route::HttpProxy { proxy, .. } => (tcp.call(proxy).await?, true),
                Route::Tunnel { proxy, auth } => {
                    let mut tunnel = Tunnel::new(proxy, tcp);
                    if let Some(auth) = auth {
                        tunnel = tunnel.with_auth(auth);
                    }
                    (tunnel.call(uri).await?, false)
                }
            };
            stats.connections_opened.fetch_add(1, Relaxed);
            Ok(SlotHoldingConnection {
                io: TokioIo::new(CloseWatchingStream {
                    tcp: io.into_inner(),
                    origin,
                    generation,
                    last_data_at: None,
                    closed_silently: false,
                }),
                proxied,
                _slot: slot,
            })
        })
    }
}

/// A connection and the slot it holds: the slot frees when hyper drops the connection.
pub(super) struct SlotHoldingConnection {
    io: TokioIo<CloseWatchingStream>,
    proxied: bool,
    _slot: OwnedSemaphorePermit,
}

impl Connection for SlotHoldingConnection {
    fn connected(&self) -> Connected {
        self.io.inner().tcp.connected().proxy(self.proxied)
    }
}

impl Read for SlotHoldingConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for SlotHoldingConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

/// A TCP stream that notes when data arrives and when the server ends the stream, so that an
/// origin that closes connections right after answering is noticed.
struct CloseWatchingStream {
    tcp: TcpStream,
    origin: Arc<Origin>,
    /// The origin's generation when this connection was opened.
    pub(super) generation: u64,
    /// When data last arrived.
    last_data_at: Option<Instant>,
    closed_silently: bool,
}

impl CloseWatchingStream {
    /// hyper keeps reading an idle kept-alive connection to notice when the server closes it;
    /// an end of stream right after an answer is a silent close.
    fn note_read(&mut self, filled: usize) {
        let now = Instant::now();
        if filled > 0 {
            self.last_data_at = Some(now);
            return;
        }
        let right_after_answer = self
            .last_data_at
            .is_some_and(|last| now.duration_since(last) < SILENT_CLOSE_WINDOW);
        if right_after_answer && !self.closed_silently {
            self.closed_silently = true;
            self.origin.saw_silent_close(self.generation);
        }
    }
}

impl AsyncRead for CloseWatchingStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let filled = buf.filled().len() - before;
            this.note_read(filled);
        }
        polled
    }
}

impl AsyncWrite for CloseWatchingStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }
}
