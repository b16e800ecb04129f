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
use http::header::{
    ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_TYPE, PROXY_AUTHORIZATION, USER_AGENT,
};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

use crate::config::{Config, ConfigError, ProxySettings};
use crate::log::{warn, warn_once};
use crate::stats::Stats;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Pool = Client<HttpsConnector<Dialer>, Full<Bytes>>;

/// How many times a lookup GET is sent again after its connection failed without a response.
const IDEMPOTENT_RETRIES: u32 = 2;

/// A connection a server closes this soon after its last answer, without having said
/// `Connection: close`, was closed silently: reusing such connections races their close.
const SILENT_CLOSE_WINDOW: Duration = Duration::from_millis(50);

/// Silent closes, each on a different connection and within `OBSERVATION_WINDOW`, before an
/// origin is asked for `Connection: close`: one alone is as likely a restart at that moment.
const OBSERVATIONS_TO_LEARN: u32 = 2;
const OBSERVATION_WINDOW: Duration = Duration::from_secs(60);

/// After this many requests or this long asking for `Connection: close` (whichever comes
/// first), an origin is given kept-alive connections again, so a coincidence or an upstream
/// fixed since is unlearnt. The probe waits for a request that goes out alone, so that if the
/// server still closes silently, no more than that request's connection can lose a race; under
/// load with no such moment, it is forced at `FORCED_REPROBE_FACTOR` times the bounds. Each
/// relearning soon after a probe doubles the bounds, up to `MAX_REPROBE_DOUBLINGS` times.
const REPROBE_AFTER_REQUESTS: u64 = 256;
const REPROBE_AFTER: Duration = Duration::from_secs(60);
const FORCED_REPROBE_FACTOR: u32 = 4;
const MAX_REPROBE_DOUBLINGS: u32 = 6;

/// Why an upstream request produced no HTTP response; each has its result line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    /// Refused, reset, DNS, TLS, a malformed response...
    Transport,
    /// The body was larger than the configured cap; reading stopped there.
    TooLarge,
}

/// Why a request got no reply: a failure, or a client closed before it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// `close()` was called on the client: the call rejects rather than resolving to a line.
    Closed,
    Failed(Failure),
}

impl From<Failure> for RequestError {
    fn from(failure: Failure) -> Self {
        RequestError::Failed(failure)
    }
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
    pub async fn get(&self, url: &str, bearer: Option<&str>) -> Result<Reply, RequestError> {
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
                outcome => return outcome.map_err(Sent::into_error),
            }
        }
    }

    /// The attach request: sent once. hyper itself resends only a request that never left
    /// because its pooled connection was found closed, as BEHAVIOUR.md §4 allows.
    pub async fn post_json(
        &self,
        url: &str,
        extra_headers: HeaderMap,
        body: String,
    ) -> Result<Reply, RequestError> {
        let mut headers = json_headers();
        headers.extend(extra_headers);
        self.post(Upstream::ToolSelector, url, headers, body).await
    }

    /// A POST to the Letta API (the loop trigger's message), sent once like the attach request
    /// and bounded like the lookups. `headers` are all the request's headers.
    pub async fn post_to_letta(
        &self,
        url: &str,
        headers: HeaderMap,
        body: String,
    ) -> Result<Reply, RequestError> {
        self.post(Upstream::Letta, url, headers, body).await
    }

    async fn post(
        &self,
        upstream: Upstream,
        url: &str,
        headers: HeaderMap,
        body: String,
    ) -> Result<Reply, RequestError> {
        let uri = parse_uri(url)?;
        let origin = self.origins.of(&uri);
        let request = self.request(Method::POST, &uri, &origin, headers, Bytes::from(body))?;
        self.send(upstream, &origin, request)
            .await
            .map_err(Sent::into_error)
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
        if origin.asks_for_close() {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
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
            .ok_or(Sent::Closed)?;
        let slots = match upstream {
            Upstream::ToolSelector => &self.tool_selector_slots,
            Upstream::Letta => &self.letta_slots,
        };
        let _slot = slots.acquire().await.map_err(|_| Sent::Closed)?;
        self.stats.upstream_requests.fetch_add(1, Relaxed);
        let _request = origin.request_in_flight();
        let response = pool
            .request(request)
            .await
            .map_err(|e| failed(&e, !e.is_connect()))?;
        let status = response.status().as_u16();
        let collected = Limited::new(response.into_body(), self.max_response_bytes)
            .collect()
            .await;
        let body = match collected {
            Ok(collected) => Vec::from(collected.to_bytes()),
            Err(e) if e.is::<LengthLimitError>() => return Err(Sent::Failed(Failure::TooLarge)),
            Err(e) => return Err(failed(&*e, true)),
        };
        // hyper hands the connection back to the pool from a task of its own once the body is
        // done; one turn of the scheduler lets that happen before the caller's next request,
        // which would otherwise find the pool empty and wait for, or open, another connection.
        tokio::task::yield_now().await;
        Ok(Reply { status, body })
    }
}

