//! The pooled HTTP client: hyper's connection pool over a connector of our own, so that every
//! open connection holds one of its origin's `connections` slots until it closes, and the
//! bound on sockets is exact rather than a consequence of how requests are scheduled.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_TYPE, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

use crate::config::{Config, ConfigError, ProxySettings};
use crate::log::warn_once;
use crate::stats::Stats;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Pool = Client<HttpsConnector<Dialer>, Full<Bytes>>;

/// How many times a lookup GET is sent again after its connection failed without a response.
const IDEMPOTENT_RETRIES: u32 = 2;

/// A server that closes a connection this soon after its last answer, without having said
/// `Connection: close`, closes every connection that way: reusing one races its close.
const SILENT_CLOSE_WINDOW: Duration = Duration::from_millis(50);

/// Why an upstream request produced no HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    /// Refused, reset, DNS, TLS, a malformed response...
    Transport,
    /// The body was larger than the configured cap; reading stopped there.
    TooLarge,
    /// `close()` was called on the client.
    Closed,
}

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Which upstream a request goes to; each has its own bound on requests in flight.
#[derive(Debug, Clone, Copy)]
enum Upstream {
    ToolSelector,
    Letta,
}

pub struct HttpClient {
    pool: RwLock<Option<Pool>>,
    // Requests in flight per upstream. The connector's slots already bound sockets; this
    // keeps a burst queued here, inside each call's own deadline, instead of in the pool.
    tool_selector_slots: Semaphore,
    letta_slots: Semaphore,
    proxies: Option<Arc<Matcher>>,
    origins: Arc<Origins>,
    max_response_bytes: usize,
    stats: Arc<Stats>,
}

impl HttpClient {
    pub fn new(config: &Config, stats: Arc<Stats>) -> Result<Self, ConfigError> {
        let proxies = proxy_matcher(&config.proxy)?.map(Arc::new);
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(config.connect_timeout));
        let origins = Arc::new(Origins {
            per_origin: config.connections,
            known: Mutex::default(),
        });
        let dialer = Dialer {
            tcp,
            origins: origins.clone(),
            proxies: proxies.clone(),
            stats: stats.clone(),
        };
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(config.extra_ca_certs.as_deref())?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(dialer);
        let pool = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.keep_alive_timeout)
            .pool_max_idle_per_host(config.connections)
            .build(connector);
        Ok(HttpClient {
            pool: RwLock::new(Some(pool)),
            tool_selector_slots: Semaphore::new(config.connections),
            letta_slots: Semaphore::new(config.connections),
            proxies,
            origins,
            max_response_bytes: config.max_response_bytes,
            stats,
        })
    }

    /// Drops the pool: idle connections close now, busy ones when their request ends.
    pub fn close(&self) {
        if let Ok(mut pool) = self.pool.write() {
            pool.take();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.pool.read().map(|p| p.is_none()).unwrap_or(true)
    }

    /// A lookup: idempotent, so it is sent again if a pooled connection died under it.
    pub async fn get(&self, url: &str, bearer: Option<&str>) -> Result<Reply, Failure> {
        let uri = parse_uri(url)?;
        let mut headers = json_headers();
        if let Some(token) = bearer {
            headers.insert(AUTHORIZATION, header_value(&format!("Bearer {token}"))?);
        }
        let origin = self.origins.of(&uri);
        let mut retries = IDEMPOTENT_RETRIES;
        loop {
            let request =
                self.request(Method::GET, &uri, &origin, headers.clone(), Bytes::new())?;
            match self.send(Upstream::Letta, &origin, request).await {
                Err(Sent::Dropped) if retries > 0 => retries -= 1,
                outcome => return outcome.map_err(Sent::into_failure),
            }
        }
    }

    /// The attach request: sent once. hyper itself resends only a request that never left
    /// because its pooled connection was found closed, as the contract allows.
    pub async fn post_json(
        &self,
        url: &str,
        extra_headers: HeaderMap,
        body: String,
    ) -> Result<Reply, Failure> {
        let uri = parse_uri(url)?;
        let mut headers = json_headers();
        headers.extend(extra_headers);
        let origin = self.origins.of(&uri);
        let request = self.request(Method::POST, &uri, &origin, headers, Bytes::from(body))?;
        self.send(Upstream::ToolSelector, &origin, request)
            .await
            .map_err(Sent::into_failure)
    }

    fn request(
        &self,
        method: Method,
        uri: &Uri,
        origin: &Origin,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        // A plain-http request through a proxy carries the proxy's credentials itself; an
        // https one gets them in the CONNECT of its tunnel instead.
        if uri.scheme() == Some(&http::uri::Scheme::HTTP) {
            if let Some(auth) = route(self.proxies.as_deref(), uri).proxy_auth() {
                headers.insert(PROXY_AUTHORIZATION, auth);
            }
        }
        if origin.closes_silently.load(Relaxed) {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let mut request = Request::builder()
            .method(method)
            .uri(uri.clone())
            .body(Full::new(body))
            .map_err(|_| Failure::Transport)?;
        *request.headers_mut() = headers;
        Ok(request)
    }

    async fn send(
        &self,
        upstream: Upstream,
        origin: &Origin,
        request: Request<Full<Bytes>>,
    ) -> Result<Reply, Sent> {
        let pool = self
            .pool
            .read()
            .ok()
            .and_then(|p| p.clone())
            .ok_or(Sent::Failed(Failure::Closed))?;
        let slots = match upstream {
            Upstream::ToolSelector => &self.tool_selector_slots,
            Upstream::Letta => &self.letta_slots,
        };
        let _slot = slots
            .acquire()
            .await
            .map_err(|_| Sent::Failed(Failure::Closed))?;
        self.stats.upstream_requests.fetch_add(1, Relaxed);
        let _demand = origin.demand();
        let response = pool
            .request(request)
            .await
            .map_err(|e| self.failed(origin, &e, !e.is_connect()))?;
        let status = response.status().as_u16();
        let mut incoming = response.into_body();
        let mut body = Vec::new();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| self.failed(origin, &e, true))?;
            if let Ok(data) = frame.into_data() {
                if body.len() + data.len() > self.max_response_bytes {
                    return Err(Sent::Failed(Failure::TooLarge));
                }
                body.extend_from_slice(&data);
            }
        }
        // hyper hands the connection back to the pool from a task of its own once the body is
        // done; one turn of the scheduler lets that happen before the caller's next request,
        // which would otherwise find the pool empty and wait for, or open, another connection.
        drop(incoming);
        tokio::task::yield_now().await;
        Ok(Reply { status, body })
    }

    /// Classifies a failed exchange. A connection that was up and then dropped without an
    /// answer is how a silently closing server shows itself when the race is lost: learn it.
    fn failed(
        &self,
        origin: &Origin,
        error: &(dyn std::error::Error + 'static),
        was_connected: bool,
    ) -> Sent {
        match classify(error) {
            Failure::Transport if was_connected => {
                origin.learn_closes_silently();
                Sent::Dropped
            }
            failure => Sent::Failed(failure),
        }
    }
}

/// How one exchange went wrong, before it is reported as a [`Failure`].
enum Sent {
    /// The connection was established and then lost without a complete answer.
    Dropped,
    Failed(Failure),
}

impl Sent {
    fn into_failure(self) -> Failure {
        match self {
            Sent::Dropped => Failure::Transport,
            Sent::Failed(failure) => failure,
        }
    }
}

fn parse_uri(url: &str) -> Result<Uri, Failure> {
    url.parse::<Uri>().map_err(|_| Failure::Transport)
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

/// Configuration already refuses control characters, so this only fails on values a caller
/// built by hand; the failure says nothing of the value.
pub fn header_value(value: &str) -> Result<HeaderValue, Failure> {
    let mut header = HeaderValue::from_str(value).map_err(|_| Failure::Transport)?;
    header.set_sensitive(true);
    Ok(header)
}

/// A timeout anywhere in the error's causes (the connect timeout) is a timeout; anything else
/// that kept a response from arriving is a transport failure.
fn classify(error: &(dyn std::error::Error + 'static)) -> Failure {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::TimedOut {
                return Failure::Timeout;
            }
        }
        cause = e.source();
    }
    Failure::Transport
}