/// Classifies a failed exchange. A connection that was up and then dropped without an answer
/// may be retried if the request is idempotent. (When it was a silently closing server, the
/// connection's own end of stream has already been noted: see `Watched::note_read`.)
fn failed(error: &(dyn std::error::Error + 'static), was_connected: bool) -> Sent {
    match classify(error) {
        Failure::Transport if was_connected => Sent::Dropped,
        failure => Sent::Failed(failure),
    }
}

/// How one exchange went wrong, before it is reported as a [`RequestError`].
enum Sent {
    /// The connection was established and then lost without a complete answer.
    Dropped,
    Failed(Failure),
    Closed,
}

impl Sent {
    fn into_error(self) -> RequestError {
        match self {
            Sent::Dropped => RequestError::Failed(Failure::Transport),
            Sent::Failed(failure) => RequestError::Failed(failure),
            Sent::Closed => RequestError::Closed,
        }
    }
}

/// Every request says who sent it, so Letta's and the Tool Selector's logs can tell this
/// client's calls apart. The crate's version is the package's (`npm version` syncs it).
const USER_AGENT_VALUE: &str = concat!("letta-find-tools/", env!("CARGO_PKG_VERSION"));

fn parse_uri(url: &str) -> Result<Uri, Failure> {
    url.parse::<Uri>().map_err(|_| Failure::Transport)
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

/// A credential's header, each character one Latin-1 byte (HTTP's obs-text above 0x7F), as
/// legacy's `http.client` encoded it. Configuration already refuses control characters and
/// characters beyond U+00FF, so this only fails on values a caller built by hand; the failure
/// says nothing of the value.
pub fn header_value(value: &str) -> Result<HeaderValue, Failure> {
    let latin1 = value
        .chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| Failure::Transport))
        .collect::<Result<Vec<u8>, Failure>>()?;
    let mut header = HeaderValue::from_bytes(&latin1).map_err(|_| Failure::Transport)?;
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
    /// Set while the origin is believed to close connections right after answering without
    /// `Connection: close`: its requests then ask for `Connection: close` themselves, so no
    /// request goes out on a connection the server is about to close. The fast path of every
    /// request; the details live in `habit`.
    asking_for_close: AtomicBool,
    habit: Mutex<CloseHabit>,
    /// Bumped at every switch of `asking_for_close`; a connection remembers the one it was
    /// opened under, and only a connection opened since the last switch can count as an
    /// observation (one opened while asking for close was closed because we asked).
    generation: AtomicU64,
    authority: String,
}

impl Origin {
    fn new(per_origin: usize, authority: &str) -> Self {
        Origin {
            slots: Arc::new(Semaphore::new(per_origin)),
            in_flight: AtomicUsize::new(0),
            drained: Notify::new(),
            asking_for_close: AtomicBool::new(false),
            habit: Mutex::default(),
            generation: AtomicU64::new(0),
            authority: authority.to_owned(),
        }
    }

    /// Counts a request as in flight until the guard drops.
    fn request_in_flight(&self) -> OriginRequest<'_> {
        self.in_flight.fetch_add(1, SeqCst);
        OriginRequest(self)
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

    /// Whether the next request should ask for `Connection: close`.
    fn asks_for_close(&self) -> bool {
        if !self.asking_for_close.load(Relaxed) {
            return false;
        }
        let alone = self.in_flight.load(SeqCst) == 0;
        let mut habit = self.habit.lock().unwrap_or_else(|e| e.into_inner());
        match habit.next_request(Instant::now(), alone) {
            Asking::Close => true,
            Asking::KeepAliveAgain { requests, elapsed } => {
                self.switch(false);
                warn(&format!(
                    "{}: asking for kept-alive connections again after {requests} requests \
                     ({} s) with Connection: close; relearnt if it still closes them silently",
                    self.authority,
                    elapsed.as_secs()
                ));
                false
            }
        }
    }

    /// A connection opened under `generation` was closed by the server right after an answer.
    fn saw_silent_close(&self, generation: u64) {
        if self.generation.load(Relaxed) != generation {
            return;
        }
        let mut habit = self.habit.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Relaxed) != generation || self.asking_for_close.load(Relaxed) {
            return;
        }
        if let Some(probe) = habit.observe(Instant::now()) {
            self.switch(true);
            warn(&format!(
                "{} closed {OBSERVATIONS_TO_LEARN} connections right after answering without \
                 saying so; its requests now ask for a new connection each (Connection: close) \
                 for the next {} requests or {} s",
                self.authority,
                probe.requests,
                probe.after.as_secs()
            ));
        }
    }

    fn switch(&self, ask_for_close: bool) {
        self.generation.fetch_add(1, Relaxed);
        self.asking_for_close.store(ask_for_close, Relaxed);
    }
}

/// When the next re-probe of keep-alive is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Probe {
    requests: u64,
    after: Duration,
}

#[derive(Debug, PartialEq, Eq)]
enum Asking {
    Close,
    KeepAliveAgain { requests: u64, elapsed: Duration },
}

/// What an origin has shown of its closing habit: silent closes seen while connections were
/// kept alive, or, while asking for `Connection: close`, how long that has gone on.
#[derive(Debug, Default)]
struct CloseHabit {
    /// Silent closes in the current observation window, and when the window began.
    seen: u32,
    window_start: Option<Instant>,
    asking: Option<AskingSince>,
    /// When keep-alive was last re-probed, and how often relearning has followed a probe soon.
    probed_at: Option<Instant>,
    doublings: u32,
}

#[derive(Debug, Clone, Copy)]
struct AskingSince {
    since: Instant,
    requests: u64,
    probe: Probe,
}

impl CloseHabit {
    /// Counts one silent close; returns the re-probe schedule when it is enough to start asking
    /// for `Connection: close`.
    fn observe(&mut self, now: Instant) -> Option<Probe> {
        if self.asking.is_some() {
            return None;
        }
        let window_open = self
            .window_start
            .is_some_and(|start| now.duration_since(start) < OBSERVATION_WINDOW);
        if !window_open {
            self.window_start = Some(now);
            self.seen = 0;
        }
        self.seen += 1;
        if self.seen < OBSERVATIONS_TO_LEARN {
            return None;
        }
        let relearnt_soon = self
            .probed_at
            .is_some_and(|probed| now.duration_since(probed) < OBSERVATION_WINDOW);
        self.doublings = if relearnt_soon {
            (self.doublings + 1).min(MAX_REPROBE_DOUBLINGS)
        } else {
            0
        };
        let probe = Probe {
            requests: REPROBE_AFTER_REQUESTS << self.doublings,
            after: REPROBE_AFTER * (1 << self.doublings),
        };
        self.asking = Some(AskingSince {
            since: now,
            requests: 0,
            probe,
        });
        self.seen = 0;
        self.window_start = None;
        Some(probe)
    }

    /// Called for each request while asking for `Connection: close`; `alone` when no other
    /// request to the origin is in flight.
    fn next_request(&mut self, now: Instant, alone: bool) -> Asking {
        let Some(asking) = self.asking.as_mut() else {
            return Asking::Close;
        };
        let elapsed = now.duration_since(asking.since);
        let past = |factor: u32| {
            asking.requests >= asking.probe.requests * u64::from(factor)
                || elapsed >= asking.probe.after * factor
        };
        if (alone && past(1)) || past(FORCED_REPROBE_FACTOR) {
            let requests = asking.requests;
            self.asking = None;
            self.probed_at = Some(now);
            return Asking::KeepAliveAgain { requests, elapsed };
        }
        asking.requests += 1;
        Asking::Close
    }
}

/// A request in flight to an origin; see `Origin::slot_while_in_demand`.
struct OriginRequest<'a>(&'a Origin);