/// rustls with the bundled Mozilla roots and, like Node, the certificates of
/// `NODE_EXTRA_CA_CERTS` (a file that cannot be read is a warning, not a failure).
fn tls_config(extra_ca_certs: Option<&str>) -> Result<rustls::ClientConfig, ConfigError> {
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
fn proxy_matcher(settings: &ProxySettings) -> Result<Option<Matcher>, ConfigError> {
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
enum Route {
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
    fn proxy_auth(self) -> Option<HeaderValue> {
        match self {
            Route::HttpProxy { auth, .. } => auth,
            _ => None,
        }
    }
}

fn route(proxies: Option<&Matcher>, uri: &Uri) -> Route {
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

/// What the client keeps per origin (scheme, host and port).
struct Origin {
    /// `connections` slots, each held by one open connection.
    slots: Arc<Semaphore>,
    /// Requests to this origin in hyper's pool: waiting for a connection or using one.
    in_flight: AtomicUsize,
    /// Signalled when `in_flight` falls to zero.
    drained: Notify,
    /// Set once the origin is seen closing connections right after answering without
    /// `Connection: close`; from then on its requests ask for `Connection: close` themselves,
    /// so no request goes out on a connection the server is about to close.
    closes_silently: AtomicBool,
    authority: String,
}

impl Origin {
    fn new(per_origin: usize, authority: &str) -> Self {
        Origin {
            slots: Arc::new(Semaphore::new(per_origin)),
            in_flight: AtomicUsize::new(0),
            drained: Notify::new(),
            closes_silently: AtomicBool::new(false),
            authority: authority.to_owned(),
        }
    }

    /// Counts a request as in flight until the guard drops.
    fn demand(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, SeqCst);
        InFlight(self)
    }

    /// A slot for a new connection, as long as some request to this origin is in flight.
    ///
    /// hyper's pool races a connect against every checkout that finds no idle connection and,
    /// when the checkout wins, lets the connect go on in the background. With every slot taken
    /// that connect waits for one, and a slot frees when an idle connection expires: long after
    /// the calls that started it are over, it would open a connection nobody asked for. It gives
    /// up instead once nothing is in flight. (A connect made for a waiting request always sees
    /// that request in flight.)
    async fn slot_while_in_demand(&self) -> Result<OwnedSemaphorePermit, BoxError> {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            // Registered before the check, so a drain between the two still wakes this.
            drained.as_mut().enable();
            if self.in_flight.load(SeqCst) == 0 {
                return Err("no request needs a new connection".into());
            }
            tokio::select! {
                slot = self.slots.clone().acquire_owned() => return Ok(slot?),
                () = &mut drained => {}
            }
        }
    }

    fn learn_closes_silently(&self) {
        if !self.closes_silently.swap(true, Relaxed) {
            warn_once(&format!(
                "{} closes connections right after answering without saying so; \
                 its requests now ask for a new connection each (Connection: close)",
                self.authority
            ));
        }
    }
}

/// A request in flight to an origin; see `Origin::slot_while_in_demand`.
struct InFlight<'a>(&'a Origin);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, SeqCst) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

struct Origins {
    per_origin: usize,
    known: Mutex<std::collections::HashMap<String, Arc<Origin>>>,
}

impl Origins {
    fn of(&self, uri: &Uri) -> Arc<Origin> {
        let authority = uri.authority().map_or("", |a| a.as_str());
        let key = format!("{}://{authority}", uri.scheme_str().unwrap_or("http"));
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .entry(key)
            .or_insert_with(|| Arc::new(Origin::new(self.per_origin, authority)))
            .clone()
    }
}

/// Opens TCP connections (directly or through a proxy), each once a slot of its origin is
/// free and only while a request to that origin is in flight, and counts them.
#[derive(Clone)]
struct Dialer {
    tcp: HttpConnector,
    origins: Arc<Origins>,
    proxies: Option<Arc<Matcher>>,
    stats: Arc<Stats>,
}