impl Drop for OriginRequest<'_> {
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
            Ok(Slotted {
                io: TokioIo::new(Watched {
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
struct Slotted {
    io: TokioIo<Watched>,
    proxied: bool,
    _slot: OwnedSemaphorePermit,
}

impl Connection for Slotted {
    fn connected(&self) -> Connected {
        self.io.inner().tcp.connected().proxy(self.proxied)
    }
}

impl Read for Slotted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
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

/// A TCP stream that notes when data arrives and when the server ends the stream, so that an
/// origin that closes connections right after answering is noticed.
struct Watched {
    tcp: TcpStream,
    origin: Arc<Origin>,
    /// The origin's generation when this connection was opened.
    generation: u64,
    /// When data last arrived.
    last_data_at: Option<Instant>,
    closed_silently: bool,
}

impl Watched {
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

impl AsyncRead for Watched {
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

impl AsyncWrite for Watched {
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
        let _request = origin.request_in_flight();
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
        let request = origin.request_in_flight();
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
        let _request = origin.request_in_flight();
        let waiting = connect_in_background(&origin);
        tokio::task::yield_now().await;
        drop(open_connection);
        assert!(waiting.await.unwrap());
    }

    #[test]
    fn one_silent_close_is_not_learnt() {
        let start = Instant::now();
        let mut habit = CloseHabit::default();
        assert_eq!(habit.observe(start), None);
        // The next one comes after the window: the first is forgotten.
        assert_eq!(habit.observe(start + OBSERVATION_WINDOW), None);
        let probe = habit.observe(start + OBSERVATION_WINDOW + Duration::from_secs(1));
        assert_eq!(
            probe,
            Some(Probe {
                requests: REPROBE_AFTER_REQUESTS,
                after: REPROBE_AFTER
            })
        );
    }

    #[test]
    fn keep_alive_is_probed_again_after_a_bounded_number_of_requests() {
        let start = Instant::now();
        let mut habit = CloseHabit::default();
        habit.observe(start);
        assert!(habit.observe(start).is_some());
        for _ in 0..REPROBE_AFTER_REQUESTS {
            assert_eq!(habit.next_request(start, true), Asking::Close);
        }
        assert_eq!(
            habit.next_request(start, true),
            Asking::KeepAliveAgain {
                requests: REPROBE_AFTER_REQUESTS,
                elapsed: Duration::ZERO
            }
        );
        // Kept alive again: observations count anew.
        assert_eq!(habit.observe(start + REPROBE_AFTER * 2), None);
    }

    #[test]
    fn keep_alive_is_probed_again_after_a_bounded_time() {
        let start = Instant::now();
        let mut habit = CloseHabit::default();
        habit.observe(start);
        habit.observe(start);
        assert_eq!(
            habit.next_request(start + Duration::from_secs(1), true),
            Asking::Close
        );
        assert!(matches!(
            habit.next_request(start + REPROBE_AFTER, true),
            Asking::KeepAliveAgain { requests: 1, .. }
        ));
    }

    #[test]
    fn under_load_the_probe_waits_for_a_request_alone_up_to_a_bound() {
        let start = Instant::now();
        let mut habit = CloseHabit::default();
        habit.observe(start);
        habit.observe(start);
        let busy = |habit: &mut CloseHabit, now| habit.next_request(now, false);
        assert_eq!(busy(&mut habit, start + REPROBE_AFTER), Asking::Close);
        assert!(matches!(
            habit.next_request(start + REPROBE_AFTER, true),
            Asking::KeepAliveAgain { .. }
        ));
        habit.observe(start + REPROBE_AFTER);
        habit.observe(start + REPROBE_AFTER);
        let mut busy_requests = 0;
        while busy(&mut habit, start + REPROBE_AFTER) == Asking::Close {
            busy_requests += 1;
        }
        // Relearnt right after the probe: the bounds doubled, and under load four times that.
        assert_eq!(
            busy_requests,
            REPROBE_AFTER_REQUESTS * 2 * u64::from(FORCED_REPROBE_FACTOR)
        );
    }

    #[test]
    fn relearning_soon_after_a_probe_spaces_the_probes_out() {
        let mut now = Instant::now();
        let mut habit = CloseHabit::default();
        let mut schedule = Vec::new();
        for _ in 0..(MAX_REPROBE_DOUBLINGS + 2) {
            habit.observe(now);
            let probe = habit.observe(now).expect("learnt");
            schedule.push(probe.requests);
            now += probe.after;
            assert!(matches!(
                habit.next_request(now, true),
                Asking::KeepAliveAgain { .. }
            ));
        }
        let most = REPROBE_AFTER_REQUESTS << MAX_REPROBE_DOUBLINGS;
        assert_eq!(schedule[..3], [256, 512, 1024]);
        assert_eq!(schedule[schedule.len() - 2..], [most, most]);
        // A server that behaves for a while after a probe starts the schedule over.
        habit.observe(now + OBSERVATION_WINDOW);
        let probe = habit.observe(now + OBSERVATION_WINDOW).unwrap();
        assert_eq!(probe.requests, REPROBE_AFTER_REQUESTS);
    }

    #[test]
    fn an_origin_counts_each_connection_of_the_current_generation_once() {
        let origin = Origin::new(4, "example.test");
        assert!(!origin.asks_for_close());
        origin.saw_silent_close(0);
        assert!(
            !origin.asks_for_close(),
            "one silent close is a coincidence"
        );
        // A connection from before the last switch does not count.
        origin.saw_silent_close(7);
        assert!(!origin.asks_for_close());
        origin.saw_silent_close(0);
        assert!(origin.asks_for_close());
        let asking = origin.generation.load(Relaxed);
        // While asking for close, connections close because we asked: nothing to learn.
        origin.saw_silent_close(asking);
        let mut asked = 1;
        while origin.asks_for_close() {
            asked += 1;
        }
        assert_eq!(asked, REPROBE_AFTER_REQUESTS);
        assert!(!origin.asks_for_close());
        // Connections opened while asking for close end as asked: they do not count either.
        origin.saw_silent_close(asking);
        origin.saw_silent_close(asking);
        assert!(!origin.asks_for_close());
    }
}