impl Service<Uri> for Dialer {
    type Response = Slotted;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Slotted, BoxError>> + Send>>;

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
            Ok(Slotted {
                io,
                proxied,
                origin,
                last_data_at: AtomicU64::new(0),
                epoch: Instant::now(),
                _slot: slot,
            })
        })
    }
}

/// A connection and the slot it holds: the slot frees when hyper drops the connection.
struct Slotted {
    io: TokioIo<TcpStream>,
    proxied: bool,
    origin: Arc<Origin>,
    /// When data last arrived, in microseconds since `epoch` (0: never).
    last_data_at: AtomicU64,
    epoch: Instant,
    _slot: OwnedSemaphorePermit,
}

impl Slotted {
    fn micros_since_epoch(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// hyper keeps reading an idle kept-alive connection to notice when the server closes it;
    /// an end of stream right after an answer means the server closes after every answer.
    fn note_read(&self, filled: usize) {
        let now = self.micros_since_epoch();
        if filled > 0 {
            self.last_data_at.store(now.max(1), Relaxed);
            return;
        }
        let last = self.last_data_at.load(Relaxed);
        let window = u64::try_from(SILENT_CLOSE_WINDOW.as_micros()).unwrap_or(u64::MAX);
        if last > 0 && now.saturating_sub(last) < window {
            self.origin.learn_closes_silently();
        }
    }
}

impl Connection for Slotted {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl Read for Slotted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // Read through a tokio ReadBuf so the number of bytes filled is known.
        let unfilled = unsafe { buf.as_mut() };
        let mut tokio_buf = tokio::io::ReadBuf::uninit(unfilled);
        let polled = {
            let io = self.io.inner_mut();
            tokio::io::AsyncRead::poll_read(Pin::new(io), cx, &mut tokio_buf)
        };
        if let Poll::Ready(Ok(())) = polled {
            let filled = tokio_buf.filled().len();
            unsafe { buf.advance(filled) };
            self.note_read(filled);
        }
        polled
    }
}

impl Write for Slotted {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connect_with_nothing_in_flight_gives_up_at_once() {
        let origin = Origin::new(2, "example.test");
        assert!(origin.slot_while_in_demand().await.is_err());
        assert_eq!(origin.slots.available_permits(), 2);
    }

    #[tokio::test]
    async fn a_connect_for_a_request_in_flight_takes_a_free_slot() {
        let origin = Origin::new(2, "example.test");
        let _request = origin.demand();
        let slot = origin.slot_while_in_demand().await.expect("a slot is free");
        assert_eq!(origin.slots.available_permits(), 1);
        drop(slot);
        assert_eq!(origin.slots.available_permits(), 2);
    }

    /// A connect started in the background for `origin`; the task says whether it got a slot.
    fn connect_in_background(origin: &Arc<Origin>) -> tokio::task::JoinHandle<bool> {
        let origin = origin.clone();
        tokio::spawn(async move { origin.slot_while_in_demand().await.is_ok() })
    }

    #[tokio::test]
    async fn a_connect_waiting_for_a_slot_gives_up_when_the_requests_are_over() {
        let origin = Arc::new(Origin::new(1, "example.test"));
        let open_connection = origin.slots.clone().acquire_owned().await.unwrap();
        let request = origin.demand();
        let waiting = connect_in_background(&origin);
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "it waits while the request is in flight"
        );
        drop(request);
        assert!(
            !waiting.await.unwrap(),
            "it gave up once nothing was in flight"
        );
        // The idle connection closing later frees a slot that nobody takes.
        drop(open_connection);
        assert_eq!(origin.slots.available_permits(), 1);
    }

    #[tokio::test]
    async fn a_connect_waiting_for_a_slot_takes_it_while_a_request_is_in_flight() {
        let origin = Arc::new(Origin::new(1, "example.test"));
        let open_connection = origin.slots.clone().acquire_owned().await.unwrap();
        let _request = origin.demand();
        let waiting = connect_in_background(&origin);
        tokio::task::yield_now().await;
        drop(open_connection);
        assert!(waiting.await.unwrap());
    }
}
